//! Publications put together with a store, a policy and the composed-document cache.

use std::sync::Arc;

use dashmap::DashMap;
use registrar_pidf::Presence;
use registrar_types::{Aor, ETag, Timestamp};

use crate::Error;
use crate::policy::PresencePolicy;
use crate::publish::{
    Origin, Publication, PublishOutcome, PublishRequest, compose_publications, plan,
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
}

/// The result of a PUBLISH: what to answer, and the new composed state when it changed.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct PublishResult {
    /// `SIP-ETag`, `Expires` and what happened.
    pub outcome: PublishOutcome,
    /// The presentity's new composed presence, when what watchers see may have changed.
    pub changed: Option<Arc<ComposedPresence>>,
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
            .find(|p| p.origin == Origin::Api && p.is_live(now))
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
        let changed = if state_changed || !self.cache.contains_key(&req.aor) {
            let composed = ComposedPresence::build(&req.aor, &set, now);
            self.cache.insert(req.aor.clone(), Arc::clone(&composed));
            state_changed.then_some(composed)
        } else {
            None
        };
        Ok(PublishResult { outcome, changed })
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
    }

    /// Drop every cached composed presence (changes made elsewhere may have been missed).
    pub fn forget_all(&self) {
        self.cache.clear();
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
                    });
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

fn random_etag() -> Result<ETag, Error> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::Entropy(e.to_string()))?;
    Ok(ETag::from_random(u128::from_le_bytes(bytes)))
}
