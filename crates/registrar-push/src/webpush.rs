//! Web Push (RFC 8030) with VAPID (RFC 8292) and message encryption (RFC 8291), for browser phones
//! (RFC 8599 §11 has `pn-provider=webpush`).
//!
//! A binding's `pn-prid` is the push subscription's endpoint URL (%-escaped in the Contact). Its `pn-param`,
//! when present, carries the subscription's keys as `<p256dh>.<auth>` (both base64url, as
//! `PushSubscription.toJSON()` gives them): the push then carries an encrypted payload; without them it is
//! sent empty (RFC 8030 allows that; the service worker still wakes). RFC 8599 does not say where the keys
//! go; this form is our choice, documented in docs/operations.md.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::{Method, Request};
use registrar_service::push::{Push, PushFailure, PushKind, PushSender};
use registrar_types::{PN_PARAM, PN_PRID, PushParamError, PushProvider, PushTarget};

use crate::client::{Client, Url};
use crate::jwt::{Es256, b64, unb64, unix_now};
use crate::{Backoff, Error, payload};

/// The hosts of the public push services of the browsers (Chrome, Firefox, Safari, Edge). A leading `.`
/// allows every subdomain.
pub const DEFAULT_ALLOWED_HOSTS: &[&str] = &[
    "fcm.googleapis.com",
    "updates.push.services.mozilla.com",
    "push.services.mozilla.com",
    "web.push.apple.com",
    ".notify.windows.com",
];

/// How long a VAPID token is valid (RFC 8292 §2: at most 24 hours).
const VAPID_LIFE: u64 = 12 * 3600;

/// `[push.webpush]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct WebPushConfig {
    /// The VAPID private key's text (PKCS#8 PEM, P-256).
    pub vapid_key_pem: Vec<u8>,
    /// The `sub` claim: a `mailto:` or `https:` contact of the operator (RFC 8292 §2.1).
    pub subject: String,
    /// The push service hosts endpoints may name (a leading `.` allows subdomains).
    pub allowed_hosts: Vec<String>,
    /// Extra trusted certificates (PEM file), besides the system's.
    pub ca_file: Option<String>,
    /// How long one push may take.
    pub timeout: Duration,
}

