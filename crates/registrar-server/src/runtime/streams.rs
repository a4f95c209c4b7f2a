//! The connections of the SIP stream transports (TCP, TLS here; WebSocket in `ws`), each bounded:
//!
//! - admission: connections in all and per source address ([`Admission`]); past a limit a new connection is
//!   closed at once and counted;
//! - a TLS handshake must finish within `sip.tls_handshake_timeout_ms`;
//! - a message whose first byte arrived must be complete within `sip.message_timeout_ms` (slowloris);
//! - a connection without a message for `sip.idle_timeout_secs` is closed, or for
//!   `sip.registered_idle_timeout_secs` once a REGISTER or SUBSCRIBE succeeded over it (a registered flow);
//!   keep-alives (CRLF) count as messages;
//! - what is written to it waits in a queue of `sip.write_queue` messages, and each write must be taken by
//!   the peer within `sip.write_timeout_ms`: a peer that does not read is disconnected;
//! - a message is at most `sip.max_message_bytes`.
//!
//! Every connection closed by the server is counted in `registrar_connections_closed_total{reason}`. When a
//! connection closes, the endpoint ends the outbound bindings registered over it (RFC 5626 §5.2).

use std::time::Instant;

use tokio::io::{AsyncRead, AsyncWrite};

use super::limits::{Admission, Admitted, closed};
use super::*;

/// The bounds of every SIP connection (see the module's documentation).
#[derive(Clone, Debug)]
pub(crate) struct StreamLimits {
    pub(crate) admission: Arc<Admission>,
    pub(crate) handshake_timeout: Duration,
    pub(crate) message_timeout: Duration,
    pub(crate) idle_timeout: Duration,
    pub(crate) registered_idle_timeout: Duration,
    pub(crate) write_queue: usize,
    pub(crate) write_timeout: Duration,
}

/// A live connection as the senders see it: its write queue, and how to close it.
#[derive(Clone, Debug)]
pub(crate) struct Conn {
    pub(super) tx: mpsc::Sender<Bytes>,
    pub(super) kill: Arc<tokio::sync::Notify>,
}

/// One connection's part of the transport: registered while it lives, removed (and its flows ended) when
/// dropped.
pub(super) struct Registered {
    pub(super) tr: Arc<Transports>,
    pub(super) ep: Arc<Ep>,
    pub(super) id: u64,
    pub(super) proto: Proto,
    pub(super) peer: SocketAddr,
    pub(super) local: SocketAddr,
    pub(super) kill: Arc<tokio::sync::Notify>,
    /// Whether a REGISTER or SUBSCRIBE succeeded over it.
    pub(super) registered: bool,
    pub(super) last: Instant,
    _place: Option<Admitted>,
}

impl Transports {
    /// Register a new connection; returns its part and the receiving end of its write queue.
    pub(super) fn register(
        self: &Arc<Self>,
        ep: &Arc<Ep>,
        proto: Proto,
        peer: SocketAddr,
        local: SocketAddr,
        place: Option<Admitted>,
    ) -> (Registered, mpsc::Receiver<Bytes>) {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel::<Bytes>(self.streams.write_queue);
        let kill = Arc::new(tokio::sync::Notify::new());
        self.conns.insert(
            id,
            Conn {
                tx,
                kill: Arc::clone(&kill),
            },
        );
        self.by_addr.insert((proto, peer), id);
        (
            Registered {
                tr: Arc::clone(self),
                ep: Arc::clone(ep),
                id,
                proto,
                peer,
                local,
                kill,
                registered: false,
                last: Instant::now(),
                _place: place,
            },
            rx,
        )
    }

