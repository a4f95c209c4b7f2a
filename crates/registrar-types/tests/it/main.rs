//! Property tests of the identifier parsers.
#![allow(clippy::unwrap_used, missing_docs)]

mod props;
