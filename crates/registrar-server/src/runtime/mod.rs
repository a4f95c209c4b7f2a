//! `registrar serve`: sockets and tasks around the sans-IO endpoint.
//!
//! - UDP: each socket is read by one OS thread per core (`sip.udp_workers`), blocking in `recv_from` so the
//!   kernel hands every datagram to one waiting thread; nothing on the path takes a global lock (the stores
//!   and transaction tables are sharded maps). See `transport`.
//! - TCP and TLS: threads with a current-thread runtime each (`sip.stream_workers`), each accepting on the
//!   listener and running its connections, one task per connection (framing by `Content-Length`, size-capped;
//!   answers written at once, NOTIFYs queued to the connection and written between messages). See `streams`.
//! - A NOTIFY pump (the service's notifier channel → NOTIFY requests), a timer task (retransmissions,
//!   timeouts), the service's own expiry tasks, and the HTTP API.
//! - SIGTERM or Ctrl-C: stop accepting, stop the service's tasks (flushing what they owe), exit 0.
//! - The stores of the storage mode (`stores`) and the directory (`directory`) are set up before traffic.

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
    Config, ContactsPolicy, ListenKind, ServiceMode, StorageMode, WatcherPolicy, parse_listen,
};

use crate::Ep;

mod directory;
mod http;
mod limits;
mod stores;
mod streams;
mod transport;
mod ws;

use directory::{directory, network};
use stores::{Stores, follow_other_nodes, resume_subscriptions, stores};
use streams::StreamLimits;
use transport::{Transports, UDP_IN_FLIGHT, UdpWorker, bind_udp, build};