    /// Serve a TCP or TLS listener on `workers` threads, each with a current-thread runtime of its own that
    /// accepts on (a duplicate of) the listener and runs the connections it accepted from handshake to close.
    /// A message is then read, handled and answered on one thread: no task moves between cores and no worker
    /// wakes another (on the shared multi-thread runtime, each REGISTER arriving alone over a kept-open
    /// connection woke a second worker for nothing). The threads live as long as the process.
    pub(super) fn accept_on_threads(
        self: &Arc<Self>,
        ep: &Arc<Ep>,
        listener: TcpListener,
        local: SocketAddr,
        tls: Option<Arc<crate::tls::Reloadable>>,
        workers: usize,
    ) -> Result<(), String> {
        let what = if tls.is_some() { "tls" } else { "tcp" };
        let listener = listener
            .into_std()
            .map_err(|e| format!("sip.listen {what}:{local}: {e}"))?;
        for i in 0..workers.max(1) {
            let l = listener
                .try_clone()
                .map_err(|e| format!("sip.listen {what}:{local}: {e}"))?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("a {what} connection thread's runtime: {e}"))?;
            let (tr, ep, tls) = (Arc::clone(self), Arc::clone(ep), tls.clone());
            std::thread::Builder::new()
                .name(format!("sip-{what}-{i}"))
                .spawn(move || {
                    rt.block_on(async move {
                        match TcpListener::from_std(l) {
                            Ok(l) => {
                                tr.accept(&ep, l, local, tls);
                                std::future::pending::<()>().await;
                            }
                            Err(e) => {
                                warn!(%local, error = %e, "a SIP connection thread cannot listen")
                            }
                        }
                    });
                })
                .map_err(|e| format!("cannot start a {what} connection thread: {e}"))?;
        }
        Ok(())
    }

    /// Accept connections on a TCP or TLS listener until the process ends.
    pub(super) fn accept(
        self: &Arc<Self>,
        ep: &Arc<Ep>,
        listener: TcpListener,
        local: SocketAddr,
        tls: Option<Arc<crate::tls::Reloadable>>,
    ) {
        let (tr, ep) = (Arc::clone(self), Arc::clone(ep));
        let proto = if tls.is_some() {
            Proto::Tls
        } else {
            Proto::Tcp
        };
        tokio::spawn(async move {
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(c) => c,
                    Err(e) => {
                        // Out of descriptors or a transient error: wait instead of spinning.
                        warn!(error = %e, transport = proto.as_str(), "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let Ok(place) = tr.streams.admission.admit(peer.ip()) else {
                    drop(stream);
                    continue;
                };
                let _ = stream.set_nodelay(true);
                match &tls {
                    None => {
                        let (conn, rx) = tr.register(&ep, proto, peer, local, Some(place));
                        conn.run(stream, rx);
                    }
                    Some(tls) => {
                        let acceptor = tokio_rustls::TlsAcceptor::from(tls.current());
                        let (tr, ep) = (Arc::clone(&tr), Arc::clone(&ep));
                        tokio::spawn(async move {
                            let hs = tokio::time::timeout(
                                tr.streams.handshake_timeout,
                                acceptor.accept(stream),
                            )
                            .await;
                            match hs {
                                Ok(Ok(s)) => {
                                    let (conn, rx) =
                                        tr.register(&ep, proto, peer, local, Some(place));
                                    conn.run(s, rx);
                                }
                                Ok(Err(e)) => {
                                    closed("sip", "handshake");
                                    debug!(%peer, "SIP TLS handshake: {e}");
                                }
                                Err(_) => closed("sip", "handshake"),
                            }
                        });
                    }
                }
            }
        });
    }

    /// Open a TCP connection to send `o` (its own connection closed), within the same limits as accepted
    /// ones; a failure fails the message's transaction at once.
    pub(super) fn connect(self: Arc<Self>, ep: Arc<Ep>, o: Outgoing) {
        tokio::spawn(async move {
            let place = match self.streams.admission.admit(o.to.addr.ip()) {
                Ok(p) => p,
                Err(_) => {
                    ep.send_failed(ep.service().now(), &o).await;
                    return;
                }
            };
            match tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(o.to.addr)).await
            {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let local = stream
                        .local_addr()
                        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                    let (conn, rx) = self.register(&ep, Proto::Tcp, o.to.addr, local, Some(place));
                    let id = conn.id;
                    conn.run(stream, rx);
                    if !self.push(id, o.bytes.clone()) {
                        ep.send_failed(ep.service().now(), &o).await;
                    }
                }
                _ => {
                    debug!(to = %o.to.addr, "TCP connect for an outgoing request failed");
                    ep.send_failed(ep.service().now(), &o).await;
                }
            }
        });
    }
}

impl Registered {
    /// How long the connection may stay silent now.
    pub(super) fn idle_limit(&self) -> Duration {
        if self.registered || self.ep.is_flow(self.id) {
            self.tr.streams.registered_idle_timeout
        } else {
            self.tr.streams.idle_timeout
        }
    }

