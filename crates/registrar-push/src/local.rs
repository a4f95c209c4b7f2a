//! A local push service for tests and benchmarks: one HTTPS (HTTP/2) server that implements the documented
//! requests and answers of APNs (`POST /3/device/{token}`), FCM HTTP v1 (`POST /token` for the OAuth 2
//! access token, `POST /v1/projects/{project}/messages:send`) and a Web Push service (`POST /push/{id}`),
//! and checks what it receives the way the real services do: the ES256 provider token (signature, `kid`,
//! `iss`, `iat`), the RS256 assertion of the service account, the access token, the VAPID header (signature
//! with the key in `k`, `aud`, `exp`, `sub`) and the RFC 8291 ciphertext, which it decrypts with the
//! subscription's keys. Each push received is recorded and broadcast, so that a test can make the device
//! register when its push arrives; answers can be scripted per device (gone, throttled, failing).
//!
//! The real services cannot be reached from a test machine; this is their stand-in, not a mock of our
//! code: the senders talk to it over real TLS and HTTP/2.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use registrar_types::PushProvider;
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _,
    RSA_PKCS1_2048_8192_SHA256, RsaKeyPair,
};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::broadcast;

use crate::jwt::{b64, unb64, unix_now};

/// What the local service is set up with.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct LocalConfig {
    /// The TLS certificate chain (PEM file) it serves, and its key.
    pub cert_file: String,
    /// The TLS key (PEM file).
    pub key_file: String,
    /// APNs: the Team ID, the Key ID and the `.p8` key whose tokens it accepts.
    pub apns: Option<(String, String, Vec<u8>)>,
    /// FCM: the service account key file's text whose assertions it accepts.
    pub fcm_service_account: Option<Vec<u8>>,
    /// Web Push: the VAPID public key (base64url) it requires in `k`; `None` accepts any valid signature.
    pub vapid_public: Option<String>,
}

/// How the service answers a device's pushes.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub enum Scripted {
    /// As a working service does.
    Accept,
    /// The device address is gone (APNs 410 `Unregistered`, FCM 404 `UNREGISTERED`, Web Push 410).
    Gone,
    /// Throttled (429), with `Retry-After` seconds.
    Throttle(u64),
    /// An internal error (500; APNs `InternalServerError`).
    Fail,
}

/// One push the service received.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Received {
    /// Which API it came to.
    pub provider: PushProvider,
    /// The device address: the APNs device token, the FCM registration token, the Web Push subscription id.
    pub device: String,
    /// The request headers (lower-case names).
    pub headers: HashMap<String, String>,
    /// The payload: the JSON body (APNs, FCM) or the decrypted Web Push plaintext parsed as JSON.
    pub payload: Option<serde_json::Value>,
    /// Whether every check passed, or the first that failed.
    pub verdict: Result<(), String>,
    /// The status answered.
    pub status: u16,
}

/// A Web Push subscription made at the local service (what a browser's `pushManager.subscribe` returns).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LocalSubscription {
    /// The endpoint URL.
    pub endpoint: String,
    /// The subscription's public key (base64url, 65 bytes uncompressed).
    pub p256dh: String,
    /// Its authentication secret (base64url, 16 bytes).
    pub auth: String,
}

impl LocalSubscription {
    /// `pn-param` as registrar-push reads it: `<p256dh>.<auth>`.
    pub fn pn_param(&self) -> String {
        format!("{}.{}", self.p256dh, self.auth)
    }
}

struct Sub {
    /// ring's ECDH keys are single-use: the first push to a subscription is decrypted with it; later ones
    /// are recorded as received but not decrypted.
    private: Option<EphemeralPrivateKey>,
    public: Vec<u8>,
    auth: Vec<u8>,
}

struct State {
    origin: String,
    apns: Option<(String, String, Vec<u8>)>,
    fcm: Option<(String, Vec<u8>, String)>,
    vapid_public: Option<String>,
    tokens: Mutex<HashSet<String>>,
    subs: Mutex<HashMap<String, Sub>>,
    scripted: Mutex<HashMap<String, Scripted>>,
    log: Mutex<Vec<Received>>,
    tx: broadcast::Sender<Received>,
    n: AtomicU64,
}

