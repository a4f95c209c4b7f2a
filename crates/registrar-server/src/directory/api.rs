//! The directory's HTTP API (first part of issue 9): participants, relationships, topics, priority
//! settings, discovery, experts, ratings, the priority of a message, export, erasure and the audit trail.
//!
//! Every request carries a bearer token (`jwt`): the requester is the token's subject, never a parameter;
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

/// The directory routes' part of `/openapi.json`.
#[derive(OpenApi)]
#[openapi(
    paths(
        put_participant,
        get_participant,
        erase,
        export,
        put_priority,
        post_relationship,
        delete_relationship,
        post_topic,
        discovery,
        experts,
        rating,
        priority,
        audit,
        ask_contact,
        list_contacts,
        approve_contact,
        decline_contact,
        federation_lookup,
        domain_challenge,
        verify_domain,
        verify_oidc
    ),
    components(schemas(
        DirError,
        Participant,
        ParticipantBody,
        PrioritySettings,
        RelationshipBody,
        TopicBody,
        HintsBody,
        DiscoveryBody,
        RatingBody,
        PriorityBody,
        AskBody,
        AuditPage,
        DomainBody,
        OidcBody,
        ParticipantView,
        Candidate,
        Merged,
        PriorityDecision,
        ContactRequest,
        Export
    )),
    modifiers(&DocModifier)
)]
struct DirectoryDoc;

struct DocModifier;

impl utoipa::Modify for DocModifier {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        use utoipa::openapi::{RefOr, Schema};
        let components = doc.components.get_or_insert_with(Default::default);
        if let Some(RefOr::T(Schema::Object(p))) = components.schemas.get("Participant") {
            let mut body = p.clone();
            body.required.retain(|r| r != "id");
            // The path gives the id: read-only here (sent, it must be the path's).
            if let Some(RefOr::T(Schema::Object(id))) = body.properties.get_mut("id") {
                id.read_only = Some(true);
            }
            body.description = Some(
                "A participant; `id` may be left out (it is the path's) and must be the path's when given."
                    .into(),
            );
            components
                .schemas
                .insert("ParticipantBody".into(), RefOr::T(Schema::Object(body)));
        }
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The directory routes' OpenAPI description.
pub(crate) fn openapi_doc() -> utoipa::openapi::OpenApi {
    DirectoryDoc::openapi()
}

/// The body of `PUT /v1/participants/{id}`: a [`Participant`] whose `id` may be left out (the path's). Only
/// its schema is used: [`DocModifier`]'s modifier replaces it with the participant's minus the required id.
#[derive(ToSchema)]
struct ParticipantBody;

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
            put(put_participant).get(get_participant).delete(erase),
        )
        .route("/v1/participants/{id}/export", get(export))
        .route("/v1/participants/{id}/priority", put(put_priority))
        .route(
            "/v1/relationships",
            post(post_relationship).delete(delete_relationship),
        )
        .route("/v1/topics", post(post_topic))
        .route("/v1/discovery", post(discovery))
        .route("/v1/experts", get(experts))
        .route("/v1/ratings", post(rating))
        .route("/v1/priority", post(priority))
        .route("/v1/audit", get(audit))
        .route("/v1/contact-requests", post(ask_contact).get(list_contacts))
        .route("/v1/contact-requests/{id}/approve", post(approve_contact))
        .route("/v1/contact-requests/{id}/decline", post(decline_contact))
        .route("/v1/events", get(events))
        .route(crate::directory::federation::LOOKUP_PATH, post(federation_lookup))
        .route(
            "/v1/participants/{id}/verify/domain",
            get(domain_challenge).post(verify_domain),
        )
        .route("/v1/participants/{id}/verify/oidc", post(verify_oidc))
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