    /// Hand one complete message to the endpoint; what it answers to this connection is written to `here`
    /// at once (the byte streams) or queued (`None`: WebSocket), the rest is sent by the transports.
    /// `false` when the connection is to close.
    async fn handle<W: AsyncWrite + Unpin>(
        &mut self,
        msg: Bytes,
        mut here: Option<&mut W>,
    ) -> bool {
        self.last = Instant::now();
        // Held until the response is out: the NOTIFY pump waits for it (see `Transports::response_first`).
        let gate = self.tr.response_first.read().await;
        let now = self.ep.service().now();
        let h = self
            .ep
            .handle(
                now,
                Peer::stream(self.proto, self.peer, self.id),
                self.local,
                msg,
            )
            .await;
        if matches!(
            h.method.as_ref().map(registrar_sip::Method::as_str),
            Some("REGISTER" | "SUBSCRIBE")
        ) && h.status.is_some_and(|s| (200..300).contains(&s))
        {
            self.registered = true;
        }
        super::transport::count(&h);
        let mut ok = true;
        for o in h.out {
            if o.to.conn == Some(self.id) {
                ok = ok
                    && match here.as_deref_mut() {
                        Some(w) => write(w, &o.bytes, self.tr.streams.write_timeout).await,
                        None => self.tr.push(self.id, o.bytes),
                    };
            } else {
                self.tr.send(&self.ep, o).await;
            }
        }
        drop(gate);
        ok
    }

    /// Hand one complete message to the endpoint and queue what it answers (WebSocket).
    pub(super) async fn deliver(&mut self, msg: Bytes) {
        self.handle::<tokio::io::Sink>(msg, None).await;
    }

    /// Run a byte-stream connection (TCP, TLS) in one task: messages framed by `Content-Length` in,
    /// answers written at once, and what other tasks queue for it (NOTIFYs) written in between.
    pub(super) fn run<S>(self, io: S, rx: mpsc::Receiver<Bytes>)
    where
        S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    {
        tokio::spawn(self.serve(io, rx));
    }

    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        mut io: S,
        mut rx: mpsc::Receiver<Bytes>,
    ) {
        let limits = self.tr.limits;
        let message_timeout = self.tr.streams.message_timeout;
        let write_timeout = self.tr.streams.write_timeout;
        let mut buf = BytesMut::new();
        // When the first byte of the message in progress arrived.
        let mut started: Option<Instant> = None;
        // One timer for the connection's life: when it fires, the deadline is worked out again and the timer
        // re-armed if it lies ahead (a message came meanwhile), so a message costs no timer work.
        let timer = tokio::time::sleep_until((self.last + self.idle_limit()).into());
        tokio::pin!(timer);
        let kill = Arc::clone(&self.kill);
        let killed = kill.notified();
        tokio::pin!(killed);
        'conn: loop {
            buf.reserve(2_048);
            let event = tokio::select! {
                biased;
                () = &mut killed => Event::Stop,
                r = io.read_buf(&mut buf) => Event::Read(r.map_or(0, |n| n)),
                b = rx.recv() => b.map_or(Event::Stop, Event::Queued),
                () = &mut timer => {
                    let deadline = match started {
                        Some(t) => t + message_timeout,
                        None => self.last + self.idle_limit(),
                    };
                    if deadline > Instant::now() {
                        timer.as_mut().reset(deadline.into());
                        continue;
                    }
                    closed("sip", if started.is_some() { "slow" } else { "idle" });
                    Event::Stop
                }
            };
            match event {
                Event::Stop | Event::Read(0) => break,
                Event::Queued(b) => {
                    if !write(&mut io, &b, write_timeout).await {
                        break;
                    }
                    continue;
                }
                Event::Read(_) => {}
            }
            loop {
                match frame_len(&buf, limits) {
                    Ok(Some(n)) => {
                        let msg = buf.split_to(n).freeze();
                        started = None;
                        if msg.iter().all(|b| *b == b'\r' || *b == b'\n') {
                            // RFC 5626 §4.4.1 keep-alive: answer a double CRLF with one CRLF.
                            self.last = Instant::now();
                            if msg.len() >= 4 && !write(&mut io, b"\r\n", write_timeout).await {
                                break 'conn;
                            }
                            continue;
                        }
                        if !self.handle(msg, Some(&mut io)).await {
                            break 'conn;
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        debug!(peer = %self.peer, error = %e, "closing a connection with an unframeable message");
                        metrics::counter!("registrar_sip_parse_errors_total").increment(1);
                        closed("sip", "frame");
                        break 'conn;
                    }
                }
            }
            if buf.is_empty() {
                started = None;
                if buf.capacity() > 16_384 {
                    // Give back what a large message took.
                    buf = BytesMut::new();
                }
            } else if started.is_none() {
                let now = Instant::now();
                started = Some(now);
                // A message under way must be complete by its own deadline, which may come before the idle one.
                if timer.deadline() > (now + message_timeout).into() {
                    timer.as_mut().reset((now + message_timeout).into());
                }
            }
        }
        let _ = tokio::time::timeout(Duration::from_secs(1), io.shutdown()).await;
    }
}

