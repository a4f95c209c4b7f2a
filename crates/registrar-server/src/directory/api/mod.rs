//! The directory's HTTP API: participants, relationships, topics, priority settings, discovery, experts,
//! ratings, the priority of a message, export, erasure, the audit trail, contact requests, identity proofs
//! and live events; one file per group of routes, the shared parts (state, errors, the requester, limits)
//! here.
//!
//! Every request carries a bearer token (`jwt`): the requester ([`Who`], an extractor) is the token's
//! subject, never a parameter;
//! an `admin` scope lets operators act for anyone. Changes to a participant's own data need that
//! participant's token (or admin). Discovery and ratings are rate-limited per requester (429 with
//! Retry-After). Errors are JSON `{"error": …}` with the status that fits. Availability comes from the
//! registrar's own presence of the participant's SIP AoR.
//!
//! Federation: `POST /v1/federation/lookup` answers signed lookups from configured peers
//! ([`crate::directory::federation`]) under the asking peer's trust level; a discovery here fans out to the peers
//! (or to the one peer that answers for the address asked) and merges their answers with this server's.
//! Identity proofs: a DNS TXT record for a domain, or an OpenID Connect ID token for an email.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query as QueryParams, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use registrar_directory::audit::AuditEntry;
use registrar_directory::contact::ContactRequest;
use registrar_directory::federation::{self, LookupRequest, LookupResponse, Merged, PeerFailure};
use registrar_directory::model::{
    EntityType, Expertise, Participant, ParticipantId, Relationship, RelationshipKind, TopicRole,
    TopicSubscription, TrustCategory, TrustRating, VerificationLevel,
};
use registrar_directory::priority::{Message, PriorityDecision, PrioritySettings};
use registrar_directory::privacy::{ParticipantView, Requester};
use registrar_directory::{
    Availability, Candidate, DirectoryService, ExpertQuery, Export, Hints, MemorySearchIndex,
    Query, Resolution, Urgency, limits,
};
use registrar_pidf::{Activity, Basic};
use registrar_types::Aor;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::Ep;

mod discovery;
mod doc;
mod events;
mod participants;
mod requests;
mod verify;

pub(crate) use doc::openapi_doc;

/// The body of every directory error.
#[derive(Serialize, ToSchema)]
struct DirError {
    /// What went wrong.
    error: String,
}

/// The directory as the server runs it.
pub(crate) type Directory = DirectoryService<MemorySearchIndex>;

/// Per-requester limits (`[directory]`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct RateLimits {
    pub(crate) discovery_per_hour: u32,
    pub(crate) ratings_per_day: u32,
    pub(crate) contact_requests_per_hour: u32,
}

