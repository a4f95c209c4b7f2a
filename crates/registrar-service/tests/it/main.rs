//! Journeys through the service on a manual clock, background expiry on tokio's paused clock, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod background;
#[cfg(feature = "infra-common")]
mod bridge;
mod buddies;
mod calls;
mod concurrency;
mod journeys;
mod push;
mod restart;
mod support;
