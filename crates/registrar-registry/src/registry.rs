//! The location service: the engine, a store, and a policy put together.

use std::sync::Arc;

use registrar_types::{Aor, Binding, SipUri, Timestamp};

use crate::Error;
use crate::engine::{BindingChange, plan_register};
use crate::gruu::{self, GruuRef};
use crate::policy::RegistrarPolicy;
use crate::request::{ContactEntry, RegisterRequest};
use crate::store::LocationStore;

/// A SIP location service over any [`LocationStore`].
///
/// Takes `now` as an argument everywhere: the caller owns the clock. Cloning the store handle is up to the
/// caller (wrap it in `Arc` to share).
#[derive(Debug)]
pub struct Registry<S> {
    store: S,
    policy: RegistrarPolicy,
}

impl<S: LocationStore> Registry<S> {
    /// A registry with `policy` over `store`.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when the policy contradicts itself.
    pub fn new(store: S, policy: RegistrarPolicy) -> Result<Self, Error> {
        policy.validate()?;
        Ok(Self { store, policy })
    }

    /// The policy in force.
    pub const fn policy(&self) -> &RegistrarPolicy {
        &self.policy
    }

    /// The store.
    pub const fn store(&self) -> &S {
        &self.store
    }

    /// Process one REGISTER at `now`.
    ///
    /// # Errors
    /// A rule of RFC 3261 §10.3 (or RFC 5626/5627/3327) the request breaks, or a store failure; in both cases
    /// nothing changed.
    pub async fn register(
        &self,
        now: Timestamp,
        req: &RegisterRequest,
    ) -> Result<RegisterOutcome, Error> {
        // Randomness is needed only for a new temporary GRUU, so only for contacts with an instance id:
        // the system's random source is not asked on every REGISTER.
        let needs_entropy = req
            .contacts
            .iter()
            .any(|c| matches!(c, ContactEntry::Contact(spec) if spec.instance_id.is_some()));
        let entropy = if needs_entropy {
            getrandom::u64().map_err(|e| Error::Entropy(e.to_string()))?
        } else {
            0
        };
        self.register_with_entropy(now, req, entropy).await
    }

    /// [`register`](Self::register) with the randomness for new GRUU keys given by the caller (for tests and
    /// for callers with their own random source).
    ///
    /// # Errors
    /// As [`register`](Self::register).
    pub async fn register_with_entropy(
        &self,
        now: Timestamp,
        req: &RegisterRequest,
        entropy: u64,
    ) -> Result<RegisterOutcome, Error> {
        let mut result: Option<(Arc<[Binding]>, Vec<BindingChange>, bool)> = None;
        let policy = &self.policy;
        self.store
            .update(&req.aor, &mut |current: &[Binding]| {
                let plan = plan_register(now, req, current, policy, entropy)?;
                let bindings: Arc<[Binding]> = Arc::from(plan.bindings);
                let changed = !plan.changes.is_empty();
                result = Some((Arc::clone(&bindings), plan.changes, plan.outbound));
                Ok(changed.then_some(bindings))
            })
            .await?;
        let Some((bindings, changes, outbound)) = result else {
            return Err(Error::Storage("the store did not run the update".into()));
        };
        Ok(RegisterOutcome {
            aor: req.aor.clone(),
            bindings: Bindings::new(bindings, now),
            changes,
            outbound,
            gruu: self.policy.gruu && req.supported.gruu,
        })
    }

    /// The live bindings of `aor` at `now`, highest q first, then most recently refreshed. Nobody registered
    /// gives an empty list.
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup(&self, aor: &Aor, now: Timestamp) -> Result<Bindings, Error> {
        if let Some(all) = self.store.bindings_in_memory(aor) {
            return Ok(Bindings::new(all, now));
        }
        Ok(Bindings::new(self.store.bindings(aor).await?, now))
    }

    /// A page of the AoRs with stored bindings, ascending, after `after` (see [`LocationStore::aors`]). An AoR
    /// whose bindings all expired may appear until the next expiry sweep.
    ///
    /// # Errors
    /// A store failure.
    pub async fn registered_users(
        &self,
        after: Option<&Aor>,
        limit: usize,
    ) -> Result<Vec<Aor>, Error> {
        self.store.aors(after, limit).await
    }

    /// How many addresses-of-record have bindings (expired ones count until the next sweep).
    ///
    /// # Errors
    /// A store failure.
    pub async fn registered_count(&self) -> Result<usize, Error> {
        self.store.aor_count().await
    }

    /// Remove every binding of `aor` (an operator's action) and return what was live.
    ///
    /// # Errors
    /// A store failure.
    pub async fn remove_all(&self, aor: &Aor, now: Timestamp) -> Result<Vec<Binding>, Error> {
        let mut removed = Vec::new();
        self.store
            .update(aor, &mut |current: &[Binding]| {
                removed = current.iter().filter(|b| b.is_live(now)).cloned().collect();
                Ok((!current.is_empty()).then(|| Arc::from(Vec::new())))
            })
            .await?;
        Ok(removed)
    }

