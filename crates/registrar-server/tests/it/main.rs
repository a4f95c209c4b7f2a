//! Black-box tests of the `registrar` binary.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod pidf_cli;
