//! An HTTPS client for the push services: one HTTP/2 connection per origin, shared by every push to it
//! (APNs and FCM want many streams on few connections), HTTP/1.1 where a Web Push service only speaks that;
//! every request bounded by a timeout, every response body by a size.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::client::conn::{http1, http2};
use hyper::{Request, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

use crate::Error;

/// Most bytes of a provider's answer read (their error bodies are small JSON objects).
const MAX_BODY: usize = 64 * 1024;

/// The parts of a URL a push request needs.
#[derive(Clone, Debug, Eq, PartialEq)]
pub(crate) struct Url {
    /// `host` or `host:port` (the port only when not 443).
    pub(crate) authority: String,
    pub(crate) host: String,
    pub(crate) port: u16,
    /// The path and query, starting with `/`.
    pub(crate) path: String,
}

impl Url {
    /// An `https` URL; nothing else is accepted (pushes carry credentials).
    pub(crate) fn parse(url: &str) -> Result<Self, String> {
        let rest = url
            .strip_prefix("https://")
            .ok_or_else(|| "not an https URL".to_owned())?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.is_empty() || authority.contains('@') {
            return Err("no host, or user information in the URL".into());
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || p.is_empty() => {
                (h, p.parse::<u16>().map_err(|_| format!("bad port {p:?}"))?)
            }
            _ => (authority, 443),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty()
            || !host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
        {
            return Err(format!("bad host {host:?}"));
        }
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err("the path holds spaces or control characters".into());
        }
        Ok(Self {
            authority: if port == 443 {
                host.to_owned()
            } else {
                format!("{host}:{port}")
            },
            host: host.to_ascii_lowercase(),
            port,
            path: path.to_owned(),
        })
    }

    /// `https://authority`, the origin (a VAPID audience).
    pub(crate) fn origin(&self) -> String {
        format!("https://{}", self.authority)
    }
}

/// A provider's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) retry_after: Option<Duration>,
    pub(crate) body: Bytes,
}

/// The TLS settings of a sender: the system's roots plus, when set, the certificates of a file (a private
/// push gateway's CA, or the test providers' certificate).
pub(crate) fn tls_config(ca_file: Option<&str>) -> Result<Arc<rustls::ClientConfig>, Error> {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for c in native.certs {
        // A system certificate the parser refuses is skipped, as every TLS client does.
        let _ = roots.add(c);
    }
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| Error::Config(format!("ca_file {path}: {e}")))?
            .collect::<Result<_, _>>()
            .map_err(|e| Error::Config(format!("ca_file {path}: {e}")))?;
        if certs.is_empty() {
            return Err(Error::Config(format!("ca_file {path}: no certificate")));
        }
        for c in certs {
            roots
                .add(c)
                .map_err(|e| Error::Config(format!("ca_file {path}: {e}")))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(cfg))
}

/// A shared HTTP/2 connection's sender.
type H2 = http2::SendRequest<Full<Bytes>>;

/// Connections by origin.
pub(crate) struct Client {
    tls: tokio_rustls::TlsConnector,
    conns: Mutex<HashMap<(String, u16), H2>>,
    timeout: Duration,
    /// Most origins kept open at once (Web Push endpoints name many); beyond it idle ones are dropped.
    max_origins: usize,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

enum Io {
    H2(http2::SendRequest<Full<Bytes>>),
    H1(http1::SendRequest<Full<Bytes>>),
}

impl Client {
    pub(crate) fn new(tls: Arc<rustls::ClientConfig>, timeout: Duration) -> Self {
        Self {
            tls: tokio_rustls::TlsConnector::from(tls),
            conns: Mutex::new(HashMap::new()),
            timeout,
            max_origins: 256,
        }
    }

    /// Send `req` (its URI a path; `url` says where) and read the answer, within the timeout.
    pub(crate) async fn send(
        &self,
        url: &Url,
        req: hyper::http::request::Builder,
        body: Bytes,
    ) -> Result<Answer, String> {
        match tokio::time::timeout(self.timeout, self.send_inner(url, req, body)).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {:?}", self.timeout)),
        }
    }

