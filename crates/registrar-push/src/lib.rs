//! Push notification senders for SIP (RFC 8599): the services that wake a suspended phone app or browser
//! phone so that it registers and can take a call.
//!
//! What it does:
//! - [`Apns`]: Apple Push Notification service over HTTP/2 with token-based authentication (an ES256
//!   provider token from a `.p8` key, renewed every 40 minutes and when APNs says it expired); VoIP pushes
//!   (`apns-push-type: voip`) for topics ending in `.voip`, alert or background pushes otherwise.
//! - [`Fcm`]: Firebase Cloud Messaging HTTP v1, with an OAuth 2 access token obtained from a service
//!   account key (an RS256 assertion) and cached until shortly before it expires; high-priority data
//!   messages.
//! - [`WebPush`]: Web Push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291,
//!   `aes128gcm` of RFC 8188), to the push service URL a browser subscription names — only on the hosts
//!   allowed (the well-known push services by default), since the URL comes from the device.
//! - [`Senders`]: the configured senders behind one [`registrar_service::push::PushSender`], which is what
//!   the service is given.
//! - Provider answers are mapped as the providers document them: a device address that is gone becomes
//!   [`PushFailure::Unregistered`] (the service then drops the binding's push parameters); throttling
//!   (HTTP 429) backs the sender off for the time the provider asked, or a growing time; a provider that
//!   cannot be reached fails within the request timeout. Secrets (keys, tokens) are never logged or shown by
//!   `Debug`.
//! - With the `local` feature, `local::LocalPushService`: HTTP/2 servers implementing each provider's
//!   documented requests and answers, which verify what they receive (JWT signatures and claims, the VAPID
//!   header, the RFC 8291 ciphertext); for tests and benchmarks, since the real services cannot be reached
//!   from a test machine.
//!
//! What it does not do: decide when to push (the service does), hold state across restarts (nothing here
//! needs to), or deliver notifications through other services (Huawei, Windows) — a
//! [`registrar_service::push::PushSender`] of one's own can be combined with these.

mod apns;
mod client;
mod ece;
mod fcm;
mod jwt;
#[cfg(feature = "local")]
pub mod local;
mod senders;
mod webpush;

pub use apns::{Apns, ApnsConfig};
pub use fcm::{Fcm, FcmConfig};
pub use registrar_service::push::{Push, PushFailure, PushKind, PushSender};
pub use senders::Senders;
pub use webpush::{DEFAULT_ALLOWED_HOSTS, WebPush, WebPushConfig};

/// Why a sender could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting, key file or credential is wrong.
    #[error("push configuration: {0}")]
    Config(String),
    /// A cryptographic operation failed.
    #[error("push cryptography: {0}")]
    Crypto(&'static str),
}

/// The JSON a push carries to the app: what it is for and its id. Nothing about the caller — pushes pass
/// through third parties.
pub(crate) fn payload(p: &Push) -> serde_json::Value {
    serde_json::json!({ "type": p.kind.as_str(), "id": p.id })
}

/// Back-off after throttling, per scope (a provider, or one device address).
#[derive(Debug, Default)]
pub(crate) struct Backoff {
    until: std::sync::Mutex<std::collections::HashMap<String, (std::time::Instant, u32)>>,
}

impl Backoff {
    /// Most scopes remembered; beyond it, the ones whose back-off ended are forgotten.
    const MAX: usize = 10_000;

    /// `Err(Throttled)` while `scope` is backed off.
    pub(crate) fn check(&self, scope: &str) -> Result<(), PushFailure> {
        let now = std::time::Instant::now();
        let m = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match m.get(scope) {
            Some((t, _)) if *t > now => Err(PushFailure::Throttled {
                retry_after: Some(*t - now),
            }),
            _ => Ok(()),
        }
    }

    /// `scope` was throttled: back off for `retry_after`, or 1 s doubling per throttle in a row up to 5 min.
    pub(crate) fn throttled(
        &self,
        scope: &str,
        retry_after: Option<std::time::Duration>,
    ) -> PushFailure {
        let now = std::time::Instant::now();
        let mut m = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= Self::MAX {
            m.retain(|_, (t, _)| *t > now);
        }
        let streak = m.get(scope).map_or(0, |(_, n)| *n).saturating_add(1);
        let wait = retry_after
            .unwrap_or_else(|| std::time::Duration::from_secs(1 << (streak - 1).min(8)))
            .min(std::time::Duration::from_secs(300));
        m.insert(scope.to_owned(), (now + wait, streak));
        PushFailure::Throttled {
            retry_after: Some(wait),
        }
    }

    /// `scope` took a push: its streak ends.
    pub(crate) fn ok(&self, scope: &str) {
        let mut m = self
            .until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !m.is_empty() {
            m.remove(scope);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_ends() {
        let b = Backoff::default();
        assert!(b.check("apns").is_ok());
        let PushFailure::Throttled { retry_after } = b.throttled("apns", None) else {
            panic!("not throttled");
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(1)));
        assert!(b.check("apns").is_err());
        assert!(b.check("fcm").is_ok());
        let PushFailure::Throttled { retry_after } = b.throttled("apns", None) else {
            panic!("not throttled");
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(2)));
        b.ok("apns");
        assert!(b.check("apns").is_ok());
        let PushFailure::Throttled { retry_after } =
            b.throttled("fcm", Some(std::time::Duration::from_secs(9999)))
        else {
            panic!("not throttled");
        };
        assert_eq!(retry_after, Some(std::time::Duration::from_secs(300)));
    }
}
