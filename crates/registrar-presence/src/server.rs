//! Publications put together with a store, a policy and the composed-document cache.

use std::sync::Arc;

use dashmap::DashMap;
use registrar_pidf::{Dialog, DialogInfo, DialogState, MessageSummary, Presence};
use registrar_types::{Aor, ETag, Timestamp};

use crate::Error;
use crate::event::EventPackage;
use crate::policy::PresencePolicy;
use crate::publish::{
    Origin, Publication, PublishOutcome, PublishRequest, Published, compose_dialogs,
    compose_publications, compose_summary, plan,
};
use crate::store::PresenceStore;

/// A presentity's composed presence: the document every watcher receives, built once per change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ComposedPresence {
    /// The composed document.
    pub document: Presence,
    /// The document as XML (`application/pidf+xml`), shared by every NOTIFY that carries it.
    pub xml: Arc<str>,
}

impl ComposedPresence {
    /// The composition of `publications` of `aor` live at `now` (no publication: a document with no tuple).
    pub fn build(aor: &Aor, publications: &[Publication], now: Timestamp) -> Arc<Self> {
        let document = compose_publications(aor, publications, now);
        let xml = Arc::from(document.to_xml());
        Arc::new(Self { document, xml })
    }
}

/// The composed state of one presentity in a package other than `presence`, as every NOTIFY carries it:
/// `dialog` (a dialog-info document whose version each NOTIFY fills in) or `message-summary`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventBody {
    /// The package.
    pub event: EventPackage,
    /// The body, shared by every NOTIFY that carries it.
    pub body: Arc<str>,
}

impl EventBody {
    /// The state `body` of `event`.
    pub const fn new(event: EventPackage, body: Arc<str>) -> Self {
        Self { event, body }
    }
}

/// What an expiry sweep did to one presentity.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ExpiredPresence {
    /// The presentity.
    pub aor: Aor,
    /// Its publications that expired.
    pub expired: Vec<Publication>,
    /// Its composed presence afterwards, for its watchers.
    pub composed: Arc<ComposedPresence>,
    /// Whether a `presence` publication expired (else `composed` is what watchers already saw).
    pub presence_changed: bool,
    /// The new composed state of each other package whose publication expired.
    pub events: Vec<EventBody>,
}

/// The result of a PUBLISH: what to answer, and the new composed state when it changed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PublishResult {
    /// The package published.
    pub event: EventPackage,
    /// `SIP-ETag`, `Expires` and what happened.
    pub outcome: PublishOutcome,
    /// The presentity's new composed presence, when what watchers see may have changed.
    pub changed: Option<Arc<ComposedPresence>>,
    /// For a `dialog` or `message-summary` publication: the package's new composed state, when it may have
    /// changed.
    pub changed_event: Option<EventBody>,
}

/// What a reported call-state change did (see [`Presences::report_call`]).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct CallStateResult {
    /// The user's new composed dialog state, when it changed.
    pub dialogs: Option<EventBody>,
    /// The user's new composed presence, when the on-the-phone activity came or went.
    pub presence: Option<Arc<ComposedPresence>>,
}

/// Publications of every presentity, and their composition.
///
/// The composed document of a presentity is computed when its publications change (or expire) and cached;
/// reading it ([`Presences::presence`]) never composes again, so a NOTIFY to 10 000 watchers shares one body.
#[derive(Debug)]
pub struct Presences<S> {
    store: S,
    policy: PresencePolicy,
    cache: DashMap<Aor, Arc<ComposedPresence>>,
    events: DashMap<(EventPackage, Aor), Arc<str>>,
}

impl<S: PresenceStore> Presences<S> {
    /// Publications with `policy` over `store`.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`].
    pub fn new(store: S, policy: PresencePolicy) -> Result<Self, Error> {
        policy.validate()?;
        Ok(Self {
            store,
            policy,
            cache: DashMap::new(),
            events: DashMap::new(),
        })
    }