/// The running local service; stops when dropped.
pub struct LocalPushService {
    addr: SocketAddr,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for LocalPushService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPushService")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl Drop for LocalPushService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn key_der(pem: &[u8]) -> Result<Vec<u8>, String> {
    match PrivateKeyDer::from_pem_slice(pem) {
        Ok(PrivateKeyDer::Pkcs8(k)) => Ok(k.secret_pkcs8_der().to_vec()),
        Ok(_) => Err("not PKCS#8".into()),
        Err(e) => Err(e.to_string()),
    }
}

impl LocalPushService {
    /// Start on `127.0.0.1` at a free port.
    ///
    /// # Errors
    /// Unreadable certificate or keys, or no port.
    pub async fn start(cfg: LocalConfig) -> Result<Self, String> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.cert_file)
            .map_err(|e| e.to_string())?
            .collect::<Result<_, _>>()
            .map_err(|e| e.to_string())?;
        let key = PrivateKeyDer::from_pem_file(&cfg.key_file).map_err(|e| e.to_string())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| e.to_string())?;
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let rng = SystemRandom::new();
        let apns = match cfg.apns {
            Some((team, kid, pem)) => {
                let k = EcdsaKeyPair::from_pkcs8(
                    &ECDSA_P256_SHA256_FIXED_SIGNING,
                    &key_der(&pem)?,
                    &rng,
                )
                .map_err(|e| e.to_string())?;
                Some((team, kid, k.public_key().as_ref().to_vec()))
            }
            None => None,
        };
        let fcm = match cfg.fcm_service_account {
            Some(json) => {
                let sa: serde_json::Value =
                    serde_json::from_slice(&json).map_err(|e| e.to_string())?;
                let pem = sa["private_key"].as_str().ok_or("no private_key")?;
                let k =
                    RsaKeyPair::from_pkcs8(&key_der(pem.as_bytes())?).map_err(|e| e.to_string())?;
                let email = sa["client_email"]
                    .as_str()
                    .ok_or("no client_email")?
                    .to_owned();
                Some((
                    email,
                    k.public().as_ref().to_vec(),
                    format!("https://{addr}/token"),
                ))
            }
            None => None,
        };
        let (tx, _) = broadcast::channel(65_536);
        let state = Arc::new(State {
            origin: format!("https://{addr}"),
            apns,
            fcm,
            vapid_public: cfg.vapid_public,
            tokens: Mutex::new(HashSet::new()),
            subs: Mutex::new(HashMap::new()),
            scripted: Mutex::new(HashMap::new()),
            log: Mutex::new(Vec::new()),
            tx,
            n: AtomicU64::new(0),
        });
        let st = Arc::clone(&state);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = acceptor.clone();
                let st = Arc::clone(&st);
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let svc = hyper::service::service_fn(move |req| {
                        let st = Arc::clone(&st);
                        async move { Ok::<_, std::convert::Infallible>(handle(&st, req).await) }
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .max_concurrent_streams(1000)
                        .serve_connection(TokioIo::new(tls), svc)
                        .await;
                });
            }
        });
        Ok(Self { addr, state, task })
    }

    /// `https://127.0.0.1:port`: the APNs and FCM URL to configure.
    pub fn url(&self) -> String {
        self.state.origin.clone()
    }

    /// The OAuth 2 token URL to configure for FCM.
    pub fn token_url(&self) -> String {
        format!("{}/token", self.state.origin)
    }

    /// A new Web Push subscription.
    pub fn subscribe(&self) -> LocalSubscription {
        let rng = SystemRandom::new();
        let private = EphemeralPrivateKey::generate(&ECDH_P256, &rng)
            .unwrap_or_else(|_| unreachable!("ring generates P-256 keys"));
        let public = private
            .compute_public_key()
            .map(|k| k.as_ref().to_vec())
            .unwrap_or_default();
        let mut auth = vec![0u8; 16];
        rng.fill(&mut auth).ok();
        let id = format!("s{}", self.state.n.fetch_add(1, Ordering::Relaxed));
        let sub = LocalSubscription {
            endpoint: format!("{}/push/{id}", self.state.origin),
            p256dh: b64(&public),
            auth: b64(&auth),
        };
        lock(&self.state.subs).insert(
            id,
            Sub {
                private: Some(private),
                public,
                auth,
            },
        );
        sub
    }

    /// Answer pushes to `device` (a token, or a subscription id) this way from now on.
    pub fn script(&self, device: &str, how: Scripted) {
        lock(&self.state.scripted).insert(device.to_owned(), how);
    }

    /// Every push received so far.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state.log).clone()
    }

    /// The pushes received from now on.
    pub fn watch(&self) -> broadcast::Receiver<Received> {
        self.state.tx.subscribe()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json(status: u16, v: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(v.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// The parts of a JWT: header, claims, signing input and signature; after checking the signature with
/// `verify`.
fn jwt(
    token: &str,
    alg: &str,
    verify: impl FnOnce(&[u8], &[u8]) -> bool,
) -> Result<(serde_json::Value, serde_json::Value), String> {
    let (input, sig) = token.rsplit_once('.').ok_or("not a JWT")?;
    let (h, c) = input.split_once('.').ok_or("not a JWT")?;
    let parse = |s: &str| -> Result<serde_json::Value, String> {
        serde_json::from_slice(&unb64(s).ok_or("not base64url")?).map_err(|e| e.to_string())
    };
    let (header, claims) = (parse(h)?, parse(c)?);
    if header["alg"] != alg {
        return Err(format!("alg {} (want {alg})", header["alg"]));
    }
    let sig = unb64(sig).ok_or("signature not base64url")?;
    if !verify(input.as_bytes(), &sig) {
        return Err("bad signature".into());
    }
    Ok((header, claims))
}

fn es256_ok(public: &[u8]) -> impl FnOnce(&[u8], &[u8]) -> bool + '_ {
    move |m, s| {
        ring::signature::UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, public)
            .verify(m, s)
            .is_ok()
    }
}

async fn handle(st: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_owned();
    let headers: HashMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let body = match Limited::new(req.into_body(), 8192).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return json(413, &serde_json::json!({ "reason": "PayloadTooLarge" })),
    };
    if let Some(token) = path.strip_prefix("/3/device/") {
        apns(st, token, headers, &body)
    } else if path == "/token" {
        oauth(st, &body)
    } else if path.starts_with("/v1/projects/") && path.ends_with("/messages:send") {
        fcm(st, headers, &body)
    } else if let Some(id) = path.strip_prefix("/push/") {
        webpush(st, id, headers, &body)
    } else {
        json(404, &serde_json::json!({ "error": "no such resource" }))
    }
}

