//! The registrar as one dependency: each layer as a module behind a cargo feature, a [`prelude`], and the
//! helpers a SIP stack needs to turn a parsed REGISTER, SUBSCRIBE or PUBLISH into service calls and the
//! results back into response and NOTIFY headers ([`sip`]).
//!
//! | module | feature | crate |
//! | --- | --- | --- |
//! | [`types`] | always | `registrar-types` |
//! | `registry` | `registry` | `registrar-registry` |
//! | `pidf` | `pidf` | `registrar-pidf` |
//! | `presence` | `presence` | `registrar-presence` |
//! | `events` | `events` | `registrar-events` |
//! | `service`, `sip` | `service` | `registrar-service` |
//! | `events::infra` | `infra-common` | `registrar-events` with its bridge onto rvoip's `infra-common` |
//!
//! All features but `infra-common` are on by default; a SIP stack that only needs the location service depends with
//! `default-features = false, features = ["registry"]`. See `docs/integration.md` for P2P and B2BUA set-ups.
//!
//! Not here: SIP wire parsing and transactions — the stack keeps its own and hands over header values.

pub use registrar_types as types;

#[cfg(feature = "events")]
pub use registrar_events as events;
#[cfg(feature = "pidf")]
pub use registrar_pidf as pidf;
#[cfg(feature = "presence")]
pub use registrar_presence as presence;
#[cfg(feature = "registry")]
pub use registrar_registry as registry;
#[cfg(feature = "service")]
pub use registrar_service as service;

#[cfg(feature = "service")]
pub mod sip;

/// The names most programs use.
pub mod prelude {
    pub use registrar_types::{Aor, CSeq, CallId, Clock, SipUri, SystemClock, Timestamp};

    #[cfg(feature = "events")]
    pub use registrar_events::{EventBus, EventFilter, InProcessBus, RegistrarEvent};
    #[cfg(feature = "pidf")]
    pub use registrar_pidf::{Basic, Document, Presence};
    #[cfg(feature = "presence")]
    pub use registrar_presence::{
        Buddy, DialogId, NotifyIntent, PublishRequest, SubscribeRequest, WatcherDecision,
    };
    #[cfg(feature = "registry")]
    pub use registrar_registry::{ContactSpec, RegisterRequest};
    #[cfg(feature = "service")]
    pub use registrar_service::{ChannelNotifier, Mode, Notifier, RegistrarService};
}
