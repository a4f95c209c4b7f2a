//! The directory's error.

/// What can go wrong in the directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A participant id does not parse.
    #[error("invalid participant id {0}")]
    InvalidId(String),
    /// The participant does not exist.
    #[error("unknown participant {0}")]
    UnknownParticipant(String),
    /// A value is out of range or malformed.
    #[error("invalid value: {0}")]
    Invalid(String),
    /// The rules forbid it (the reason says which).
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The store failed; the change was not made durable.
    #[error("directory storage: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}
