//! The HTTP admin API (axum): health, Prometheus metrics, registrations, presence, subscriptions, and its
//! OpenAPI description (utoipa). Errors are JSON: `{"error": "…"}`.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::PrometheusHandle;
use registrar_pidf::Document;
use registrar_presence::SubState;
use registrar_types::{Aor, Timestamp};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};

use crate::Ep;

mod auth;
mod console;
mod events;

pub(crate) use auth::AdminAuth;

use events::{Counts, DialogView, Dialogs, Mwi, MwiUpdated, get_dialogs, get_mwi, put_mwi};

#[derive(Clone)]
struct AppState {
    ep: Arc<Ep>,
    prometheus: PrometheusHandle,
    auth: Arc<AdminAuth>,
    /// The wait of a wake-up that names none (`push.default_wait_ms`).
    push_wait_ms: u64,
}

/// The API's routes: `/health` and `/openapi.json` open, `/metrics` open unless `http.metrics_require_token`,
/// every other route behind `auth` (see [`AdminAuth`]).
pub(crate) fn router(
    ep: Arc<Ep>,
    prometheus: PrometheusHandle,
    auth: Arc<AdminAuth>,
    push_wait_ms: u64,
) -> Router {
    let state = AppState {
        ep,
        prometheus,
        auth,
        push_wait_ms,
    };
    let admin = Router::new()
        .route("/v1/registrations", get(list_registrations))
        .route(
            "/v1/registrations/{aor}",
            get(get_registration).delete(delete_registration),
        )
        .route("/v1/registrations/{aor}/wake", post(wake_registration))
        .route("/v1/presence/{aor}", get(get_presence).put(put_presence))
        .route("/v1/mwi/{aor}", get(get_mwi).put(put_mwi))
        .route("/v1/dialogs/{aor}", get(get_dialogs))
        .route("/v1/console/stream", get(console::stream))
        .route("/v1/subscriptions", get(list_subscriptions))
        .route("/v1/buddies/{aor}", get(get_buddies))
        .route(
            "/v1/buddies/{aor}/{buddy}",
            axum::routing::put(put_buddy).delete(delete_buddy),
        )
        .route("/v1/watchers/{aor}", get(get_watchers))
        .route(
            "/v1/watchers/{aor}/{watcher}",
            axum::routing::put(put_decision),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    let metrics = Router::new()
        .route("/metrics", get(metrics_text))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin_for_metrics,
        ));
    Router::new()
        .route("/health", get(health))
        .route("/openapi.json", get(openapi))
        // The console's page and assets hold no data: every figure comes through the admin routes.
        .route("/console", get(console::page))
        .route("/console/console.js", get(console::script))
        .route("/console/console.css", get(console::style))
        .merge(metrics)
        .merge(admin)
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such resource") })
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "registrar admin API",
        description = "Registrations, presence and subscriptions of a running registrar."
    ),
    paths(
        health,
        metrics_text,
        list_registrations,
        wake_registration,
        get_registration,
        delete_registration,
        get_presence,
        put_presence,
        list_subscriptions,
        get_buddies,
        put_buddy,
        delete_buddy,
        get_watchers,
        put_decision,
        events::get_mwi,
        events::put_mwi,
        events::get_dialogs
    ),
    components(schemas(
        Health,
        ErrorBody,
        RegistrationsPage,
        UserEntry,
        AorBindings,
        BindingView,
        Removed,
        SubscriptionView,
        PresenceUpdated,
        BuddyList,
        BuddyEntry,
        BuddyBody,
        Watchers,
        DecisionEntry,
        DecisionBody,
        Counts,
        Mwi,
        MwiUpdated,
        DialogView,
        Dialogs
    ))
)]
struct ApiDoc;

/// The API's OpenAPI document.
pub(crate) fn openapi_doc() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(crate::directory::api::openapi_doc());
    doc
}