/// Fixed-window counters per (kind, requester); windows that ended are dropped as the map grows.
#[derive(Debug, Default)]
struct Windows {
    counts: HashMap<(&'static str, String), (u64, u32)>,
}

impl Windows {
    /// Count one request; `Err(seconds)` to wait when over `limit` in `window` seconds.
    fn hit(
        &mut self,
        kind: &'static str,
        who: &str,
        limit: u32,
        window: u64,
        now: u64,
    ) -> Result<(), u64> {
        if self.counts.len() > 100_000 {
            self.counts.retain(|(k, _), (start, _)| {
                let w = if *k == "ratings" { 86_400 } else { 3_600 };
                *start + w > now
            });
        }
        let e = self
            .counts
            .entry((kind, who.to_owned()))
            .or_insert((now, 0));
        if e.0 + window <= now {
            *e = (now, 0);
        }
        if e.1 >= limit {
            return Err((e.0 + window).saturating_sub(now).max(1));
        }
        e.1 += 1;
        Ok(())
    }
}

/// Something a participant's event stream carries.
#[derive(Debug)]
struct DirEvent {
    to: ParticipantId,
    body: serde_json::Value,
}

#[derive(Clone)]
pub(crate) struct DirState {
    hub: tokio::sync::broadcast::Sender<Arc<DirEvent>>,
    dir: Option<Arc<Directory>>,
    keys: Arc<crate::directory::jwt::Keys>,
    limits: RateLimits,
    windows: Arc<Mutex<Windows>>,
    ep: Arc<Ep>,
    net: Arc<Network>,
}

/// What the directory reaches beyond this server: federation, DNS and identity providers.
#[derive(Debug, Default)]
pub(crate) struct Network {
    pub(crate) federation: Option<Arc<crate::directory::federation::Federation>>,
    pub(crate) dns: Option<crate::directory::dns::Dns>,
    pub(crate) oidc: Vec<crate::directory::oidc::Provider>,
}

/// The directory's routes (answering 503 with the reason when the directory is off).
pub(crate) fn router(
    dir: Option<Arc<Directory>>,
    keys: crate::directory::jwt::Keys,
    limits: RateLimits,
    ep: Arc<Ep>,
    net: Network,
) -> Router {
    Router::new()
        .route(
            "/v1/participants/{id}",
            put(participants::put_participant)
                .get(participants::get_participant)
                .delete(participants::erase),
        )
        .route("/v1/participants/{id}/export", get(participants::export))
        .route(
            "/v1/participants/{id}/priority",
            put(participants::put_priority),
        )
        .route(
            "/v1/relationships",
            post(participants::post_relationship).delete(participants::delete_relationship),
        )
        .route("/v1/topics", post(participants::post_topic))
        .route("/v1/discovery", post(discovery::discovery))
        .route("/v1/experts", get(discovery::experts))
        .route("/v1/ratings", post(requests::rating))
        .route("/v1/priority", post(requests::priority))
        .route("/v1/audit", get(requests::audit))
        .route(
            "/v1/contact-requests",
            post(requests::ask_contact).get(requests::list_contacts),
        )
        .route(
            "/v1/contact-requests/{id}/approve",
            post(requests::approve_contact),
        )
        .route(
            "/v1/contact-requests/{id}/decline",
            post(requests::decline_contact),
        )
        .route("/v1/events", get(events::events))
        .route(
            crate::directory::federation::LOOKUP_PATH,
            post(discovery::federation_lookup),
        )
        .route(
            "/v1/participants/{id}/verify/domain",
            get(verify::domain_challenge).post(verify::verify_domain),
        )
        .route(
            "/v1/participants/{id}/verify/oidc",
            post(verify::verify_oidc),
        )
        .layer(axum::middleware::from_fn_with_state(dir.clone(), in_step))
        .layer(axum::extract::DefaultBodyLimit::max(limits::BODY))
        .layer(axum::middleware::map_response(json_errors))
        .with_state(DirState {
            hub: tokio::sync::broadcast::channel(4_096).0,
            dir,
            keys: Arc::new(keys),
            limits,
            windows: Arc::new(Mutex::new(Windows::default())),
            ep,
            net: Arc::new(net),
        })
}

/// Before every request: the directory has every change any node acknowledged before it arrived (shared
/// mode reads the store's feed; the other modes only check that the directory runs). When it cannot, the
/// answer is 503 with Retry-After: never an answer from a state that may be stale.
async fn in_step(
    State(dir): State<Option<Arc<Directory>>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    if let Some(d) = &dir
        && let Err(e) = d.sync().await
    {
        return Failure::from(e).into_response();
    }
    next.run(req).await
}

/// Every error of the directory's routes as `{"error": …}`: the extractors' own rejections (a body over
/// [`limits::BODY`] → 413, a path or query that does not parse → 400, a wrong method → 405) come as plain
/// text, and are rewritten here with their status kept.
async fn json_errors(r: Response) -> Response {
    let status = r.status();
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return r;
    }
    let (parts, body) = r.into_parts();
    let text = match axum::body::to_bytes(body, 4096).await {
        Ok(b) if !b.is_empty() => String::from_utf8_lossy(&b).trim().to_owned(),
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned(),
    };
    let mut out = fail(status, text).into_response();
    for name in [header::ALLOW, header::RETRY_AFTER, header::WWW_AUTHENTICATE] {
        if let Some(v) = parts.headers.get(&name) {
            out.headers_mut().insert(name, v.clone());
        }
    }
    out
}

/// A JSON error.
pub(crate) struct Failure {
    status: StatusCode,
    message: String,
    retry_after: Option<u64>,
}