    async fn send_inner(
        &self,
        url: &Url,
        req: hyper::http::request::Builder,
        body: Bytes,
    ) -> Result<Answer, String> {
        let req = req
            .header(hyper::header::HOST, url.authority.as_str())
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        // A shared connection that died since its last use is replaced once.
        for attempt in 0..2 {
            let io = self.connection(url, attempt > 0).await?;
            let sent = match io {
                Io::H2(mut s) => {
                    let mut r = clone_request(&req);
                    // HTTP/2 carries the authority in the URI, not in Host.
                    *r.uri_mut() = format!("https://{}{}", url.authority, url.path)
                        .parse()
                        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
                    r.headers_mut().remove(hyper::header::HOST);
                    if s.ready().await.is_err() {
                        self.forget(url).await;
                        continue;
                    }
                    s.send_request(r).await
                }
                Io::H1(mut s) => {
                    let mut r = clone_request(&req);
                    *r.uri_mut() = url
                        .path
                        .parse()
                        .map_err(|e: hyper::http::uri::InvalidUri| e.to_string())?;
                    s.send_request(r).await
                }
            };
            let resp = match sent {
                Ok(r) => r,
                Err(e) if attempt == 0 && (e.is_closed() || e.is_canceled()) => {
                    self.forget(url).await;
                    continue;
                }
                Err(e) => {
                    self.forget(url).await;
                    return Err(e.to_string());
                }
            };
            let status = resp.status();
            let retry_after = resp
                .headers()
                .get(hyper::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(Duration::from_secs);
            let body = Limited::new(resp.into_body(), MAX_BODY)
                .collect()
                .await
                .map_err(|e| format!("reading the answer: {e}"))?
                .to_bytes();
            return Ok(Answer {
                status,
                retry_after,
                body,
            });
        }
        Err("the connection closed twice".into())
    }

    async fn forget(&self, url: &Url) {
        self.conns
            .lock()
            .await
            .remove(&(url.host.clone(), url.port));
    }

    /// The shared HTTP/2 connection to the origin of `url` (opened when there is none, or `fresh`), or a
    /// new HTTP/1.1 connection when the server does not speak HTTP/2.
    async fn connection(&self, url: &Url, fresh: bool) -> Result<Io, String> {
        let key = (url.host.clone(), url.port);
        let mut conns = self.conns.lock().await;
        if !fresh
            && let Some(s) = conns.get(&key)
            && !s.is_closed()
        {
            return Ok(Io::H2(s.clone()));
        }
        conns.remove(&key);
        // Connecting happens under the lock, so that concurrent pushes to a new origin share one connection.
        let tcp = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("connecting to {}: {e}", url.authority))?;
        tcp.set_nodelay(true).ok();
        let name = ServerName::try_from(url.host.clone()).map_err(|e| e.to_string())?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| format!("TLS with {}: {e}", url.authority))?;
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        if h2 {
            let (send, conn) = http2::Builder::new(TokioExecutor::new())
                .handshake(io)
                .await
                .map_err(|e| format!("HTTP/2 with {}: {e}", url.authority))?;
            tokio::spawn(async move {
                // The connection ends when the server closes it or every sender is dropped.
                let _ = conn.await;
            });
            if conns.len() >= self.max_origins {
                conns.retain(|_, s| !s.is_closed());
                if conns.len() >= self.max_origins {
                    conns.clear();
                }
            }
            conns.insert(key, send.clone());
            Ok(Io::H2(send))
        } else {
            drop(conns);
            let (send, conn) = http1::handshake(io)
                .await
                .map_err(|e| format!("HTTP/1.1 with {}: {e}", url.authority))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            Ok(Io::H1(send))
        }
    }
}

fn clone_request(r: &Request<Full<Bytes>>) -> Request<Full<Bytes>> {
    let mut b = Request::builder().method(r.method().clone());
    for (k, v) in r.headers() {
        b = b.header(k, v);
    }
    b.body(r.body().clone())
        .unwrap_or_else(|_| Request::new(r.body().clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_https_with_a_host() {
        let u = Url::parse("https://fcm.googleapis.com/fcm/send/abc:def")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(u.host, "fcm.googleapis.com");
        assert_eq!(u.port, 443);
        assert_eq!(u.path, "/fcm/send/abc:def");
        assert_eq!(u.origin(), "https://fcm.googleapis.com");
        let u = Url::parse("https://127.0.0.1:8443/push/1").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((u.host.as_str(), u.port), ("127.0.0.1", 8443));
        assert_eq!(u.origin(), "https://127.0.0.1:8443");
        for bad in [
            "http://push.example/x",
            "https://",
            "https://user@host/x",
            "https://host:99999/x",
            "https://ho st/x",
            "https://host/a b",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }
}
