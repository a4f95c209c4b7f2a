//! RFC 3903 §6: processing PUBLISH requests, as one pure function.

use std::sync::Arc;

use registrar_pidf::{Presence, Source, compose};
use registrar_types::{Aor, ETag, Timestamp};

use crate::Error;
use crate::event::EventPackage;
use crate::policy::PresencePolicy;

/// One live publication: what one device (or the API) says about a presentity.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Publication {
    /// The entity-tag that names it now (a new one after every refresh or change).
    pub etag: ETag,
    /// The published document.
    pub document: Arc<Presence>,
    /// When it expires.
    pub expires_at: Timestamp,
    /// When it was first published.
    pub published_at: Timestamp,
    /// When its document last changed (refreshes do not count): the recency used in composition.
    pub changed_at: Timestamp,
    /// Who published it.
    pub origin: Origin,
}

impl Publication {
    /// A publication as a durable store saved it (for storage engines restoring state).
    pub const fn restore(
        etag: ETag,
        document: Arc<Presence>,
        expires_at: Timestamp,
        published_at: Timestamp,
        changed_at: Timestamp,
        origin: Origin,
    ) -> Self {
        Self {
            etag,
            document,
            expires_at,
            published_at,
            changed_at,
            origin,
        }
    }

    /// Whether it is still live at `now`.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.expires_at > now
    }
}

/// Where a publication came from.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Origin {
    /// A SIP PUBLISH.
    Sip,
    /// The HTTP/Rust API (`update_presence`): at most one per presentity, replaced on each update.
    Api,
}

/// One PUBLISH, as the SIP layer hands it over.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PublishRequest {
    /// The presentity (the Request-URI's AoR).
    pub aor: Aor,
    /// The `Event` package.
    pub event: EventPackage,
    /// `SIP-If-Match`.
    pub if_match: Option<ETag>,
    /// `Expires`.
    pub expires: Option<u32>,
    /// The body and its `Content-Type`, if any.
    pub body: Option<(String, Vec<u8>)>,
}

impl PublishRequest {
    /// An initial PUBLISH of a PIDF body.
    pub fn initial(aor: Aor, pidf: &[u8]) -> Self {
        Self {
            aor,
            event: EventPackage::Presence,
            if_match: None,
            expires: None,
            body: Some(("application/pidf+xml".into(), pidf.to_vec())),
        }
    }

    /// A refresh of `etag` (no body).
    pub const fn refresh(aor: Aor, etag: ETag) -> Self {
        Self {
            aor,
            event: EventPackage::Presence,
            if_match: Some(etag),
            expires: None,
            body: None,
        }
    }

    /// A modification of `etag` with a new PIDF body.
    pub fn modify(aor: Aor, etag: ETag, pidf: &[u8]) -> Self {
        Self {
            if_match: Some(etag),
            ..Self::initial(aor, pidf)
        }
    }

    /// A removal of `etag` (`Expires: 0`).
    pub const fn remove(aor: Aor, etag: ETag) -> Self {
        Self {
            aor,
            event: EventPackage::Presence,
            if_match: Some(etag),
            expires: Some(0),
            body: None,
        }
    }

    /// Set `Expires`.
    #[must_use]
    pub const fn expires(mut self, secs: u32) -> Self {
        self.expires = Some(secs);
        self
    }

    /// Set the `Event` package.
    #[must_use]
    pub fn event(mut self, event: EventPackage) -> Self {
        self.event = event;
        self
    }
}

/// What a PUBLISH did.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum PublishKind {
    /// A new publication.
    Created,
    /// Same document, new expiry.
    Refreshed,
    /// A new document for an existing publication.
    Modified,
    /// Removed (`Expires: 0`).
    Removed,
}

/// The result of one PUBLISH for the 200 OK: the new `SIP-ETag` and `Expires`.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct PublishOutcome {
    /// What happened.
    pub kind: PublishKind,
    /// The entity-tag to send in `SIP-ETag` (none after a removal).
    pub etag: Option<ETag>,
    /// The expiry granted, for the `Expires` header (0 after a removal).
    pub expires: u32,
}

/// The presentity's publications after one PUBLISH, and whether its composed state may have changed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PublishPlan {
    /// Every live publication after the request.
    pub publications: Vec<Publication>,
    /// What to answer.
    pub outcome: PublishOutcome,
    /// Whether the set of documents changed (a refresh changes nothing watchers see).
    pub state_changed: bool,
}

