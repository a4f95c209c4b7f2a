//! `registrar serve`: sockets and tasks around the sans-IO endpoint.
//!
//! - UDP: each socket is read by several tasks at once (one per core by default), so both cores work under
//!   load; nothing on the path takes a global lock (the stores and transaction tables are sharded maps).
//! - TCP: one task per connection, framing by `Content-Length`, size-capped; a writer task per connection so
//!   NOTIFYs and responses never interleave.
//! - A NOTIFY pump (the service's notifier channel → NOTIFY requests), a timer task (retransmissions,
//!   timeouts), the service's own expiry tasks, and the HTTP API.
//! - SIGTERM or Ctrl-C: stop accepting, stop the service's tasks (flushing what they owe), exit 0.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use registrar_presence::{
    DefaultWatcherPolicy, MemoryPresenceStore, PresencePolicy, PresenceStore, SubscriptionPolicy,
    SubscriptionStore,
};
use registrar_registry::{ContactLimitPolicy, LocationStore, MemoryLocationStore, RegistrarPolicy};
use registrar_service::{ChannelNotifier, Mode, RegistrarService};
use registrar_sip::auth::{Credentials, DigestAuth};
use registrar_sip::ratelimit::RateLimiter;
use registrar_sip::{Endpoint, Handled, Limits, Outgoing, Peer, Proto, SipConfig, frame_len};
use registrar_storage::{
    Change, EmbeddedLocationStore, EmbeddedPresenceStore, EmbeddedSubscriptionStore, Journal,
    Redis, SharedLocationStore, SharedPresenceStore, SharedSubscriptionStore,
};
use registrar_types::Clock;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use crate::config::{
    Config, ContactsPolicy, ServiceMode, StorageMode, WatcherPolicy, parse_listen,
};

use crate::Ep;

/// Where outgoing messages leave: the UDP sockets and the live TCP connections.
pub(crate) struct Transports {
    /// Blocking sockets: each is read by its own threads (see [`UdpWorker`]), and a datagram send only waits
    /// when the kernel's send buffer is full.
    udp: Vec<(SocketAddr, Arc<std::net::UdpSocket>)>,
    tcp: dashmap::DashMap<u64, mpsc::Sender<Bytes>>,
    tcp_by_addr: dashmap::DashMap<SocketAddr, u64>,
    next_conn: AtomicU64,
    limits: Limits,
    /// Requests hold this (shared) from handling until their response is sent; the NOTIFY pump takes it
    /// exclusively before sending, so a NOTIFY caused by a request never leaves before that request's response
    /// (RFC 6665 allows either order, but phones and sipp scenarios handle the response first best).
    response_first: tokio::sync::RwLock<()>,
}

impl Transports {
    fn udp_for(&self, to: SocketAddr) -> Option<&Arc<std::net::UdpSocket>> {
        self.udp
            .iter()
            .find(|(a, _)| a.is_ipv4() == to.is_ipv4())
            .or_else(|| self.udp.first())
            .map(|(_, s)| s)
    }

    async fn send(self: &Arc<Self>, ep: &Arc<Ep>, o: Outgoing) {
        match o.to.proto {
            Proto::Udp => {
                if let Some(sock) = self.udp_for(o.to.addr)
                    && let Err(e) = sock.send_to(&o.bytes, o.to.addr)
                {
                    debug!(to = %o.to.addr, error = %e, "UDP send failed");
                }
            }
            Proto::Tcp => {
                let conn =
                    o.to.conn
                        .filter(|c| self.tcp.contains_key(c))
                        .or_else(|| self.tcp_by_addr.get(&o.to.addr).map(|c| *c));
                if let Some(c) = conn
                    && let Some(tx) = self.tcp.get(&c).map(|t| t.clone())
                    && tx.send(o.bytes.clone()).await.is_ok()
                {
                    return;
                }
                // The connection is gone (a NOTIFY after the peer hung up): open a new one.
                let this = Arc::clone(self);
                let ep = Arc::clone(ep);
                tokio::spawn(async move {
                    match tokio::time::timeout(
                        Duration::from_secs(5),
                        TcpStream::connect(o.to.addr),
                    )
                    .await
                    {
                        Ok(Ok(stream)) => {
                            let local = stream
                                .local_addr()
                                .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
                            let tx = this.clone().attach(ep, stream, o.to.addr, local);
                            let _ = tx.send(o.bytes).await;
                        }
                        _ => debug!(to = %o.to.addr, "TCP connect for an outgoing request failed"),
                    }
                });
            }
            _ => {}
        }
    }

