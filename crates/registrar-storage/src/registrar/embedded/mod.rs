//! Embedded mode: memory serves every read; every change is written through the [`crate::Journal`] (a
//! write-ahead log folded into a redb file) before it is acknowledged.

pub(crate) mod location;
pub(crate) mod presence;
pub(crate) mod subscriptions;
