//! The desk-phone event packages over HTTP: a user's message summary (set by a voicemail system without SIP,
//! read by anyone operating the server) and a user's composed dialog state (what BLF watchers see).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use registrar_pidf::{Dialog, MessageClass, MessageCounts, MessageSummary};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ApiError, AppState, ErrorBody, parse_aor};

/// New and old messages of one class, with their urgent parts when known.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Counts {
    /// New (unheard) messages.
    new: u32,
    /// Old (heard) messages.
    #[serde(default)]
    old: u32,
    /// Of the new ones, how many are urgent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    urgent_new: Option<u32>,
    /// Of the old ones, how many are urgent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    urgent_old: Option<u32>,
}

/// A mailbox's message summary (RFC 3842), as every `message-summary` subscriber of the mailbox receives it.
/// `messages_waiting` is derived from the counts when a PUT leaves it out: yes when any class has new
/// messages.
#[derive(Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub(super) struct Mwi {
    /// `Messages-Waiting`.
    #[serde(skip_serializing_if = "Option::is_none")]
    messages_waiting: Option<bool>,
    /// `Message-Account`: the mailbox's URI.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(max_length = 256)]
    account: Option<String>,
    /// `Voice-Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    voice: Option<Counts>,
    /// `Fax-Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    fax: Option<Counts>,
    /// `Pager-Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pager: Option<Counts>,
    /// `Multimedia-Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    multimedia: Option<Counts>,
    /// `Text-Message`.
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<Counts>,
    /// Seconds the summary holds (PUT only; default 2 592 000: 30 days; a voicemail system sets it again when it changes).
    #[serde(skip_serializing_if = "Option::is_none")]
    expires: Option<u32>,
}

impl Mwi {
    fn classes(&self) -> [(MessageClass, Option<Counts>); 5] {
        [
            (MessageClass::Voice, self.voice),
            (MessageClass::Fax, self.fax),
            (MessageClass::Pager, self.pager),
            (MessageClass::Multimedia, self.multimedia),
            (MessageClass::Text, self.text),
        ]
    }

    fn to_summary(&self) -> Result<MessageSummary, ApiError> {
        if let Some(a) = &self.account {
            if a.len() > 256 {
                return Err(ApiError::bad("account: at most 256 bytes"));
            }
            if a.chars().any(char::is_control) {
                return Err(ApiError::bad("account: no control characters"));
            }
        }
        let mut counts = Vec::new();
        for (class, c) in self.classes() {
            let Some(c) = c else { continue };
            let urgent = match (c.urgent_new, c.urgent_old) {
                (None, None) => None,
                (n, o) => Some((n.unwrap_or(0), o.unwrap_or(0))),
            };
            if let Some((un, uo)) = urgent
                && (un > c.new || uo > c.old)
            {
                return Err(ApiError::bad(format!(
                    "{}: urgent messages are counted among the new and old ones",
                    class.as_str()
                )));
            }
            counts.push(MessageCounts::new(class, c.new, c.old, urgent));
        }
        let mut s = MessageSummary::from_counts(self.account.as_deref(), counts);
        if let Some(w) = self.messages_waiting {
            s.waiting = w;
        }
        Ok(s)
    }

    fn from_summary(s: &MessageSummary) -> Self {
        let mut out = Self {
            messages_waiting: Some(s.waiting),
            account: s.account.clone(),
            ..Self::default()
        };
        for c in &s.counts {
            let counts = Some(Counts {
                new: c.new,
                old: c.old,
                urgent_new: c.urgent.map(|u| u.0),
                urgent_old: c.urgent.map(|u| u.1),
            });
            match c.class {
                MessageClass::Voice => out.voice = counts,
                MessageClass::Fax => out.fax = counts,
                MessageClass::Pager => out.pager = counts,
                MessageClass::Multimedia => out.multimedia = counts,
                MessageClass::Text => out.text = counts,
                _ => {}
            }
        }
        out
    }
}