fn record(st: &State, r: Received) {
    lock(&st.log).push(r.clone());
    let _ = st.tx.send(r);
}

fn scripted(st: &State, device: &str) -> Scripted {
    lock(&st.scripted)
        .get(device)
        .copied()
        .unwrap_or(Scripted::Accept)
}

fn apns(
    st: &State,
    token: &str,
    headers: HashMap<String, String>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let verdict = (|| -> Result<(), (u16, &'static str, String)> {
        let Some((team, kid, public)) = &st.apns else {
            return Err((403, "InvalidProviderToken", "APNs not configured".into()));
        };
        let auth = headers.get("authorization").map_or("", String::as_str);
        let t = auth.strip_prefix("bearer ").ok_or((
            403,
            "MissingProviderToken",
            "no bearer token".into(),
        ))?;
        let (h, c) =
            jwt(t, "ES256", es256_ok(public)).map_err(|e| (403, "InvalidProviderToken", e))?;
        if h["kid"] != kid.as_str() || c["iss"] != team.as_str() {
            return Err((403, "InvalidProviderToken", "kid or iss".into()));
        }
        let iat = c["iat"].as_u64().unwrap_or(0);
        if iat + 3600 < unix_now() || iat > unix_now() + 60 {
            return Err((403, "ExpiredProviderToken", format!("iat {iat}")));
        }
        if !headers.contains_key("apns-topic") {
            return Err((400, "MissingTopic", String::new()));
        }
        let kind = headers.get("apns-push-type").map_or("", String::as_str);
        if ![
            "alert",
            "background",
            "voip",
            "location",
            "complication",
            "fileprovider",
            "mdm",
            "liveactivity",
        ]
        .contains(&kind)
        {
            return Err((400, "InvalidPushType", kind.to_owned()));
        }
        if kind == "voip" && !headers["apns-topic"].ends_with(".voip") {
            return Err((
                400,
                "TopicDisallowed",
                "a voip push to a non-voip topic".into(),
            ));
        }
        if token.len() < 32 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err((400, "BadDeviceToken", String::new()));
        }
        if serde_json::from_slice::<serde_json::Value>(body).map_or(true, |v| !v.is_object()) {
            return Err((400, "PayloadEmpty", "not a JSON object".into()));
        }
        Ok(())
    })();
    let (status, resp, verdict) = match verdict {
        Err((s, reason, why)) => (
            s,
            json(s, &serde_json::json!({ "reason": reason })),
            Err(format!("{reason}: {why}")),
        ),
        Ok(()) => match scripted(st, token) {
            Scripted::Accept => (200, json(200, &serde_json::json!({})), Ok(())),
            Scripted::Gone => (
                410,
                json(
                    410,
                    &serde_json::json!({ "reason": "Unregistered", "timestamp": unix_now() * 1000 }),
                ),
                Ok(()),
            ),
            Scripted::Throttle(_) => (
                429,
                json(429, &serde_json::json!({ "reason": "TooManyRequests" })),
                Ok(()),
            ),
            Scripted::Fail => (
                500,
                json(500, &serde_json::json!({ "reason": "InternalServerError" })),
                Ok(()),
            ),
        },
    };
    record(
        st,
        Received {
            provider: PushProvider::Apns,
            device: token.to_owned(),
            payload: serde_json::from_slice(body).ok(),
            headers,
            verdict,
            status,
        },
    );
    resp
}