#[utoipa::path(security(("bearer" = [])), put, path = "/v1/participants/{id}", params(("id" = String, Path, description = "participant id, local@domain")), request_body(content = ParticipantBody, description = "the participant (only entity required; `id`, when given, must be the path's; unknown fields are refused; every text and list has the maximum shown)"), responses((status = 201, description = "created", links(("GetParticipant" = (operation_id = "get_participant", parameters(("id" = "$request.path.id")))), ("Export" = (operation_id = "export", parameters(("id" = "$request.path.id")))), ("PutPriority" = (operation_id = "put_priority", parameters(("id" = "$request.path.id")))), ("DomainChallenge" = (operation_id = "domain_challenge", parameters(("id" = "$request.path.id")))), ("Erase" = (operation_id = "erase", parameters(("id" = "$request.path.id")))))), (status = 204, description = "replaced", links(("GetParticipant" = (operation_id = "get_participant", parameters(("id" = "$request.path.id")))), ("Erase" = (operation_id = "erase", parameters(("id" = "$request.path.id")))))), (status = 400, body = DirError, description = "malformed, an unknown field, or a value over its limit (the message names the field)"), (status = 401, body = DirError), (status = 403, body = DirError), (status = 413, body = DirError, description = "the body is over 1 MiB"), (status = 503, body = DirError)))]
async fn put_participant(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    // The body's `id` may be left out: it is the path's.
    let mut doc: serde_json::Value = body(&raw)?;
    if let Some(o) = doc.as_object_mut() {
        o.entry("id")
            .or_insert_with(|| serde_json::Value::String(id.to_string()));
    }
    let mut p: Participant = serde_json::from_value(doc)
        .map_err(|e| fail(StatusCode::BAD_REQUEST, format!("body: {e}")))?;
    if p.id != id {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "the body's id is not the path's",
        ));
    }
    let now = now_ms();
    let (created, verification) = s.dir()?.with(|d| {
        let old = d.participant(&id);
        (old.map(|o| o.created_ms), old.map(|o| o.verification))
    })?;
    // Verification is proven (DNS, OpenID Connect) or set by an operator, never claimed.
    if !who.admin {
        p.verification = verification.unwrap_or_default();
    }
    p.created_ms = created.unwrap_or(now);
    p.updated_ms = now;
    s.dir()?.put_participant(p).await?;
    Ok(if created.is_some() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    })
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/participants/{id}", params(("id" = String, Path, description = "participant id")), responses((status = 200, body = ParticipantView, description = "what the requester may see"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 404, body = DirError, description = "no such participant, or one the requester may not see (the same answer)"), (status = 503, body = DirError)))]
async fn get_participant(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    let v = s.dir()?.view(Some(&who.id), &id, now_ms()).await?;
    v.map_or_else(
        || Err(fail(StatusCode::NOT_FOUND, "no such participant")),
        |v| Ok(Json(v).into_response()),
    )
}

#[utoipa::path(security(("bearer" = [])), delete, path = "/v1/participants/{id}", params(("id" = String, Path, description = "participant id")), responses((status = 204, description = "erased"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn erase(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    s.dir()?.erase(Some(&who.id), &id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/participants/{id}/export", params(("id" = String, Path, description = "participant id")), responses((status = 200, body = Export, description = "everything about the participant"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn export(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    let e = s.dir()?.export(Some(&who.id), &id, now_ms()).await?;
    Ok(Json(e).into_response())
}

#[utoipa::path(security(("bearer" = [])), put, path = "/v1/participants/{id}/priority", params(("id" = String, Path, description = "participant id")), request_body(content = PrioritySettings, description = "priority settings (unknown fields are refused)"), responses((status = 204, description = "set"), (status = 400, body = DirError), (status = 413, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn put_priority(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    let settings: PrioritySettings = body(&raw)?;
    if settings.participant != id {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "the body's participant is not the path's",
        ));
    }
    s.dir()?.put_priority(settings).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A relationship as its declarer states it. Whether it is mutual is not said here: it is mutual when the
/// other side declared one too (each side posts its own).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RelationshipBody {
    /// Who declares it (the requester, or anyone for an operator).
    from: ParticipantId,
    /// About whom: someone `from` may see.
    to: ParticipantId,
    /// What `to` is to `from`.
    kind: RelationshipKind,
    /// Refused when `true`: one side cannot make a relationship mutual (`false` is accepted for older clients).
    #[serde(default)]
    mutual: bool,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/relationships", request_body = RelationshipBody, responses((status = 204, description = "stored", links(("DeleteRelationship" = (operation_id = "delete_relationship", parameters(("from" = "$request.body#/from"), ("to" = "$request.body#/to")))))), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError, description = "`to` does not exist or the declarer may not see them (the same answer)", links(("CreateParticipant" = (operation_id = "put_participant", parameters(("id" = "$request.body#/to")))))), (status = 503, body = DirError)))]
