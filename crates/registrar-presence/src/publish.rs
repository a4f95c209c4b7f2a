//! RFC 3903 §6: processing PUBLISH requests, as one pure function.

use std::sync::Arc;

use registrar_pidf::{DialogInfo, DocState, MessageSummary, Presence, Source, compose};
use registrar_types::{Aor, ETag, Timestamp};

use crate::Error;
use crate::event::EventPackage;
use crate::policy::PresencePolicy;

/// What a publication carries: a document of one of the packages a PUBLISH may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Published {
    /// A PIDF document (`presence`).
    Presence(Arc<Presence>),
    /// A dialog-info document (`dialog`, RFC 4235): the publisher's dialogs.
    Dialogs(Arc<DialogInfo>),
    /// A message summary (`message-summary`, RFC 3842).
    Summary(Arc<MessageSummary>),
}

impl Published {
    /// The package the document belongs to.
    pub const fn event(&self) -> EventPackage {
        match self {
            Self::Presence(_) => EventPackage::Presence,
            Self::Dialogs(_) => EventPackage::Dialog,
            Self::Summary(_) => EventPackage::MessageSummary,
        }
    }

    /// The PIDF document, for a `presence` publication.
    pub fn presence(&self) -> Option<&Arc<Presence>> {
        match self {
            Self::Presence(p) => Some(p),
            _ => None,
        }
    }

    /// The document as its package writes it (XML, or the text of a message summary): what a durable store
    /// keeps; [`Published::parse_stored`] reads it back.
    pub fn to_text(&self) -> String {
        match self {
            Self::Presence(p) => p.to_xml(),
            Self::Dialogs(d) => d.to_xml(),
            Self::Summary(s) => s.to_text(),
        }
    }

    /// Read back what [`Published::to_text`] wrote: an XML document is PIDF or dialog-info by its root
    /// element, anything else a message summary.
    ///
    /// # Errors
    /// The document does not parse.
    pub fn parse_stored(text: &str) -> Result<Self, registrar_pidf::Error> {
        if text.trim_start().starts_with('<') {
            match registrar_pidf::Document::parse(text.as_bytes())? {
                registrar_pidf::Document::DialogInfo(d) => Ok(Self::Dialogs(Arc::new(d))),
                _ => Ok(Self::Presence(Arc::new(Presence::parse(text.as_bytes())?))),
            }
        } else {
            Ok(Self::Summary(Arc::new(MessageSummary::parse(
                text.as_bytes(),
            )?)))
        }
    }
}

impl From<Arc<Presence>> for Published {
    fn from(p: Arc<Presence>) -> Self {
        Self::Presence(p)
    }
}

impl From<Presence> for Published {
    fn from(p: Presence) -> Self {
        Self::Presence(Arc::new(p))
    }
}