    /// The policy in force.
    pub const fn policy(&self) -> &PresencePolicy {
        &self.policy
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Process one PUBLISH at `now` (RFC 3903 §6).
    ///
    /// # Errors
    /// A rule of RFC 3903 the request breaks, or a store failure; nothing changed then.
    pub async fn publish(
        &self,
        now: Timestamp,
        req: &PublishRequest,
    ) -> Result<PublishResult, Error> {
        self.apply(now, req, Origin::Sip, random_etag()?).await
    }

    /// [`publish`](Self::publish) with the entity-tag to issue given by the caller (for tests).
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn publish_with_etag(
        &self,
        now: Timestamp,
        req: &PublishRequest,
        etag: ETag,
    ) -> Result<PublishResult, Error> {
        self.apply(now, req, Origin::Sip, etag).await
    }

    /// Set a presentity's presence without SIP: the API's publication of `aor` is created or replaced by
    /// `document`, through the same rules as a PUBLISH.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn update_presence(
        &self,
        now: Timestamp,
        aor: &Aor,
        document: &Presence,
        expires: u32,
    ) -> Result<PublishResult, Error> {
        let existing = self
            .store
            .publications(aor)
            .await?
            .iter()
            .find(|p| {
                p.origin == Origin::Api
                    && p.is_live(now)
                    && p.document.event() == EventPackage::Presence
            })
            .map(|p| p.etag.clone());
        let body = Some((
            "application/pidf+xml".to_owned(),
            document.to_xml().into_bytes(),
        ));
        let mut req = PublishRequest::initial(aor.clone(), &[]).expires(expires);
        req.body = body;
        req.if_match = existing;
        self.apply(now, &req, Origin::Api, random_etag()?).await
    }

    async fn apply(
        &self,
        now: Timestamp,
        req: &PublishRequest,
        origin: Origin,
        etag: ETag,
    ) -> Result<PublishResult, Error> {
        let mut result = None;
        let policy = &self.policy;
        self.store
            .update(&req.aor, &mut |current: &[Publication]| {
                let p = plan(now, req, current, policy, etag.clone(), origin)?;
                let set: Arc<[Publication]> = Arc::from(p.publications);
                result = Some((p.outcome, p.state_changed, Arc::clone(&set)));
                Ok(Some(set))
            })
            .await?;
        let Some((outcome, state_changed, set)) = result else {
            return Err(Error::Storage("the store did not run the update".into()));
        };
        if req.event != EventPackage::Presence {
            let key = (req.event.clone(), req.aor.clone());
            let before = self.events.get(&key).map(|b| Arc::clone(b.value()));
            let changed_event = if state_changed || before.is_none() {
                let body = self.compose_event(&req.event, &req.aor, &set, now);
                // A change watchers cannot see (a publication removed whose dialogs had already left, a
                // summary published again as it was) sends nothing.
                (state_changed && before.as_ref() != Some(&body)).then(|| EventBody {
                    event: req.event.clone(),
                    body,
                })
            } else {
                None
            };
            return Ok(PublishResult {
                event: req.event.clone(),
                outcome,
                changed: None,
                changed_event,
            });
        }
        let changed = if state_changed || !self.cache.contains_key(&req.aor) {
            let composed = ComposedPresence::build(&req.aor, &set, now);
            self.cache.insert(req.aor.clone(), Arc::clone(&composed));
            state_changed.then_some(composed)
        } else {
            None
        };
        Ok(PublishResult {
            event: EventPackage::Presence,
            outcome,
            changed,
            changed_event: None,
        })
    }

    /// Compose `aor`'s state in `event` (`dialog` or `message-summary`) from `set` and cache it.
    fn compose_event(
        &self,
        event: &EventPackage,
        aor: &Aor,
        set: &[Publication],
        now: Timestamp,
    ) -> Arc<str> {
        let body: Arc<str> = match event {
            EventPackage::MessageSummary => Arc::from(compose_summary(set, now).to_text()),
            _ => Arc::from(compose_dialogs(aor, set, now).to_xml()),
        };
        let live = set
            .iter()
            .any(|p| p.is_live(now) && &p.document.event() == event);
        let key = (event.clone(), aor.clone());
        if live {
            self.events.insert(key, Arc::clone(&body));
        } else {
            self.events.remove(&key);
        }
        body
    }