async fn post_relationship(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let b: RelationshipBody = body(&raw)?;
    who.may_act_for(&b.from)?;
    if b.mutual {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            "mutual: a relationship is mutual only when both sides declare it; each side posts its own",
        ));
    }
    let r = Relationship {
        from: b.from,
        to: b.to,
        kind: b.kind,
        mutual: false,
    };
    let dir = s.dir()?;
    if who.admin {
        dir.put_relationship(r).await?;
    } else {
        dir.put_relationship_as(&who.id, r).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct RelationshipParams {
    /// Who declared it.
    from: String,
    /// About whom.
    to: String,
}

#[utoipa::path(security(("bearer" = [])), delete, path = "/v1/relationships", params(RelationshipParams), responses((status = 204, description = "removed (or there was none)"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 503, body = DirError)))]
async fn delete_relationship(
    State(s): State<DirState>,
    headers: HeaderMap,
    params: Result<QueryParams<RelationshipParams>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let QueryParams(p) = params.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (from, to) = (pid(&p.from)?, pid(&p.to)?);
    who.may_act_for(&from)?;
    s.dir()?.remove_relationship(&from, &to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TopicBody {
    participant: ParticipantId,
    #[schema(max_length = 100)]
    topic: String,
    role: TopicRole,
    #[serde(default)]
    expertise: Expertise,
    #[serde(default)]
    when_busy: bool,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/topics", request_body = TopicBody, responses((status = 204, description = "stored", links(("Experts" = (operation_id = "experts", parameters(("topic" = "$request.body#/topic")))))), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError, description = "no such participant: it can be created", links(("CreateParticipant" = (operation_id = "put_participant", parameters(("id" = "$request.body#/participant")))))), (status = 503, body = DirError)))]
async fn post_topic(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    let t: TopicBody = body(&raw)?;
    who.may_act_for(&t.participant)?;
    s.dir()?
        .put_topic(TopicSubscription {
            participant: t.participant,
            topic: t.topic,
            role: t.role,
            expertise: t.expertise,
            when_busy: t.when_busy,
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
struct HintsBody {
    #[schema(max_length = 200)]
    organization: Option<String>,
    #[schema(max_length = 200)]
    domain: Option<String>,
    #[schema(max_length = 200)]
    role: Option<String>,
    entity: Option<EntityType>,
    #[schema(max_length = 200)]
    capability: Option<String>,
    #[schema(max_length = 200)]
    language: Option<String>,
}

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
struct DiscoveryBody {
    /// A name or free text; an address here is looked up as an exact id.
    #[schema(max_length = 512)]
    text: String,
    exact_id: Option<ParticipantId>,
    referral: bool,
    hints: HintsBody,
    #[schema(max_length = 100)]
    topic: Option<String>,
    urgent: bool,
    /// Most candidates (0: 10; at most 100).
    limit: usize,
    /// Ask this server only (no federated peers).
    local_only: bool,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/discovery", request_body = DiscoveryBody, responses((status = 200, body = Merged, description = "resolved or suggestions"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 429, body = DirError), (status = 503, body = DirError)))]
async fn discovery(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    s.limit("discovery", &who, s.limits.discovery_per_hour, 3_600)?;
    let b: DiscoveryBody = body(&raw)?;
    // An address typed as the text is looked up as an exact id (and routed to its domain's server).
    let exact_id = b.exact_id.or_else(|| {
        let t = b.text.trim();
        (!t.contains(char::is_whitespace))
            .then(|| ParticipantId::parse(t).ok())
            .flatten()
    });
    let q = Query {
        text: b.text,
        exact_id,
        referral: b.referral,
        hints: Hints {
            organization: b.hints.organization,
            domain: b.hints.domain,
            role: b.hints.role,
            entity: b.hints.entity,
            capability: b.hints.capability,
            language: b.hints.language,
        },
        topic: b.topic,
        urgency: if b.urgent {
            Urgency::Urgent
        } else {
            Urgency::Normal
        },
        limit: b.limit,
    };
    limits::query(&q)?;
    let started = std::time::Instant::now();
    let dir = s.dir()?;
    let requester = dir.requester(Some(&who.id))?;
    let (peers, mut failed) = match &s.net.federation {
        Some(f) if !b.local_only => s.peers_for(f, &q).await,
        _ => (Vec::new(), Vec::new()),
    };
    let remote = async {
        match &s.net.federation {
            Some(f) if !peers.is_empty() => {
                f.ask(peers, &LookupRequest::from_query(&requester, &q))
                    .await
            }
            _ => (Vec::new(), Vec::new()),
        }
    };
    let (local, (answers, failures)) = tokio::join!(s.resolve_local(&requester, &q), remote);
    failed.extend(failures);
    let merged = federation::merge(local?, answers, failed, q.limit);
    metrics::histogram!("registrar_directory_discovery_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(Json(merged).into_response())
}

impl DirState {
    /// This server's answer to `q` for `requester`: the candidates, then their presence (asynchronous),
    /// then the ranked and audited answer.
    async fn resolve_local(&self, requester: &Requester, q: &Query) -> Result<Resolution, Failure> {
        let dir = self.dir()?;
        let gathered = dir.gather_as(requester, q)?;
        let pending: Vec<Participant> = dir.with(|d| {
            gathered
                .ids()
                .filter_map(|id| d.participant(id).cloned())
                .collect()
        })?;
        let avail = self.availability(&pending).await;
        let presence = move |p: &Participant| avail.get(&p.id).copied().unwrap_or_default();
        Ok(dir
            .finish_as(requester, gathered, &presence, now_ms())
            .await?)
    }

    /// The peers a discovery asks: for an address outside this server's domains, the one peer that answers
    /// for its domain; for a local address, none; otherwise every peer at provisional or higher.
    async fn peers_for(
        &self,
        f: &crate::directory::federation::Federation,
        q: &Query,
    ) -> (Vec<Arc<crate::directory::federation::Peer>>, Vec<PeerFailure>) {
        let Some(id) = &q.exact_id else {
            return (f.fan_out_peers(), Vec::new());
        };
        let domain = id.domain();
        if f.is_local(domain) {
            return (Vec::new(), Vec::new());
        }
        match f.peer_for_domain(domain).await {
            Ok(p) if p.trust.asked() => (vec![p], Vec::new()),
            Ok(p) => (
                Vec::new(),
                vec![PeerFailure {
                    peer: p.id.clone(),
                    reason: format!("not asked: trust level {}", p.trust.name()),
                }],
            ),
            Err(reason) => (
                Vec::new(),
                vec![PeerFailure {
                    peer: domain.to_owned(),
                    reason,
                }],
            ),
        }
    }
}

/// A signed lookup from a peer server (RFC 9421 signature over method, path, date and body digest; see
/// docs/directory.md, "Federation"). Answered with this server's participants' own rules for the peer's
/// trust level, at most 50 candidates, the answer signed.
#[utoipa::path(post, path = "/v1/federation/lookup", request_body(content = Object, description = "a signed lookup: requester, organization, text, exact_id, hints, topic, urgent, limit"), responses((status = 200, body = Object, description = "server and candidates, signed"), (status = 400, body = DirError), (status = 401, body = DirError, description = "missing, invalid, stale or replayed signature"), (status = 403, body = DirError, description = "blocked peer"), (status = 404, body = DirError, description = "federation off"), (status = 429, body = DirError, description = "the peer's lookups per minute are used up"), (status = 503, body = DirError)))]
async fn federation_lookup(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
    let f = s
        .net
        .federation
        .as_ref()
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "federation is off on this server"))?;
    s.dir()?;
    let peer = f
        .verify_lookup(&headers, &raw)
        .map_err(|why| fail(StatusCode::UNAUTHORIZED, why))?;
    s.limit_key("federation lookups", &peer.id, f.lookups_per_minute, 60)?;
    let req: LookupRequest = body(&raw)?;
    let asking = federation::AskingPeer {
        id: &peer.id,
        domains: &peer.domains,
        trust: peer.trust,
    };
    let Some(requester) = federation::remote_requester(&asking, &req) else {
        metrics::counter!("registrar_federation_refused_total", "peer" => peer.id.clone())
            .increment(1);
        return Err(fail(
            StatusCode::FORBIDDEN,
            format!("{} is blocked here", peer.id),
        ));
    };
    let q = req.query()?;
    let r = s.resolve_local(&requester, &q).await?;
    let answer = LookupResponse {
        server: f.id.clone(),
        candidates: r.candidates().into_iter().cloned().collect(),
    };
    let bytes = serde_json::to_vec(&answer)
        .map_err(|e| fail(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    let signed = f.sign_answer(200, &bytes);
    let mut resp = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        bytes,
    )
        .into_response();
    let h = resp.headers_mut();
    for (name, value) in [
        ("date", &signed.date),
        ("content-digest", &signed.content_digest),
        ("signature-input", &signed.signature_input),
        ("signature", &signed.signature),
    ] {
        if let Ok(v) = HeaderValue::from_str(value) {
            h.insert(name, v);
        }
    }
    Ok(resp)
}

/// A domain a participant may prove: their id's, or one of their identities' email domains.
fn domain_of_participant(p: &Participant, domain: &str) -> bool {
    p.id.domain().eq_ignore_ascii_case(domain)
        || p.identities.iter().any(|i| {
            i.email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        })
}

/// The TXT value that proves `id` controls `domain`.
fn domain_token(id: &ParticipantId, domain: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"registrar-verify\0");
    h.update(id.as_str().as_bytes());
    h.update(b"\0");
    h.update(domain.to_ascii_lowercase().as_bytes());
    let hex: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("registrar-verify={hex}")
}

#[derive(Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct DomainBody {
    /// The domain to prove.
    domain: String,
}

impl DirState {
    /// The participant `id` (404 if none) after checking `who` may act for them and `domain` is theirs.
    fn prover(&self, who: &Who, id: &ParticipantId, domain: &str) -> Result<Participant, Failure> {
        who.may_act_for(id)?;
        let p = self.participant(id)?;
        if domain.is_empty() || domain.len() > 253 || !domain.contains('.') {
            return Err(fail(StatusCode::BAD_REQUEST, "domain: not a domain name"));
        }
        if !domain_of_participant(&p, domain) {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "{domain} is not the domain of the participant's id or of one of their email addresses"
                ),
            ));
        }
        Ok(p)
    }

    /// The participant `id` as stored (404 if none).
    fn participant(&self, id: &ParticipantId) -> Result<Participant, Failure> {
        self.dir()?
            .with(|d| d.participant(id).cloned())?
            .ok_or_else(|| fail(StatusCode::NOT_FOUND, "no such participant"))
    }

    /// Raise `p`'s verification to at least `level`.
    async fn raise(
        &self,
        mut p: Participant,
        level: VerificationLevel,
    ) -> Result<VerificationLevel, Failure> {
        if p.verification < level {
            p.verification = level;
            p.updated_ms = now_ms();
            let v = p.verification;
            self.dir()?.put_participant(p).await?;
            Ok(v)
        } else {
            Ok(p.verification)
        }
    }
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/participants/{id}/verify/domain", params(("id" = String, Path, description = "participant id"), DomainBody), responses((status = 200, body = Object, description = "the TXT record to publish"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn domain_challenge(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    params: Result<QueryParams<DomainBody>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    let QueryParams(d) = params.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    s.prover(&who, &id, &d.domain)?;
    Ok(Json(serde_json::json!({
        "record": format!("{}.{}", crate::directory::dns::VERIFY_LABEL, d.domain.to_ascii_lowercase()),
        "type": "TXT",
        "value": domain_token(&id, &d.domain),
    }))
    .into_response())
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/participants/{id}/verify/domain", params(("id" = String, Path, description = "participant id")), request_body = DomainBody, responses((status = 200, body = Object, description = "verified"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 422, body = DirError, description = "the TXT record is not there"), (status = 503, body = DirError)))]
async fn verify_domain(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    let d: DomainBody = body(&raw)?;
    let p = s.prover(&who, &id, &d.domain)?;
    let dns = s
        .net
        .dns
        .as_ref()
        .ok_or_else(|| fail(StatusCode::SERVICE_UNAVAILABLE, "DNS is not available"))?;
    let record = format!(
        "{}.{}",
        crate::directory::dns::VERIFY_LABEL,
        d.domain.to_ascii_lowercase()
    );
    let want = domain_token(&id, &d.domain);
    let (found, _) = dns
        .txt(&record)
        .await
        .map_err(|e| fail(StatusCode::SERVICE_UNAVAILABLE, format!("DNS: {e}")))?;
    if !found.iter().any(|v| v.trim() == want) {
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("no TXT record {record} with value {want}"),
        ));
    }
    let v = s.raise(p, VerificationLevel::Email).await?;
    Ok(Json(serde_json::json!({ "verification": v, "domain": d.domain })).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct OidcBody {
    /// An ID token from a configured OpenID Connect provider.
    id_token: String,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/participants/{id}/verify/oidc", params(("id" = String, Path, description = "participant id")), request_body = OidcBody, responses((status = 200, body = Object, description = "verified"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError, description = "no such participant, or no provider configured"), (status = 422, body = DirError, description = "the ID token does not prove one of the participant's emails"), (status = 503, body = DirError)))]
async fn verify_oidc(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    let b: OidcBody = body(&raw)?;
    if s.net.oidc.is_empty() {
        return Err(fail(
            StatusCode::NOT_FOUND,
            "no OpenID Connect provider is configured here (directory.oidc)",
        ));
    }
    let proven = crate::directory::oidc::verify(&b.id_token, &s.net.oidc, now_secs())
        .map_err(|why| fail(StatusCode::UNPROCESSABLE_ENTITY, why))?;
    let p = s.participant(&id)?;
    let mine = p.identities.iter().any(|i| {
        i.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(&proven.email))
    });
    if !mine {
        return Err(fail(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("{} is not an email of {id}", proven.email),
        ));
    }
    let level = if proven.organization {
        VerificationLevel::Organization
    } else {
        VerificationLevel::Email
    };
    let v = s.raise(p, level).await?;
    Ok(Json(serde_json::json!({ "verification": v, "email": proven.email })).into_response())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ExpertsParams {
    /// The topic.
    #[param(max_length = 100)]
    topic: String,
    #[serde(default)]
    min_level: Option<Expertise>,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/experts", params(ExpertsParams), responses((status = 200, body = [Candidate], description = "available experts"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 429, body = DirError), (status = 503, body = DirError)))]
async fn experts(
    State(s): State<DirState>,
    headers: HeaderMap,
    params: Result<QueryParams<ExpertsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let QueryParams(p) = params.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    s.limit("discovery", &who, s.limits.discovery_per_hour, 3_600)?;
    let q = ExpertQuery {
        topic: p.topic,
        min: p.min_level.unwrap_or(Expertise::Beginner),
        organization: p.organization,
        region: p.region,
        limit: p.limit.unwrap_or(10),
    };
    let started = std::time::Instant::now();
    let dir = s.dir()?;
    let experts: Vec<Participant> = dir.with(|d| {
        d.experts(&q.topic, q.min)
            .iter()
            .take(500)
            .filter_map(|t| d.participant(&t.participant).cloned())
            .collect()
    })?;
    let avail = s.availability(&experts).await;
    let presence = move |p: &Participant| avail.get(&p.id).copied().unwrap_or_default();
    let found = dir
        .find_experts(Some(&who.id), &q, &presence, now_ms())
        .await?;
    metrics::histogram!("registrar_directory_experts_seconds")
        .record(started.elapsed().as_secs_f64());
    Ok(Json(found).into_response())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RatingBody {
    ratee: ParticipantId,
    category: TrustCategory,
    score: u8,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/ratings", request_body = RatingBody, responses((status = 204, description = "stored"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 404, body = DirError, description = "the ratee does not exist or the rater may not see them (the same answer)"), (status = 429, body = DirError), (status = 503, body = DirError)))]
async fn rating(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
    let who = s.who(&headers)?;
    s.limit("ratings", &who, s.limits.ratings_per_day, 86_400)?;
    let b: RatingBody = body(&raw)?;
    if b.score > 100 {
        return Err(fail(StatusCode::BAD_REQUEST, "score: 0 to 100"));
    }
    if b.ratee == who.id {
        return Err(fail(StatusCode::BAD_REQUEST, "nobody rates themself"));
    }
    let r = TrustRating {
        rater: who.id.clone(),
        ratee: b.ratee,
        category: b.category,
        score: b.score,
    };
    // A ratee the rater may not see is answered as one that does not exist.
    s.dir()?.put_rating_as(&who.id, r.clone()).await?;
    s.tell(&r.ratee, "rating", &r);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PriorityBody {
    recipient: ParticipantId,
    #[serde(default)]
    #[schema(max_length = 512)]
    text: String,
    #[serde(default)]
    #[schema(max_length = 100)]
    topic: Option<String>,
    /// Operators may ask for another sender; everyone else asks as themself.
    #[serde(default)]
    sender: Option<ParticipantId>,
    #[serde(default)]
    at_ms: Option<u64>,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/priority", request_body = PriorityBody, responses((status = 200, body = PriorityDecision, description = "delivery, priority, explanation"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError, description = "the recipient does not exist or the sender may not see them (the same answer)"), (status = 503, body = DirError)))]
async fn priority(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Json<PriorityDecision>, Failure> {
    let who = s.who(&headers)?;
    let b: PriorityBody = body(&raw)?;
    let sender = match b.sender {
        Some(x) if who.admin => x,
        Some(x) if x != who.id => {
            return Err(fail(
                StatusCode::FORBIDDEN,
                "only an operator may ask for another sender",
            ));
        }
        _ => who.id.clone(),
    };
    if b.text.len() > limits::QUERY_TEXT
        || b.topic.as_ref().is_some_and(|t| t.len() > limits::TOPIC)
    {
        return Err(fail(
            StatusCode::BAD_REQUEST,
            format!(
                "text: at most {} bytes; topic: at most {} bytes",
                limits::QUERY_TEXT,
                limits::TOPIC
            ),
        ));
    }
    let m = Message {
        sender: Some(sender.clone()),
        recipient: b.recipient,
        text: b.text,
        topic: b.topic,
        at_ms: b.at_ms.unwrap_or_else(now_ms),
    };
    let dir = s.dir()?;
    // An operator asks for any sender; anyone else learns nothing of a recipient they may not see.
    Ok(Json(if who.admin {
        dir.prioritize(&m)?
    } else {
        dir.prioritize_as(&sender, &m)?
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    participant: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct AuditPage {
    participant: String,
    entries: Vec<AuditEntry>,
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/audit", params(AuditParams), responses((status = 200, body = AuditPage), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 503, body = DirError)))]
async fn audit(
    State(s): State<DirState>,
    headers: HeaderMap,
    params: Result<QueryParams<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, Failure> {
    let who = s.who(&headers)?;
    let QueryParams(p) = params.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    let id = match p.participant {
        Some(x) => pid(&x)?,
        None => who.id.clone(),
    };
    who.may_act_for(&id)?;
    let entries = s
        .dir()?
        .audit_of(&id, p.limit.unwrap_or(100).min(1_000))
        .await?;
    Ok(Json(AuditPage {
        participant: id.to_string(),
        entries,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct AskBody {
    to: ParticipantId,
    #[serde(default)]
    #[schema(max_length = 500)]
    note: String,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/contact-requests", request_body = AskBody, responses((status = 201, body = ContactRequest, description = "the request", links(("Approve" = (operation_id = "approve_contact", parameters(("id" = "$response.body#/id")))), ("Decline" = (operation_id = "decline_contact", parameters(("id" = "$response.body#/id")))))), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 429, body = DirError), (status = 503, body = DirError)))]
async fn ask_contact(
    State(s): State<DirState>,
    headers: HeaderMap,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    s.limit(
        "contact requests",
        &who,
        s.limits.contact_requests_per_hour,
        3_600,
    )?;
    let b: AskBody = body(&raw)?;
    let c = s
        .dir()?
        .ask_contact(&who.id, &b.to, &b.note, now_ms())
        .await?;
    s.tell(&c.to, "contact_request", &c);
    Ok((StatusCode::CREATED, Json(c)).into_response())
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/contact-requests", responses((status = 200, body = [ContactRequest], description = "requests made and received"), (status = 401, body = DirError), (status = 503, body = DirError)))]
async fn list_contacts(State(s): State<DirState>, headers: HeaderMap) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let list = s.dir()?.contact_requests(&who.id, now_ms())?;
    Ok(Json(list).into_response())
}

async fn decide(
    s: &DirState,
    headers: &HeaderMap,
    id: &str,
    approve: bool,
) -> Result<Response, Failure> {
    let who = s.who(headers)?;
    let id: u64 = id
        .parse()
        .map_err(|_| fail(StatusCode::BAD_REQUEST, "a contact request id is a number"))?;
    let c = s
        .dir()?
        .decide_contact(&who.id, id, approve, now_ms())
        .await?;
    s.tell(&c.from, "contact_request_decided", &c);
    Ok(Json(c).into_response())
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/contact-requests/{id}/approve", params(("id" = u64, Path, description = "request number")), responses((status = 200, body = ContactRequest), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn approve_contact(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    decide(&s, &headers, &id, true).await
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/contact-requests/{id}/decline", params(("id" = u64, Path, description = "request number")), responses((status = 200, body = ContactRequest), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
async fn decline_contact(
    State(s): State<DirState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    decide(&s, &headers, &id, false).await
}

/// The participant's live events over a WebSocket: contact requests to them and decisions on theirs, ratings
/// of them, and presence changes of those they may watch (visible to them, and related or with an approved
/// contact request). Each message is JSON `{"type": …, "data": …}`: first `ready` (every event after it
/// reaches the stream); a stream that fell behind gets `{"type": "lagged", "data": {"missed": n}}` and goes
/// on.
async fn events(
    State(s): State<DirState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Result<Response, Failure> {
    let who = s.who(&headers)?;
    let ws = ws.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    Ok(ws.on_upgrade(move |socket| stream_events(socket, s, who.id)))
}

async fn stream_events(mut socket: WebSocket, s: DirState, who: ParticipantId) {
    use registrar_events::{Delivery, EventFilter, EventKind, RegistrarEvent};
    let Ok(dir) = s.dir().cloned() else {
        return;
    };
    let mut hub = s.hub.subscribe();
    let mut registrar =
        s.ep.service()
            .events(EventFilter::all().kinds(&[EventKind::Presence]));
    let send = |v: serde_json::Value| WsMessage::Text(v.to_string().into());
    // Both sources are followed from here on: a client that waits for this misses nothing after it.
    if socket
        .send(send(serde_json::json!({"type": "ready", "data": {}})))
        .await
        .is_err()
    {
        return;
    }
    loop {
        let out = tokio::select! {
            e = hub.recv() => match e {
                Ok(e) if e.to == who => vec![send(e.body.clone())],
                Ok(_) => Vec::new(),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    vec![send(serde_json::json!({"type": "lagged", "data": {"missed": n}}))]
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            },
            d = registrar.next() => match d {
                Some(Delivery::Events(batch)) => {
                    let mut out = Vec::new();
                    // Who may watch whom is decided on every change acknowledged so far (shared mode: on
                    // any node); when that cannot be known, nothing is sent.
                    let in_step = dir.sync().await.is_ok();
                    for env in batch.iter().filter(|_| in_step) {
                        let RegistrarEvent::PresenceChanged { aor, pidf } = &env.event else {
                            continue;
                        };
                        let target = dir
                            .with(|d| {
                                d.participant_by_sip_aor(&aor.to_string())
                                    .map(|p| p.id.clone())
                                    .filter(|t| d.may_watch(&who, t))
                            })
                            .ok()
                            .flatten();
                        if let Some(t) = target {
                            let availability = registrar_pidf::Presence::parse(pidf.as_bytes())
                                .map_or(Availability::Unknown, |p| availability_of(&p));
                            out.push(send(serde_json::json!({
                                "type": "presence",
                                "data": {"participant": t, "availability": availability},
                            })));
                        }
                    }
                    out
                }
                Some(Delivery::Lagged { missed, .. }) => {
                    vec![send(serde_json::json!({"type": "lagged", "data": {"missed": missed}}))]
                }
                Some(_) => Vec::new(),
                None => break,
            },
            m = socket.recv() => match m {
                Some(Ok(WsMessage::Close(_)) | Err(_)) | None => break,
                Some(Ok(_)) => Vec::new(),
            },
        };
        for m in out {
            if socket.send(m).await.is_err() {
                return;
            }
        }
    }
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
}