/// One live publication: what one device (or the API) says about a presentity.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Publication {
    /// The entity-tag that names it now (a new one after every refresh or change).
    pub etag: ETag,
    /// The published document.
    pub document: Published,
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
    pub fn restore(
        etag: ETag,
        document: impl Into<Published>,
        expires_at: Timestamp,
        published_at: Timestamp,
        changed_at: Timestamp,
        origin: Origin,
    ) -> Self {
        Self {
            etag,
            document: document.into(),
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
    /// The HTTP/Rust API (`update_presence`, `set_message_summary`): at most one per presentity and
    /// package, replaced on each update.
    Api,
    /// Call state the SIP stack reported (`report_call`): the user's dialogs, and while one is confirmed the
    /// person's on-the-phone activity; at most one per presentity and package.
    Call,
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
    if !req.event.is_publishable() {
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
    // A voicemail system's summary set over the API holds as long as it says: mailbox state does not go
    // stale the way a device's presence does.
    let cap = if origin == Origin::Api && req.event == EventPackage::MessageSummary {
        u32::MAX
    } else {
        policy.max_expires
    };
    let expires = asked.min(cap);

    // Step 5 (body type and content) before any change.
    let document = match &req.body {
        None => None,
        Some((content_type, bytes)) => Some(parse_body(&req.event, content_type, bytes, policy)?),
    };

    // Step 4: SIP-If-Match names a live publication, or the request fails with 412.
    let Some(tag) = &req.if_match else {
        if expires == 0 {
            return Err(Error::RemoveWithoutETag);
        }
        let Some(document) = document else {
            return Err(Error::MissingBody);
        };
        if live
            .iter()
            .filter(|p| p.document.event() == req.event)
            .count()
            >= policy.max_publications
        {
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
    // An entity-tag of another package's publication names nothing for this one.
    let Some(i) = live
        .iter()
        .position(|p| &p.etag == tag && p.document.event() == req.event)
    else {
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

/// The body of a PUBLISH of `event`, checked against the package's one body type and parsed with the
/// policy's limits.
fn parse_body(
    event: &EventPackage,
    content_type: &str,
    bytes: &[u8],
    policy: &PresencePolicy,
) -> Result<Published, Error> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let want = event.body_type().unwrap_or("application/pidf+xml");
    if !ct.eq_ignore_ascii_case(want) {
        return Err(Error::UnsupportedMediaType {
            got: content_type.to_owned(),
            want,
        });
    }
    Ok(match event {
        EventPackage::Dialog => Published::Dialogs(Arc::new(DialogInfo::parse_with(
            bytes,
            &policy.document_limits,
        )?)),
        EventPackage::MessageSummary => Published::Summary(Arc::new(MessageSummary::parse(bytes)?)),
        _ => Published::Presence(Arc::new(Presence::parse_with(
            bytes,
            &policy.document_limits,
        )?)),
    })
}

/// The composed document of a presentity: every live publication merged by the policy of
/// [`registrar_pidf::compose`], with the AoR as `entity`. Does not depend on the order of `publications`.
pub fn compose_publications(aor: &Aor, publications: &[Publication], now: Timestamp) -> Presence {
    let sources: Vec<Source<'_>> = publications
        .iter()
        .filter(|p| p.is_live(now))
        .filter_map(|p| {
            Some(Source {
                presence: p.document.presence()?,
                updated: p.changed_at.as_millis(),
                tag: p.etag.as_str(),
            })
        })
        .collect();
    compose(aor.as_str(), &sources)
}

/// The version a composed dialog-info document is written with before each subscription's own version is
/// put in its place (see [`crate::NotifyIntent::body_text`]): `u64::MAX`, which no subscription reaches.
pub const DIALOG_VERSION_SLOT: &str = "version=\"18446744073709551615\"";

/// The composed dialog state of a presentity (RFC 4235, `state="full"`): every dialog of every live `dialog`
/// publication, the newest publication first; a dialog id that two publications report is taken from the
/// newer one. Written at version `u64::MAX`, the slot each NOTIFY fills with its subscription's version.
pub fn compose_dialogs(aor: &Aor, publications: &[Publication], now: Timestamp) -> DialogInfo {
    let mut ranked: Vec<(&Publication, &DialogInfo)> = publications
        .iter()
        .filter(|p| p.is_live(now))
        .filter_map(|p| match &p.document {
            Published::Dialogs(d) => Some((p, &**d)),
            _ => None,
        })
        .collect();
    ranked.sort_by(|a, b| {
        b.0.changed_at
            .cmp(&a.0.changed_at)
            .then_with(|| a.0.etag.as_str().cmp(b.0.etag.as_str()))
    });
    let mut out = DialogInfo::new(u64::MAX, DocState::Full, aor.as_str());
    for (_, doc) in ranked {
        for d in &doc.dialogs {
            if !out.dialogs.iter().any(|o| o.id == d.id) {
                out.dialogs.push(d.clone());
            }
        }
    }
    out
}

/// The composed message summary of a presentity (RFC 3842): that of its newest live `message-summary`
/// publication (counts are not added up: a mailbox has one truth, its newest report); with none,
/// `Messages-Waiting: no`.
pub fn compose_summary(publications: &[Publication], now: Timestamp) -> MessageSummary {
    publications
        .iter()
        .filter(|p| p.is_live(now))
        .filter_map(|p| match &p.document {
            Published::Summary(s) => Some((p, s)),
            _ => None,
        })
        .max_by(|a, b| {
            a.0.changed_at
                .cmp(&b.0.changed_at)
                .then_with(|| b.0.etag.as_str().cmp(a.0.etag.as_str()))
        })
        .map_or_else(
            || MessageSummary::from_counts(None, Vec::new()),
            |(_, s)| (**s).clone(),
        )
}
