//! The SIP transports: UDP sockets read by one thread per core each (with STUN keep-alives answered on
//! them), the connections of the stream transports (`streams`: TCP, TLS, WS, WSS), and where outgoing
//! messages leave (`Transports`), with the request counters.

use super::streams::{Conn, StreamLimits};
use super::*;

/// Where outgoing messages leave: the UDP sockets and the live connections.
pub(crate) struct Transports {
    /// Blocking sockets: each is read by its own threads (see [`UdpWorker`]), and a datagram send only waits
    /// when the kernel's send buffer is full.
    pub(super) udp: Vec<(SocketAddr, Arc<std::net::UdpSocket>)>,
    /// The live connections of every stream transport, by id.
    pub(super) conns: dashmap::DashMap<u64, Conn>,
    /// The most recent connection from each transport and remote address (a NOTIFY whose own connection
    /// closed goes over a newer one from the same place: RFC 5923 connection reuse).
    pub(super) by_addr: dashmap::DashMap<(Proto, SocketAddr), u64>,
    pub(super) next_conn: AtomicU64,
    pub(super) limits: Limits,
    /// The bounds of every connection.
    pub(super) streams: StreamLimits,
    /// Requests hold this (shared) from handling until their response is sent; the NOTIFY pump takes it
    /// exclusively before sending, so a NOTIFY caused by a request never leaves before that request's response
    /// (RFC 6665 allows either order, but phones and sipp scenarios handle the response first best).
    pub(super) response_first: tokio::sync::RwLock<()>,
}

impl Transports {
    pub(super) fn udp_for(&self, to: SocketAddr) -> Option<&Arc<std::net::UdpSocket>> {
        self.udp
            .iter()
            .find(|(a, _)| a.is_ipv4() == to.is_ipv4())
            .or_else(|| self.udp.first())
            .map(|(_, s)| s)
    }

    pub(super) async fn send(self: &Arc<Self>, ep: &Arc<Ep>, o: Outgoing) {
        let proto = o.to.proto;
        if !proto.is_stream() {
            if let Some(sock) = self.udp_for(o.to.addr)
                && let Err(e) = sock.send_to(&o.bytes, o.to.addr)
            {
                debug!(to = %o.to.addr, error = %e, "UDP send failed");
            }
            return;
        }
        let conn =
            o.to.conn
                .filter(|c| self.conns.contains_key(c))
                .or_else(|| self.by_addr.get(&(proto, o.to.addr)).map(|c| *c));
        if let Some(c) = conn
            && self.push(c, o.bytes.clone())
        {
            return;
        }
        if proto == Proto::Tcp {
            // The connection is gone (a NOTIFY after the peer hung up): plain TCP can be dialled again.
            Arc::clone(self).connect(Arc::clone(ep), o);
        } else {
            // TLS and WebSocket peers (phones, browsers) are reached only over the connections they opened
            // (RFC 5626 §5.3, RFC 7118 §5): with it gone, the message cannot be sent.
            debug!(to = %o.to.addr, transport = proto.as_str(), "no connection left to send over");
            ep.send_failed(ep.service().now(), &o).await;
        }
    }

    /// Queue `b` on connection `conn`. A peer that lets its queue fill (it does not read) is disconnected
    /// rather than buffered without end; `false` when the message was not queued.
    pub(super) fn push(&self, conn: u64, b: Bytes) -> bool {
        let Some(c) = self.conns.get(&conn).map(|c| c.clone()) else {
            return false;
        };
        match c.tx.try_send(b) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                super::limits::closed("sip", "write_queue");
                c.kill.notify_one();
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }

    pub(super) async fn finish(self: &Arc<Self>, ep: &Arc<Ep>, h: Handled) {
        count(&h);
        for o in h.out {
            self.send(ep, o).await;
        }
    }
}

pub(super) fn count(h: &Handled) {
    if h.parse_error {
        metrics::counter!("registrar_sip_parse_errors_total").increment(1);
    }
    if h.retransmission {
        metrics::counter!("registrar_sip_retransmissions_total").increment(1);
    }
    if let (Some(m), Some(s)) = (&h.method, h.status) {
        let key = (method_label(m.as_str()), code_label(s));
        // The handles by label pair, per thread: building and hashing the metric key for every request cost
        // more than the increment.
        thread_local! {
            static REQUESTS: std::cell::RefCell<std::collections::HashMap<(&'static str, &'static str), metrics::Counter>> =
                std::cell::RefCell::new(std::collections::HashMap::new());
        }
        REQUESTS.with_borrow_mut(|counters| {
            counters
                .entry(key)
                .or_insert_with(|| {
                    metrics::counter!("registrar_sip_requests_total", "method" => key.0, "code" => key.1)
                })
                .increment(1);
        });
    }
}

