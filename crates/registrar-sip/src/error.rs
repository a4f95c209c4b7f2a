//! The crate's one error type: why a message could not be read.

/// Why a message could not be read, and so what (if anything) to answer.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Larger than the size cap.
    #[error("message too large")]
    TooLarge,
    /// More header lines than the cap.
    #[error("too many header lines")]
    TooManyHeaders,
    /// Not a well-formed SIP message; the text names the problem (it goes into the 400's Warning).
    #[error("{0}")]
    Malformed(String),
    /// A SIP version other than 2.0 (505).
    #[error("SIP version not supported")]
    VersionNotSupported,
    /// A Request-URI scheme other than `sip`/`sips` (416).
    #[error("unsupported URI scheme")]
    UnsupportedScheme,
}

impl Error {
    pub(crate) fn malformed(why: impl Into<String>) -> Self {
        Self::Malformed(why.into())
    }

    /// The status to answer with, when the request can be answered at all.
    pub const fn status(&self) -> u16 {
        match self {
            Self::TooLarge => 513,
            Self::TooManyHeaders | Self::Malformed(_) => 400,
            Self::VersionNotSupported => 505,
            Self::UnsupportedScheme => 416,
        }
    }
}