/// A JSON error.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn from_service(e: &registrar_service::Error) -> Self {
        let status = match e.sip_status() {
            400 => StatusCode::BAD_REQUEST,
            403 => StatusCode::FORBIDDEN,
            404 | 481 => StatusCode::NOT_FOUND,
            412 => StatusCode::PRECONDITION_FAILED,
            415 => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            423 => StatusCode::UNPROCESSABLE_ENTITY,
            503 => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

/// The body of every error.
#[derive(Serialize, ToSchema)]
struct ErrorBody {
    /// What went wrong.
    error: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

fn parse_aor(raw: &str) -> Result<Aor, ApiError> {
    let lower = raw.get(..5).unwrap_or(raw).to_ascii_lowercase();
    let text = if lower.starts_with("sip:") || lower.starts_with("sips:") {
        raw.to_owned()
    } else {
        format!("sip:{raw}")
    };
    text.parse()
        .map_err(|e| ApiError::bad(format!("`{raw}` is not an address-of-record: {e}")))
}

fn secs(ts: Timestamp) -> u64 {
    ts.as_millis() / 1000
}

/// Liveness.
#[derive(Serialize, ToSchema)]
struct Health {
    /// Always `ok` while the server runs.
    status: &'static str,
}

#[utoipa::path(get, path = "/health", responses((status = 200, body = Health)))]
async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
async fn metrics_text(State(s): State<AppState>) -> Response {
    refresh_gauges(&s).await;
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.prometheus.render(),
    )
        .into_response()
}

/// Bring the gauges and the endpoint's counters up to date before they are read.
async fn refresh_gauges(s: &AppState) {
    let svc = s.ep.service();
    if let Ok(n) = svc.registered_count().await {
        #[allow(clippy::cast_precision_loss)]
        metrics::gauge!("registrar_registrations_active").set(n as f64);
    }
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!("registrar_subscriptions_active").set(svc.subscription_count() as f64);
    let st = s.ep.stats();
    metrics::counter!("registrar_notify_sent_total")
        .absolute(st.notifies_sent.load(Ordering::Relaxed));
    metrics::counter!("registrar_notify_failed_total")
        .absolute(st.notifies_failed.load(Ordering::Relaxed));
    metrics::counter!("registrar_notify_retransmissions_total")
        .absolute(st.notify_retransmissions.load(Ordering::Relaxed));
}

#[derive(Deserialize, IntoParams)]
struct PageQuery {
    /// Start after this address-of-record (the `next` of the previous page).
    after: Option<String>,
    /// At most this many users (default 100, at most 1000).
    limit: Option<usize>,
    /// Only users whose address-of-record contains this text (case-insensitive). At most 100 000 users are
    /// looked at per call; `next` continues the search.
    q: Option<String>,
}

/// The most users one search call looks at.
const SEARCH_SCAN: usize = 100_000;

/// A page of registered users.
#[derive(Serialize, ToSchema)]
struct RegistrationsPage {
    /// The users, ascending, with their binding counts.
    users: Vec<UserEntry>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

/// One registered user.
#[derive(Serialize, ToSchema)]
struct UserEntry {
    /// The address-of-record.
    aor: String,
    /// How many live bindings it has.
    bindings: usize,
}

#[utoipa::path(get, path = "/v1/registrations", params(PageQuery), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = RegistrationsPage), (status = 400, body = ErrorBody)))]
async fn list_registrations(
    State(s): State<AppState>,
    Query(q): Query<PageQuery>,
) -> Result<Json<RegistrationsPage>, ApiError> {
    let after = q.after.as_deref().map(parse_aor).transpose()?;
    let limit = q.limit.unwrap_or(100).min(1000);
    let svc = s.ep.service();
    let page = match q.q.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => svc
            .registered_users(after.as_ref(), limit)
            .await
            .map_err(|e| ApiError::from_service(&e))?,
        Some(text) => {
            if text.len() > 256 {
                return Err(ApiError::bad("q: at most 256 bytes"));
            }
            let needle = text.to_ascii_lowercase();
            let mut found: Vec<registrar_types::Aor> = Vec::new();
            let mut cursor = after;
            let mut scanned = 0;
            // `next`: where a further call goes on (after the last user looked at), none once all were seen.
            let next = 'scan: loop {
                let page = svc
                    .registered_users(cursor.as_ref(), 1000)
                    .await
                    .map_err(|e| ApiError::from_service(&e))?;
                for a in page.users {
                    scanned += 1;
                    if a.as_str().to_ascii_lowercase().contains(&needle) {
                        if found.len() == limit {
                            // A further match: the next call starts right before it.
                            break 'scan found.last().cloned();
                        }
                        found.push(a.clone());
                    }
                    cursor = Some(a);
                }
                if page.next.is_none() {
                    break None;
                }
                if scanned >= SEARCH_SCAN {
                    break cursor;
                }
            };
            registrar_service::UsersPage::new(found, next)
        }
    };
    let counts = svc
        .lookup_many(&page.users)
        .await
        .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(RegistrationsPage {
        users: page
            .users
            .iter()
            .zip(counts)
            .map(|(a, b)| UserEntry {
                aor: a.to_string(),
                bindings: b.len(),
            })
            .collect(),
        next: page.next.map(|a| a.to_string()),
    }))
}

