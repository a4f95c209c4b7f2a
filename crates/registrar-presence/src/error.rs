use thiserror::Error;

/// Why a presence operation failed. Each variant a peer can cause maps to one SIP status in
/// [`Error::sip_status`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// The Event package is not one this server serves (RFC 6665 §8.2.2: 489 Bad Event).
    #[error("event package {0:?} is not supported")]
    BadEvent(String),
    /// `SIP-If-Match` names no live publication (RFC 3903 §6 step 4: 412 Conditional Request Failed).
    #[error("no publication has entity-tag {0}")]
    UnknownETag(String),
    /// An initial PUBLISH without a body (RFC 3903 §6 step 5: 400).
    #[error("an initial PUBLISH needs a body")]
    MissingBody,
    /// `Expires: 0` without `SIP-If-Match` names nothing to remove.
    #[error("removing a publication needs SIP-If-Match")]
    RemoveWithoutETag,
    /// A body type other than the package's one type (415 with `Accept`).
    #[error("body type {got:?} is not accepted; use {want}")]
    UnsupportedMediaType {
        /// The `Content-Type` sent.
        got: String,
        /// The package's body type, for `Accept`.
        want: &'static str,
    },
    /// The body is not a valid document of its package (400).
    #[error("invalid body: {0}")]
    InvalidDocument(#[from] registrar_pidf::Error),
    /// A non-zero expiry below the minimum (423 with `Min-Expires`).
    #[error("interval too brief: the minimum is {min} seconds")]
    IntervalTooBrief {
        /// The minimum, for `Min-Expires`.
        min: u32,
    },
    /// The presentity has as many publications as allowed (503).
    #[error("too many publications: at most {max} per presentity")]
    TooManyPublications {
        /// The limit.
        max: usize,
    },
    /// The watcher is blocked by the presentity (403).
    #[error("the presentity does not accept this watcher")]
    Forbidden,
    /// A refresh for a subscription that no longer exists (481).
    #[error("no such subscription")]
    NoSuchSubscription,
    /// The watcher holds as many subscriptions as allowed (503).
    #[error("too many subscriptions: at most {max} per watcher")]
    TooManySubscriptions {
        /// The limit.
        max: usize,
    },
    /// A buddy list is full (503).
    #[error("too many buddies: at most {max} per list")]
    TooManyBuddies {
        /// The limit.
        max: usize,
    },
    /// A SUBSCRIBE to a resource list without `Supported: eventlist` (RFC 4662 §4.1: 421 with
    /// `Require: eventlist`).
    #[error("subscribing to a resource list needs the eventlist extension")]
    EventlistRequired,
    /// An ad-hoc resource list (RFC 5367) with no entry (400).
    #[error("the resource list in the body has no entry")]
    EmptyResourceList,
    /// An ad-hoc resource list with more entries than allowed (413).
    #[error("too many resources: at most {max} per list")]
    TooManyResources {
        /// The limit.
        max: usize,
    },
    /// The request names a resource list that does not exist (404).
    #[error("no such resource list")]
    NoSuchList,
    /// The subscriber's `Accept` excludes the only body type the package has (RFC 6665 §4.2.1: 406).
    #[error("the subscriber does not accept {0}")]
    NotAcceptable(&'static str),
    /// The policy contradicts itself.
    #[error("invalid presence policy: {0}")]
    InvalidPolicy(&'static str),
    /// The operating system gave no randomness for an entity-tag.
    #[error("no randomness available: {0}")]
    Entropy(String),
    /// The presence store failed; nothing was changed.
    #[error("presence store failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The SIP status a presence server answers with for this error.
    pub const fn sip_status(&self) -> u16 {
        match self {
            Self::MissingBody
            | Self::RemoveWithoutETag
            | Self::InvalidDocument(_)
            | Self::EmptyResourceList => 400,
            Self::TooManyResources { .. } => 413,
            Self::Forbidden => 403,
            Self::NoSuchList => 404,
            Self::NotAcceptable(_) => 406,
            Self::EventlistRequired => 421,
            Self::UnknownETag(_) => 412,
            Self::UnsupportedMediaType { .. } => 415,
            Self::IntervalTooBrief { .. } => 423,
            Self::NoSuchSubscription => 481,
            Self::BadEvent(_) => 489,
            Self::InvalidPolicy(_) | Self::Entropy(_) => 500,
            Self::TooManyPublications { .. }
            | Self::TooManySubscriptions { .. }
            | Self::TooManyBuddies { .. }
            | Self::Storage(_) => 503,
        }
    }
}
