//! Integration tests of the location service, one module per RFC section.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod concurrency;
mod expiry;
mod rfc3261_s10_3;
mod rfc3327;
mod rfc5626;
mod rfc5627;
mod support;