/// One user's bindings.
#[derive(Serialize, ToSchema)]
struct AorBindings {
    /// The address-of-record.
    aor: String,
    /// The live bindings, highest q first.
    bindings: Vec<BindingView>,
}

/// One binding.
#[derive(Serialize, ToSchema)]
struct BindingView {
    /// The contact URI.
    contact: String,
    /// Seconds left.
    expires: u64,
    /// Expiry time, seconds since the Unix epoch.
    expires_at: u64,
    /// The q-value.
    q: String,
    /// The Call-ID of the REGISTER that made it.
    call_id: String,
    /// Its CSeq.
    cseq: u32,
    /// `+sip.instance`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    instance: Option<String>,
    /// `reg-id`, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    reg_id: Option<String>,
    /// Where the REGISTER came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    /// The transport it came over (`UDP`, `TCP`, `TLS`, `WS`, `WSS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    transport: Option<String>,
    /// The Path, first hop first.
    path: Vec<String>,
    /// User-Agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    user_agent: Option<String>,
    /// The push parameters of the Contact (RFC 8599), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    push: Option<PushView>,
}

/// A binding's push parameters.
#[derive(Serialize, ToSchema)]
struct PushView {
    /// `pn-provider`.
    provider: String,
    /// `pn-prid` (the device's address at the service), when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    prid: Option<String>,
    /// `pn-param`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    param: Option<String>,
    /// The device refreshes by itself (`+sip.pnsreg`): no re-registration pushes.
    pnsreg: bool,
}

fn binding_view(b: &registrar_types::Binding, now: registrar_types::Timestamp) -> BindingView {
    BindingView {
        contact: b.contact.to_string(),
        expires: b.expires_at.secs_until(now),
        expires_at: secs(b.expires_at),
        q: b.q.to_string(),
        call_id: b.call_id.to_string(),
        cseq: b.cseq.value(),
        instance: b.instance_id.as_ref().map(ToString::to_string),
        reg_id: b.reg_id.as_ref().map(ToString::to_string),
        source: b.source.map(|s| s.to_string()),
        transport: b.transport.as_ref().map(|t| t.as_str().to_owned()),
        path: b.path.iter().map(ToString::to_string).collect(),
        user_agent: b.user_agent.as_deref().map(str::to_owned),
        push: b.push_target().map(|t| PushView {
            provider: t.provider.to_string(),
            prid: t.prid,
            param: t.param,
            pnsreg: b.pnsreg,
        }),
    }
}

/// How long a wake-up waits.
#[derive(Deserialize, IntoParams)]
struct WakeQuery {
    /// Milliseconds to wait for woken devices to register (default `push.default_wait_ms`, at most
    /// `push.max_wait_ms`).
    wait_ms: Option<u64>,
}

