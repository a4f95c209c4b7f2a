//! Black-box tests of the `registrar` binary.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    missing_docs,
    unreachable_pub,
    dead_code
)]

mod baresip;
mod browser;
mod console;
mod desk_phones;
mod directory;
mod directory_hardening;
mod directory_image;
mod directory_shared;
mod federation;
mod lifecycle;
mod linphone;
mod operations;
mod pidf_cli;
mod push;
mod rfc4475;
mod schemathesis;
mod shared;
mod sipp;
mod storage;
mod support;
mod transports;