    /// Run a TCP connection: a reader task feeding the endpoint and a writer task draining a channel.
    fn attach(
        self: Arc<Self>,
        ep: Arc<Ep>,
        stream: TcpStream,
        peer: SocketAddr,
        local: SocketAddr,
    ) -> mpsc::Sender<Bytes> {
        let id = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let (tx, mut rx) = mpsc::channel::<Bytes>(256);
        self.tcp.insert(id, tx.clone());
        self.tcp_by_addr.insert(peer, id);
        let (mut rd, mut wr) = stream.into_split();
        tokio::spawn(async move {
            while let Some(b) = rx.recv().await {
                if wr.write_all(&b).await.is_err() {
                    break;
                }
            }
        });
        let this = Arc::clone(&self);
        tokio::spawn(async move {
            let mut buf = BytesMut::with_capacity(8192);
            'conn: loop {
                match rd.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                loop {
                    match frame_len(&buf, this.limits) {
                        Ok(Some(n)) => {
                            let msg = buf.split_to(n).freeze();
                            if msg.iter().all(|b| *b == b'\r' || *b == b'\n') {
                                // RFC 5626 §4.4.1 keep-alive: answer a double CRLF with one CRLF.
                                if msg.len() >= 4 {
                                    let _ = this.send_raw(id, Bytes::from_static(b"\r\n")).await;
                                }
                                continue;
                            }
                            let gate = this.response_first.read().await;
                            let now = ep.service().now();
                            let h = ep.handle(now, Peer::tcp(peer, id), local, msg).await;
                            this.finish(&ep, h).await;
                            drop(gate);
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!(%peer, error = %e, "closing a TCP connection with an unframeable message");
                            metrics::counter!("registrar_sip_parse_errors_total").increment(1);
                            break 'conn;
                        }
                    }
                }
            }
            this.tcp.remove(&id);
            this.tcp_by_addr.remove_if(&peer, |_, v| *v == id);
        });
        tx
    }

    async fn send_raw(&self, conn: u64, b: Bytes) -> bool {
        match self.tcp.get(&conn).map(|t| t.clone()) {
            Some(tx) => tx.send(b).await.is_ok(),
            None => false,
        }
    }

    async fn finish(self: &Arc<Self>, ep: &Arc<Ep>, h: Handled) {
        count(&h);
        for o in h.out {
            self.send(ep, o).await;
        }
    }
}

fn count(h: &Handled) {
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
fn method_label(m: &str) -> &'static str {
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

fn code_label(s: u16) -> &'static str {
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
    let (location, presence) = (Arc::clone(&stores.location), Arc::clone(&stores.presence));
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
        .build()
        .map_err(|e| format!("configuration: {e}"))?;
    let mut sc = SipConfig::default()
        .domains(&cfg.sip.domains)
        .limits(Limits::new(cfg.sip.max_message_bytes, cfg.sip.max_headers))
        .timers(cfg.sip.t1_ms, cfg.sip.t1_ms * 8);
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
    Ok((Arc::new(Endpoint::new(svc, sc)), rx, stores))
}

/// The stores the configuration chose.
pub(crate) struct Stores {
    location: Arc<dyn LocationStore>,
    presence: Arc<dyn PresenceStore>,
    /// Where subscriptions outlive a restart (none in memory mode).
    subscriptions: Option<Arc<dyn SubscriptionStore>>,
    /// The shared Redis (shared mode).
    redis: Option<Arc<Redis>>,
    /// The directory's store (none: the directory API is off).
    directory: Option<Arc<dyn registrar_directory::DirectoryStore>>,
}

