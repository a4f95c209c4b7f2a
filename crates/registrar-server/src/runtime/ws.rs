//! SIP over WebSocket (RFC 7118), for browser phones (JsSIP, SIP.js) and other WebSocket clients: `ws:` and
//! `wss:` listeners. The HTTP side (upgrade request, TLS, connection admission, header timeout) is the
//! bounded HTTP server of `http`; the upgrade is accepted only with `Sec-WebSocket-Protocol: sip` (RFC 7118
//! §4.1) and, when `sip.ws_origins` is set, an `Origin` from that list. Each text or binary frame carries
//! one SIP message (RFC 7118 §5.1), at most `sip.max_message_bytes`; a frame holding only CRLFs is a
//! keep-alive and is answered with one CRLF. The connection then runs under the same bounds as every SIP
//! connection (idle timeouts, write queue, write timeout: see `streams`).

use std::time::Instant;

use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Extension, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::limits::closed;
use super::streams::Registered;
use super::*;

/// What the upgrade handler needs.
pub(super) struct WsListener {
    pub(super) tr: Arc<Transports>,
    pub(super) ep: Arc<Ep>,
    pub(super) proto: Proto,
    pub(super) local: SocketAddr,
    /// Allowed `Origin` values (lower case); empty: any.
    pub(super) origins: Vec<String>,
    pub(super) max_message: usize,
}

/// The peer of the connection an upgrade request came over.
#[derive(Clone, Copy, Debug)]
pub(super) struct From(pub(super) SocketAddr);

/// The router of a `ws:`/`wss:` listener: every path upgrades (clients use `/` or a path of their own).
pub(super) fn router(l: Arc<WsListener>) -> axum::Router {
    axum::Router::new().fallback(upgrade).with_state(l)
}

async fn upgrade(
    State(l): State<Arc<WsListener>>,
    Extension(From(peer)): Extension<From>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("a SIP WebSocket upgrade is expected here (RFC 7118): {e}\n"),
            )
                .into_response();
        }
    };
    let offers_sip = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|p| p.trim().eq_ignore_ascii_case("sip"));
    if !offers_sip {
        closed("sip", "subprotocol");
        return (
            StatusCode::BAD_REQUEST,
            "Sec-WebSocket-Protocol: sip is required (RFC 7118 §4.1)\n",
        )
            .into_response();
    }
    if !l.origins.is_empty()
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("").trim().to_ascii_lowercase();
        if !l.origins.contains(&origin) {
            closed("sip", "origin");
            return (
                StatusCode::FORBIDDEN,
                "this Origin may not use SIP over WebSocket here (sip.ws_origins)\n",
            )
                .into_response();
        }
    }
    let max = l.max_message;
    ws.protocols(["sip"])
        // A small read buffer and no write batching: thousands of idle phones hold a few KiB each.
        .read_buffer_size(4_096)
        .write_buffer_size(0)
        .max_write_buffer_size(max.saturating_mul(4))
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| async move {
            let (conn, rx) = l.tr.register(&l.ep, l.proto, peer, l.local, None);
            conn.run_ws(socket, rx).await;
        })
}

impl Registered {
    /// Run a WebSocket connection on this task: frames in, queued messages out.
    async fn run_ws(mut self, mut socket: WebSocket, mut rx: mpsc::Receiver<Bytes>) {
        let write_timeout = self.tr.streams.write_timeout;
        loop {
            let deadline = self.last + self.idle_limit();
            tokio::select! {
                m = socket.recv() => {
                    let data = match m {
                        Some(Ok(WsMessage::Text(t))) => Bytes::from(t),
                        Some(Ok(WsMessage::Binary(b))) => b,
                        Some(Ok(WsMessage::Ping(_) | WsMessage::Pong(_))) => {
                            // Answered by the WebSocket layer; a sign of life all the same.
                            self.last = Instant::now();
                            continue;
                        }
                        Some(Ok(WsMessage::Close(_))) | None => break,
                        Some(Err(e)) => {
                            debug!(peer = %self.peer, error = %e, "closing a WebSocket connection");
                            closed("sip", "frame");
                            break;
                        }
                    };
                    if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
                        self.last = Instant::now();
                        if data.len() >= 4 {
                            let _ = self.tr.push(self.id, Bytes::from_static(b"\r\n"));
                        }
                        continue;
                    }
                    self.deliver(data).await;
                }
                b = rx.recv() => {
                    let Some(b) = b else { break };
                    let frame = match String::from_utf8(b.to_vec()) {
                        Ok(t) => WsMessage::Text(t.into()),
                        Err(e) => WsMessage::Binary(e.into_bytes().into()),
                    };
                    match tokio::time::timeout(write_timeout, socket.send(frame)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(_)) => break,
                        Err(_) => {
                            closed("sip", "write_timeout");
                            break;
                        }
                    }
                }
                () = tokio::time::sleep_until(deadline.into()) => {
                    closed("sip", "idle");
                    break;
                }
                () = self.kill.notified() => break,
            }
        }
        let _ =
            tokio::time::timeout(Duration::from_secs(1), socket.send(WsMessage::Close(None))).await;
    }
}