/// What a wake-up found.
#[derive(Serialize, ToSchema)]
struct WakeResult {
    /// The address-of-record.
    aor: String,
    /// What can be reached now, best first: the live bindings without the pushed devices that did not
    /// register.
    bindings: Vec<BindingView>,
    /// The contacts pushed.
    pushed: Vec<String>,
    /// The pushed contacts whose device registered, with milliseconds from the push to its REGISTER.
    woken: Vec<WokenView>,
    /// The pushed contacts whose push failed, and why.
    failed: Vec<FailedView>,
    /// The pushed contacts that did not register in time.
    timed_out: Vec<String>,
}

/// A woken device.
#[derive(Serialize, ToSchema)]
struct WokenView {
    contact: String,
    ms: u64,
}

/// A failed push.
#[derive(Serialize, ToSchema)]
struct FailedView {
    contact: String,
    /// `unregistered`, `throttled`, `rejected`, `credentials`, `unavailable` or `not_configured`.
    reason: String,
    /// The provider's words.
    detail: String,
}

#[utoipa::path(post, path = "/v1/registrations/{aor}/wake", params(("aor" = String, Path, description = "sip:user@domain or user@domain"), WakeQuery), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = WakeResult), (status = 400, body = ErrorBody)))]
async fn wake_registration(
    State(s): State<AppState>,
    Path(aor): Path<String>,
    Query(q): Query<WakeQuery>,
) -> Result<Json<WakeResult>, ApiError> {
    let aor = parse_aor(&aor)?;
    let svc = s.ep.service();
    let wait = std::time::Duration::from_millis(q.wait_ms.unwrap_or(s.push_wait_ms));
    let r = svc
        .reach(&aor, wait)
        .await
        .map_err(|e| ApiError::from_service(&e))?;
    let now = svc.now();
    Ok(Json(WakeResult {
        aor: aor.to_string(),
        bindings: r.bindings.iter().map(|b| binding_view(b, now)).collect(),
        pushed: r.pushed.iter().map(ToString::to_string).collect(),
        woken: r
            .woken
            .iter()
            .map(|(c, d)| WokenView {
                contact: c.to_string(),
                ms: u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
            })
            .collect(),
        failed: r
            .failed
            .iter()
            .map(|(c, e)| FailedView {
                contact: c.to_string(),
                reason: e.reason().to_owned(),
                detail: e.to_string(),
            })
            .collect(),
        timed_out: r.timed_out.iter().map(ToString::to_string).collect(),
    }))
}

#[utoipa::path(get, path = "/v1/registrations/{aor}", params(("aor" = String, Path, description = "sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = AorBindings), (status = 400, body = ErrorBody)))]
async fn get_registration(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<AorBindings>, ApiError> {
    let aor = parse_aor(&aor)?;
    let svc = s.ep.service();
    let now = svc.now();
    let b = svc
        .lookup(&aor)
        .await
        .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(AorBindings {
        aor: aor.to_string(),
        bindings: b.iter().map(|b| binding_view(b, now)).collect(),
    }))
}

/// How many bindings a removal took away.
#[derive(Serialize, ToSchema)]
struct Removed {
    /// The count.
    removed: usize,
}

#[utoipa::path(delete, path = "/v1/registrations/{aor}", params(("aor" = String, Path, description = "sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = Removed), (status = 400, body = ErrorBody)))]
async fn delete_registration(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<Removed>, ApiError> {
    let aor = parse_aor(&aor)?;
    let removed =
        s.ep.service()
            .unregister(&aor)
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(Removed {
        removed: removed.len(),
    }))
}