/// Run the server until SIGTERM or Ctrl-C.
pub(crate) async fn run(cfg: Config) -> Result<(), String> {
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("metrics: {e}"))?;
    zero_metrics(&cfg);
    let (ep, mut notify_rx, stores) = build(&cfg).await?;
    ep.service().start();
    if ep.service().push_enabled() && stores.redis.is_none() {
        // The re-registration push plan lives in memory: rebuilt from the bindings after a start. (In shared
        // mode each node plans the REGISTERs it handled, so that a binding is not pushed by every node.)
        let svc = ep.service().clone();
        tokio::spawn(async move {
            match svc.plan_push_refreshes().await {
                Ok(n) => tracing::info!("push: {n} re-registration pushes planned"),
                Err(e) => tracing::warn!("push: re-registration pushes not planned: {e}"),
            }
        });
    }

    let limits = Limits::new(cfg.sip.max_message_bytes, cfg.sip.max_headers);
    // Connection limits out of the open-file limit (raised to its hard limit), said in the log.
    let files = limits::file_limit();
    let (sip_max, http_max) =
        limits::budget(files, cfg.sip.max_connections, cfg.http.max_connections);
    let sip_admission = limits::Admission::new("sip", sip_max, cfg.sip.max_connections_per_source);
    let sip_tls = sip_tls(&cfg)?;
    let mut udp = Vec::new();
    let mut streams = Vec::new();
    for l in &cfg.sip.listen {
        let l = parse_listen(l)?;
        if l.kind == ListenKind::Udp {
            let s = bind_udp(l.addr, cfg.sip.udp_buffer_bytes)
                .map_err(|e| format!("sip.listen udp:{}: {e}", l.addr))?;
            let a = s.local_addr().map_err(|e| e.to_string())?;
            udp.push((a, Arc::new(s)));
            continue;
        }
        let s = TcpListener::bind(l.addr)
            .await
            .map_err(|e| format!("sip.listen {:?}:{}: {e}", l.kind, l.addr))?;
        let a = s.local_addr().map_err(|e| e.to_string())?;
        info!(addr = %a, transport = ?l.kind, "SIP over a stream transport");
        streams.push((l.kind, a, s));
    }
    let transports = Arc::new(Transports {
        udp: udp.clone(),
        conns: dashmap::DashMap::new(),
        by_addr: dashmap::DashMap::new(),
        next_conn: AtomicU64::new(1),
        response_first: tokio::sync::RwLock::new(()),
        limits,
        streams: StreamLimits {
            admission: Arc::clone(&sip_admission),
            handshake_timeout: Duration::from_millis(cfg.sip.tls_handshake_timeout_ms),
            message_timeout: Duration::from_millis(cfg.sip.message_timeout_ms),
            idle_timeout: Duration::from_secs(cfg.sip.idle_timeout_secs),
            registered_idle_timeout: Duration::from_secs(cfg.sip.registered_idle_timeout_secs),
            write_queue: cfg.sip.write_queue,
            write_timeout: Duration::from_millis(cfg.sip.write_timeout_ms),
        },
    });
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stream_workers = if cfg.sip.stream_workers == 0 {
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get)
    } else {
        cfg.sip.stream_workers
    };
    for (kind, local, listener) in streams {
        match kind {
            ListenKind::Tcp => {
                transports.accept_on_threads(&ep, listener, local, None, stream_workers)?;
            }
            ListenKind::Tls => transports.accept_on_threads(
                &ep,
                listener,
                local,
                sip_tls.clone(),
                stream_workers,
            )?,
            _ => {
                let proto = if kind == ListenKind::Wss {
                    Proto::Wss
                } else {
                    Proto::Ws
                };
                let l = Arc::new(ws::WsListener {
                    tr: Arc::clone(&transports),
                    ep: Arc::clone(&ep),
                    proto,
                    local,
                    origins: cfg
                        .sip
                        .ws_origins
                        .iter()
                        .map(|o| o.trim().to_ascii_lowercase())
                        .collect(),
                    max_message: cfg.sip.max_message_bytes,
                });
                let app = ws::router(l);
                let limits = http::HttpLimits {
                    label: "sip",
                    admission: Arc::clone(&sip_admission),
                    header_timeout: Duration::from_millis(cfg.sip.message_timeout_ms),
                    handshake_timeout: Duration::from_millis(cfg.sip.tls_handshake_timeout_ms),
                };
                let tls = (proto == Proto::Wss).then(|| sip_tls.clone()).flatten();
                tokio::spawn(http::serve(
                    listener,
                    tls,
                    move |peer| app.clone().layer(axum::Extension(ws::From(peer))),
                    limits,
                    stop_rx.clone(),
                ));
            }
        }
    }

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
    if cfg.sip.nat_ping_interval_secs > 0
        && let Some((local, _)) = udp.first()
    {
        let every = Duration::from_secs(cfg.sip.nat_ping_interval_secs);
        // A ping is missed when it is not answered before the next one is due (or within 64·T1).
        let wait_ms = (cfg.sip.nat_ping_interval_secs * 1_000).min(64 * cfg.sip.t1_ms);
        ping_devices(&ep, &transports, *local, every, wait_ms);
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
    let directory_for_image = directory.clone();
    let limits = crate::directory::api::RateLimits {
        discovery_per_hour: cfg.directory.discovery_per_hour,
        ratings_per_day: cfg.directory.ratings_per_day,
        contact_requests_per_hour: cfg.directory.contact_requests_per_hour,
    };
    let net = network(&cfg)?;
    let admin_auth = Arc::new(crate::admin::AdminAuth::new(
        &cfg.http.admin_tokens,
        crate::directory::jwt::Keys::new(
            &cfg.directory.jwt_secret,
            &cfg.directory.jwt_ed25519_public_keys,
        )?,
        cfg.http.metrics_require_token,
    ));
    if !admin_auth.enforced() && !http_addr.ip().is_loopback() {
        // Config::validate refused this unless http.allow_unauthenticated is set.
        warn!(addr = %http_addr, "the admin API has no credentials (http.allow_unauthenticated)");
    }
    let app = crate::admin::router(
        Arc::clone(&ep),
        prometheus,
        admin_auth,
        cfg.push.default_wait_ms,
    )
    .merge(crate::directory::api::router(
        directory,
        keys,
        limits,
        Arc::clone(&ep),
        net,
    ));
    let http_tls = if cfg.http.tls_cert.as_os_str().is_empty() {
        None
    } else {
        Some(crate::tls::Reloadable::load(crate::tls::ServerFiles {
            section: "http",
            cert: cfg.http.tls_cert.clone(),
            key: cfg.http.tls_key.clone(),
            client_ca: None,
            require_client_cert: false,
            alpn: vec![b"http/1.1".to_vec()],
        })?)
    };
    reload_certificates(
        [sip_tls.clone(), http_tls.clone()]
            .into_iter()
            .flatten()
            .collect(),
    );
    let http_limits = http::HttpLimits {
        label: "http",
        admission: limits::Admission::new("http", http_max, cfg.http.max_connections_per_source),
        header_timeout: Duration::from_millis(cfg.http.header_timeout_ms),
        handshake_timeout: Duration::from_millis(cfg.http.header_timeout_ms),
    };
    let server = tokio::spawn(http::serve(
        http,
        http_tls,
        move |_| app.clone(),
        http_limits,
        stop_rx.clone(),
    ));
    info!("registrar ready");
    shutdown_signal().await;
    info!("stopping");
    let _ = stop_tx.send(true);
    stopping.store(true, Ordering::Relaxed);
    let _ = tokio::task::spawn_blocking(move || {
        for t in receivers {
            let _ = t.join();
        }
    })
    .await;
    ep.service().shutdown().await;
    if let Some(d) = &directory_for_image
        && !cfg.directory.image_file.as_os_str().is_empty()
    {
        let path = cfg.storage.data_dir.join(&cfg.directory.image_file);
        directory::write_directory_image(d, &path).await;
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), server).await;
    info!("stopped");
    Ok(())
}

