//! Federation between directory servers (`[federation]`): this server's Ed25519 key and id, its peers
//! (id, base URL, public key, trust level, domains), signed lookups out (fan-out with a per-peer timeout
//! and a circuit breaker, answers cached briefly) and the domain → server mapping (configured domains, then
//! a DNS TXT record). The answering side (`POST /v1/federation/lookup`) is `directory::api::discovery::federation_lookup`.
//!
//! Transport: HTTP/1.1 to the peer's base URL, `https://` (rustls, the system's roots or the peer's
//! `ca_file`) or `http://` for private networks; every request and answer is signed (RFC 9421,
//! [`crate::signature`]), so a peer's answers cannot be forged or altered whatever the transport.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, Request, StatusCode, header};
use bytes::Bytes;
use ed25519_dalek::{SigningKey, VerifyingKey};
use http_body_util::{BodyExt as _, Full, Limited};
use registrar_directory::Candidate;
use registrar_directory::federation::{LookupRequest, LookupResponse, PeerFailure, PeerTrust};
use rustls::pki_types::ServerName;
use tracing::{debug, warn};

use crate::config::FederationSection;
use crate::directory::jwt::b64url_decode;
use crate::directory::signature;

/// The lookup path.
pub(crate) const LOOKUP_PATH: &str = "/v1/federation/lookup";

/// The largest answer read from a peer.
const MAX_ANSWER: usize = 4 << 20;

/// Where a peer listens.
#[derive(Clone)]
struct Base {
    /// `host:port` (for the connection and the Host header).
    authority: String,
    /// The path prefix ("" or "/directory").
    prefix: String,
    /// For `https://`: the name the certificate must carry, and the client configuration.
    tls: Option<(ServerName<'static>, Arc<rustls::ClientConfig>)>,
}

impl std::fmt::Debug for Base {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Base")
            .field("authority", &self.authority)
            .field("prefix", &self.prefix)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

/// `http://host[:port][/prefix]` or `https://…` (checked against `ca_file`'s certificates, else the
/// system's roots).
fn parse_base(url: &str, ca_file: &std::path::Path) -> Result<Base, String> {
    let (rest, https) = if let Some(r) = url.strip_prefix("http://") {
        (r, false)
    } else if let Some(r) = url.strip_prefix("https://") {
        (r, true)
    } else {
        return Err(format!("{url:?}: must be an http:// or https:// URL"));
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains(['@', ' ']) {
        return Err(format!("{url:?}: no host"));
    }
    let (host, authority) = match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() && !h.is_empty() => (h, authority.to_owned()),
        _ => (
            authority,
            format!("{authority}:{}", if https { 443 } else { 80 }),
        ),
    };
    let tls = if https {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let name = ServerName::try_from(host).map_err(|e| format!("{url:?}: {e}"))?;
        let ca = (!ca_file.as_os_str().is_empty()).then_some(ca_file);
        Some((name, crate::tls::client_config(ca, "ca_file")?))
    } else {
        None
    };
    Ok(Base {
        authority,
        prefix: path.trim_end_matches('/').to_owned(),
        tls,
    })
}

/// Send `request` over `io` (HTTP/1.1) and read the answer, at most [`MAX_ANSWER`] bytes.
async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, HeaderMap, Bytes), Lookup>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|e| Lookup::Broken(format!("HTTP: {e}")))?;
    let conn = tokio::spawn(conn);
    let resp = sender
        .send_request(request)
        .await
        .map_err(|e| Lookup::Broken(format!("HTTP: {e}")))?;
    let status = resp.status();
    let (parts, b) = resp.into_parts();
    let bytes = Limited::new(b, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| Lookup::Broken(format!("answer: {e}")))?
        .to_bytes();
    conn.abort();
    Ok((status, parts.headers, bytes))
}

/// Peer answers by (peer id, lookup body), with when they go stale.
type AnswerCache = HashMap<(String, Vec<u8>), (Instant, Vec<Candidate>)>;