#[utoipa::path(get, path = "/v1/presence/{aor}", params(("aor" = String, Path, description = "sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, description = "The composed PIDF document", content_type = "application/pidf+xml"), (status = 400, body = ErrorBody)))]
async fn get_presence(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Response, ApiError> {
    let aor = parse_aor(&aor)?;
    let p =
        s.ep.service()
            .presence(&aor)
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok((
        [(header::CONTENT_TYPE, "application/pidf+xml")],
        p.xml.to_string(),
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
struct PresenceQuery {
    /// Seconds the state holds (default 3600).
    expires: Option<u32>,
}

/// The publication a PUT made.
#[derive(Serialize, ToSchema)]
struct PresenceUpdated {
    /// Its entity tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    /// Seconds it holds.
    expires: u32,
}

#[utoipa::path(put, path = "/v1/presence/{aor}", params(("aor" = String, Path, description = "sip:user@domain or user@domain"), PresenceQuery), request_body(content = String, content_type = "application/pidf+xml"), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = PresenceUpdated), (status = 400, body = ErrorBody), (status = 415, body = ErrorBody)))]
async fn put_presence(
    State(s): State<AppState>,
    Path(aor): Path<String>,
    Query(q): Query<PresenceQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<PresenceUpdated>, ApiError> {
    let aor = parse_aor(&aor)?;
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = ct.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/pidf+xml") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the body must be application/pidf+xml",
        ));
    }
    let doc = match Document::parse(&body) {
        Ok(Document::Pidf(p)) => p,
        Ok(_) => return Err(ApiError::bad("the body is not a PIDF presence document")),
        Err(e) => return Err(ApiError::bad(format!("invalid PIDF: {e}"))),
    };
    let r =
        s.ep.service()
            .update_presence(&aor, &doc, q.expires.unwrap_or(3600))
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(PresenceUpdated {
        etag: r.outcome.etag.map(|e| e.to_string()),
        expires: r.outcome.expires,
    }))
}

#[derive(Deserialize, IntoParams)]
struct SubsQuery {
    /// The watched user (`sip:user@domain`).
    presentity: Option<String>,
    /// Or the watching user.
    watcher: Option<String>,
}

/// One subscription.
#[derive(Serialize, ToSchema)]
struct SubscriptionView {
    /// The watcher.
    watcher: String,
    /// The presentity.
    presentity: String,
    /// The event package.
    event: String,
    /// `active`, `pending` or `terminated`.
    state: String,
    /// Seconds left.
    expires: u64,
    /// The dialog's Call-ID.
    call_id: String,
}

#[utoipa::path(get, path = "/v1/subscriptions", params(SubsQuery), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = Vec<SubscriptionView>), (status = 400, body = ErrorBody)))]
async fn list_subscriptions(
    State(s): State<AppState>,
    Query(q): Query<SubsQuery>,
) -> Result<Json<Vec<SubscriptionView>>, ApiError> {
    let svc = s.ep.service();
    let subs = match (&q.presentity, &q.watcher) {
        (Some(p), _) => svc.watchers_of(&parse_aor(p)?),
        (None, Some(w)) => svc.watching(&parse_aor(w)?),
        (None, None) => return Err(ApiError::bad("give presentity=… or watcher=…")),
    };
    let now = svc.now();
    Ok(Json(
        subs.iter().map(|s| subscription_view(s, now)).collect(),
    ))
}

fn subscription_view(s: &registrar_presence::Subscription, now: Timestamp) -> SubscriptionView {
    SubscriptionView {
        watcher: s.watcher.to_string(),
        presentity: s.presentity.to_string(),
        event: s.event.as_str().to_owned(),
        state: match s.state {
            SubState::Active => "active",
            SubState::Pending => "pending",
            _ => "terminated",
        }
        .to_owned(),
        expires: s.expires_at.secs_until(now),
        call_id: s.dialog.call_id.to_string(),
    }
}

/// A user's buddy list.
#[derive(Serialize, ToSchema)]
struct BuddyList {
    /// Whose list.
    owner: String,
    /// The URI to SUBSCRIBE to for the whole list (RFC 4662, `Supported: eventlist`).
    #[serde(skip_serializing_if = "Option::is_none")]
    list_uri: Option<String>,
    /// The entries, in the order they were added.
    buddies: Vec<BuddyEntry>,
}

/// One entry of a buddy list.
#[derive(Serialize, ToSchema)]
struct BuddyEntry {
    /// The buddy's address-of-record.
    uri: String,
    /// The name the owner gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    display_name: Option<String>,
    /// The owner's group for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

/// What to store about a buddy.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
struct BuddyBody {
    /// The name the owner gives it.
    #[schema(max_length = 200)]
    display_name: Option<String>,
    /// The owner's group for it.
    #[schema(max_length = 200)]
    group: Option<String>,
}

#[utoipa::path(get, path = "/v1/buddies/{aor}", params(("aor" = String, Path, description = "the list's owner: sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = BuddyList), (status = 400, body = ErrorBody)))]
async fn get_buddies(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<BuddyList>, ApiError> {
    let owner = parse_aor(&aor)?;
    let svc = s.ep.service();
    Ok(Json(BuddyList {
        list_uri: svc.buddy_list_uri(&owner).map(|u| u.to_string()),
        buddies: svc
            .buddies(&owner)
            .into_iter()
            .map(|b| BuddyEntry {
                uri: b.uri.to_string(),
                display_name: b.display_name,
                group: b.group,
            })
            .collect(),
        owner: owner.to_string(),
    }))
}

#[utoipa::path(put, path = "/v1/buddies/{aor}/{buddy}", params(("aor" = String, Path, description = "the list's owner"), ("buddy" = String, Path, description = "the buddy's address-of-record")), request_body(content = BuddyBody, description = "name and group (both optional; an empty body is {})"), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 201, description = "added"), (status = 204, description = "updated"), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody, description = "the list is full"), (status = 503, body = ErrorBody, description = "it could not be stored")))]
async fn put_buddy(
    State(s): State<AppState>,
    Path((aor, buddy)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    let owner = parse_aor(&aor)?;
    let uri = parse_aor(&buddy)?;
    let b: BuddyBody = if body.iter().all(u8::is_ascii_whitespace) {
        BuddyBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?
    };
    for (what, v) in [("display_name", &b.display_name), ("group", &b.group)] {
        if v.as_ref().is_some_and(|v| v.len() > 200) {
            return Err(ApiError::bad(format!("{what}: at most 200 bytes")));
        }
    }
    let mut entry = registrar_presence::Buddy::new(uri);
    if let Some(n) = &b.display_name {
        entry = entry.named(n);
    }
    if let Some(g) = &b.group {
        entry = entry.in_group(g);
    }
    match s.ep.service().add_buddy(&owner, entry).await {
        Ok(true) => Ok(StatusCode::CREATED),
        Ok(false) => Ok(StatusCode::NO_CONTENT),
        Err(registrar_service::Error::Presence(
            e @ registrar_presence::Error::TooManyBuddies { .. },
        )) => Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
        Err(e) => Err(ApiError::from_service(&e)),
    }
}

#[utoipa::path(delete, path = "/v1/buddies/{aor}/{buddy}", params(("aor" = String, Path, description = "the list's owner"), ("buddy" = String, Path, description = "the buddy's address-of-record")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 204, description = "removed"), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody, description = "not on the list"), (status = 503, body = ErrorBody)))]
async fn delete_buddy(
    State(s): State<AppState>,
    Path((aor, buddy)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let owner = parse_aor(&aor)?;
    let uri = parse_aor(&buddy)?;
    match s.ep.service().remove_buddy(&owner, &uri).await {
        Ok(true) => Ok(StatusCode::NO_CONTENT),
        Ok(false) => Err(ApiError::new(StatusCode::NOT_FOUND, "not on the list")),
        Err(e) => Err(ApiError::from_service(&e)),
    }
}

/// A presentity's decisions about its watchers, and its live watchers.
#[derive(Serialize, ToSchema)]
struct Watchers {
    /// Whose.
    presentity: String,
    /// Every decision made (watchers without one get the server's default policy).
    decisions: Vec<DecisionEntry>,
    /// The live subscriptions to its presence; a `pending` one waits for a decision.
    watchers: Vec<SubscriptionView>,
}

/// One decision.
#[derive(Serialize, ToSchema)]
struct DecisionEntry {
    /// About whom.
    watcher: String,
    /// `allow`, `block`, `polite-block` or `confirm`.
    decision: String,
}

/// A decision to make.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    /// `allow`, `block` (the watcher's subscriptions end, `reason=rejected`), `polite-block` (they see
    /// `closed`) or `confirm` (ask again: pending).
    #[schema(pattern = "^(allow|block|polite-block|confirm)$")]
    decision: String,
}

fn decision_name(d: registrar_presence::WatcherDecision) -> &'static str {
    use registrar_presence::WatcherDecision as D;
    match d {
        D::Allow => "allow",
        D::Block => "block",
        D::PoliteBlock => "polite-block",
        _ => "confirm",
    }
}

#[utoipa::path(get, path = "/v1/watchers/{aor}", params(("aor" = String, Path, description = "the presentity")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = Watchers), (status = 400, body = ErrorBody)))]
async fn get_watchers(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<Watchers>, ApiError> {
    let presentity = parse_aor(&aor)?;
    let svc = s.ep.service();
    let now = svc.now();
    Ok(Json(Watchers {
        decisions: svc
            .decisions_of(&presentity)
            .into_iter()
            .map(|(w, d)| DecisionEntry {
                watcher: w.to_string(),
                decision: decision_name(d).to_owned(),
            })
            .collect(),
        watchers: svc
            .watchers_of(&presentity)
            .iter()
            .map(|sub| subscription_view(sub, now))
            .collect(),
        presentity: presentity.to_string(),
    }))
}

#[utoipa::path(put, path = "/v1/watchers/{aor}/{watcher}", params(("aor" = String, Path, description = "the presentity"), ("watcher" = String, Path, description = "the watcher")), request_body = DecisionBody, responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 204, description = "made: live subscriptions and buddy lists see it"), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody, description = "it could not be stored")))]
async fn put_decision(
    State(s): State<AppState>,
    Path((aor, watcher)): Path<(String, String)>,
    body: Bytes,
) -> Result<StatusCode, ApiError> {
    use registrar_presence::WatcherDecision as D;
    let presentity = parse_aor(&aor)?;
    let watcher = parse_aor(&watcher)?;
    let b: DecisionBody =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let decision = match b.decision.as_str() {
        "allow" => D::Allow,
        "block" => D::Block,
        "polite-block" => D::PoliteBlock,
        "confirm" => D::Confirm,
        other => {
            return Err(ApiError::bad(format!(
                "decision: {other:?} is not allow, block, polite-block or confirm"
            )));
        }
    };
    s.ep.service()
        .authorize_watcher(&presentity, &watcher, decision)
        .await
        .map_err(|e| ApiError::from_service(&e))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn openapi() -> Json<serde_json::Value> {
    Json(openapi_json())
}

/// The OpenAPI document as JSON. utoipa 5 writes a link's `operationId`, `operationRef` and `requestBody` in
/// snake case, which OpenAPI 3.1 readers (schemathesis among them) do not know: they are renamed here.
pub(crate) fn openapi_json() -> serde_json::Value {
    let mut doc = serde_json::to_value(openapi_doc()).unwrap_or_default();
    let responses = doc
        .get_mut("paths")
        .and_then(serde_json::Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|ops| ops.values_mut())
        .filter_map(|op| op.get_mut("responses"))
        .filter_map(serde_json::Value::as_object_mut)
        .flat_map(|r| r.values_mut());
    for response in responses {
        let Some(links) = response
            .get_mut("links")
            .and_then(serde_json::Value::as_object_mut)
        else {
            continue;
        };
        for link in links
            .values_mut()
            .filter_map(serde_json::Value::as_object_mut)
        {
            for (from, to) in [
                ("operation_id", "operationId"),
                ("operation_ref", "operationRef"),
                ("request_body", "requestBody"),
            ] {
                if let Some(v) = link.remove(from) {
                    link.insert(to.to_owned(), v);
                }
            }
        }
    }
    doc
}
