//! `registrar serve`: sockets and tasks around the sans-IO endpoint.
//!
//! - UDP: each socket is read by one OS thread per core (`sip.udp_workers`), blocking in `recv_from` so the
//!   kernel hands every datagram to one waiting thread; nothing on the path takes a global lock (the stores
//!   and transaction tables are sharded maps). See `transport`.
//! - TCP: one task per connection, framing by `Content-Length`, size-capped; a writer task per connection so
//!   NOTIFYs and responses never interleave.
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
    Config, ContactsPolicy, ServiceMode, StorageMode, WatcherPolicy, parse_listen,
};

use crate::Ep;

mod directory;
mod stores;
mod transport;

use directory::{directory, network};
use stores::{Stores, follow_other_nodes, resume_subscriptions, stores};
use transport::{Transports, UDP_IN_FLIGHT, UdpWorker, bind_udp, build};

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