/// What woke a connection.
enum Event {
    /// Bytes read (0: the peer closed).
    Read(usize),
    /// A message another task queued for the peer.
    Queued(Bytes),
    /// Closed, killed or timed out.
    Stop,
}

/// Write `b` and flush, within `timeout`; `false` when the connection is to close.
async fn write<S: AsyncWrite + Unpin>(io: &mut S, b: &[u8], timeout: Duration) -> bool {
    let done = async {
        io.write_all(b).await?;
        io.flush().await
    };
    match tokio::time::timeout(timeout, done).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => false,
        Err(_) => {
            closed("sip", "write_timeout");
            false
        }
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        let (id, peer, proto) = (self.id, self.peer, self.proto);
        self.tr.conns.remove(&id);
        self.tr.by_addr.remove_if(&(proto, peer), |_, v| *v == id);
        // The writer stops when its queue's sender (in `conns`) is gone; wake it in case it waits on a write.
        self.kill.notify_one();
        let ep = Arc::clone(&self.ep);
        // The outbound bindings registered over this connection end with it.
        if ep.is_flow(id) {
            tokio::spawn(async move {
                match ep.connection_closed(ep.service().now(), id).await {
                    Ok(n) if n > 0 => {
                        debug!(%peer, bindings = n, "flow closed: its bindings ended")
                    }
                    Ok(_) => {}
                    Err(e) => {
                        warn!(%peer, error = %e, "flow closed: its bindings could not be ended")
                    }
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn transports(write_queue: usize) -> (Arc<Transports>, Arc<Ep>) {
        let mut cfg = Config::default();
        cfg.storage.mode = StorageMode::Memory;
        let (ep, _notify, _stores) = build(&cfg).await.unwrap();
        let tr = Arc::new(Transports {
            udp: Vec::new(),
            conns: dashmap::DashMap::new(),
            by_addr: dashmap::DashMap::new(),
            next_conn: AtomicU64::new(1),
            limits: Limits::default(),
            streams: StreamLimits {
                admission: super::super::limits::Admission::new("test", 10, 10),
                handshake_timeout: Duration::from_secs(1),
                message_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(1),
                registered_idle_timeout: Duration::from_secs(2),
                write_queue,
                write_timeout: Duration::from_secs(1),
            },
            response_first: tokio::sync::RwLock::new(()),
        });
        (tr, ep)
    }

    #[tokio::test]
    async fn a_peer_that_lets_its_write_queue_fill_is_disconnected_not_buffered() {
        let (tr, ep) = transports(2).await;
        let peer: SocketAddr = "127.0.0.2:5060".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5060".parse().unwrap();
        let (conn, rx) = tr.register(&ep, Proto::Tcp, peer, local, None);
        let (id, kill) = (conn.id, Arc::clone(&conn.kill));
        // Nothing drains `rx`: the peer does not read.
        assert!(tr.push(id, Bytes::from_static(b"one")));
        assert!(tr.push(id, Bytes::from_static(b"two")));
        assert!(
            !tr.push(id, Bytes::from_static(b"three")),
            "a full queue takes no more"
        );
        // The connection is told to close.
        tokio::time::timeout(Duration::from_secs(1), kill.notified())
            .await
            .expect("the connection is killed");
        drop(conn);
        assert!(!tr.conns.contains_key(&id), "gone from the senders' map");
        assert!(!tr.by_addr.contains_key(&(Proto::Tcp, peer)));
        assert!(!tr.push(id, Bytes::from_static(b"four")));
        drop(rx);
    }

    #[tokio::test]
    async fn a_write_the_peer_does_not_take_in_time_closes_the_connection() {
        let (tr, ep) = transports(4).await;
        // A pipe whose other end is never read: a write blocks once its 64 bytes are full.
        let (_client, server) = tokio::io::duplex(64);
        let peer: SocketAddr = "127.0.0.2:5061".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:5061".parse().unwrap();
        let (conn, rx) = tr.register(&ep, Proto::Tls, peer, local, None);
        let id = conn.id;
        conn.run(server, rx);
        assert!(tr.push(id, Bytes::from(vec![b'x'; 1_024])));
        // write_timeout is 1 s here.
        tokio::time::timeout(Duration::from_secs(5), async {
            while tr.conns.contains_key(&id) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .expect("the connection is closed after the write timeout");
    }
}
