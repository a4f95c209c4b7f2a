//! Apple Push Notification service: HTTP/2 with token-based authentication (RFC 8599 §10).
//!
//! A binding's `pn-prid` is the device token (hex), its `pn-param` the app's Team ID and topic (its bundle
//! id, with `.voip` appended for PushKit VoIP pushes): `ABCDE12345.com.example.phone.voip`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::{Method, Request};
use registrar_service::push::{Push, PushFailure, PushKind, PushSender};
use registrar_types::{PN_PARAM, PN_PRID, PushParamError, PushProvider, PushTarget};

use crate::client::{Client, Url};
use crate::jwt::{Es256, unix_now};
use crate::{Backoff, Error, payload};

/// How long a provider token is used (Apple: refresh at most every 20 minutes, at least every 60).
const TOKEN_LIFE: Duration = Duration::from_secs(40 * 60);

/// `[push.apns]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ApnsConfig {
    /// `https://api.push.apple.com` (production) or `https://api.sandbox.push.apple.com` (development).
    pub url: String,
    /// The Team ID of the developer account (10 characters).
    pub team_id: String,
    /// The Key ID of the APNs authentication key.
    pub key_id: String,
    /// The text of the `.p8` authentication key (PKCS#8 PEM).
    pub key_pem: Vec<u8>,
    /// The topics (bundle ids, with `.voip` for VoIP) devices may register; empty: any of the team.
    pub topics: Vec<String>,
    /// Extra trusted certificates (PEM file), besides the system's.
    pub ca_file: Option<String>,
    /// How long one push may take.
    pub timeout: Duration,
}

impl ApnsConfig {
    /// A configuration for the production service.
    pub fn new(team_id: &str, key_id: &str, key_pem: Vec<u8>) -> Self {
        Self {
            url: "https://api.push.apple.com".to_owned(),
            team_id: team_id.to_owned(),
            key_id: key_id.to_owned(),
            key_pem,
            topics: Vec::new(),
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The APNs sender.
#[derive(Debug)]
pub struct Apns {
    base: Url,
    team_id: String,
    key_id: String,
    topics: Vec<String>,
    key: Es256,
    token: Mutex<Option<(String, Instant)>>,
    client: Client,
    backoff: Backoff,
}

impl Apns {
    /// A sender with this configuration.
    ///
    /// # Errors
    /// A bad URL, key or certificate file.
    pub fn new(cfg: ApnsConfig) -> Result<Self, Error> {
        let base =
            Url::parse(&cfg.url).map_err(|e| Error::Config(format!("push.apns.url: {e}")))?;
        if cfg.team_id.is_empty() || cfg.key_id.is_empty() {
            return Err(Error::Config(
                "push.apns: team_id and key_id are required".into(),
            ));
        }
        let key = Es256::from_pem(&cfg.key_pem, "push.apns.key_file")?;
        let tls = crate::client::tls_config(cfg.ca_file.as_deref())?;
        Ok(Self {
            base,
            team_id: cfg.team_id,
            key_id: cfg.key_id,
            topics: cfg.topics,
            key,
            token: Mutex::new(None),
            client: Client::new(tls, cfg.timeout),
            backoff: Backoff::default(),
        })
    }

    /// The provider token, signed anew when older than [`TOKEN_LIFE`] or when `renew`.
    fn token(&self, renew: bool) -> Result<String, PushFailure> {
        let mut t = self
            .token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !renew
            && let Some((tok, at)) = &*t
            && at.elapsed() < TOKEN_LIFE
        {
            return Ok(tok.clone());
        }
        let tok = self
            .key
            .sign(
                &serde_json::json!({ "alg": "ES256", "kid": self.key_id }),
                &serde_json::json!({ "iss": self.team_id, "iat": unix_now() }),
            )
            .map_err(|e| PushFailure::Credentials(e.to_string()))?;
        *t = Some((tok.clone(), Instant::now()));
        Ok(tok)
    }

    /// The topic of a `pn-param` (`TEAMID.topic`), checked against this team and the allowed topics.
    fn topic<'a>(&self, param: Option<&'a str>) -> Result<&'a str, PushParamError> {
        let param = param.ok_or_else(|| {
            PushParamError::new(
                PN_PARAM,
                "APNs needs the Team ID and topic (TEAMID.bundle.id)",
            )
        })?;
        let (team, topic) = param
            .split_once('.')
            .ok_or_else(|| PushParamError::new(PN_PARAM, "not TEAMID.bundle.id"))?;
        // Linphone writes `…voip&remote` for two kinds of push; the first names the topic.
        let topic = topic.split('&').next().unwrap_or(topic);
        if team != self.team_id {
            return Err(PushParamError::new(
                PN_PARAM,
                "names a Team ID this server has no key for",
            ));
        }
        if topic.is_empty()
            || !topic
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        {
            return Err(PushParamError::new(PN_PARAM, "not a bundle id"));
        }
        if !self.topics.is_empty() && !self.topics.iter().any(|t| t == topic) {
            return Err(PushParamError::new(
                PN_PARAM,
                "a topic this server does not push to",
            ));
        }
        Ok(topic)
    }
}

#[async_trait]
impl PushSender for Apns {
    fn providers(&self) -> Vec<PushProvider> {
        vec![PushProvider::Apns]
    }