/// Apply one PUBLISH at `now` to the presentity's `current` publications. `new_etag` is the entity-tag to
/// issue if the request gets one (pass a fresh random tag every time).
///
/// # Errors
/// Every rule of RFC 3903 §6 the request breaks, as a typed [`Error`]; nothing is to be changed then.
pub fn plan_publish(
    now: Timestamp,
    req: &PublishRequest,
    current: &[Publication],
    policy: &PresencePolicy,
    new_etag: ETag,
) -> Result<PublishPlan, Error> {
    plan(now, req, current, policy, new_etag, Origin::Sip)
}

pub(crate) fn plan(
    now: Timestamp,
    req: &PublishRequest,
    current: &[Publication],
    policy: &PresencePolicy,
    new_etag: ETag,
    origin: Origin,
) -> Result<PublishPlan, Error> {
    // Step 2: the event package.
    if req.event != EventPackage::Presence {
        return Err(Error::BadEvent(req.event.as_str().to_owned()));
    }
    let mut live: Vec<Publication> = current.iter().filter(|p| p.is_live(now)).cloned().collect();
    let expired_any = live.len() != current.len();

    // Step 3: the expiry.
    let asked = req.expires.unwrap_or(policy.default_expires);
    if asked != 0 && asked < policy.min_expires {
        return Err(Error::IntervalTooBrief {
            min: policy.min_expires,
        });
    }
    let expires = asked.min(policy.max_expires);

    // Step 5 (body type and content) before any change.
    let document = match &req.body {
        None => None,
        Some((content_type, bytes)) => {
            let ct = content_type.split(';').next().unwrap_or("").trim();
            if !ct.eq_ignore_ascii_case("application/pidf+xml") {
                return Err(Error::UnsupportedMediaType(content_type.clone()));
            }
            Some(Arc::new(Presence::parse_with(
                bytes,
                &policy.document_limits,
            )?))
        }
    };

    // Step 4: SIP-If-Match names a live publication, or the request fails with 412.
    let Some(tag) = &req.if_match else {
        if expires == 0 {
            return Err(Error::RemoveWithoutETag);
        }
        let Some(document) = document else {
            return Err(Error::MissingBody);
        };
        if live.len() >= policy.max_publications {
            return Err(Error::TooManyPublications {
                max: policy.max_publications,
            });
        }
        live.push(Publication {
            etag: new_etag.clone(),
            document,
            expires_at: now.plus_secs(u64::from(expires)),
            published_at: now,
            changed_at: now,
            origin,
        });
        return Ok(PublishPlan {
            publications: live,
            outcome: PublishOutcome {
                kind: PublishKind::Created,
                etag: Some(new_etag),
                expires,
            },
            state_changed: true,
        });
    };
    let Some(i) = live.iter().position(|p| &p.etag == tag) else {
        return Err(Error::UnknownETag(tag.to_string()));
    };

    if expires == 0 {
        live.remove(i);
        return Ok(PublishPlan {
            publications: live,
            outcome: PublishOutcome {
                kind: PublishKind::Removed,
                etag: None,
                expires: 0,
            },
            state_changed: true,
        });
    }

    let p = &mut live[i];
    p.etag = new_etag.clone();
    p.expires_at = now.plus_secs(u64::from(expires));
    let kind = match document {
        Some(doc) => {
            p.document = doc;
            p.changed_at = now;
            PublishKind::Modified
        }
        None => PublishKind::Refreshed,
    };
    Ok(PublishPlan {
        publications: live,
        outcome: PublishOutcome {
            kind,
            etag: Some(new_etag),
            expires,
        },
        state_changed: kind == PublishKind::Modified || expired_any,
    })
}

/// The composed document of a presentity: every live publication merged by the policy of
/// [`registrar_pidf::compose`], with the AoR as `entity`. Does not depend on the order of `publications`.
pub fn compose_publications(aor: &Aor, publications: &[Publication], now: Timestamp) -> Presence {
    let sources: Vec<Source<'_>> = publications
        .iter()
        .filter(|p| p.is_live(now))
        .map(|p| Source {
            presence: &p.document,
            updated: p.changed_at.as_millis(),
            tag: p.etag.as_str(),
        })
        .collect();
    compose(aor.as_str(), &sources)
}