/// In shared mode, follow the other nodes' change notices: a presentity changed elsewhere is composed again
/// and this node's watchers are notified; after a reconnection every cached document is dropped.
fn follow_other_nodes(ep: &Arc<Ep>, stores: &Stores) {
    let Some(redis) = &stores.redis else {
        return;
    };
    let (tx, mut rx) = mpsc::channel(4096);
    redis.listen(tx);
    let ep = Arc::clone(ep);
    tokio::spawn(async move {
        while let Some(change) = rx.recv().await {
            match change {
                Change::Presence(aor) => {
                    if let Err(e) = ep.service().presence_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "a presence change made on another node could not be read");
                    }
                }
                Change::Decisions(aor) => {
                    if let Err(e) = ep.service().decisions_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "watcher decisions made on another node could not be read");
                    }
                }
                Change::Buddies(aor) => {
                    if let Err(e) = ep.service().buddies_changed_elsewhere(&aor).await {
                        warn!(%aor, error = %e, "a buddy list changed on another node could not be read");
                    }
                }
                Change::Joined(aor) => ep.service().joined_elsewhere(&aor),
                Change::Resync => {
                    info!(
                        "storage: change notices (re)connected; cached presence dropped, decisions and buddy lists read again"
                    );
                    ep.service().forget_cached_presence();
                    if let Err(e) = ep.service().settings_changed_elsewhere().await {
                        warn!(error = %e, "decisions and buddy lists could not be read again");
                    }
                }
                // Bindings are read from Redis on every lookup: nothing cached to drop.
                _ => {}
            }
        }
    });
}

/// This node's name in shared mode: `storage.node_id`, or the host name and the first SIP listen address.
fn node_id(cfg: &Config) -> String {
    if !cfg.storage.node_id.is_empty() {
        return cfg.storage.node_id.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_owned());
    format!(
        "{host}/{}",
        cfg.sip.listen.first().map_or("", String::as_str)
    )
}

/// Serve the subscriptions a durable store kept again: their dialogs' routes back into the endpoint, then
/// a NOTIFY with the current state to each watcher. Runs once the NOTIFY pump is up.
async fn resume_subscriptions(ep: &Ep, stores: &Stores) -> Result<(), String> {
    let Some(store) = &stores.subscriptions else {
        return Ok(());
    };
    let stored = store
        .load()
        .await
        .map_err(|e| format!("storage: loading subscriptions: {e}"))?;
    let found = stored.subscriptions.len() + stored.lists.len();
    let routes = ep.restore_routes(&stored.subscriptions) + ep.restore_routes(&stored.lists);
    let restored = ep
        .service()
        .restore_subscriptions(stored)
        .await
        .map_err(|e| format!("storage: restoring subscriptions: {e}"))?;
    info!(
        stored = found,
        restored,
        routes,
        "storage: subscriptions resumed (each watcher notified of the current state)"
    );
    Ok(())
}

/// The stores of `[storage] mode`: in memory, or loaded from the data file and written through to it.
async fn stores(cfg: &Config) -> Result<Stores, String> {
    match cfg.storage.mode {
        StorageMode::Memory => {
            info!("storage: memory (nothing survives a restart)");
            Ok(Stores {
                location: Arc::new(MemoryLocationStore::new()),
                presence: Arc::new(MemoryPresenceStore::new()),
                subscriptions: None,
                redis: None,
                directory: Some(Arc::new(registrar_directory::MemoryDirectoryStore::new())),
            })
        }
        StorageMode::Shared => {
            let node = node_id(cfg);
            let (redis, target) = if cfg.storage.redis_cluster.is_empty() {
                let r = Redis::connect(&cfg.storage.redis_url, &cfg.storage.redis_prefix, &node)
                    .await
                    .map_err(|e| format!("storage.redis_url: {e}"))?;
                (r, cfg.storage.redis_url.clone())
            } else {
                let r = Redis::connect_cluster(
                    &cfg.storage.redis_cluster,
                    &cfg.storage.redis_prefix,
                    &node,
                )
                .await
                .map_err(|e| format!("storage.redis_cluster: {e}"))?;
                (
                    r,
                    format!("cluster {}", cfg.storage.redis_cluster.join(",")),
                )
            };
            info!(
                redis = %target,
                prefix = %cfg.storage.redis_prefix,
                node = %node,
                "storage: shared (Redis)"
            );
            Ok(Stores {
                location: Arc::new(SharedLocationStore::new(Arc::clone(&redis))),
                presence: Arc::new(SharedPresenceStore::new(Arc::clone(&redis))),
                subscriptions: Some(Arc::new(SharedSubscriptionStore::new(Arc::clone(&redis)))),
                redis: Some(redis),
                directory: None,
            })
        }
        StorageMode::Embedded => {
            let dir = &cfg.storage.data_dir;
            let journal =
                Arc::new(Journal::open(dir).map_err(|e| format!("storage.data_dir: {e}"))?);
            let now = registrar_types::SystemClock.now();
            let started = std::time::Instant::now();
            let (location, bindings) = EmbeddedLocationStore::load(Arc::clone(&journal), now)
                .await
                .map_err(|e| format!("storage: loading registrations: {e}"))?;
            let (presence, publications) = EmbeddedPresenceStore::load(Arc::clone(&journal), now)
                .await
                .map_err(|e| format!("storage: loading publications: {e}"))?;
            info!(
                file = %journal.path().display(),
                registered_aors = bindings.loaded,
                expired_bindings = bindings.expired,
                presentities = publications.loaded,
                expired_publications = publications.expired,
                ms = started.elapsed().as_millis() as u64,
                "storage: embedded, state loaded"
            );
            Ok(Stores {
                location: Arc::new(location),
                presence: Arc::new(presence),
                subscriptions: Some(Arc::new(EmbeddedSubscriptionStore::new(Arc::clone(
                    &journal,
                )))),
                redis: None,
                directory: Some(Arc::new(
                    registrar_storage::EmbeddedDirectoryStore::open(journal)
                        .await
                        .map_err(|e| format!("storage: opening the directory: {e}"))?,
                )),
            })
        }
    }
}