fn oauth(st: &State, body: &[u8]) -> Response<Full<Bytes>> {
    let checked = (|| -> Result<(), String> {
        let (email, public, aud) = st.fcm.as_ref().ok_or("FCM not configured")?;
        let form = std::str::from_utf8(body).map_err(|e| e.to_string())?;
        let mut grant = "";
        let mut assertion = "";
        for kv in form.split('&') {
            match kv.split_once('=') {
                Some(("grant_type", v)) => grant = v,
                Some(("assertion", v)) => assertion = v,
                _ => {}
            }
        }
        if grant != "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" {
            return Err(format!("grant_type {grant}"));
        }
        let (_, c) = jwt(assertion, "RS256", |m, s| {
            ring::signature::UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public)
                .verify(m, s)
                .is_ok()
        })?;
        if c["iss"] != email.as_str() || c["aud"] != aud.as_str() {
            return Err("iss or aud".into());
        }
        if !c["scope"]
            .as_str()
            .unwrap_or("")
            .split(' ')
            .any(|s| s == "https://www.googleapis.com/auth/firebase.messaging")
        {
            return Err("scope".into());
        }
        if c["exp"].as_u64().unwrap_or(0) < unix_now() {
            return Err("expired".into());
        }
        Ok(())
    })();
    match checked {
        Ok(()) => {
            let tok = format!("ya29.local-{}", st.n.fetch_add(1, Ordering::Relaxed));
            lock(&st.tokens).insert(tok.clone());
            json(
                200,
                &serde_json::json!({ "access_token": tok, "expires_in": 3599, "token_type": "Bearer" }),
            )
        }
        Err(e) => json(
            400,
            &serde_json::json!({ "error": "invalid_grant", "error_description": e }),
        ),
    }
}

fn fcm_error(code: u16, status: &str, error_code: &str) -> Response<Full<Bytes>> {
    json(
        code,
        &serde_json::json!({ "error": {
            "code": code,
            "message": status,
            "status": status,
            "details": [{
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": error_code,
            }],
        }}),
    )
}

fn fcm(st: &State, headers: HashMap<String, String>, body: &[u8]) -> Response<Full<Bytes>> {
    let auth = headers.get("authorization").map_or("", String::as_str);
    let msg: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let device = msg["message"]["token"].as_str().unwrap_or("").to_owned();
    let (status, resp, verdict) = if !auth
        .strip_prefix("Bearer ")
        .is_some_and(|t| lock(&st.tokens).contains(t))
    {
        (
            401,
            json(
                401,
                &serde_json::json!({ "error": { "code": 401, "status": "UNAUTHENTICATED", "message": "Request had invalid authentication credentials." } }),
            ),
            Err("bad access token".to_owned()),
        )
    } else if device.is_empty() || !msg["message"]["data"].is_object() {
        (
            400,
            fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"),
            Err("no token or data".to_owned()),
        )
    } else {
        match scripted(st, &device) {
            Scripted::Accept => (
                200,
                json(
                    200,
                    &serde_json::json!({ "name": format!("projects/local/messages/{}", st.n.fetch_add(1, Ordering::Relaxed)) }),
                ),
                Ok(()),
            ),
            Scripted::Gone => (404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), Ok(())),
            Scripted::Throttle(secs) => {
                let mut r = fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED");
                r.headers_mut()
                    .insert("retry-after", hyper::header::HeaderValue::from(secs));
                (429, r, Ok(()))
            }
            Scripted::Fail => (500, fcm_error(500, "INTERNAL", "INTERNAL"), Ok(())),
        }
    };
    record(
        st,
        Received {
            provider: PushProvider::Fcm,
            device,
            payload: Some(msg),
            headers,
            verdict,
            status,
        },
    );
    resp
}