    /// The composed state of `aor` in `event` (`dialog`: a dialog-info document with the version slot of
    /// [`crate::DIALOG_VERSION_SLOT`]; `message-summary`: its summary), from the cache.
    ///
    /// # Errors
    /// A store failure.
    pub async fn event_body(
        &self,
        event: &EventPackage,
        aor: &Aor,
        now: Timestamp,
    ) -> Result<Arc<str>, Error> {
        if let Some(b) = self.events.get(&(event.clone(), aor.clone())) {
            return Ok(Arc::clone(b.value()));
        }
        let set = self.store.publications(aor).await?;
        Ok(self.compose_event(event, aor, &set, now))
    }

    /// The composed dialog state of `aor` (its version is `u64::MAX`, each NOTIFY's own in its place).
    ///
    /// # Errors
    /// A store failure.
    pub async fn dialogs(&self, aor: &Aor, now: Timestamp) -> Result<DialogInfo, Error> {
        let set = self.store.publications(aor).await?;
        Ok(compose_dialogs(aor, &set, now))
    }

    /// The composed message summary of `aor`.
    ///
    /// # Errors
    /// A store failure.
    pub async fn message_summary(
        &self,
        aor: &Aor,
        now: Timestamp,
    ) -> Result<MessageSummary, Error> {
        let set = self.store.publications(aor).await?;
        Ok(compose_summary(&set, now))
    }