/// Run the server until SIGTERM or Ctrl-C.
pub(crate) async fn run(cfg: Config) -> Result<(), String> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    let (ep, mut notify_rx, stores) = build(&cfg).await?;
    ep.service().start();

    let limits = Limits::new(cfg.sip.max_message_bytes, cfg.sip.max_headers);
    let mut udp = Vec::new();
    let mut tcp = Vec::new();
    for l in &cfg.sip.listen {
        let l = parse_listen(l)?;
        if l.tcp {
            let s = TcpListener::bind(l.addr)
                .await
                .map_err(|e| format!("sip.listen tcp:{}: {e}", l.addr))?;
            let a = s.local_addr().map_err(|e| e.to_string())?;
            info!(addr = %a, "SIP over TCP");
            tcp.push((a, s));
        } else {
            let s = bind_udp(l.addr, cfg.sip.udp_buffer_bytes)
                .map_err(|e| format!("sip.listen udp:{}: {e}", l.addr))?;
            let a = s.local_addr().map_err(|e| e.to_string())?;
            udp.push((a, Arc::new(s)));
        }
    }
    let transports = Arc::new(Transports {
        udp: udp.clone(),
        tcp: dashmap::DashMap::new(),
        tcp_by_addr: dashmap::DashMap::new(),
        next_conn: AtomicU64::new(1),
        response_first: tokio::sync::RwLock::new(()),
        limits,
    });

    let workers = if cfg.sip.udp_workers == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    } else {
        cfg.sip.udp_workers
    };
    // Requests in progress at once over UDP when the store makes them wait (embedded, shared).
    let inflight = (cfg.storage.mode != StorageMode::Memory)
        .then(|| Arc::new(tokio::sync::Semaphore::new(UDP_IN_FLIGHT)));
    // The receiving threads stop when this is set (within their receive timeout).
    let stopping = Arc::new(AtomicBool::new(false));
    let mut receivers = Vec::new();
    for (local, sock) in &udp {
        for n in 0..workers {
            let w = UdpWorker {
                ep: Arc::clone(&ep),
                tr: Arc::clone(&transports),
                sock: Arc::clone(sock),
                local: *local,
                max: limits.max_message,
                inflight: inflight.clone(),
                rt: tokio::runtime::Handle::current(),
                stopping: Arc::clone(&stopping),
            };
            let t = std::thread::Builder::new()
                .name(format!("sip-udp-{n}"))
                .spawn(move || w.run())
                .map_err(|e| format!("cannot start a UDP receiving thread: {e}"))?;
            receivers.push(t);
        }
    }
    for (local, listener) in tcp {
        let (ep, tr) = (Arc::clone(&ep), Arc::clone(&transports));
        tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        let _ = Arc::clone(&tr).attach(Arc::clone(&ep), stream, peer, local);
                    }
                    Err(e) => {
                        warn!(error = %e, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                }
            }
        });
    }
    // NOTIFY pump.
    {
        let (ep, tr) = (Arc::clone(&ep), Arc::clone(&transports));
        tokio::spawn(async move {
            let mut batch = Vec::new();
            while let Some(first) = notify_rx.recv().await {
                batch.push(first);
                while let Ok(more) = notify_rx.try_recv() {
                    batch.push(more);
                }
                // Wait for the requests in progress (which queued these intents) to send their responses.
                drop(tr.response_first.write().await);
                let now = ep.service().now();
                for intent in batch.drain(..) {
                    if let Some(o) = ep.notify(now, &intent) {
                        tr.send(&ep, o).await;
                    }
                }
            }
        });
    }
    // Transaction timers: every 50 ms (a tenth of T1).
    {
        let (ep, tr) = (Arc::clone(&ep), Arc::clone(&transports));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let now = ep.service().now();
                for o in ep.poll(now).await {
                    tr.send(&ep, o).await;
                }
            }
        });
    }
    follow_other_nodes(&ep, &stores);
    resume_subscriptions(&ep, &stores).await?;
    let http_addr: SocketAddr = cfg
        .http
        .listen
        .parse()
        .map_err(|e| format!("http.listen: {e}"))?;
    let http = tokio::net::TcpListener::bind(http_addr)
        .await
        .map_err(|e| format!("http.listen {http_addr}: {e}"))?;
    info!(addr = %http.local_addr().map_err(|e| e.to_string())?, "HTTP API");
    let keys = crate::directory::jwt::Keys::new(
        &cfg.directory.jwt_secret,
        &cfg.directory.jwt_ed25519_public_keys,
    )?;
    let directory = directory(&cfg, &stores, &keys).await?;
    let limits = crate::directory::api::RateLimits {
        discovery_per_hour: cfg.directory.discovery_per_hour,
        ratings_per_day: cfg.directory.ratings_per_day,
        contact_requests_per_hour: cfg.directory.contact_requests_per_hour,
    };
    let net = network(&cfg)?;
    let app = crate::admin::router(Arc::clone(&ep), prometheus).merge(
        crate::directory::api::router(directory, keys, limits, Arc::clone(&ep), net),
    );
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let tls = if cfg.http.tls_cert.as_os_str().is_empty() {
        None
    } else {
        Some(crate::tls::server_config(
            &cfg.http.tls_cert,
            &cfg.http.tls_key,
        )?)
    };
    let server = tokio::spawn(async move {
        let stop = async {
            let _ = stop_rx.await;
        };
        match tls {
            None => {
                let _ = axum::serve(http, app).with_graceful_shutdown(stop).await;
            }
            Some(tls) => match crate::tls::TlsListener::new(http, tls) {
                Ok(l) => {
                    let _ = axum::serve(l, app).with_graceful_shutdown(stop).await;
                }
                Err(e) => warn!("HTTPS listener: {e}"),
            },
        }
    });
    info!("registrar ready");
    shutdown_signal().await;
    info!("stopping");
    let _ = stop_tx.send(());
    stopping.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || {
        for t in receivers {
            let _ = t.join();
        }
    })
    .await;
    ep.service().shutdown().await;
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    info!("stopped");
    Ok(())
}

