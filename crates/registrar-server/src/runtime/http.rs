//! The HTTP listeners (admin API, metrics, directory API, the directory's WebSocket; and the upgrade requests
//! of SIP over WebSocket), bounded like every listener: connections in all and per source address ([`Admission`]), a TLS handshake and each request's
//! header within a time (`http.header_timeout_ms`; it also closes a keep-alive connection that sends no next
//! request), and the request body size (the routers' own limits). An upgraded connection (WebSocket) keeps
//! its place in the count until it closes.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::limits::{Admission, Admitted, closed};
use super::*;

/// How an HTTP listener is bounded.
pub(super) struct HttpLimits {
    /// `http`, or `sip` for the WebSocket listeners (their connections count with SIP's).
    pub(super) label: &'static str,
    pub(super) admission: Arc<Admission>,
    pub(super) header_timeout: Duration,
    pub(super) handshake_timeout: Duration,
}

/// A connection's I/O holding its place in the admission count until it is dropped, wherever it goes (an
/// upgraded WebSocket takes it along).
struct Held<T> {
    io: T,
    _place: Admitted,
}

impl<T: AsyncRead + Unpin> AsyncRead for Held<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Held<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Serve the router `app` gives for each connection (from its peer's address) on `listener`, over TLS with
/// `tls`, until `stop` fires; connections in progress then finish their current request.
pub(super) async fn serve<F>(
    listener: TcpListener,
    tls: Option<Arc<crate::tls::Reloadable>>,
    app: F,
    limits: HttpLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    F: Fn(SocketAddr) -> axum::Router + Send + Sync + 'static,
{
    let limits = Arc::new(limits);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or a transient error: wait instead of spinning.
                    debug!(listener = limits.label, "accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = stop.changed() => return,
        };
        let Ok(place) = limits.admission.admit(peer.ip()) else {
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, limits, stop) = (app(peer), Arc::clone(&limits), stop.clone());
        let acceptor = tls
            .as_ref()
            .map(|t| tokio_rustls::TlsAcceptor::from(t.current()));
        tokio::spawn(async move {
            match acceptor {
                None => {
                    connection(
                        Held {
                            io: stream,
                            _place: place,
                        },
                        app,
                        &limits,
                        stop,
                    )
                    .await;
                }
                Some(a) => {
                    match tokio::time::timeout(limits.handshake_timeout, a.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            connection(
                                Held {
                                    io: tls,
                                    _place: place,
                                },
                                app,
                                &limits,
                                stop,
                            )
                            .await;
                        }
                        Ok(Err(e)) => debug!(%peer, listener = limits.label, "TLS handshake: {e}"),
                        Err(_) => closed(limits.label, "handshake"),
                    }
                }
            }
        });
    }
}

async fn connection<T>(
    io: Held<T>,
    app: axum::Router,
    limits: &HttpLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper_util::service::TowerToHyperService::new(app);
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                if e.is_timeout() {
                    closed(limits.label, "idle");
                }
                debug!(listener = limits.label, "HTTP connection: {e}");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(2), conn).await;
        }
    }
}
