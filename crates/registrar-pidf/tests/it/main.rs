//! Integration tests of the presence document crate.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod compose;
mod conformance;
mod hostile;
mod props;
mod rfc3680;
mod rfc3842;
mod rfc3858;
mod rfc3863;
mod rfc4235;
mod rfc4479_4480;
mod rfc4662;
mod snapshots;
mod support;