/// Static labels: no allocation per request, and a peer cannot grow the metric set with made-up methods.
pub(super) fn method_label(m: &str) -> &'static str {
    match m {
        "REGISTER" => "REGISTER",
        "SUBSCRIBE" => "SUBSCRIBE",
        "PUBLISH" => "PUBLISH",
        "NOTIFY" => "NOTIFY",
        "OPTIONS" => "OPTIONS",
        "INVITE" => "INVITE",
        "CANCEL" => "CANCEL",
        "ACK" => "ACK",
        _ => "other",
    }
}

pub(super) fn code_label(s: u16) -> &'static str {
    match s {
        200 => "200",
        202 => "202",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        412 => "412",
        415 => "415",
        420 => "420",
        421 => "421",
        423 => "423",
        481 => "481",
        489 => "489",
        500 => "500",
        503 => "503",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        s if s < 600 => "5xx",
        _ => "6xx",
    }
}

/// Build the service and endpoint from the configuration.
pub(crate) async fn build(
    cfg: &Config,
) -> Result<
    (
        Arc<Ep>,
        mpsc::Receiver<registrar_presence::NotifyIntent>,
        Stores,
    ),
    String,
> {
    let stores = stores(cfg).await?;
    let location: Arc<dyn LocationStore> = Arc::new(super::stores::TimedLocation::new(Arc::clone(
        &stores.location,
    )));
    let presence = Arc::clone(&stores.presence);
    let mut rp = RegistrarPolicy::default();
    rp.min_expires = cfg.registrar.min_expires;
    rp.default_expires = cfg.registrar.default_expires;
    rp.max_expires = cfg.registrar.max_expires;
    rp.max_contacts = cfg.registrar.max_contacts;
    rp.contact_limit = match cfg.registrar.max_contacts_policy {
        ContactsPolicy::Reject => ContactLimitPolicy::Reject,
        ContactsPolicy::EvictOldest => ContactLimitPolicy::EvictOldest,
    };
    let mut pp = PresencePolicy::default();
    pp.min_expires = cfg.presence.min_expires;
    pp.max_expires = cfg.presence.max_expires;
    pp.default_expires = pp.default_expires.clamp(pp.min_expires, pp.max_expires);
    let mut sp = SubscriptionPolicy::default();
    sp.min_expires = cfg.presence.min_expires;
    sp.max_expires = cfg.presence.max_expires;
    sp.default_expires = sp.default_expires.clamp(sp.min_expires, sp.max_expires);
    sp.default_watcher_policy = match cfg.presence.default_watcher_policy {
        WatcherPolicy::Allow => DefaultWatcherPolicy::Allow,
        WatcherPolicy::Confirm => DefaultWatcherPolicy::Confirm,
        WatcherPolicy::Block => DefaultWatcherPolicy::Block,
    };
    let (notifier, rx) = ChannelNotifier::new(65_536);
    let mut builder = RegistrarService::builder();
    if let Some(s) = &stores.subscriptions {
        builder = builder.subscription_store(Arc::clone(s));
    }
    if stores.redis.is_some() {
        // Other nodes file expiries too: look for due ones at least every second.
        builder = builder.max_sleep(Duration::from_secs(1));
    }
    if let Some((sender, policy)) = push_senders(&cfg.push)? {
        builder = builder.push(sender, policy);
    }
    let svc = builder
        .location_store(location)
        .presence_store(presence)
        .registrar_policy(rp)
        .presence_policy(pp)
        .subscription_policy(sp)
        .notifier(Arc::new(notifier))
        .mode(match cfg.presence.mode {
            ServiceMode::P2p => Mode::P2P,
            ServiceMode::B2bua => Mode::B2BUA,
        })
        .call_activity(Some(cfg.presence.call_activity.as_str()).filter(|a| !a.is_empty()))
        .call_state_expires(cfg.presence.call_state_expires)
        .build()
        .map_err(|e| format!("configuration: {e}"))?;
    let mut sc = SipConfig::default()
        .domains(&cfg.sip.domains)
        .limits(Limits::new(cfg.sip.max_message_bytes, cfg.sip.max_headers))
        .timers(cfg.sip.t1_ms, cfg.sip.t1_ms * 8)
        .flow_timer(cfg.sip.flow_timer_secs)
        .ping_failures(cfg.sip.nat_ping_failures);
    if let Some(a) = &cfg.sip.advertise {
        sc = sc.advertise(a);
    }
    if cfg.sip.rate_limit_per_source > 0 {
        sc = sc.rate_limit(RateLimiter::new(
            cfg.sip.rate_limit_per_source,
            cfg.sip.rate_limit_burst.max(cfg.sip.rate_limit_per_source),
            100_000,
        ));
    }
    if cfg.auth.enabled {
        let users: HashMap<String, Credentials> = cfg
            .auth
            .users
            .iter()
            .map(|(u, h)| {
                (
                    u.clone(),
                    Credentials {
                        md5: h.md5.as_ref().map(|s| s.to_ascii_lowercase()),
                        sha256: h.sha256.as_ref().map(|s| s.to_ascii_lowercase()),
                    },
                )
            })
            .collect();
        let algorithms: Vec<_> = cfg
            .auth
            .algorithms
            .iter()
            .filter_map(|a| DigestAuth::algorithm(a))
            .collect();
        let auth = DigestAuth::new(&cfg.auth.realm, users, cfg.auth.nonce_ttl)
            .map_err(|e| format!("auth: no random source: {e}"))?
            .with_algorithms(&algorithms);
        sc = sc.auth(auth);
    }
    let ep = Arc::new(Endpoint::new(svc.clone(), sc));
    svc.set_flow_probe(Arc::new(FlowsOf(Arc::downgrade(&ep))));
    Ok((ep, rx, stores))
}