    /// Remove the live bindings of `aor` that `which` picks and return them (a flow that closed, a device
    /// that stopped answering).
    ///
    /// # Errors
    /// A store failure.
    pub async fn remove_where(
        &self,
        aor: &Aor,
        now: Timestamp,
        which: &(dyn Fn(&Binding) -> bool + Sync),
    ) -> Result<Vec<Binding>, Error> {
        let mut removed = Vec::new();
        self.store
            .update(aor, &mut |current: &[Binding]| {
                removed = current
                    .iter()
                    .filter(|b| b.is_live(now) && which(b))
                    .cloned()
                    .collect();
                if removed.is_empty() {
                    return Ok(None);
                }
                let kept: Vec<Binding> = current
                    .iter()
                    .filter(|b| !(b.is_live(now) && which(b)))
                    .cloned()
                    .collect();
                Ok(Some(Arc::from(kept)))
            })
            .await?;
        Ok(removed)
    }

    /// Replace the live bindings of `aor` that `how` returns a new version of (the others stay as they are),
    /// and return the new versions. Keeps each binding's place and expiry unless `how` changes them (it is how
    /// a device's push parameters are dropped when its push service says the address is gone).
    ///
    /// # Errors
    /// A store failure.
    pub async fn rewrite_where(
        &self,
        aor: &Aor,
        now: Timestamp,
        how: &(dyn Fn(&Binding) -> Option<Binding> + Sync),
    ) -> Result<Vec<Binding>, Error> {
        let mut rewritten = Vec::new();
        self.store
            .update(aor, &mut |current: &[Binding]| {
                rewritten.clear();
                let next: Vec<Binding> = current
                    .iter()
                    .map(|b| match b.is_live(now).then(|| how(b)).flatten() {
                        Some(n) => {
                            rewritten.push(n.clone());
                            n
                        }
                        None => b.clone(),
                    })
                    .collect();
                Ok((!rewritten.is_empty()).then(|| Arc::from(next)))
            })
            .await?;
        Ok(rewritten)
    }

    /// Remove everything that expired at `now`; returns what was removed, for events.
    ///
    /// # Errors
    /// A store failure.
    pub async fn expire(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, Error> {
        self.store.remove_expired(now).await
    }

    /// When the next binding may expire.
    ///
    /// # Errors
    /// A store failure.
    pub async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        self.store.next_expiry().await
    }

    /// The binding a GRUU (public or temporary) routes to, if it is live.
    ///
    /// # Errors
    /// A store failure.
    pub async fn resolve_gruu(
        &self,
        uri: &SipUri,
        now: Timestamp,
    ) -> Result<Option<Binding>, Error> {
        match gruu::parse_gruu(uri) {
            None => Ok(None),
            Some(GruuRef::Public { aor, instance }) => Ok(self
                .lookup(&aor, now)
                .await?
                .iter()
                .find(|b| b.instance_id.as_ref() == Some(&instance))
                .cloned()),
            Some(GruuRef::Temporary { key, seq }) => {
                let Some(aor) = self.store.aor_for_temp_gruu(key).await? else {
                    return Ok(None);
                };
                Ok(self
                    .lookup(&aor, now)
                    .await?
                    .iter()
                    .find(|b| b.temp_gruu.is_some_and(|t| t.key == key && seq <= t.seq))
                    .cloned())
            }
        }
    }
}

/// The live bindings of one AoR at one instant: a shared snapshot, filtered as it is read.
#[derive(Clone, Debug)]
pub struct Bindings {
    all: Arc<[Binding]>,
    now: Timestamp,
}

impl Bindings {
    pub(crate) const fn new(all: Arc<[Binding]>, now: Timestamp) -> Self {
        Self { all, now }
    }

    /// The live bindings in order (q highest first, then most recently refreshed).
    pub fn iter(&self) -> impl Iterator<Item = &Binding> + '_ {
        let now = self.now;
        self.all.iter().filter(move |b| b.is_live(now))
    }

    /// How many are live.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether none is live.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The instant the snapshot is filtered at.
    pub const fn now(&self) -> Timestamp {
        self.now
    }

    /// The live bindings, copied out.
    pub fn to_vec(&self) -> Vec<Binding> {
        self.iter().cloned().collect()
    }
}

/// What a successful REGISTER did, and what its 200 OK must say.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RegisterOutcome {
    /// The AoR.
    pub aor: Aor,
    /// Every current binding of the AoR (RFC 3261 §10.3 step 8: the 200 OK lists them all).
    pub bindings: Bindings,
    /// What changed, for events.
    pub changes: Vec<BindingChange>,
    /// An outbound registration was accepted: add `Require: outbound` (RFC 5626 §6).
    pub outbound: bool,
    /// The UA asked for GRUUs and the registrar issues them.
    gruu: bool,
}

impl RegisterOutcome {
    /// One entry per current binding, with what its Contact in the 200 OK carries.
    pub fn contacts(&self) -> impl Iterator<Item = ContactReply<'_>> + '_ {
        let now = self.bindings.now();
        self.bindings.iter().map(move |b| {
            let gruus = if self.gruu {
                gruu::gruus_for(&self.aor, b)
            } else {
                None
            };
            let (pub_gruu, temp_gruu) = gruus.map_or((None, None), |(p, t)| (Some(p), Some(t)));
            ContactReply {
                binding: b,
                expires: b.expires_in(now),
                pub_gruu,
                temp_gruu,
            }
        })
    }
}

/// One Contact of a 200 OK to REGISTER.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ContactReply<'a> {
    /// The binding.
    pub binding: &'a Binding,
    /// Seconds until it expires (the `expires` parameter).
    pub expires: u64,
    /// `pub-gruu` (RFC 5627), when issued.
    pub pub_gruu: Option<SipUri>,
    /// `temp-gruu` (RFC 5627), when issued.
    pub temp_gruu: Option<SipUri>,
}
