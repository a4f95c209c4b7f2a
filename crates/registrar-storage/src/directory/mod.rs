//! The participant directory's stores (`DirectoryStore`, `SharedStore`) and search index: in the embedded
//! data file ([`embedded`], feature `embedded`), in PostgreSQL for several nodes ([`postgres`], feature
//! `postgres`), and a search index on tantivy ([`tantivy`], feature `tantivy`).

#[cfg(feature = "embedded")]
pub(crate) mod embedded;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "tantivy")]
pub(crate) mod tantivy;
