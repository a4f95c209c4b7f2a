//! Ratings, the priority of a message, the audit trail and contact requests.

use super::*;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RatingBody {
    ratee: ParticipantId,
    category: TrustCategory,
    score: u8,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/ratings", request_body = RatingBody, responses((status = 204, description = "stored"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 404, body = DirError, description = "the ratee does not exist or the rater may not see them (the same answer)"), (status = 429, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn rating(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
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
pub(super) struct PriorityBody {
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
pub(super) async fn priority(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<Json<PriorityDecision>, Failure> {
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
pub(super) struct AuditParams {
    #[serde(default)]
    participant: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct AuditPage {
    participant: String,
    entries: Vec<AuditEntry>,
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/audit", params(AuditParams), responses((status = 200, body = AuditPage), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn audit(
    State(s): State<DirState>,
    who: Who,
    params: Result<QueryParams<AuditParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<AuditPage>, Failure> {
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
pub(super) struct AskBody {
    to: ParticipantId,
    #[serde(default)]
    #[schema(max_length = 500)]
    note: String,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/contact-requests", request_body = AskBody, responses((status = 201, body = ContactRequest, description = "the request", links(("Approve" = (operation_id = "approve_contact", parameters(("id" = "$response.body#/id")))), ("Decline" = (operation_id = "decline_contact", parameters(("id" = "$response.body#/id")))))), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 429, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn ask_contact(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
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
pub(super) async fn list_contacts(
    State(s): State<DirState>,
    who: Who,
) -> Result<Response, Failure> {
    let list = s.dir()?.contact_requests(&who.id, now_ms())?;
    Ok(Json(list).into_response())
}

pub(super) async fn decide(
    s: &DirState,
    who: &Who,
    id: &str,
    approve: bool,
) -> Result<Response, Failure> {
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
pub(super) async fn approve_contact(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    decide(&s, &who, &id, true).await
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/contact-requests/{id}/decline", params(("id" = u64, Path, description = "request number")), responses((status = 200, body = ContactRequest), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn decline_contact(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    decide(&s, &who, &id, false).await
}