/// A UDP socket on `addr` with receive and send buffers of `buffer` bytes (0: the system's defaults). A
/// SIP server takes bursts: a REGISTER storm after an outage, a load generator's peaks. With the default
/// buffer (~200 KB, about 150 small datagrams once the kernel's per-packet overhead is counted) a pause of a
/// few milliseconds drops requests, which the client then retransmits 500 ms later. The kernel caps the size
/// at `net.core.rmem_max` / `wmem_max`; the size obtained is logged.
pub(super) fn bind_udp(addr: SocketAddr, buffer: usize) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if buffer > 0 {
        if let Err(e) = s.set_recv_buffer_size(buffer) {
            warn!(%addr, "SO_RCVBUF {buffer}: {e}");
        }
        if let Err(e) = s.set_send_buffer_size(buffer) {
            warn!(%addr, "SO_SNDBUF {buffer}: {e}");
        }
    }
    // Blocking, read by threads; the timeout lets them notice shutdown.
    s.set_read_timeout(Some(UDP_RECEIVE_TIMEOUT))?;
    s.bind(&addr.into())?;
    let (rcv, snd) = (s.recv_buffer_size()?, s.send_buffer_size()?);
    let s: std::net::UdpSocket = s.into();
    info!(addr = %s.local_addr()?, receive_buffer = rcv, send_buffer = snd, "SIP over UDP");
    Ok(s)
}

/// Most UDP requests in progress at once in the durable storage modes.
pub(super) const UDP_IN_FLIGHT: usize = 4_096;

/// One thread reading a UDP socket. Threads, not tasks: each blocks in `recv_from` and the kernel hands
/// every datagram to one waiting thread, so the threads of a socket work on all cores at once. (Tasks of the
/// runtime reading one socket are all woken by its readiness and tend to run one after the other on the
/// worker that polled it, leaving a core idle while requests wait: under load that showed as queues of tens
/// of milliseconds with a fifth of the CPU idle.) The request is handled on this thread, inside the runtime
/// (`Handle::block_on`), so the stores, timers and channels work as in any task.
pub(super) struct UdpWorker {
    pub(super) ep: Arc<Ep>,
    pub(super) tr: Arc<Transports>,
    pub(super) sock: Arc<std::net::UdpSocket>,
    pub(super) local: SocketAddr,
    pub(super) max: usize,
    pub(super) inflight: Option<Arc<tokio::sync::Semaphore>>,
    pub(super) rt: tokio::runtime::Handle,
    pub(super) stopping: Arc<AtomicBool>,
}

/// How long a UDP receiving thread waits for a datagram before it checks for shutdown.
pub(super) const UDP_RECEIVE_TIMEOUT: Duration = Duration::from_millis(200);