/// Why a lookup failed.
enum Lookup {
    /// The peer answered and refused (4xx).
    Refused(String),
    /// The peer could not be reached or answered wrongly.
    Broken(String),
}

/// Closed (asking), open until a time (not asking), half-open (one probe asking).
#[derive(Debug, Default)]
struct Breaker {
    failures: u32,
    open_until: Option<Instant>,
    probing: bool,
}

/// A configured peer.
#[derive(Debug)]
pub(crate) struct Peer {
    pub(crate) id: String,
    base: Base,
    pub(crate) key: VerifyingKey,
    pub(crate) trust: PeerTrust,
    pub(crate) domains: Vec<String>,
    breaker: Mutex<Breaker>,
}

/// Federation as configured.
#[derive(Debug)]
pub(crate) struct Federation {
    pub(crate) id: String,
    key: SigningKey,
    pub(crate) domains: Vec<String>,
    peers: HashMap<String, Arc<Peer>>,
    timeout: Duration,
    pub(crate) window: u64,
    /// Lookups each peer may make per minute.
    pub(crate) lookups_per_minute: u32,
    breaker_failures: u32,
    breaker_cooldown: Duration,
    cache_ttl: Duration,
    cache: Mutex<AnswerCache>,
    domain_cache: Mutex<HashMap<String, (Instant, Option<String>)>>,
    replay: Mutex<signature::ReplayGuard>,
    dns: Option<crate::directory::dns::Dns>,
}

