//! Integration tests of the presence layer, by RFC.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod buddies;
mod composition;
mod rfc3680;
mod rfc3842;
mod rfc3856;
mod rfc3857;
mod rfc3903;
mod rfc4235;
mod rfc4662;
mod rfc6665;
mod support;