fn fail(status: StatusCode, message: impl Into<String>) -> Failure {
    Failure {
        status,
        message: message.into(),
        retry_after: None,
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<registrar_directory::Error> for Failure {
    fn from(e: registrar_directory::Error) -> Self {
        use registrar_directory::Error as E;
        let status = match &e {
            E::InvalidId(_) | E::Invalid(_) => StatusCode::BAD_REQUEST,
            E::UnknownParticipant(_) => StatusCode::NOT_FOUND,
            E::Forbidden(_) => StatusCode::FORBIDDEN,
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        let mut f = fail(status, e.to_string());
        if status == StatusCode::SERVICE_UNAVAILABLE {
            // The store is unreachable or being rebuilt from: try again shortly.
            f.retry_after = Some(5);
        }
        f
    }
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The authenticated requester.
struct Who {
    id: ParticipantId,
    admin: bool,
}

/// The requester of every authenticated route: the bearer token's subject, checked before anything else
/// of the request (401 without a valid token).
impl axum::extract::FromRequestParts<DirState> for Who {
    type Rejection = Failure;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        s: &DirState,
    ) -> Result<Self, Failure> {
        s.who(&parts.headers)
    }
}

impl Who {
    fn may_act_for(&self, id: &ParticipantId) -> Result<(), Failure> {
        if self.admin || self.id == *id {
            Ok(())
        } else {
            Err(fail(
                StatusCode::FORBIDDEN,
                format!("only {id} (or an operator) may do this"),
            ))
        }
    }
}

impl DirState {
    /// Queue an event for `to`'s event streams (none listening: dropped).
    fn tell<T: Serialize>(&self, to: &ParticipantId, kind: &str, what: &T) {
        let body = serde_json::json!({ "type": kind, "data": what });
        let _ = self.hub.send(Arc::new(DirEvent {
            to: to.clone(),
            body,
        }));
    }

    fn dir(&self) -> Result<&Arc<Directory>, Failure> {
        self.dir.as_ref().ok_or_else(|| {
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "the directory API is off: set directory.jwt_secret or directory.jwt_ed25519_public_keys (see docs/operations.md)",
            )
        })
    }

    fn who(&self, headers: &HeaderMap) -> Result<Who, Failure> {
        self.dir()?;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| fail(StatusCode::UNAUTHORIZED, "a bearer token is required"))?;
        let claims = crate::directory::jwt::verify(token.trim(), &self.keys, now_secs())
            .map_err(|why| fail(StatusCode::UNAUTHORIZED, why))?;
        let id = ParticipantId::parse(&claims.sub).map_err(|_| {
            fail(
                StatusCode::UNAUTHORIZED,
                "the token's subject is not a participant id",
            )
        })?;
        Ok(Who {
            id,
            admin: claims.admin,
        })
    }

    fn limit(&self, kind: &'static str, who: &Who, limit: u32, window: u64) -> Result<(), Failure> {
        self.limit_key(kind, who.id.as_str(), limit, window)
    }

    fn limit_key(
        &self,
        kind: &'static str,
        key: &str,
        limit: u32,
        window: u64,
    ) -> Result<(), Failure> {
        let mut w = self
            .windows
            .lock()
            .map_err(|_| fail(StatusCode::SERVICE_UNAVAILABLE, "rate limiter unavailable"))?;
        w.hit(kind, key, limit, window, now_secs())
            .map_err(|wait| Failure {
                status: StatusCode::TOO_MANY_REQUESTS,
                message: format!("{kind} limit of {limit} reached; try again in {wait} s"),
                retry_after: Some(wait),
            })
    }

    /// Availability of `ids` from the registrar's presence of their SIP AoRs.
    async fn availability(&self, who: &[Participant]) -> HashMap<ParticipantId, Availability> {
        let svc = self.ep.service();
        let mut out = HashMap::new();
        for p in who {
            let Some(aor) = p
                .primary()
                .and_then(|i| i.sip_aor.as_deref())
                .and_then(|a| a.parse::<Aor>().ok())
            else {
                continue;
            };
            let a = match svc.presence(&aor).await {
                Ok(c) => availability_of(&c.document),
                Err(_) => Availability::Unknown,
            };
            out.insert(p.id.clone(), a);
        }
        out
    }
}

/// A composed PIDF document as the directory's availability: closed → offline; open → busy or away from
/// the RPID activities, else available; no basic status → unknown.
fn availability_of(doc: &registrar_pidf::Presence) -> Availability {
    match doc.basic() {
        Some(Basic::Closed) => Availability::Offline,
        None => Availability::Unknown,
        Some(_) => {
            let acts: Vec<Activity> = doc
                .persons
                .iter()
                .flat_map(|p| p.rpid.activity_list())
                .collect();
            if acts
                .iter()
                .any(|a| matches!(a, Activity::Busy | Activity::OnThePhone | Activity::Meeting))
            {
                Availability::Busy
            } else if acts.iter().any(|a| matches!(a, Activity::Away)) {
                Availability::Away
            } else {
                Availability::Available
            }
        }
    }
}

fn pid(s: &str) -> Result<ParticipantId, Failure> {
    ParticipantId::parse(s).map_err(|e| fail(StatusCode::BAD_REQUEST, e.to_string()))
}

fn body<T: serde::de::DeserializeOwned>(b: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(b).map_err(|e| fail(StatusCode::BAD_REQUEST, format!("body: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_and_reset() {
        let mut w = Windows::default();
        for _ in 0..3 {
            assert!(w.hit("discovery", "a@x", 3, 3_600, 1_000).is_ok());
        }
        assert_eq!(w.hit("discovery", "a@x", 3, 3_600, 1_500), Err(3_100));
        assert!(w.hit("discovery", "b@x", 3, 3_600, 1_500).is_ok());
        assert!(w.hit("discovery", "a@x", 3, 3_600, 4_600).is_ok());
    }

    /// A store failure is a 503 with a JSON message and `Retry-After` (docs/architecture.md, "When a seam
    /// fails").
    #[tokio::test]
    async fn store_failures_are_503_json_with_retry_after() {
        let r =
            Failure::from(registrar_directory::Error::Storage("disk full".into())).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "5");
        let bytes = http_body_util::BodyExt::collect(r.into_body())
            .await
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(v["error"], "directory storage: disk full");
    }
}
