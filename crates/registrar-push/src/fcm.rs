//! Firebase Cloud Messaging, HTTP v1 API (RFC 8599 §9): a binding's `pn-prid` is the app instance's
//! registration token, its `pn-param` the Firebase project id (the service account's project when absent).

use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use hyper::{Method, Request};
use registrar_service::push::{Push, PushFailure, PushKind, PushSender};
use registrar_types::{PN_PARAM, PN_PRID, PushParamError, PushProvider, PushTarget};

use crate::client::{Client, Url};
use crate::jwt::{Rs256, unix_now};
use crate::{Backoff, Error, payload};

/// The OAuth 2 scope of FCM.
const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

/// `[push.fcm]`.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FcmConfig {
    /// The service account key file's text (JSON, from the Firebase console).
    pub service_account_json: Vec<u8>,
    /// The FCM API (`https://fcm.googleapis.com`).
    pub url: String,
    /// The OAuth 2 token endpoint; empty: the key file's `token_uri`.
    pub token_url: String,
    /// Extra trusted certificates (PEM file), besides the system's.
    pub ca_file: Option<String>,
    /// How long one push (or token request) may take.
    pub timeout: Duration,
}

impl FcmConfig {
    /// A configuration for Google's service with this key file's text.
    pub fn new(service_account_json: Vec<u8>) -> Self {
        Self {
            service_account_json,
            url: "https://fcm.googleapis.com".to_owned(),
            token_url: String::new(),
            ca_file: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The FCM sender.
#[derive(Debug)]
pub struct Fcm {
    base: Url,
    token_url: Url,
    client_email: String,
    key_id: String,
    project_id: String,
    key: Rs256,
    /// The access token and when it stops being used; one request for a new one at a time.
    token: tokio::sync::Mutex<Option<(String, Instant)>>,
    client: Client,
    backoff: Backoff,
}

impl Fcm {
    /// A sender with this configuration.
    ///
    /// # Errors
    /// A key file without the fields a service account key has, a bad key, URL or certificate file.
    pub fn new(cfg: FcmConfig) -> Result<Self, Error> {
        let sa: serde_json::Value = serde_json::from_slice(&cfg.service_account_json)
            .map_err(|e| Error::Config(format!("push.fcm.service_account_file: {e}")))?;
        let field = |k: &str| {
            sa.get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
                .ok_or_else(|| {
                    Error::Config(format!(
                        "push.fcm.service_account_file: no \"{k}\" (is it a service account key?)"
                    ))
                })
        };
        let key = Rs256::from_pem(field("private_key")?.as_bytes(), "push.fcm private_key")?;
        let token_url = if cfg.token_url.is_empty() {
            field("token_uri")?
        } else {
            cfg.token_url.clone()
        };
        let tls = crate::client::tls_config(cfg.ca_file.as_deref())?;
        Ok(Self {
            base: Url::parse(&cfg.url).map_err(|e| Error::Config(format!("push.fcm.url: {e}")))?,
            token_url: Url::parse(&token_url)
                .map_err(|e| Error::Config(format!("push.fcm token URL: {e}")))?,
            client_email: field("client_email")?,
            key_id: field("private_key_id")?,
            project_id: field("project_id")?,
            key,
            token: tokio::sync::Mutex::new(None),
            client: Client::new(tls, cfg.timeout),
            backoff: Backoff::default(),
        })
    }

    /// A valid access token: the cached one until a minute before it expires, else a new one.
    async fn access_token(&self, renew: bool) -> Result<String, PushFailure> {
        let mut t = self.token.lock().await;
        if !renew
            && let Some((tok, until)) = &*t
            && Instant::now() < *until
        {
            return Ok(tok.clone());
        }
        let now = unix_now();
        let assertion = self
            .key
            .sign(
                &serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": self.key_id }),
                &serde_json::json!({
                    "iss": self.client_email,
                    "scope": SCOPE,
                    "aud": format!("{}{}", self.token_url.origin(), self.token_url.path),
                    "iat": now,
                    "exp": now + 3600,
                }),
            )
            .map_err(|e| PushFailure::Credentials(e.to_string()))?;
        let form = format!(
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion={assertion}"
        );
        let req = Request::builder()
            .method(Method::POST)
            .header("content-type", "application/x-www-form-urlencoded");
        let a = self
            .client
            .send(&self.token_url, req, Bytes::from(form))
            .await
            .map_err(|e| PushFailure::Unavailable(format!("token endpoint: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
        if !a.status.is_success() {
            let what = v
                .get("error")
                .and_then(|e| e.as_str())
                .unwrap_or("no error code");
            return Err(if a.status.is_server_error() {
                PushFailure::Unavailable(format!("token endpoint {}: {what}", a.status))
            } else {
                PushFailure::Credentials(format!("token endpoint {}: {what}", a.status))
            });
        }
        let tok = v
            .get("access_token")
            .and_then(|t| t.as_str())
            .ok_or_else(|| PushFailure::Credentials("no access_token in the answer".into()))?
            .to_owned();
        let life = v
            .get("expires_in")
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(3600);
        let until = Instant::now() + Duration::from_secs(life.saturating_sub(60).max(1));
        *t = Some((tok.clone(), until));
        Ok(tok)
    }
}

#[async_trait]
impl PushSender for Fcm {
    fn providers(&self) -> Vec<PushProvider> {
        vec![PushProvider::Fcm]
    }

    fn check(&self, target: &PushTarget) -> Result<(), PushParamError> {
        let prid = target.prid.as_deref().unwrap_or("");
        if prid.len() > 4096
            || !prid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'-' | b'_' | b'.'))
        {
            return Err(PushParamError::new(
                PN_PRID,
                "not an FCM registration token",
            ));
        }
        if let Some(p) = &target.param
            && !p
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(PushParamError::new(PN_PARAM, "not a Firebase project id"));
        }
        Ok(())
    }

    async fn send(&self, push: &Push) -> Result<(), PushFailure> {
        self.backoff.check("fcm")?;
        let project = push.target.param.as_deref().unwrap_or(&self.project_id);
        let url = Url {
            path: format!("/v1/projects/{project}/messages:send"),
            ..self.base.clone()
        };
        let data = payload(push);
        let ttl = format!("{}s", push.ttl.as_secs().max(1));
        let priority = if push.kind == PushKind::Wake {
            "high"
        } else {
            "normal"
        };
        let body = serde_json::json!({
            "message": {
                "token": push.target.prid.as_deref().unwrap_or_default(),
                "data": {
                    "type": data["type"],
                    "id": data["id"],
                },
                "android": { "priority": priority, "ttl": ttl },
            }
        });
        let body = Bytes::from(body.to_string());
        for renew in [false, true] {
            let token = self.access_token(renew).await?;
            let req = Request::builder()
                .method(Method::POST)
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json");
            let a = self
                .client
                .send(&url, req, body.clone())
                .await
                .map_err(PushFailure::Unavailable)?;
            if a.status.is_success() {
                self.backoff.ok("fcm");
                return Ok(());
            }
            let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap_or_default();
            let status = v["error"]["status"].as_str().unwrap_or("").to_owned();
            let code = v["error"]["details"]
                .as_array()
                .and_then(|d| {
                    d.iter()
                        .find_map(|x| x.get("errorCode").and_then(|c| c.as_str()))
                })
                .unwrap_or(&status)
                .to_owned();
            let message = v["error"]["message"].as_str().unwrap_or("").to_owned();
            return match (a.status.as_u16(), code.as_str()) {
                (_, "UNREGISTERED") | (404, _) => Err(PushFailure::Unregistered),
                (401, "THIRD_PARTY_AUTH_ERROR") => Err(PushFailure::Credentials(message)),
                (401, _) if !renew => continue,
                (401 | 403, _) => Err(PushFailure::Credentials(format!("{code}: {message}"))),
                (429, _) => Err(self.backoff.throttled("fcm", a.retry_after)),
                (500..=599, _) => Err(PushFailure::Unavailable(format!("{code}: {message}"))),
                _ => Err(PushFailure::Rejected(format!("{code}: {message}"))),
            };
        }
        Err(PushFailure::Credentials(
            "the access token was refused twice".into(),
        ))
    }
}
