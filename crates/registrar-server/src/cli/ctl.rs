//! `registrar ctl`: the admin API from the command line (as `kamcmd ul.dump` serves Kamailio users), one
//! HTTP/1.1 request per call with hyper's client.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::HOST;

static TOKEN: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The bearer token every call carries (`--token`, `REGISTRAR_TOKEN`).
pub(crate) fn set_token(token: Option<String>) {
    let _ = TOKEN.set(token.filter(|t| !t.trim().is_empty()));
}

/// One API call: status and body.
pub(crate) fn call(http: SocketAddr, method: &str, path: &str) -> Result<(u16, String), String> {
    call_with(http, method, path, None)
}

/// One API call with an optional JSON body: status and body.
pub(crate) fn call_with(
    http: SocketAddr,
    method: &str,
    path: &str,
    json: Option<String>,
) -> Result<(u16, String), String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(async {
        let io = tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(http))
            .await
            .map_err(|_| format!("cannot reach the registrar at {http}: timed out"))?
            .map_err(|e| format!("cannot reach the registrar at {http}: {e}"))?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
                .await
                .map_err(|e| format!("HTTP: {e}"))?;
        let conn = tokio::spawn(conn);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, http.to_string());
        if json.is_some() {
            request = request.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        if let Some(Some(t)) = TOKEN.get() {
            request = request.header(hyper::header::AUTHORIZATION, format!("Bearer {}", t.trim()));
        }
        let request = request
            .body(Full::new(Bytes::from(json.unwrap_or_default())))
            .map_err(|e| format!("request: {e}"))?;
        let answer = async {
            let resp = sender
                .send_request(request)
                .await
                .map_err(|e| format!("HTTP: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("read: {e}"))?
                .to_bytes();
            Ok::<_, String>((status, String::from_utf8_lossy(&body).into_owned()))
        };
        let out = tokio::time::timeout(Duration::from_secs(30), answer)
            .await
            .map_err(|_| "the registrar did not answer within 30 s".to_owned())?;
        conn.abort();
        out
    })
}

/// Percent-encode an AoR for a path segment (keeping `:` and `@`, which paths allow).
pub(crate) fn encode(aor: &str) -> String {
    let mut out = String::with_capacity(aor.len());
    for b in aor.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~:@!$&'()*+,=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode("sip:alice@example.com"), "sip:alice@example.com");
        assert_eq!(encode("sip:a b/c?d"), "sip:a%20b%2Fc%3Fd");
    }
}