impl UdpWorker {
    pub(super) fn run(self) {
        let mut buf = vec![0u8; 65_536];
        while !self.stopping.load(Ordering::Relaxed) {
            let (n, from) = match self.sock.recv_from(&mut buf) {
                Ok(x) => x,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    continue;
                }
                Err(e) => {
                    // ICMP port unreachable surfaces here on some systems: not fatal.
                    debug!(error = %e, "UDP receive error");
                    continue;
                }
            };
            if n == 0 || n > self.max || buf[..n].iter().all(|b| b.is_ascii_whitespace()) {
                continue;
            }
            if registrar_sip::stun::is_stun(&buf[..n]) {
                // RFC 5626 §4.4.2: a STUN keep-alive of an outbound device.
                if let Some(r) = registrar_sip::stun::binding_response(&buf[..n], from) {
                    metrics::counter!("registrar_stun_keepalives_total").increment(1);
                    let _ = self.sock.send_to(&r, from);
                }
                continue;
            }
            let data = Bytes::copy_from_slice(&buf[..n]);
            // A panic while handling one message is a bug, never a peer's doing (the parser is fuzzed): it
            // is logged and the thread goes on with the next datagram.
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.rt.block_on(self.dispatch(from, data));
            }));
            if handled.is_err() {
                tracing::error!("handling a UDP datagram panicked");
            }
        }
    }

    pub(super) async fn dispatch(&self, from: SocketAddr, data: Bytes) {
        let (ep, tr, local) = (&self.ep, &self.tr, self.local);
        let Some(inflight) = &self.inflight else {
            // Memory mode: nothing waits, so the receiving thread answers at once.
            let gate = tr.response_first.read().await;
            let now = ep.service().now();
            let h = ep.handle(now, Peer::udp(from), local, data).await;
            tr.finish(ep, h).await;
            drop(gate);
            return;
        };
        // Durable modes: a request waits for its group commit or Redis round trip, so it runs in its own task
        // and this thread goes back to the socket; concurrent requests then share commits. At most
        // `inflight` requests are in progress; beyond that the socket is not read (the kernel's buffer, then
        // the client's retransmissions, absorb the burst).
        let Ok(permit) = Arc::clone(inflight).acquire_owned().await else {
            return;
        };
        let (ep, tr) = (Arc::clone(ep), Arc::clone(tr));
        tokio::spawn(async move {
            let gate = tr.response_first.read().await;
            let now = ep.service().now();
            let h = ep.handle(now, Peer::udp(from), local, data).await;
            tr.finish(&ep, h).await;
            drop(gate);
            drop(permit);
        });
    }
}

/// The push senders of `[push]`, when a provider is configured.
#[allow(clippy::type_complexity)]
fn push_senders(
    p: &crate::config::PushSection,
) -> Result<
    Option<(
        Arc<dyn registrar_service::push::PushSender>,
        registrar_service::push::PushPolicy,
    )>,
    String,
> {
    use registrar_push::{Apns, ApnsConfig, Fcm, FcmConfig, Senders, WebPush, WebPushConfig};
    let read = |what: &str, f: &std::path::Path| {
        std::fs::read(f).map_err(|e| format!("{what} {}: {e}", f.display()))
    };
    let ca = |c: &str| (!c.is_empty()).then(|| c.to_owned());
    let timeout = Duration::from_millis(p.timeout_ms.max(100));
    let mut senders = Senders::new();
    if let Some(a) = &p.apns {
        let mut c = ApnsConfig::new(
            &a.team_id,
            &a.key_id,
            read("push.apns.key_file", &a.key_file)?,
        );
        if !a.url.is_empty() {
            c.url = a.url.clone();
        }
        c.topics = a.topics.clone();
        c.ca_file = ca(&a.ca_file);
        c.timeout = timeout;
        senders = senders.with(Arc::new(Apns::new(c).map_err(|e| e.to_string())?));
    }
    if let Some(f) = &p.fcm {
        let mut c = FcmConfig::new(read(
            "push.fcm.service_account_file",
            &f.service_account_file,
        )?);
        if !f.url.is_empty() {
            c.url = f.url.clone();
        }
        c.token_url = f.token_url.clone();
        c.ca_file = ca(&f.ca_file);
        c.timeout = timeout;
        senders = senders.with(Arc::new(Fcm::new(c).map_err(|e| e.to_string())?));
    }
    if let Some(w) = &p.webpush {
        let mut c = WebPushConfig::new(
            read("push.webpush.vapid_key_file", &w.vapid_key_file)?,
            &w.subject,
        );
        if !w.allowed_hosts.is_empty() {
            c.allowed_hosts = w.allowed_hosts.clone();
        }
        c.ca_file = ca(&w.ca_file);
        c.timeout = timeout;
        senders = senders.with(Arc::new(WebPush::new(c).map_err(|e| e.to_string())?));
    }
    if senders.is_empty() {
        return Ok(None);
    }
    let mut policy = registrar_service::push::PushPolicy::default();
    policy.max_wait = Duration::from_millis(p.max_wait_ms);
    policy.pnsreg_secs = p.pnsreg_secs;
    policy.refresh_before_secs = p.refresh_before_secs;
    Ok(Some((Arc::new(senders), policy)))
}

/// Which devices have a live flow: the connections the endpoint knows an outbound registration came over.
struct FlowsOf(std::sync::Weak<crate::Ep>);

impl registrar_service::push::FlowProbe for FlowsOf {
    fn alive(&self, b: &registrar_types::Binding) -> bool {
        self.0.upgrade().is_some_and(|ep| ep.has_flow(b))
    }
}
