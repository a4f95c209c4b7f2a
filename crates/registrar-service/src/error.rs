use thiserror::Error;

/// Why a service call failed. [`Error::sip_status`] gives the answer a SIP layer sends.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The registry refused the request or its store failed.
    #[error(transparent)]
    Registry(#[from] registrar_registry::Error),
    /// The presence layer refused the request or its store failed.
    #[error(transparent)]
    Presence(#[from] registrar_presence::Error),
    /// No subscription has this dialog (481).
    #[error("no such subscription")]
    NoSuchSubscription,
    /// The builder was given contradicting settings.
    #[error("invalid configuration: {0}")]
    Config(&'static str),
    /// A Contact names a push service this server does not push through (RFC 8599 §5.3: 555, with the
    /// supported list in `Feature-Caps`).
    #[error("push service {provider} not supported (supported: {})", supported.join(", "))]
    PushNotSupported {
        /// The `pn-provider` of the request.
        provider: String,
        /// The services this server pushes through.
        supported: Vec<String>,
    },
    /// A malformed push parameter (400 naming it).
    #[error("invalid push parameter {0}")]
    InvalidPushParam(registrar_types::PushParamError),
    /// The event coordinator refused the call-state bridge (feature `infra-common`).
    #[error("event coordinator: {0}")]
    Bridge(String),
}

impl Error {
    /// The SIP status for this error.
    pub const fn sip_status(&self) -> u16 {
        match self {
            Self::Registry(e) => e.sip_status(),
            Self::Presence(e) => e.sip_status(),
            Self::NoSuchSubscription => 481,
            Self::PushNotSupported { .. } => 555,
            Self::InvalidPushParam(_) => 400,
            Self::Config(_) | Self::Bridge(_) => 500,
        }
    }
}