/// A UDP socket on `addr` with receive and send buffers of `buffer` bytes (0: the system's defaults). A
/// SIP server takes bursts: a REGISTER storm after an outage, a load generator's peaks. With the default
/// buffer (~200 KB, about 150 small datagrams once the kernel's per-packet overhead is counted) a pause of a
/// few milliseconds drops requests, which the client then retransmits 500 ms later. The kernel caps the size
/// at `net.core.rmem_max` / `wmem_max`; the size obtained is logged.
fn bind_udp(addr: SocketAddr, buffer: usize) -> std::io::Result<std::net::UdpSocket> {
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

/// Federation, DNS and OpenID Connect providers as configured.
fn network(cfg: &Config) -> Result<crate::directory::api::Network, String> {
    let dns = match crate::directory::dns::Dns::new(&cfg.directory.dns_servers) {
        Ok(d) => Some(d),
        Err(e) if cfg.directory.dns_servers.is_empty() => {
            warn!("directory: no DNS ({e}); domain proofs and DNS discovery are off");
            None
        }
        Err(e) => return Err(e),
    };
    let fed_dns = dns.clone().filter(|_| cfg.federation.dns_discovery);
    let federation =
        crate::directory::federation::Federation::new(&cfg.federation, fed_dns)?.map(Arc::new);
    if let Some(f) = &federation {
        info!(server = %f.id, "federation on");
    }
    let oidc = cfg
        .directory
        .oidc
        .iter()
        .enumerate()
        .map(|(i, c)| crate::directory::oidc::Provider::new(i, c))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(crate::directory::api::Network {
        federation,
        dns,
        oidc,
    })
}

/// The directory, loaded from its store, when `directory.jwt_secret` is set.
async fn directory(
    cfg: &Config,
    stores: &Stores,
    keys: &crate::directory::jwt::Keys,
) -> Result<Option<Arc<crate::directory::api::Directory>>, String> {
    if !keys.any() {
        info!("directory: API off (no directory.jwt_secret or directory.jwt_ed25519_public_keys)");
        return Ok(None);
    }
    let dir = match &stores.directory {
        Some(store) => registrar_directory::DirectoryService::open(
            registrar_directory::MemorySearchIndex::new(),
            Arc::clone(store),
        )
        .await
        .map_err(|e| format!("directory: loading: {e}"))?,
        None if cfg.directory.database_url.is_empty() => {
            warn!("directory: API off (shared mode needs directory.database_url)");
            return Ok(None);
        }
        None => {
            // Shared mode: PostgreSQL is the truth; this node's memory follows its change feed.
            let store = registrar_storage::PostgresDirectoryStore::connect(
                &cfg.directory.database_url,
                cfg.directory.database_connections,
            )
            .await
            .map_err(|e| format!("directory.database_url: {e}"))?
            .feed_retention(cfg.directory.feed_retention_secs);
            registrar_directory::DirectoryService::open_shared(
                registrar_directory::MemorySearchIndex::new,
                Arc::new(store),
            )
            .await
            .map_err(|e| format!("directory: loading: {e}"))?
        }
    };
    info!(
        participants = dir.with(registrar_directory::Directory::len).unwrap_or(0),
        position = dir.applied(),
        "directory: loaded"
    );
    let dir = Arc::new(dir);
    if dir.applied().is_some() {
        follow_directory_feed(Arc::clone(&dir));
    }
    Ok(Some(dir))
}

/// Keep this node's directory close to the shared store between requests: wake at every notice of the
/// feed (or every second) and apply what other nodes committed. Requests do not rely on it (each one first
/// waits for its own barrier, `DirectoryService::sync`); it keeps that barrier cheap.
fn follow_directory_feed(dir: Arc<crate::directory::api::Directory>) {
    tokio::spawn(async move {
        loop {
            dir.wait_for_changes(std::time::Duration::from_secs(1))
                .await;
            if let Err(e) = dir.sync().await {
                warn!("directory: following the shared store: {e}");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            }
        }
    });
}

/// Most UDP requests in progress at once in the durable storage modes.
const UDP_IN_FLIGHT: usize = 4_096;

/// One thread reading a UDP socket. Threads, not tasks: each blocks in `recv_from` and the kernel hands
/// every datagram to one waiting thread, so the threads of a socket work on all cores at once. (Tasks of the
/// runtime reading one socket are all woken by its readiness and tend to run one after the other on the
/// worker that polled it, leaving a core idle while requests wait: under load that showed as queues of tens
/// of milliseconds with a fifth of the CPU idle.) The request is handled on this thread, inside the runtime
/// (`Handle::block_on`), so the stores, timers and channels work as in any task.
struct UdpWorker {
    ep: Arc<Ep>,
    tr: Arc<Transports>,
    sock: Arc<std::net::UdpSocket>,
    local: SocketAddr,
    max: usize,
    inflight: Option<Arc<tokio::sync::Semaphore>>,
    rt: tokio::runtime::Handle,
    stopping: Arc<AtomicBool>,
}

/// How long a UDP receiving thread waits for a datagram before it checks for shutdown.
const UDP_RECEIVE_TIMEOUT: Duration = Duration::from_millis(200);

impl UdpWorker {
    fn run(self) {
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

    async fn dispatch(&self, from: SocketAddr, data: Bytes) {
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

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