/// Every `every`, an OPTIONS ping to each binding registered over UDP without outbound (`sip.nat_ping_*`).
fn ping_devices(
    ep: &Arc<Ep>,
    tr: &Arc<Transports>,
    local: SocketAddr,
    every: Duration,
    wait_ms: u64,
) {
    let (ep, tr) = (Arc::clone(ep), Arc::clone(tr));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let mut after = None;
            loop {
                let svc = ep.service();
                let Ok(page) = svc.registered_users(after.as_ref(), 1_000).await else {
                    break;
                };
                let Ok(all) = svc.lookup_many(&page.users).await else {
                    break;
                };
                let now = svc.now();
                for (aor, bindings) in page.users.iter().zip(all) {
                    for b in bindings.iter() {
                        if let Some(o) = ep.ping(now, aor, b, local, wait_ms) {
                            metrics::counter!("registrar_nat_pings_total").increment(1);
                            tr.send(&ep, o).await;
                        }
                    }
                }
                match page.next {
                    Some(n) => after = Some(n),
                    None => break,
                }
            }
        }
    });
}

/// The certificate of the `tls:`/`wss:` listeners, when there is one.
fn sip_tls(cfg: &Config) -> Result<Option<Arc<crate::tls::Reloadable>>, String> {
    if cfg.sip.tls_cert.as_os_str().is_empty() {
        return Ok(None);
    }
    let wss = cfg
        .sip
        .listen
        .iter()
        .any(|l| parse_listen(l).is_ok_and(|l| l.kind == ListenKind::Wss));
    crate::tls::Reloadable::load(crate::tls::ServerFiles {
        section: "sip",
        cert: cfg.sip.tls_cert.clone(),
        key: cfg.sip.tls_key.clone(),
        client_ca: (!cfg.sip.tls_client_ca.as_os_str().is_empty())
            .then(|| cfg.sip.tls_client_ca.clone()),
        require_client_cert: cfg.sip.tls_require_client_cert,
        // WSS starts with an HTTP/1.1 upgrade; SIP over TLS negotiates nothing.
        alpn: if wss {
            vec![b"http/1.1".to_vec()]
        } else {
            Vec::new()
        },
    })
    .map(Some)
}

/// How often the certificate files are checked for a change.
const CERTIFICATE_CHECK: Duration = Duration::from_secs(5);

/// Load the certificates again when their files change (checked every few seconds) or on SIGHUP; a new one
/// serves every connection from then on, and a broken one is refused with the old one kept.
fn reload_certificates(certs: Vec<Arc<crate::tls::Reloadable>>) {
    if certs.is_empty() {
        return;
    }
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = tokio::time::interval(CERTIFICATE_CHECK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            #[cfg(unix)]
            let force = tokio::select! {
                _ = tick.tick() => false,
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => true,
            };
            #[cfg(not(unix))]
            let force = {
                tick.tick().await;
                false
            };
            for c in &certs {
                match c.reload(force) {
                    Ok(true) => {
                        info!(section = c.section(), "TLS certificate loaded again");
                        metrics::counter!("registrar_tls_certificate_reloads_total", "section" => c.section()).increment(1);
                    }
                    Ok(false) => {}
                    Err(e) => warn!(
                        section = c.section(),
                        "TLS certificate not reloaded, the old one is kept: {e}"
                    ),
                }
            }
        }
    });
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

/// Every counter the alert rules and the dashboard (`packaging/`) rate or divide starts at 0, so that its
/// series exists before the first event: `rate()` of a series that does not exist yet alerts on nothing.
fn zero_metrics(cfg: &Config) {
    for listener in ["sip", "http"] {
        for reason in ["total", "per_source"] {
            metrics::counter!("registrar_connections_refused_total", "listener" => listener, "reason" => reason)
                .absolute(0);
        }
        for reason in [
            "slow",
            "idle",
            "handshake",
            "write_queue",
            "write_timeout",
            "frame",
            "subprotocol",
            "origin",
        ] {
            metrics::counter!("registrar_connections_closed_total", "listener" => listener, "reason" => reason)
                .absolute(0);
        }
        metrics::gauge!("registrar_connections", "listener" => listener).set(0.0);
    }
    for p in &cfg.federation.peers {
        metrics::counter!("registrar_federation_failures_total", "peer" => p.id.clone())
            .absolute(0);
    }
    for name in [
        "registrar_sip_parse_errors_total",
        "registrar_sip_retransmissions_total",
        "registrar_notify_sent_total",
        "registrar_notify_failed_total",
        "registrar_notify_retransmissions_total",
    ] {
        metrics::counter!(name).absolute(0);
    }
}
