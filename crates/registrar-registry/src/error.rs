use registrar_types::CSeq;
use thiserror::Error;

/// Why a REGISTER or a store operation failed.
///
/// Each variant a peer can cause maps to exactly one SIP status in [`Error::sip_status`], the one place the
/// SIP layer asks.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// `Contact: *` came with other Contact values (RFC 3261 §10.3 step 6).
    #[error("Contact \"*\" must be the only Contact")]
    WildcardNotAlone,
    /// `Contact: *` without `Expires: 0` (RFC 3261 §10.2.2).
    #[error("Contact \"*\" requires Expires: 0")]
    WildcardNeedsZeroExpires,
    /// A non-zero expiry below the minimum (RFC 3261 §10.3 step 7): answer 423 with `Min-Expires`.
    #[error("interval too brief: the minimum is {min} seconds")]
    IntervalTooBrief {
        /// The minimum, for the `Min-Expires` header.
        min: u32,
    },
    /// A binding with the same Call-ID has an equal or higher CSeq (RFC 3261 §10.3 step 7): nothing changed.
    #[error("CSeq {got} is not higher than {stored}, stored for the same Call-ID")]
    StaleCSeq {
        /// The CSeq stored with the binding.
        stored: CSeq,
        /// The CSeq of the request.
        got: CSeq,
    },
    /// The same contact (by URI, or by instance and reg-id) twice in one request.
    #[error("contact {contact} appears more than once")]
    DuplicateContact {
        /// The contact URI.
        contact: String,
    },
    /// More than one Contact with a `reg-id` in one REGISTER (RFC 5626 §6).
    #[error("more than one Contact carries a reg-id")]
    MultipleRegIds,
    /// An outbound registration through a first hop that did not mark itself with `ob` (RFC 5626 §6).
    #[error("first hop lacks outbound support")]
    FirstHopLacksOutbound,
    /// The request needs an extension the UA did not declare support for (`Supported: path`, RFC 3327 §5.3).
    #[error("extension required: {extension}")]
    ExtensionRequired {
        /// The option tag, for the `Require` header.
        extension: &'static str,
    },
    /// A Contact that is a GRUU of this AoR (RFC 5627 §5.2): registering a GRUU would make a loop.
    #[error("contact {contact} is a GRUU")]
    ContactIsGruu {
        /// The contact URI.
        contact: String,
    },
    /// The AoR would exceed its contact limit and the policy is to reject.
    #[error("too many contacts: at most {max} per address-of-record")]
    TooManyContacts {
        /// The limit.
        max: usize,
    },
    /// The policy itself is inconsistent.
    #[error("invalid registrar policy: {0}")]
    InvalidPolicy(&'static str),
    /// The operating system gave no randomness for a GRUU key.
    #[error("no randomness available: {0}")]
    Entropy(String),
    /// The location store failed; nothing was changed.
    #[error("location store failed: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl Error {
    /// The SIP status a registrar answers with for this error.
    pub const fn sip_status(&self) -> u16 {
        match self {
            Self::WildcardNotAlone
            | Self::WildcardNeedsZeroExpires
            | Self::DuplicateContact { .. }
            | Self::MultipleRegIds => 400,
            Self::ContactIsGruu { .. } => 403,
            Self::ExtensionRequired { .. } => 421,
            Self::IntervalTooBrief { .. } => 423,
            Self::FirstHopLacksOutbound => 439,
            // RFC 3261 §12.2.2 answers an out-of-order CSeq with 500; a REGISTER out of order gets the same.
            Self::StaleCSeq { .. } | Self::InvalidPolicy(_) | Self::Entropy(_) => 500,
            Self::TooManyContacts { .. } | Self::Storage(_) => 503,
        }
    }
}
