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
            Self::Config(_) | Self::Bridge(_) => 500,
        }
    }
}
