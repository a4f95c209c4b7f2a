//! The storage error.

use std::path::PathBuf;

/// What can go wrong in a storage engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The data directory or file could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The database engine failed.
    #[error("data file: {0}")]
    Db(String),
    /// The data file was written by a newer version of the registrar.
    #[error(
        "{} has format version {found}, newer than this registrar understands ({supported}); \
         run the newer registrar, or move the file away to start empty (nothing was changed)",
        path.display()
    )]
    NewerFormat {
        /// The file.
        path: PathBuf,
        /// The version in the file.
        found: u64,
        /// The newest version this binary reads.
        supported: u64,
    },
    /// A stored record does not decode.
    #[error("damaged record: {0}")]
    Corrupt(String),
    /// Too many changes are waiting for the disk; try again shortly.
    #[error("storage is busy: too many changes waiting for the disk")]
    Busy,
    /// Redis (shared mode) could not be reached or refused a command; the change was not made.
    #[error("redis: {0}")]
    Redis(String),
    /// Other nodes kept changing the same entry; the change was not made (try again).
    #[error("too many concurrent changes to {0}; try again")]
    Contention(String),
    /// PostgreSQL (the directory's shared store) could not be reached or refused a statement; the change
    /// was not made.
    #[error("postgres: {0}")]
    Postgres(String),
    /// An earlier write failed; the store refuses changes until the server restarts.
    #[error("storage failed earlier; restart the server")]
    Failed,
}

impl Error {
    /// Boxed, for the `Storage` variants of the layers' errors (answered with 503).
    #[cfg(any(feature = "embedded", feature = "redis", feature = "postgres"))]
    pub(crate) fn boxed(self) -> Box<dyn std::error::Error + Send + Sync> {
        Box::new(self)
    }
}