    fn check(&self, target: &PushTarget) -> Result<(), PushParamError> {
        self.topic(target.param.as_deref())?;
        let prid = target.prid.as_deref().unwrap_or("");
        if prid.len() < 32 || prid.len() > 200 || !prid.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(PushParamError::new(
                PN_PRID,
                "an APNs device token is 32 to 200 hex digits",
            ));
        }
        Ok(())
    }

    async fn send(&self, push: &Push) -> Result<(), PushFailure> {
        let token = push.target.prid.as_deref().unwrap_or_default();
        self.backoff.check("apns")?;
        self.backoff.check(token)?;
        let topic = self
            .topic(push.target.param.as_deref())
            .map_err(|e| PushFailure::Rejected(e.to_string()))?;
        let voip = topic.ends_with(".voip");
        let (push_type, priority, aps) = match (voip, push.kind) {
            (true, _) => ("voip", "10", serde_json::json!({})),
            (false, PushKind::Wake) => (
                "alert",
                "10",
                serde_json::json!({ "alert": { "loc-key": "IC_MSG" }, "mutable-content": 1 }),
            ),
            (false, _) => (
                "background",
                "5",
                serde_json::json!({ "content-available": 1 }),
            ),
        };
        let mut body = payload(push);
        body["aps"] = aps;
        let body = Bytes::from(body.to_string());
        let url = Url {
            path: format!("/3/device/{token}"),
            ..self.base.clone()
        };
        let expiration = unix_now() + push.ttl.as_secs().max(1);
        for renew in [false, true] {
            let req = Request::builder()
                .method(Method::POST)
                .header("authorization", format!("bearer {}", self.token(renew)?))
                .header("apns-topic", topic)
                .header("apns-push-type", push_type)
                .header("apns-priority", priority)
                .header("apns-expiration", expiration.to_string())
                .header("apns-id", push.id.as_str())
                .header("content-type", "application/json");
            let a = self
                .client
                .send(&url, req, body.clone())
                .await
                .map_err(PushFailure::Unavailable)?;
            let reason = serde_json::from_slice::<serde_json::Value>(&a.body)
                .ok()
                .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
                .unwrap_or_default();
            return match a.status.as_u16() {
                200 => {
                    self.backoff.ok(token);
                    Ok(())
                }
                410 => Err(PushFailure::Unregistered),
                400 if reason == "BadDeviceToken" => Err(PushFailure::Unregistered),
                403 if reason == "ExpiredProviderToken" && !renew => continue,
                403 => Err(PushFailure::Credentials(reason)),
                429 if reason == "TooManyProviderTokenUpdates" => {
                    Err(self.backoff.throttled("apns", a.retry_after))
                }
                // TooManyRequests: too many pushes to this one device.
                429 => Err(self.backoff.throttled(token, a.retry_after)),
                500..=599 => Err(PushFailure::Unavailable(format!(
                    "{} {reason}",
                    a.status.as_u16()
                ))),
                s => Err(PushFailure::Rejected(format!("{s} {reason}"))),
            };
        }
        Err(PushFailure::Credentials("ExpiredProviderToken".into()))
    }
}
