//! Participants (create, read, erase, export, priority settings), relationships and topics.

use super::*;

#[utoipa::path(security(("bearer" = [])), put, path = "/v1/participants/{id}", params(("id" = String, Path, description = "participant id, local@domain")), request_body(content = super::doc::ParticipantBody, description = "the participant (only entity required; `id`, when given, must be the path's; unknown fields are refused; every text and list has the maximum shown)"), responses((status = 201, description = "created", links(("GetParticipant" = (operation_id = "get_participant", parameters(("id" = "$request.path.id")))), ("Export" = (operation_id = "export", parameters(("id" = "$request.path.id")))), ("PutPriority" = (operation_id = "put_priority", parameters(("id" = "$request.path.id")))), ("DomainChallenge" = (operation_id = "domain_challenge", parameters(("id" = "$request.path.id")))), ("Erase" = (operation_id = "erase", parameters(("id" = "$request.path.id")))))), (status = 204, description = "replaced", links(("GetParticipant" = (operation_id = "get_participant", parameters(("id" = "$request.path.id")))), ("Erase" = (operation_id = "erase", parameters(("id" = "$request.path.id")))))), (status = 400, body = DirError, description = "malformed, an unknown field, or a value over its limit (the message names the field)"), (status = 401, body = DirError), (status = 403, body = DirError), (status = 413, body = DirError, description = "the body is over 1 MiB"), (status = 503, body = DirError)))]
pub(super) async fn put_participant(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
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
pub(super) async fn get_participant(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = pid(&id)?;
    let v = s.dir()?.view(Some(&who.id), &id, now_ms()).await?;
    v.map_or_else(
        || Err(fail(StatusCode::NOT_FOUND, "no such participant")),
        |v| Ok(Json(v).into_response()),
    )
}

#[utoipa::path(security(("bearer" = [])), delete, path = "/v1/participants/{id}", params(("id" = String, Path, description = "participant id")), responses((status = 204, description = "erased"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn erase(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<StatusCode, Failure> {
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    s.dir()?.erase(Some(&who.id), &id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(security(("bearer" = [])), get, path = "/v1/participants/{id}/export", params(("id" = String, Path, description = "participant id")), responses((status = 200, body = Export, description = "everything about the participant"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn export(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
) -> Result<Response, Failure> {
    let id = pid(&id)?;
    who.may_act_for(&id)?;
    let e = s.dir()?.export(Some(&who.id), &id, now_ms()).await?;
    Ok(Json(e).into_response())
}

#[utoipa::path(security(("bearer" = [])), put, path = "/v1/participants/{id}/priority", params(("id" = String, Path, description = "participant id")), request_body(content = PrioritySettings, description = "priority settings (unknown fields are refused)"), responses((status = 204, description = "set"), (status = 400, body = DirError), (status = 413, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn put_priority(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
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
pub(super) struct RelationshipBody {
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
pub(super) async fn post_relationship(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
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
pub(super) struct RelationshipParams {
    /// Who declared it.
    from: String,
    /// About whom.
    to: String,
}

#[utoipa::path(security(("bearer" = [])), delete, path = "/v1/relationships", params(RelationshipParams), responses((status = 204, description = "removed (or there was none)"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 503, body = DirError)))]
pub(super) async fn delete_relationship(
    State(s): State<DirState>,
    who: Who,
    params: Result<QueryParams<RelationshipParams>, axum::extract::rejection::QueryRejection>,
) -> Result<StatusCode, Failure> {
    let QueryParams(p) = params.map_err(|e| fail(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (from, to) = (pid(&p.from)?, pid(&p.to)?);
    who.may_act_for(&from)?;
    s.dir()?.remove_relationship(&from, &to).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TopicBody {
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
pub(super) async fn post_topic(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<StatusCode, Failure> {
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