impl WebPushConfig {
    /// A configuration with this key and subject, for the public push services.
    pub fn new(vapid_key_pem: Vec<u8>, subject: &str) -> Self {
        Self {
            vapid_key_pem,
            subject: subject.to_owned(),
            allowed_hosts: DEFAULT_ALLOWED_HOSTS
                .iter()
                .map(|h| (*h).to_owned())
                .collect(),
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The Web Push sender.
#[derive(Debug)]
pub struct WebPush {
    key: Es256,
    public: String,
    subject: String,
    allowed: Vec<String>,
    /// VAPID tokens by audience, and when each stops being used.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    client: Client,
    backoff: Backoff,
}

/// The keys of a subscription from `pn-param`.
fn subscription_keys(param: &str) -> Result<(Vec<u8>, Vec<u8>), PushParamError> {
    let bad = |why: &str| PushParamError::new(PN_PARAM, why.to_owned());
    let (p256dh, auth) = param
        .split_once('.')
        .ok_or_else(|| bad("not <p256dh>.<auth>"))?;
    let p256dh = unb64(p256dh).ok_or_else(|| bad("p256dh is not base64url"))?;
    let auth = unb64(auth).ok_or_else(|| bad("auth is not base64url"))?;
    if p256dh.len() != 65 || p256dh[0] != 4 {
        return Err(bad("p256dh is not an uncompressed P-256 point (65 bytes)"));
    }
    if auth.len() != 16 {
        return Err(bad("auth is not 16 bytes"));
    }
    Ok((p256dh, auth))
}

impl WebPush {
    /// A sender with this configuration.
    ///
    /// # Errors
    /// A bad key, subject or certificate file.
    pub fn new(cfg: WebPushConfig) -> Result<Self, Error> {
        let key = Es256::from_pem(&cfg.vapid_key_pem, "push.webpush.vapid_key_file")?;
        if !(cfg.subject.starts_with("mailto:") || cfg.subject.starts_with("https://")) {
            return Err(Error::Config(
                "push.webpush.subject: a mailto: or https: URL of the operator (RFC 8292 §2.1)"
                    .into(),
            ));
        }
        let tls = crate::client::tls_config(cfg.ca_file.as_deref())?;
        Ok(Self {
            public: b64(key.public_key()),
            key,
            subject: cfg.subject,
            allowed: cfg
                .allowed_hosts
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            tokens: Mutex::new(HashMap::new()),
            client: Client::new(tls, cfg.timeout),
            backoff: Backoff::default(),
        })
    }

    fn allowed(&self, host: &str) -> bool {
        self.allowed.iter().any(|a| match a.strip_prefix('.') {
            Some(suffix) => host.len() > suffix.len() && host.ends_with(a.as_str()),
            None => host == a,
        })
    }

    fn endpoint(&self, prid: Option<&str>) -> Result<Url, PushParamError> {
        let url = Url::parse(prid.unwrap_or(""))
            .map_err(|e| PushParamError::new(PN_PRID, format!("not a push endpoint URL: {e}")))?;
        if !self.allowed(&url.host) {
            return Err(PushParamError::new(
                PN_PRID,
                format!("{} is not an allowed push service", url.host),
            ));
        }
        Ok(url)
    }

    /// The VAPID token for `aud`, signed anew an hour before it expires.
    fn token(&self, aud: &str) -> Result<String, PushFailure> {
        let mut t = self
            .tokens
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((tok, until)) = t.get(aud)
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        if t.len() >= 1024 {
            t.clear();
        }
        let tok = self
            .key
            .sign(
                &serde_json::json!({ "typ": "JWT", "alg": "ES256" }),
                &serde_json::json!({ "aud": aud, "exp": unix_now() + VAPID_LIFE, "sub": self.subject }),
            )
            .map_err(|e| PushFailure::Credentials(e.to_string()))?;
        t.insert(
            aud.to_owned(),
            (
                tok.clone(),
                Instant::now() + Duration::from_secs(VAPID_LIFE - 3600),
            ),
        );
        Ok(tok)
    }
}

#[async_trait]
impl PushSender for WebPush {
    fn providers(&self) -> Vec<PushProvider> {
        vec![PushProvider::WebPush]
    }

    fn check(&self, target: &PushTarget) -> Result<(), PushParamError> {
        self.endpoint(target.prid.as_deref())?;
        if let Some(p) = &target.param {
            subscription_keys(p)?;
        }
        Ok(())
    }

    fn vapid_public_key(&self) -> Option<String> {
        Some(self.public.clone())
    }

    async fn send(&self, push: &Push) -> Result<(), PushFailure> {
        let url = self
            .endpoint(push.target.prid.as_deref())
            .map_err(|e| PushFailure::Rejected(e.to_string()))?;
        let origin = url.origin();
        self.backoff.check(&origin)?;
        let mut req = Request::builder()
            .method(Method::POST)
            .header("ttl", push.ttl.as_secs().max(1).to_string())
            .header(
                "urgency",
                if push.kind == PushKind::Wake {
                    "high"
                } else {
                    "normal"
                },
            )
            .header(
                "authorization",
                format!("vapid t={}, k={}", self.token(&origin)?, self.public),
            );
        if push.kind == PushKind::Refresh {
            // RFC 8030 §5.4: a newer refresh push replaces one not yet delivered.
            req = req.header("topic", "sip-refresh");
        }
        let body = match push.target.param.as_deref() {
            Some(p) => {
                let (ua_public, auth) =
                    subscription_keys(p).map_err(|e| PushFailure::Rejected(e.to_string()))?;
                let body =
                    crate::ece::encrypt(payload(push).to_string().as_bytes(), &ua_public, &auth)
                        .map_err(|e| PushFailure::Rejected(e.to_owned()))?;
                req = req
                    .header("content-encoding", "aes128gcm")
                    .header("content-type", "application/octet-stream");
                Bytes::from(body)
            }
            None => Bytes::new(),
        };
        let a = self
            .client
            .send(&url, req, body)
            .await
            .map_err(PushFailure::Unavailable)?;
        match a.status.as_u16() {
            200..=299 => {
                self.backoff.ok(&origin);
                Ok(())
            }
            404 | 410 => Err(PushFailure::Unregistered),
            429 => Err(self.backoff.throttled(&origin, a.retry_after)),
            401 | 403 => Err(PushFailure::Credentials(
                String::from_utf8_lossy(&a.body).chars().take(200).collect(),
            )),
            s @ 500..=599 => Err(PushFailure::Unavailable(format!("{s}"))),
            s => Err(PushFailure::Rejected(format!(
                "{s} {}",
                String::from_utf8_lossy(&a.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_keys_are_checked() {
        let p256dh = b64(&[[4u8].as_slice(), &[7u8; 64]].concat());
        let auth = b64(&[1u8; 16]);
        assert!(subscription_keys(&format!("{p256dh}.{auth}")).is_ok());
        for bad in [
            p256dh.clone(),
            format!("{p256dh}.{}", b64(&[1u8; 15])),
            format!("{}.{auth}", b64(&[4u8; 33])),
            format!("{p256dh}.!!"),
        ] {
            assert_eq!(
                subscription_keys(&bad).map_err(|e| e.param),
                Err(PN_PARAM),
                "{bad}"
            );
        }
    }
}
