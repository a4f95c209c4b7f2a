//! Discovery (contact resolution, with federated peers), expert lists, and the signed lookups peers send.

use super::*;

#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct HintsBody {
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
pub(super) struct DiscoveryBody {
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
pub(super) async fn discovery(
    State(s): State<DirState>,
    who: Who,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
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
    ) -> (
        Vec<Arc<crate::directory::federation::Peer>>,
        Vec<PeerFailure>,
    ) {
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
pub(super) async fn federation_lookup(
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

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(super) struct ExpertsParams {
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
pub(super) async fn experts(
    State(s): State<DirState>,
    who: Who,
    params: Result<QueryParams<ExpertsParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
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
