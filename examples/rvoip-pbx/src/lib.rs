//! A small PBX: rvoip-sip 0.4 carries the calls, the registrar crates know where users are, whether they are
//! available and what their calls are doing.
//!
//! - **Registration** ([`register`]): phones REGISTER on the SIP port, which rvoip-sip owns; each REGISTER is
//!   answered by the registrar's endpoint (every Contact, Path, outbound, GRUU, RFC 3261 §10.3) and the answer
//!   is sent through rvoip's REGISTER response builder. Nothing of rvoip's own registrar runs.
//! - **Calls** ([`calls`]): an INVITE to `user@domain` is forked to the user's bindings (highest q first,
//!   equal q in parallel), bridged once a callee answers; 404 outside the domain, 480 when nobody is
//!   registered or nobody answered, 486 / 6xx passed on.
//! - **Call state**: every call's progress is reported to the registrar, so BLF watchers see the dialogs and
//!   presence watchers see `on-the-phone` while a call is established.
//! - **Presence** ([`presence`], [`online`]): SUBSCRIBE and PUBLISH go to a second UDP port served by the
//!   registrar's endpoint, because rvoip-sip answers SUBSCRIBE itself (200, no NOTIFY) and does not serve
//!   PUBLISH; registered users are published as available.
//!
//! What it does not do: keep state across restarts (the registrar runs on its in-memory stores here; the
//! `registrar` server shows the durable ones), authenticate callers (REGISTER can be authenticated with
//! `--users`), transfer, hold music or voicemail.

pub mod calls;
pub mod online;
pub mod presence;
pub mod register;
pub mod routing;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use registrar_core::presence::MemoryPresenceStore;
use registrar_core::registry::MemoryLocationStore;
use registrar_core::service::{ChannelNotifier, RegistrarService};
use registrar_sip::auth::DigestAuth;
use registrar_sip::{Endpoint, SipConfig};
use rvoip_sip::SipRequestOptions;
use rvoip_sip::{Config, Event, UnifiedCoordinator};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;

/// REGISTERs handled at once; more get 503 with `Retry-After`.
pub const MAX_REGISTERING: usize = 1_024;
/// Calls routed or connected at once; more get 503 with `Retry-After`.
pub const MAX_CALLS: usize = 1_000;

/// The registrar of this PBX.
pub type Registrar = RegistrarService<MemoryLocationStore, MemoryPresenceStore>;

/// How the PBX runs.
#[derive(Debug)]
pub struct PbxConfig {
    /// The SIP port rvoip-sip listens on (UDP): REGISTER and calls.
    pub sip: SocketAddr,
    /// The presence port (UDP): SUBSCRIBE, PUBLISH, NOTIFY.
    pub presence: SocketAddr,
    /// The domain of the PBX's users (`sip:user@domain`).
    pub domain: String,
    /// RTP ports for the calls' media, first and last.
    pub media_ports: (u16, u16),
    /// How long a fork group rings before the next is tried.
    pub ring_timeout: Duration,
    /// Digest credentials for REGISTER, PUBLISH and SUBSCRIBE, when set.
    pub auth: Option<DigestAuth>,
}

/// A running PBX.
pub struct Pbx {
    /// The registrar, for lookups and reports.
    pub registrar: Registrar,
    /// rvoip-sip's coordinator.
    pub coordinator: Arc<UnifiedCoordinator>,
    /// The presence port's address.
    pub presence: SocketAddr,
}

/// Start the PBX: the registrar, the presence port, rvoip-sip on the SIP port and the loop that hands its
/// REGISTERs and calls to the registrar and the router.
///
/// # Errors
/// A port that cannot be bound, or a registrar or rvoip configuration refused.
pub async fn start(cfg: PbxConfig) -> Result<Pbx, Box<dyn std::error::Error + Send + Sync>> {
    let (notifier, notifies) = ChannelNotifier::new(65_536);
    let registrar = RegistrarService::builder()
        .notifier(Arc::new(notifier))
        .build()?;
    registrar.start();
    let mut sip = SipConfig::default().domains(&[cfg.domain.as_str()]);
    sip.server_name = "registrar-rvoip-pbx".to_owned();
    if let Some(auth) = cfg.auth {
        sip = sip.auth(auth);
    }
    let ep = Arc::new(Endpoint::new(registrar.clone(), sip));

    let sock = Arc::new(UdpSocket::bind(cfg.presence).await?);
    let presence = presence::serve(Arc::clone(&ep), sock, notifies)?;
    tokio::spawn(online::follow(registrar.clone()));

    let rvoip = Config::on("registrar-rvoip-pbx", cfg.sip.ip(), cfg.sip.port())
        .with_media_ports(cfg.media_ports.0, cfg.media_ports.1)
        .with_auto_100_trying(true)
        // The caller hears ringing when a callee rings, not before.
        .with_auto_180_ringing(false);
    let coordinator = UnifiedCoordinator::new(rvoip).await?;
    let calls = Arc::new(calls::Calls {
        coordinator: Arc::clone(&coordinator),
        svc: registrar.clone(),
        domain: cfg.domain.to_ascii_lowercase(),
        ring_timeout: cfg.ring_timeout,
    });
    // The control stream: the only one rvoip hands REGISTERs to (when its own registrar is not started).
    let mut events = coordinator.events_with_control().await?;
    let local = cfg.sip;
    let registering = Arc::new(Semaphore::new(MAX_REGISTERING));
    let calling = Arc::new(Semaphore::new(MAX_CALLS));
    tokio::spawn(async move {
        while let Some(event) = events.next().await {
            match event {
                Event::IncomingRegister { register } => {
                    let Ok(slot) = Arc::clone(&registering).try_acquire_owned() else {
                        // Too many REGISTERs in flight: the phone retries after a while.
                        let busy = register
                            .reject_builder(503)
                            .with_raw_header(rvoip_sip::HeaderName::RetryAfter, "5".to_owned());
                        if let Ok(b) = busy {
                            tokio::spawn(async move { b.send().await });
                        }
                        continue;
                    };
                    let ep = Arc::clone(&ep);
                    tokio::spawn(async move {
                        register::answer(&ep, local, register).await;
                        drop(slot);
                    });
                }
                Event::IncomingCall {
                    call_id, from, to, ..
                } => {
                    let Ok(slot) = Arc::clone(&calling).try_acquire_owned() else {
                        tracing::warn!(%call_id, "{MAX_CALLS} calls in progress: 503");
                        let c = Arc::clone(&calls.coordinator);
                        tokio::spawn(async move {
                            c.reject(&call_id)
                                .with_status(503)
                                .with_retry_after(30)
                                .send()
                                .await
                        });
                        continue;
                    };
                    tracing::info!(%call_id, "INVITE from {from} to {to}");
                    let calls = Arc::clone(&calls);
                    tokio::spawn(async move {
                        calls.route(call_id, from, to).await;
                        drop(slot);
                    });
                }
                _ => {}
            }
        }
        tracing::warn!("rvoip's event stream ended");
    });
    Ok(Pbx {
        registrar,
        coordinator,
        presence,
    })
}