fn webpush(
    st: &State,
    id: &str,
    headers: HashMap<String, String>,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut payload = None;
    let verdict = (|| -> Result<(), (u16, String)> {
        let auth = headers.get("authorization").map_or("", String::as_str);
        let rest = auth
            .strip_prefix("vapid ")
            .ok_or((401, "no vapid authorization".to_owned()))?;
        let mut t = "";
        let mut k = "";
        for part in rest.split(',') {
            match part.trim().split_once('=') {
                Some(("t", v)) => t = v,
                Some(("k", v)) => k = v,
                _ => {}
            }
        }
        if let Some(want) = &st.vapid_public
            && k != want
        {
            return Err((403, "k is not the application server's key".into()));
        }
        let public = unb64(k).ok_or((401, "k is not base64url".to_owned()))?;
        let (_, c) = jwt(t, "ES256", es256_ok(&public)).map_err(|e| (401, e))?;
        if c["aud"] != st.origin.as_str() {
            return Err((403, format!("aud {} is not {}", c["aud"], st.origin)));
        }
        let exp = c["exp"].as_u64().unwrap_or(0);
        if exp < unix_now() || exp > unix_now() + 24 * 3600 {
            return Err((403, format!("exp {exp}")));
        }
        let sub = c["sub"].as_str().unwrap_or("");
        if !(sub.starts_with("mailto:") || sub.starts_with("https:")) {
            return Err((403, format!("sub {sub:?}")));
        }
        if !headers.contains_key("ttl") {
            return Err((400, "no TTL header (RFC 8030 §5.2)".into()));
        }
        let mut subs = lock(&st.subs);
        let s = subs
            .get_mut(id)
            .ok_or((404, "no such subscription".to_owned()))?;
        if !body.is_empty() {
            if headers.get("content-encoding").map(String::as_str) != Some("aes128gcm") {
                return Err((400, "Content-Encoding is not aes128gcm".into()));
            }
            if let Some(private) = s.private.take() {
                let plain = crate::ece::decrypt(body, &s.public, &s.auth, |as_public| {
                    agree_ephemeral(
                        private,
                        &UnparsedPublicKey::new(&ECDH_P256, as_public),
                        <[u8]>::to_vec,
                    )
                    .ok()
                })
                .map_err(|e| (400, e))?;
                payload = Some(serde_json::from_slice(&plain).map_err(|e| (400, e.to_string()))?);
            }
        }
        Ok(())
    })();
    let (status, resp, verdict) = match verdict {
        Err((s, why)) => (s, json(s, &serde_json::json!({ "error": why })), Err(why)),
        Ok(()) => match scripted(st, id) {
            Scripted::Accept => {
                let mut r = json(201, &serde_json::json!({}));
                if let Ok(v) = hyper::header::HeaderValue::from_str(&format!(
                    "{}/message/{}",
                    st.origin,
                    st.n.fetch_add(1, Ordering::Relaxed)
                )) {
                    r.headers_mut().insert("location", v);
                }
                (201, r, Ok(()))
            }
            Scripted::Gone => (
                410,
                json(410, &serde_json::json!({ "error": "gone" })),
                Ok(()),
            ),
            Scripted::Throttle(secs) => {
                let mut r = json(429, &serde_json::json!({ "error": "too many requests" }));
                r.headers_mut()
                    .insert("retry-after", hyper::header::HeaderValue::from(secs));
                (429, r, Ok(()))
            }
            Scripted::Fail => (
                500,
                json(500, &serde_json::json!({ "error": "internal" })),
                Ok(()),
            ),
        },
    };
    record(
        st,
        Received {
            provider: PushProvider::WebPush,
            device: id.to_owned(),
            headers,
            payload,
            verdict,
            status,
        },
    );
    resp
}
