//! Push notifications (RFC 8599): the sender trait the service wakes devices through, and what it reports.
//!
//! The service decides *when* to push (a caller wants to reach an AoR whose device sleeps; a binding of a
//! device that cannot refresh by itself nears its expiry) and what a push led to (a refreshed REGISTER, or
//! nothing). *How* a push reaches Apple, Google or a browser's push service is a [`PushSender`]'s job; the
//! `registrar-push` crate implements APNs, FCM and Web Push, and a SIP stack may plug its own.

use std::time::Duration;

use async_trait::async_trait;
use registrar_types::{Aor, Binding, PushParamError, PushProvider, PushTarget, SipUri};

/// Why a push is sent.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum PushKind {
    /// Someone wants to reach the device now (an incoming call or message): wake it to register.
    Wake,
    /// Its binding nears expiry and it cannot refresh by itself (no `+sip.pnsreg`): wake it to refresh.
    Refresh,
}

impl PushKind {
    /// `wake` or `refresh` (metric labels, logs).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Wake => "wake",
            Self::Refresh => "refresh",
        }
    }
}

/// One push to send.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Push {
    /// The address-of-record whose device is woken.
    pub aor: Aor,
    /// The binding's Contact URI.
    pub contact: SipUri,
    /// Where the push goes.
    pub target: PushTarget,
    /// Why.
    pub kind: PushKind,
    /// A unique id of this push (sent as the provider's message id where it has one, e.g. `apns-id`).
    pub id: String,
    /// How long the provider should keep trying to deliver it (the wait of the caller, or the time left
    /// before the binding expires).
    pub ttl: Duration,
}

impl Push {
    /// A push of `kind` to the device of `binding` (which must have a reachable [`PushTarget`]).
    pub fn new(
        aor: Aor,
        binding: &Binding,
        target: PushTarget,
        kind: PushKind,
        id: String,
        ttl: Duration,
    ) -> Self {
        Self {
            aor,
            contact: binding.contact.clone(),
            target,
            kind,
            id,
            ttl,
        }
    }
}

/// Why a push failed, as the providers document their answers.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PushFailure {
    /// The device address is no longer valid at the service (APNs 410 `Unregistered` or 400
    /// `BadDeviceToken`, FCM `UNREGISTERED`, Web Push 404/410): the service removes the push parameters from
    /// the binding, so it is never pushed again until the device registers a new address.
    #[error("the device is no longer registered at the push service")]
    Unregistered,
    /// The provider throttled us (HTTP 429) or we are backing off after it did.
    #[error("throttled by the push service (retry after {retry_after:?})")]
    Throttled {
        /// How long to wait, when the provider said.
        retry_after: Option<Duration>,
    },
    /// The provider refused this push (a bad request, a payload too large); its reason.
    #[error("refused by the push service: {0}")]
    Rejected(String),
    /// Our credentials were refused (an expired or invalid provider token, a wrong key).
    #[error("push credentials refused: {0}")]
    Credentials(String),
    /// The provider could not be reached or failed (a timeout, a 5xx, a closed connection).
    #[error("push service unavailable: {0}")]
    Unavailable(String),
    /// No sender is configured for this provider.
    #[error("no sender for push service {0}")]
    NotConfigured(String),
}

impl PushFailure {
    /// A short label of the kind of failure (metrics).
    pub const fn reason(&self) -> &'static str {
        match self {
            Self::Unregistered => "unregistered",
            Self::Throttled { .. } => "throttled",
            Self::Rejected(_) => "rejected",
            Self::Credentials(_) => "credentials",
            Self::Unavailable(_) => "unavailable",
            Self::NotConfigured(_) => "not_configured",
        }
    }
}

/// Sends pushes to the services a deployment is configured for.
///
/// Implementations must bound each send (a timeout) and never block the caller's thread: the service calls
/// them from tasks of their own, never while a SIP request waits for its answer.
#[async_trait]
pub trait PushSender: Send + Sync + 'static {
    /// The services this sender can push through (what `Feature-Caps: +sip.pns` lists).
    fn providers(&self) -> Vec<PushProvider>;

    /// Check the service-specific form of `target` at REGISTER time (an APNs `pn-param` names a topic, a
    /// Web Push `pn-prid` is an `https` URL of an allowed host, ...).
    ///
    /// # Errors
    /// The parameter that is wrong, for a 400.
    fn check(&self, target: &PushTarget) -> Result<(), PushParamError>;

    /// The VAPID public key (RFC 8292, base64url of the uncompressed P-256 point) Web Push subscriptions
    /// must be made with, for `Feature-Caps: +sip.vapid`; `None` without Web Push.
    fn vapid_public_key(&self) -> Option<String> {
        None
    }

    /// Send one push.
    ///
    /// # Errors
    /// Why it was not accepted by the service.
    async fn send(&self, push: &Push) -> Result<(), PushFailure>;
}

/// How the service uses a [`PushSender`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PushPolicy {
    /// How long [`crate::RegistrarService::reach`] waits for woken devices to register, at most.
    pub max_wait: Duration,
    /// For a device that refreshes by itself (`+sip.pnsreg`): how many seconds before expiry it should send
    /// its refresh (the value of `Feature-Caps: +sip.pnsreg`).
    pub pnsreg_secs: u32,
    /// For the other devices: how many seconds before its binding expires one is pushed to refresh it.
    pub refresh_before_secs: u32,
    /// How often a wait looks at the store again besides being told of local REGISTERs (a REGISTER another
    /// node handled is only seen in the shared store).
    pub recheck: Duration,
}

impl Default for PushPolicy {
    fn default() -> Self {
        Self {
            max_wait: Duration::from_secs(30),
            pnsreg_secs: 130,
            refresh_before_secs: 120,
            recheck: Duration::from_millis(250),
        }
    }
}

/// Whether a device can be reached without a push: the server's transports know which connections are open.
pub trait FlowProbe: Send + Sync + 'static {
    /// Whether `binding` has a live flow (a connection of a stream transport that is still open): a request
    /// can reach the device now, without waking it.
    fn alive(&self, binding: &Binding) -> bool;
}

/// What [`crate::RegistrarService::reach`] found.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Reach {
    /// The live bindings at the end, best first: what a proxy forks to.
    pub bindings: Vec<Binding>,
    /// The contacts pushed.
    pub pushed: Vec<SipUri>,
    /// The pushed contacts whose device registered after the push, with the time from the push to its
    /// REGISTER.
    pub woken: Vec<(SipUri, Duration)>,
    /// The pushed contacts whose push failed, and why.
    pub failed: Vec<(SipUri, PushFailure)>,
    /// The pushed contacts that did not register in time.
    pub timed_out: Vec<SipUri>,
}