#[utoipa::path(get, path = "/v1/mwi/{aor}", params(("aor" = String, Path, description = "the mailbox: sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = Mwi), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn get_mwi(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<Mwi>, ApiError> {
    let aor = parse_aor(&aor)?;
    let summary =
        s.ep.service()
            .message_summary(&aor)
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(Mwi::from_summary(&summary)))
}

/// The summary a PUT stored.
#[derive(Serialize, ToSchema)]
pub(super) struct MwiUpdated {
    /// Its entity tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    etag: Option<String>,
    /// Seconds it holds.
    expires: u32,
    /// The summary as subscribers receive it (`application/simple-message-summary`).
    summary: String,
}

#[utoipa::path(put, path = "/v1/mwi/{aor}", params(("aor" = String, Path, description = "the mailbox: sip:user@domain or user@domain")), request_body(content = Mwi, description = "the counts; classes left out are not reported"), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = MwiUpdated), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody, description = "expires below presence.min_expires"), (status = 503, body = ErrorBody, description = "it could not be stored")))]
pub(super) async fn put_mwi(
    State(s): State<AppState>,
    Path(aor): Path<String>,
    body: Bytes,
) -> Result<Json<MwiUpdated>, ApiError> {
    let aor = parse_aor(&aor)?;
    let m: Mwi = serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("body: {e}")))?;
    let summary = m.to_summary()?;
    let r =
        s.ep.service()
            .set_message_summary(&aor, &summary, m.expires.unwrap_or(2_592_000))
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(MwiUpdated {
        etag: r.outcome.etag.map(|e| e.to_string()),
        expires: r.outcome.expires,
        summary: summary.to_text(),
    }))
}

/// One dialog of a user (RFC 4235 §4.1.2).
#[derive(Serialize, ToSchema)]
pub(super) struct DialogView {
    /// The dialog's id in the document.
    id: String,
    /// `trying`, `proceeding`, `early`, `confirmed` or `terminated`.
    state: String,
    /// `initiator` (the user called) or `recipient`.
    #[serde(skip_serializing_if = "Option::is_none")]
    direction: Option<String>,
    /// Call-ID.
    #[serde(skip_serializing_if = "Option::is_none")]
    call_id: Option<String>,
    /// The user's tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    local_tag: Option<String>,
    /// The other party's tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    remote_tag: Option<String>,
    /// The other party.
    #[serde(skip_serializing_if = "Option::is_none")]
    remote: Option<String>,
}

impl DialogView {
    fn of(d: &Dialog) -> Self {
        Self {
            id: d.id.clone(),
            state: d.state.as_str().to_owned(),
            direction: d.direction.map(|x| x.as_str().to_owned()),
            call_id: d.call_id.clone(),
            local_tag: d.local_tag.clone(),
            remote_tag: d.remote_tag.clone(),
            remote: d.remote.as_ref().and_then(|r| r.identity.clone()),
        }
    }
}

/// A user's composed dialog state.
#[derive(Serialize, ToSchema)]
pub(super) struct Dialogs {
    /// The user.
    entity: String,
    /// Every dialog its publishers and the SIP stack reported.
    dialogs: Vec<DialogView>,
    /// The document (`application/dialog-info+xml`, `state="full"`, version 0: each subscription numbers
    /// its own).
    xml: String,
}

#[utoipa::path(get, path = "/v1/dialogs/{aor}", params(("aor" = String, Path, description = "sip:user@domain or user@domain")), responses((status = 401, body = ErrorBody, description = "no admin token"), (status = 403, body = ErrorBody, description = "a token without the admin scope"), (status = 200, body = Dialogs), (status = 400, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub(super) async fn get_dialogs(
    State(s): State<AppState>,
    Path(aor): Path<String>,
) -> Result<Json<Dialogs>, ApiError> {
    let aor = parse_aor(&aor)?;
    let d =
        s.ep.service()
            .dialogs(&aor)
            .await
            .map_err(|e| ApiError::from_service(&e))?;
    Ok(Json(Dialogs {
        entity: d.entity.clone(),
        dialogs: d.dialogs.iter().map(DialogView::of).collect(),
        xml: d.to_xml(),
    }))
}