fn key32(what: &str, s: &str) -> Result<[u8; 32], String> {
    b64url_decode(s.trim())
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| format!("{what}: not 32 bytes of base64url"))
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Federation {
    /// From `[federation]`; `None` when `server_id` is empty (federation off).
    pub(crate) fn new(
        cfg: &FederationSection,
        dns: Option<crate::directory::dns::Dns>,
    ) -> Result<Option<Self>, String> {
        if cfg.server_id.is_empty() {
            return Ok(None);
        }
        let seed = if cfg.private_key_file.as_os_str().is_empty() {
            cfg.private_key.clone()
        } else {
            std::fs::read_to_string(&cfg.private_key_file).map_err(|e| {
                format!(
                    "federation.private_key_file {}: {e}",
                    cfg.private_key_file.display()
                )
            })?
        };
        let key = SigningKey::from_bytes(&key32("federation.private_key", &seed)?);
        let mut peers = HashMap::new();
        for (i, p) in cfg.peers.iter().enumerate() {
            let what = format!("federation.peers[{i}]");
            if p.id.is_empty() || p.id == cfg.server_id {
                return Err(format!(
                    "{what}.id: must be set and differ from federation.server_id"
                ));
            }
            let pk = key32(&format!("{what}.public_key"), &p.public_key)?;
            let peer = Peer {
                id: p.id.clone(),
                base: parse_base(&p.url, &p.ca_file).map_err(|e| format!("{what}.url: {e}"))?,
                key: VerifyingKey::from_bytes(&pk)
                    .map_err(|_| format!("{what}.public_key: not an Ed25519 point"))?,
                trust: p.trust.parse().map_err(|e| format!("{what}.trust: {e}"))?,
                domains: p.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                breaker: Mutex::new(Breaker::default()),
            };
            if peers.insert(p.id.clone(), Arc::new(peer)).is_some() {
                return Err(format!("{what}.id: {:?} is listed twice", p.id));
            }
        }
        Ok(Some(Self {
            id: cfg.server_id.clone(),
            key,
            domains: cfg.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
            peers,
            timeout: Duration::from_millis(cfg.timeout_ms.max(1)),
            window: cfg.replay_window_secs.max(1),
            lookups_per_minute: cfg.lookups_per_minute,
            breaker_failures: cfg.breaker_failures.max(1),
            breaker_cooldown: Duration::from_secs(cfg.breaker_cooldown_secs),
            cache_ttl: Duration::from_secs(cfg.cache_secs),
            cache: Mutex::new(HashMap::new()),
            domain_cache: Mutex::new(HashMap::new()),
            replay: Mutex::new(signature::ReplayGuard::default()),
            dns,
        }))
    }

    /// Whether `domain` is one of this server's own.
    pub(crate) fn is_local(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d.eq_ignore_ascii_case(domain))
    }

    /// Check a signed lookup: the signer is a configured peer, the signature is valid, recent and new.
    pub(crate) fn verify_lookup(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Arc<Peer>, String> {
        let now = now_secs();
        let v = signature::verify(
            headers,
            body,
            &[("@method", "POST"), ("@path", LOOKUP_PATH)],
            &["@method", "@path", "date", "content-digest"],
            |id| self.peers.get(id).map(|p| &p.key),
            now,
            self.window,
        )?;
        let fresh = self
            .replay
            .lock()
            .map_err(|_| "replay guard unavailable".to_owned())?
            .fresh(v.signature, v.created, now, self.window);
        if !fresh {
            return Err("this signature was already used (replayed request)".into());
        }
        self.peers
            .get(&v.keyid)
            .cloned()
            .ok_or_else(|| "unknown signer".into())
    }

    /// Sign an answer to a peer.
    pub(crate) fn sign_answer(&self, status: u16, body: &[u8]) -> signature::Signed {
        signature::sign_response(&self.key, &self.id, status, body, now_secs())
    }

    /// The peers a free-text discovery fans out to (provisional or higher).
    pub(crate) fn fan_out_peers(&self) -> Vec<Arc<Peer>> {
        let mut v: Vec<Arc<Peer>> = self
            .peers
            .values()
            .filter(|p| p.trust.asked())
            .cloned()
            .collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        v
    }

    /// The peer that answers for `domain`: a peer configured with it, else the server its DNS TXT record
    /// names (`_registrar-directory.<domain>`, `v=regdir1; id=<server id>`) if that is a configured peer.
    /// `Err` says why there is none.
    pub(crate) async fn peer_for_domain(&self, domain: &str) -> Result<Arc<Peer>, String> {
        let domain = domain.to_ascii_lowercase();
        if let Some(p) = self.peers.values().find(|p| p.domains.contains(&domain)) {
            return Ok(Arc::clone(p));
        }
        let Some(dns) = &self.dns else {
            return Err(format!(
                "no peer answers for {domain} (and DNS discovery is off)"
            ));
        };
        let cached = self
            .domain_cache
            .lock()
            .ok()
            .and_then(|c| c.get(&domain).filter(|(t, _)| *t > Instant::now()).cloned());
        let id = if let Some((_, id)) = cached {
            metrics::counter!("registrar_directory_cache_hits_total", "cache" => "domain")
                .increment(1);
            id
        } else {
            metrics::counter!("registrar_directory_cache_misses_total", "cache" => "domain")
                .increment(1);
            let (id, ttl) = match dns.directory_server(&domain).await {
                Ok((id, ttl)) => (id, ttl),
                Err(e) => return Err(format!("DNS for {domain}: {e}")),
            };
            if let Ok(mut c) = self.domain_cache.lock() {
                if c.len() > 10_000 {
                    c.clear();
                }
                c.insert(
                    domain.clone(),
                    (
                        Instant::now() + Duration::from_secs(ttl.clamp(5, 3_600)),
                        id.clone(),
                    ),
                );
            }
            id
        };
        let id = id.ok_or_else(|| format!("{domain} names no directory server in DNS"))?;
        self.peers
            .get(&id)
            .cloned()
            .ok_or_else(|| format!("{domain}'s directory server {id:?} is not a configured peer"))
    }

    /// Ask `peers` in parallel, each within the per-peer timeout; the answers and the failures.
    pub(crate) async fn ask(
        self: &Arc<Self>,
        peers: Vec<Arc<Peer>>,
        req: &LookupRequest,
    ) -> (Vec<(String, Vec<Candidate>)>, Vec<PeerFailure>) {
        let body = match serde_json::to_vec(req) {
            Ok(b) => Bytes::from(b),
            Err(e) => {
                let reason = format!("cannot encode the lookup: {e}");
                let failed = peers
                    .iter()
                    .map(|p| PeerFailure {
                        peer: p.id.clone(),
                        reason: reason.clone(),
                    })
                    .collect();
                return (Vec::new(), failed);
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        for p in peers {
            let me = Arc::clone(self);
            let body = body.clone();
            tasks.spawn(async move {
                let r = me.ask_one(&p, body).await;
                (p.id.clone(), r)
            });
        }
        let (mut ok, mut failed) = (Vec::new(), Vec::new());
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((peer, Ok(c))) => ok.push((peer, c)),
                Ok((peer, Err(reason))) => failed.push(PeerFailure { peer, reason }),
                Err(e) => warn!("federation task failed: {e}"),
            }
        }
        ok.sort_by(|a, b| a.0.cmp(&b.0));
        failed.sort_by(|a, b| a.peer.cmp(&b.peer));
        (ok, failed)
    }

    async fn ask_one(&self, p: &Peer, body: Bytes) -> Result<Vec<Candidate>, String> {
        // The cache key (a copy of the body) only when answers are cached.
        let key = (!self.cache_ttl.is_zero()).then(|| (p.id.clone(), body.to_vec()));
        if let Some(key) = &key {
            let hit = self.cache.lock().ok().and_then(|c| {
                c.get(key)
                    .filter(|(t, _)| *t > Instant::now())
                    .map(|(_, v)| v.clone())
            });
            if let Some(v) = hit {
                metrics::counter!("registrar_directory_cache_hits_total", "cache" => "federation")
                    .increment(1);
                return Ok(v);
            }
            metrics::counter!("registrar_directory_cache_misses_total", "cache" => "federation")
                .increment(1);
        }
        if !self.admit(p) {
            return Err(self.failed(p, "circuit open", false));
        }
        let started = Instant::now();
        let r = tokio::time::timeout(self.timeout, self.lookup(p, body)).await;
        metrics::histogram!("registrar_federation_seconds", "peer" => p.id.clone())
            .record(started.elapsed().as_secs_f64());
        let r = match r {
            Err(_) => Err((
                format!("timeout after {} ms", self.timeout.as_millis()),
                true,
            )),
            Ok(r) => r,
        };
        match r {
            Ok(c) => {
                self.succeeded(p);
                if let Some(key) = key
                    && let Ok(mut cache) = self.cache.lock()
                {
                    if cache.len() >= 10_000 {
                        let now = Instant::now();
                        cache.retain(|_, (t, _)| *t > now);
                        if cache.len() >= 10_000 {
                            cache.clear();
                        }
                    }
                    cache.insert(key, (Instant::now() + self.cache_ttl, c.clone()));
                }
                Ok(c)
            }
            // A refusal (4xx) means the peer is up: only the unreachable and the broken open the breaker.
            Err((reason, counts)) => Err(self.failed(p, &reason, counts)),
        }
    }

    /// Whether the breaker lets a request to `p` through now (a half-open breaker lets one).
    fn admit(&self, p: &Peer) -> bool {
        let Ok(mut b) = p.breaker.lock() else {
            return false;
        };
        match b.open_until {
            None => true,
            Some(t) if Instant::now() < t => false,
            Some(_) if b.probing => false,
            Some(_) => {
                b.probing = true;
                true
            }
        }
    }

    fn succeeded(&self, p: &Peer) {
        if let Ok(mut b) = p.breaker.lock() {
            *b = Breaker::default();
        }
    }

    fn failed(&self, p: &Peer, reason: &str, counts: bool) -> String {
        metrics::counter!("registrar_federation_failures_total", "peer" => p.id.clone())
            .increment(1);
        if counts && let Ok(mut b) = p.breaker.lock() {
            b.failures += 1;
            if b.probing || b.failures >= self.breaker_failures {
                b.open_until = Some(Instant::now() + self.breaker_cooldown);
                b.probing = false;
                debug!(peer = %p.id, "circuit opened");
            }
        }
        reason.to_owned()
    }

    /// One signed lookup to `p`, its signed answer checked; an error says whether it counts against the
    /// peer's breaker.
    async fn lookup(&self, p: &Peer, body: Bytes) -> Result<Vec<Candidate>, (String, bool)> {
        self.lookup_inner(p, body).await.map_err(|e| match e {
            Lookup::Refused(why) => (why, false),
            Lookup::Broken(why) => (why, true),
        })
    }

    async fn lookup_inner(&self, p: &Peer, body: Bytes) -> Result<Vec<Candidate>, Lookup> {
        let path = format!("{}{LOOKUP_PATH}", p.base.prefix);
        let s =
            signature::sign_request(&self.key, &self.id, "POST", LOOKUP_PATH, &body, now_secs())
                .map_err(Lookup::Broken)?;
        let stream = tokio::net::TcpStream::connect(&p.base.authority)
            .await
            .map_err(|e| Lookup::Broken(format!("connect: {e}")))?;
        let _ = stream.set_nodelay(true);
        let request = Request::post(path)
            .header(header::HOST, &p.base.authority)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::DATE, &s.date)
            .header("content-digest", &s.content_digest)
            .header("signature-input", &s.signature_input)
            .header("signature", &s.signature)
            .body(Full::new(body))
            .map_err(|e| Lookup::Broken(format!("request: {e}")))?;
        let (status, headers, bytes) = match &p.base.tls {
            None => exchange(stream, request).await?,
            Some((name, config)) => {
                let tls = tokio_rustls::TlsConnector::from(Arc::clone(config))
                    .connect(name.clone(), stream)
                    .await
                    .map_err(|e| Lookup::Broken(format!("TLS: {e}")))?;
                exchange(tls, request).await?
            }
        };
        if status != StatusCode::OK {
            let why = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let why = format!("refused: {} {why}", status.as_u16())
                .trim()
                .to_owned();
            return Err(if status.is_client_error() {
                Lookup::Refused(why)
            } else {
                Lookup::Broken(why)
            });
        }
        let code = status.as_u16().to_string();
        signature::verify(
            &headers,
            &bytes,
            &[("@status", &code)],
            &["@status", "date", "content-digest"],
            |id| (id == p.id).then_some(&p.key),
            now_secs(),
            self.window,
        )
        .map_err(|e| Lookup::Broken(format!("answer signature: {e}")))?;
        let answer: LookupResponse =
            serde_json::from_slice(&bytes).map_err(|e| Lookup::Broken(format!("answer: {e}")))?;
        if answer.server != p.id {
            return Err(Lookup::Broken(format!(
                "answer from {:?}, not {:?}",
                answer.server, p.id
            )));
        }
        // A peer answers for its own domains only.
        let mut cands = answer.candidates;
        cands.retain(|c| {
            c.participant.id.rsplit_once('@').is_some_and(|(_, d)| {
                p.domains.is_empty() || p.domains.iter().any(|x| x.eq_ignore_ascii_case(d))
            })
        });
        cands.truncate(registrar_directory::federation::MAX_CANDIDATES);
        Ok(cands)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_parse() {
        let none = std::path::Path::new("");
        let b = parse_base("http://127.0.0.1:8081", none).unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("127.0.0.1:8081", "")
        );
        assert!(b.tls.is_none());
        let b = parse_base("http://dir.example/registrar/", none).unwrap();
        assert_eq!(
            (b.authority.as_str(), b.prefix.as_str()),
            ("dir.example:80", "/registrar")
        );
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls/cert.pem");
        let b = parse_base("https://127.0.0.1", std::path::Path::new(ca)).unwrap();
        assert_eq!(b.authority, "127.0.0.1:443");
        assert!(b.tls.is_some());
        assert!(parse_base("https://x.example", std::path::Path::new("/nonexistent")).is_err());
        assert!(parse_base("http://", none).is_err());
        assert!(parse_base("ftp://x", none).is_err());
    }
}
