//! The registrar's stores (`LocationStore`, `PresenceStore`, `SubscriptionStore`): in the embedded data file
//! ([`embedded`], feature `embedded`) or in Redis for several nodes ([`redis`], feature `redis`).

#[cfg(feature = "embedded")]
pub(crate) mod embedded;
#[cfg(feature = "redis")]
pub(crate) mod redis;
