//! Identity proofs: a DNS TXT record for a domain, an OpenID Connect ID token for an email.

use super::*;

/// A domain a participant may prove: their id's, or one of their identities' email domains.
pub(super) fn domain_of_participant(p: &Participant, domain: &str) -> bool {
    p.id.domain().eq_ignore_ascii_case(domain)
        || p.identities.iter().any(|i| {
            i.email
                .as_deref()
                .and_then(|e| e.rsplit_once('@'))
                .is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain))
        })
}

/// The TXT value that proves `id` controls `domain`.
pub(super) fn domain_token(id: &ParticipantId, domain: &str) -> String {
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
pub(super) struct DomainBody {
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
pub(super) async fn domain_challenge(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
    params: Result<QueryParams<DomainBody>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, Failure> {
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
pub(super) async fn verify_domain(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
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
pub(super) struct OidcBody {
    /// An ID token from a configured OpenID Connect provider.
    id_token: String,
}

#[utoipa::path(security(("bearer" = [])), post, path = "/v1/participants/{id}/verify/oidc", params(("id" = String, Path, description = "participant id")), request_body = OidcBody, responses((status = 200, body = Object, description = "verified"), (status = 400, body = DirError), (status = 401, body = DirError), (status = 403, body = DirError), (status = 404, body = DirError, description = "no such participant, or no provider configured"), (status = 422, body = DirError, description = "the ID token does not prove one of the participant's emails"), (status = 503, body = DirError)))]
pub(super) async fn verify_oidc(
    State(s): State<DirState>,
    who: Who,
    Path(id): Path<String>,
    raw: axum::body::Bytes,
) -> Result<Response, Failure> {
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
