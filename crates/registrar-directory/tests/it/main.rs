//! Directory tests over the public API: the privacy property test, a labelled query set over a synthetic
//! population, resolution behaviour and the memory store.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod image;
mod oracles;
mod privacy_property;
mod resolution;
mod rights;
mod service;
mod shared;
mod side_channels;