    /// Set `aor`'s message summary without SIP (a voicemail system over HTTP): the API's `message-summary`
    /// publication of `aor` is created or replaced, through the same rules as a PUBLISH.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn set_message_summary(
        &self,
        now: Timestamp,
        aor: &Aor,
        summary: &MessageSummary,
        expires: u32,
    ) -> Result<PublishResult, Error> {
        let existing = self
            .store
            .publications(aor)
            .await?
            .iter()
            .find(|p| {
                p.origin == Origin::Api
                    && p.is_live(now)
                    && p.document.event() == EventPackage::MessageSummary
            })
            .map(|p| p.etag.clone());
        let mut req = PublishRequest::initial(aor.clone(), &[])
            .event(EventPackage::MessageSummary)
            .expires(expires);
        req.body = Some((
            "application/simple-message-summary".to_owned(),
            summary.to_text().into_bytes(),
        ));
        req.if_match = existing;
        self.apply(now, &req, Origin::Api, random_etag()?).await
    }

    /// Apply one call-state change the SIP stack reported for `aor`: `dialog` (by its id) is added or
    /// replaced in the user's call-state `dialog` publication, or removed from it once `terminated`; while
    /// one of the user's reported dialogs is confirmed, a call-state `presence` publication gives the person
    /// the RPID activity `activity` (`None`: presence is left alone), and it goes with the last such
    /// dialog, so the composition shows what the user published before. Both publications live `expires`
    /// seconds after the last report (a stack that died does not leave a user on the phone for ever).
    ///
    /// # Errors
    /// A store failure, or no randomness for an entity-tag.
    pub async fn report_call(
        &self,
        now: Timestamp,
        aor: &Aor,
        dialog: &Dialog,
        activity: Option<&str>,
        expires: u32,
    ) -> Result<CallStateResult, Error> {
        let dialog_tag = random_etag()?;
        let presence_tag = random_etag()?;
        let on_phone_doc = activity.map(|a| Arc::new(on_the_phone(aor, a)));
        let expires_at = now.plus_secs(u64::from(expires.max(1)));
        let mut result = None;
        self.store
            .update(aor, &mut |current: &[Publication]| {
                let mut set: Vec<Publication> =
                    current.iter().filter(|p| p.is_live(now)).cloned().collect();
                let call = |p: &Publication, e: EventPackage| {
                    p.origin == Origin::Call && p.document.event() == e
                };
                let mut doc = set
                    .iter()
                    .find(|p| call(p, EventPackage::Dialog))
                    .and_then(|p| match &p.document {
                        Published::Dialogs(d) => Some((**d).clone()),
                        _ => None,
                    })
                    .unwrap_or_else(|| {
                        DialogInfo::new(0, registrar_pidf::DocState::Full, aor.as_str())
                    });
                let before = doc.dialogs.clone();
                doc.dialogs.retain(|d| d.id != dialog.id);
                if dialog.state != DialogState::Terminated {
                    doc.dialogs.push(dialog.clone());
                }
                let dialogs_changed = doc.dialogs != before;
                set.retain(|p| !call(p, EventPackage::Dialog));
                if !doc.dialogs.is_empty() {
                    set.push(Publication {
                        etag: dialog_tag.clone(),
                        document: Published::Dialogs(Arc::new(doc.clone())),
                        expires_at,
                        published_at: now,
                        changed_at: now,
                        origin: Origin::Call,
                    });
                }
                let was_on_phone = set.iter().any(|p| call(p, EventPackage::Presence));
                let on_phone = on_phone_doc.is_some()
                    && doc
                        .dialogs
                        .iter()
                        .any(|d| d.state == DialogState::Confirmed);
                let kept_presence = set
                    .iter()
                    .find(|p| call(p, EventPackage::Presence))
                    .cloned();
                set.retain(|p| !call(p, EventPackage::Presence));
                if let (true, Some(d)) = (on_phone, &on_phone_doc) {
                    // Keep when the call began (the composition ranks by it), refresh the expiry.
                    let (published_at, changed_at) = kept_presence
                        .as_ref()
                        .map_or((now, now), |p| (p.published_at, p.changed_at));
                    set.push(Publication {
                        etag: presence_tag.clone(),
                        document: Published::Presence(Arc::clone(d)),
                        expires_at,
                        published_at,
                        changed_at,
                        origin: Origin::Call,
                    });
                }
                let set: Arc<[Publication]> = Arc::from(set);
                result = Some((dialogs_changed, was_on_phone != on_phone, Arc::clone(&set)));
                Ok(Some(set))
            })
            .await?;
        let Some((dialogs_changed, presence_changed, set)) = result else {
            return Err(Error::Storage("the store did not run the update".into()));
        };
        let body = self.compose_event(&EventPackage::Dialog, aor, &set, now);
        let mut out = CallStateResult::default();
        if dialogs_changed {
            out.dialogs = Some(EventBody {
                event: EventPackage::Dialog,
                body,
            });
        }
        if presence_changed || !self.cache.contains_key(aor) {
            let composed = ComposedPresence::build(aor, &set, now);
            self.cache.insert(aor.clone(), Arc::clone(&composed));
            if presence_changed {
                out.presence = Some(composed);
            }
        }
        Ok(out)
    }

    /// The composed presence of `aor` at `now`, from the cache. A presentity with no publication has a
    /// document with no tuple.
    ///
    /// # Errors
    /// A store failure.
    pub async fn presence(
        &self,
        aor: &Aor,
        now: Timestamp,
    ) -> Result<Arc<ComposedPresence>, Error> {
        if let Some(c) = self.cache.get(aor) {
            return Ok(Arc::clone(c.value()));
        }
        let set = self.store.publications(aor).await?;
        let composed = ComposedPresence::build(aor, &set, now);
        if !set.is_empty() {
            self.cache.insert(aor.clone(), Arc::clone(&composed));
        }
        Ok(composed)
    }

    /// Drop the cached composed presence of `aor` (its publications changed in a store this process shares
    /// with others); the next read composes it from the store again.
    pub fn forget(&self, aor: &Aor) {
        self.cache.remove(aor);
        self.events.remove(&(EventPackage::Dialog, aor.clone()));
        self.events
            .remove(&(EventPackage::MessageSummary, aor.clone()));
    }

    /// Drop every cached composed presence (changes made elsewhere may have been missed).
    pub fn forget_all(&self) {
        self.cache.clear();
        self.events.clear();
    }

    /// The cached composed state of `aor` in `event` (`dialog`, `message-summary`), without touching the
    /// store.
    pub fn cached_event(&self, event: &EventPackage, aor: &Aor) -> Option<Arc<str>> {
        self.events
            .get(&(event.clone(), aor.clone()))
            .map(|b| Arc::clone(b.value()))
    }

    /// The cached composed presence of `aor`, without touching the store: `None` when it has no live
    /// publication (or has not been read since start).
    pub fn cached(&self, aor: &Aor) -> Option<Arc<ComposedPresence>> {
        self.cache.get(aor).map(|c| Arc::clone(c.value()))
    }

    /// The live publications of `aor`.
    ///
    /// # Errors
    /// A store failure.
    pub async fn publications(&self, aor: &Aor, now: Timestamp) -> Result<Vec<Publication>, Error> {
        Ok(self
            .store
            .publications(aor)
            .await?
            .iter()
            .filter(|p| p.is_live(now))
            .cloned()
            .collect())
    }

    /// Remove what expired at `now` and recompose the presentities it touched; returns each touched
    /// presentity with what expired and its new composed presence, so watchers can be told.
    ///
    /// # Errors
    /// A store failure.
    pub async fn expire(&self, now: Timestamp) -> Result<Vec<ExpiredPresence>, Error> {
        let mut removed = self.store.remove_expired(now).await?;
        removed.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<ExpiredPresence> = Vec::new();
        for (aor, publication) in removed {
            match out.last_mut() {
                Some(last) if last.aor == aor => last.expired.push(publication),
                _ => {
                    let set = self.store.publications(&aor).await?;
                    let composed = ComposedPresence::build(&aor, &set, now);
                    if set.is_empty() {
                        self.cache.remove(&aor);
                    } else {
                        self.cache.insert(aor.clone(), Arc::clone(&composed));
                    }
                    out.push(ExpiredPresence {
                        aor,
                        expired: vec![publication],
                        composed,
                        presence_changed: false,
                        events: Vec::new(),
                    });
                }
            }
        }
        for e in &mut out {
            let set = self.store.publications(&e.aor).await?;
            let mut packages: Vec<EventPackage> =
                e.expired.iter().map(|p| p.document.event()).collect();
            packages.dedup();
            for event in packages {
                if event == EventPackage::Presence {
                    e.presence_changed = true;
                } else if !e.events.iter().any(|b| b.event == event) {
                    let body = self.compose_event(&event, &e.aor, &set, now);
                    e.events.push(EventBody { event, body });
                }
            }
        }
        Ok(out)
    }

    /// When the next publication may expire.
    ///
    /// # Errors
    /// A store failure.
    pub async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        self.store.next_expiry().await
    }
}

/// The call-state presence document of `aor`: one person doing `activity` (an RPID activity such as
/// `on-the-phone`; anything else goes in `<rpid:other>`).
fn on_the_phone(aor: &Aor, activity: &str) -> Presence {
    let known = !matches!(
        registrar_pidf::Activity::from_local(activity),
        registrar_pidf::Activity::Unrecognized(_) | registrar_pidf::Activity::Other
    );
    let inner = if known {
        format!("<rpid:{activity}/>")
    } else {
        format!("<rpid:other>{}</rpid:other>", xml_escape(activity))
    };
    let xml = format!(
        "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" \
         xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" entity=\"{}\"><dm:person id=\"call-state\">\
         <rpid:activities>{inner}</rpid:activities></dm:person></presence>",
        xml_escape(aor.as_str())
    );
    Presence::parse(xml.as_bytes()).unwrap_or_else(|_| Presence::new(aor.as_str()))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn random_etag() -> Result<ETag, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Entropy(e.to_string()))?;
    Ok(ETag::from_random(u128::from_le_bytes(bytes)))
}
