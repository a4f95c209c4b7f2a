//! `RegistrarService`: the layers composed behind their traits.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use registrar_events::{
    BuddyChange, EventBus, EventFilter, EventStream, InProcessBus, RegistrarEvent, SubscriptionRef,
};
use registrar_pidf::{ContactEvent, ContactState, Presence};
use registrar_presence::{
    Buddy, BuddyLists, BuddyPresence, ComposedPresence, DialogId, EventPackage, ListContext,
    MemoryPresenceStore, NotifyIntent, PresencePolicy, PresenceStore, Presences, PublishKind,
    PublishRequest, PublishResult, ResourceLists, StoredPresence, SubState, SubscribeOutcome,
    SubscribeRequest, Subscription, SubscriptionChange, SubscriptionPolicy, SubscriptionStore,
    Subscriptions, WatcherDecision,
};
use registrar_registry::{
    BindingChange, Bindings, ChangeKind, LocationStore, MemoryLocationStore, RegisterOutcome,
    RegisterRequest, RegistrarPolicy, Registry,
};
use registrar_types::{Aor, Binding, Clock, SystemClock, Timestamp};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::Error;
use crate::notifier::{NoNotifier, Notifier};

/// How the server stands between users.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Mode {
    /// Users register and reach each other directly: lookups hand out their contacts. Automatic buddy lists
    /// are off unless enabled.
    #[default]
    P2P,
    /// The server fronts every user (a back-to-back user agent anchors calls). Automatic buddy lists are on
    /// unless disabled.
    B2BUA,
}

/// Builds a [`RegistrarService`].
pub struct ServiceBuilder<L, P> {
    location: L,
    presence: P,
    registrar_policy: RegistrarPolicy,
    presence_policy: PresencePolicy,
    subscription_policy: SubscriptionPolicy,
    clock: Arc<dyn Clock>,
    bus: Arc<dyn EventBus>,
    notifier: Arc<dyn Notifier>,
    mode: Mode,
    automatic_buddy_lists: Option<bool>,
    max_buddies: usize,
    list_suffix: Option<String>,
    subscription_store: Option<Arc<dyn SubscriptionStore>>,
    max_sleep: Duration,
}

impl<L, P> std::fmt::Debug for ServiceBuilder<L, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> ServiceBuilder<L, P> {
    /// Keep registrations in `store` instead of memory.
    pub fn location_store<L2: LocationStore + 'static>(self, store: L2) -> ServiceBuilder<L2, P> {
        ServiceBuilder {
            location: store,
            presence: self.presence,
            registrar_policy: self.registrar_policy,
            presence_policy: self.presence_policy,
            subscription_policy: self.subscription_policy,
            clock: self.clock,
            bus: self.bus,
            notifier: self.notifier,
            mode: self.mode,
            automatic_buddy_lists: self.automatic_buddy_lists,
            max_buddies: self.max_buddies,
            list_suffix: self.list_suffix,
            subscription_store: self.subscription_store,
            max_sleep: self.max_sleep,
        }
    }

    /// Keep publications in `store` instead of memory.
    pub fn presence_store<P2: PresenceStore + 'static>(self, store: P2) -> ServiceBuilder<L, P2> {
        ServiceBuilder {
            location: self.location,
            presence: store,
            registrar_policy: self.registrar_policy,
            presence_policy: self.presence_policy,
            subscription_policy: self.subscription_policy,
            clock: self.clock,
            bus: self.bus,
            notifier: self.notifier,
            mode: self.mode,
            automatic_buddy_lists: self.automatic_buddy_lists,
            max_buddies: self.max_buddies,
            list_suffix: self.list_suffix,
            subscription_store: self.subscription_store,
            max_sleep: self.max_sleep,
        }
    }

    /// Look for due expiries at least this often (default an hour). The background task sleeps until the
    /// next deadline it knows; with a store shared by several nodes, another node may file an earlier one,
    /// so shared stores want a short bound (a second).
    #[must_use]
    pub const fn max_sleep(mut self, max: Duration) -> Self {
        self.max_sleep = max;
        self
    }

    /// Keep subscriptions in `store` as well as in memory, so that they outlive a restart (none by default:
    /// subscriptions then live in memory only). Every subscription change is recorded before its answer or
    /// NOTIFY leaves; [`RegistrarService::restore_subscriptions`] takes them back.
    #[must_use]
    pub fn subscription_store(mut self, store: Arc<dyn SubscriptionStore>) -> Self {
        self.subscription_store = Some(store);
        self
    }

    /// The REGISTER rules' limits.
    #[must_use]
    pub fn registrar_policy(mut self, policy: RegistrarPolicy) -> Self {
        self.registrar_policy = policy;
        self
    }

    /// The PUBLISH rules' limits.
    #[must_use]
    pub fn presence_policy(mut self, policy: PresencePolicy) -> Self {
        self.presence_policy = policy;
        self
    }

    /// The SUBSCRIBE rules' limits, default watcher policy and NOTIFY rate control.
    #[must_use]
    pub fn subscription_policy(mut self, policy: SubscriptionPolicy) -> Self {
        self.subscription_policy = policy;
        self
    }

    /// The clock (the system clock by default; a `ManualClock` in tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Where events go (an [`InProcessBus`] by default).
    #[must_use]
    pub fn event_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.bus = bus;
        self
    }

    /// Where NOTIFYs go ([`NoNotifier`] by default).
    #[must_use]
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// P2P (the default) or B2BUA.
    #[must_use]
    pub const fn mode(mut self, mode: Mode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether users of one domain are put on each other's buddy lists on first registration (default: on
    /// in B2BUA mode, off in P2P mode).
    #[must_use]
    pub const fn automatic_buddy_lists(mut self, on: bool) -> Self {
        self.automatic_buddy_lists = Some(on);
        self
    }

    /// Most buddies per list (default 1000).
    #[must_use]
    pub const fn max_buddies(mut self, max: usize) -> Self {
        self.max_buddies = max;
        self
    }

    /// What follows a user's name in the URI of their buddy list (default `-buddies`).
    #[must_use]
    pub fn buddy_list_suffix(mut self, suffix: &str) -> Self {
        self.list_suffix = Some(suffix.to_owned());
        self
    }

    /// The service.
    ///
    /// # Errors
    /// A policy that contradicts itself.
    pub fn build(self) -> Result<RegistrarService<L, P>, Error> {
        let mut buddies = BuddyLists::new(self.max_buddies);
        if let Some(s) = &self.list_suffix {
            buddies = buddies.with_list_suffix(s)?;
        }
        let automatic = self
            .automatic_buddy_lists
            .unwrap_or(self.mode == Mode::B2BUA);
        let (shutdown, _) = watch::channel(false);
        Ok(RegistrarService {
            inner: Arc::new(Inner {
                registry: Registry::new(self.location, self.registrar_policy)?,
                presences: Presences::new(self.presence, self.presence_policy)?,
                subs: Subscriptions::new(self.subscription_policy.clone())?,
                lists: ResourceLists::new(self.subscription_policy)?,
                buddies,
                bus: self.bus,
                notifier: self.notifier,
                sub_store: self.subscription_store,
                max_sleep: self.max_sleep,
                clock: self.clock,
                mode: self.mode,
                automatic_buddy_lists: automatic,
                wake: Notify::new(),
                sleeping_until: AtomicU64::new(AWAKE),
                shutdown,
                task: Mutex::new(None),
                list_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
                list_locks_hasher: std::collections::hash_map::RandomState::new(),
            }),
        })
    }
}

/// [`Inner::sleeping_until`] while the background task runs: every change may be due before its next
/// deadline.
const AWAKE: u64 = u64::MAX;

struct Inner<L, P> {
    registry: Registry<L>,
    presences: Presences<P>,
    subs: Subscriptions,
    lists: ResourceLists,
    buddies: BuddyLists,
    bus: Arc<dyn EventBus>,
    notifier: Arc<dyn Notifier>,
    sub_store: Option<Arc<dyn SubscriptionStore>>,
    max_sleep: Duration,
    clock: Arc<dyn Clock>,
    mode: Mode,
    automatic_buddy_lists: bool,
    wake: Notify,
    /// When the background task will next wake by itself (milliseconds of the clock), or [`AWAKE`] while it
    /// is running (or not started): a change due before it must wake the task, one due after need not.
    sleeping_until: AtomicU64,
    shutdown: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
    /// Changes of one buddy list are stored one at a time (striped by owner).
    list_locks: Vec<tokio::sync::Mutex<()>>,
    list_locks_hasher: std::collections::hash_map::RandomState,
}

/// The registrar, presence server and buddy lists composed: the API a SIP stack calls. Cheap to clone (all
/// clones share one service).
///
/// Every state change emits its events on the bus as one batch and hands the NOTIFYs it causes to the
/// [`Notifier`]. Background expiry runs once [`start`](Self::start) is called; without it (tests on a manual
/// clock), [`run_due`](Self::run_due) does the same work on demand.
pub struct RegistrarService<L = MemoryLocationStore, P = MemoryPresenceStore> {
    inner: Arc<Inner<L, P>>,
}

impl<L, P> Clone for RegistrarService<L, P> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<L, P> std::fmt::Debug for RegistrarService<L, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistrarService")
            .field("mode", &self.inner.mode)
            .finish_non_exhaustive()
    }
}

impl RegistrarService {
    /// A builder with in-memory stores, default policies, the system clock, an in-process event bus, no
    /// notifier, and P2P mode.
    pub fn builder() -> ServiceBuilder<MemoryLocationStore, MemoryPresenceStore> {
        ServiceBuilder {
            location: MemoryLocationStore::new(),
            presence: MemoryPresenceStore::new(),
            registrar_policy: RegistrarPolicy::default(),
            presence_policy: PresencePolicy::default(),
            subscription_policy: SubscriptionPolicy::default(),
            clock: Arc::new(SystemClock),
            bus: Arc::new(InProcessBus::default()),
            notifier: Arc::new(NoNotifier),
            mode: Mode::P2P,
            automatic_buddy_lists: None,
            max_buddies: 1000,
            list_suffix: None,
            subscription_store: None,
            max_sleep: Duration::from_secs(3600),
        }
    }
}

/// A page of registered users.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct UsersPage {
    /// The AoRs, ascending.
    pub users: Vec<Aor>,
    /// Pass this as `after` for the next page; `None` on the last page.
    pub next: Option<Aor>,
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// The mode.
    pub fn mode(&self) -> Mode {
        self.inner.mode
    }

    /// The clock's current time.
    pub fn now(&self) -> Timestamp {
        self.inner.clock.now()
    }

    /// The event bus.
    pub fn bus(&self) -> &Arc<dyn EventBus> {
        &self.inner.bus
    }

    /// Receive the events passing `filter` from now on.
    pub fn events(&self, filter: EventFilter) -> EventStream {
        self.inner.bus.subscribe(filter)
    }

    // ----- registrations -----

    /// Process a whole REGISTER (its contacts, Call-ID, CSeq, Expires). Emits one event per changed binding
    /// (as one batch), tells `reg` subscribers, and, with automatic buddy lists, pairs a user registering for
    /// the first time with the other users of its domain.
    ///
    /// # Errors
    /// The rule the request breaks (see [`Error::sip_status`]) or a store failure; nothing changed then.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterOutcome, Error> {
        let now = self.now();
        let out = self.inner.registry.register(now, req).await?;
        if !out.changes.is_empty() {
            let still = !out.bindings.is_empty();
            self.bindings_changed(&out.aor, &out.changes, still, now)
                .await;
            let joined = self.inner.automatic_buddy_lists
                && out.changes.iter().any(|c| c.kind == ChangeKind::Added)
                && self.join_domain(&out.aor, now).await;
            if joined || self.inner.subs.has_reg_subscribers(&out.aor) {
                // NOTIFYs went out, or were held back by rate control until a time not known here.
                self.inner.wake.notify_one();
            } else {
                // Only new expiry times: the task need not wake unless one is due before it would anyway.
                let due = out
                    .changes
                    .iter()
                    .filter(|c| {
                        matches!(
                            c.kind,
                            ChangeKind::Added | ChangeKind::Refreshed | ChangeKind::Updated
                        )
                    })
                    .map(|c| c.binding.expires_at)
                    .min();
                if let Some(due) = due {
                    self.wake_for(due);
                }
            }
        }
        Ok(out)
    }

    /// Remove every binding of `aor` (an operator's action); returns what was live.
    ///
    /// # Errors
    /// A store failure.
    pub async fn unregister(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        let now = self.now();
        let removed = self.inner.registry.remove_all(aor, now).await?;
        if !removed.is_empty() {
            let changes: Vec<BindingChange> = removed
                .iter()
                .map(|b| BindingChange::new(ChangeKind::Removed, b.clone()))
                .collect();
            self.bindings_changed(aor, &changes, false, now).await;
        }
        Ok(removed)
    }

    /// The live bindings of `aor`, best first; empty when nobody is registered.
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup(&self, aor: &Aor) -> Result<Bindings, Error> {
        Ok(self.inner.registry.lookup(aor, self.now()).await?)
    }

    /// [`lookup`](Self::lookup) for many AoRs at once, in the order given.
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup_many(&self, aors: &[Aor]) -> Result<Vec<Bindings>, Error> {
        let now = self.now();
        let mut out = Vec::with_capacity(aors.len());
        for a in aors {
            out.push(self.inner.registry.lookup(a, now).await?);
        }
        Ok(out)
    }

    /// A page of at most `limit` registered users after `after`, ascending.
    ///
    /// # Errors
    /// A store failure.
    pub async fn registered_users(
        &self,
        after: Option<&Aor>,
        limit: usize,
    ) -> Result<UsersPage, Error> {
        let users = self.inner.registry.registered_users(after, limit).await?;
        let next = (users.len() == limit && limit > 0)
            .then(|| users.last().cloned())
            .flatten();
        Ok(UsersPage { users, next })
    }

    // ----- presence -----

    /// Process one PUBLISH; watchers of the presentity (and buddy list subscribers holding it) are notified
    /// when its composed state changed.
    ///
    /// # Errors
    /// The RFC 3903 rule the request breaks, or a store failure.
    pub async fn publish(&self, req: &PublishRequest) -> Result<PublishResult, Error> {
        let now = self.now();
        let r = self.inner.presences.publish(now, req).await?;
        self.published(&req.aor, &r, now).await;
        Ok(r)
    }

    /// Set `aor`'s presence without SIP (the API's one publication per user), through the PUBLISH path.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn update_presence(
        &self,
        aor: &Aor,
        document: &Presence,
        expires: u32,
    ) -> Result<PublishResult, Error> {
        let now = self.now();
        let r = self
            .inner
            .presences
            .update_presence(now, aor, document, expires)
            .await?;
        self.published(aor, &r, now).await;
        Ok(r)
    }

    /// The composed presence of `aor`, from the cache.
    ///
    /// # Errors
    /// A store failure.
    pub async fn presence(&self, aor: &Aor) -> Result<Arc<ComposedPresence>, Error> {
        Ok(self.inner.presences.presence(aor, self.now()).await?)
    }

    /// [`presence`](Self::presence) for many presentities, in the order given.
    ///
    /// # Errors
    /// A store failure.
    pub async fn presence_many(&self, aors: &[Aor]) -> Result<Vec<Arc<ComposedPresence>>, Error> {
        let now = self.now();
        let mut out = Vec::with_capacity(aors.len());
        for a in aors {
            out.push(self.inner.presences.presence(a, now).await?);
        }
        Ok(out)
    }

    // ----- subscriptions -----

    /// Process a SUBSCRIBE: to `presence` (a presentity, or a buddy list URI when `supports_eventlist`
    /// matters), `presence.winfo` or `reg`. The first NOTIFY (and any it causes, such as watcher information)
    /// goes to the notifier; the outcome carries the answer's status and expiry.
    ///
    /// A Request-URI of the form of a buddy list URI (`sip:alice-buddies@…`) is a resource list unless a
    /// user is registered under that very URI.
    ///
    /// # Errors
    /// The rule the request breaks (489, 423, 403, 421, 406, 481, 503), or a store failure.
    pub async fn subscribe(
        &self,
        req: &SubscribeRequest,
        supports_eventlist: bool,
    ) -> Result<SubscribeOutcome, Error> {
        let now = self.now();
        let existing = self.inner.subs.get(&req.dialog).or_else(|| {
            self.inner
                .lists
                .get(&req.dialog)
                .map(|l| l.subscription.clone())
        });
        let outcome = if req.event == EventPackage::Reg {
            let bindings = self.inner.registry.lookup(&req.presentity, now).await?;
            self.inner
                .subs
                .subscribe_reg(now, req, &bindings.to_vec())?
        } else if self.is_list(req).await? {
            let docs = self.list_documents(&req.presentity, now).await?;
            let presence_of = |a: &Aor| lookup_doc(&docs, a);
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
            self.inner
                .lists
                .subscribe(now, req, supports_eventlist, ctx)?
        } else {
            let xml = self
                .inner
                .presences
                .presence(&req.presentity, now)
                .await?
                .xml
                .clone();
            self.inner.subs.subscribe(now, req, &xml)?
        };
        let sref = SubscriptionRef::new(
            req.dialog.call_id.clone(),
            &req.dialog.remote_tag,
            &req.dialog.local_tag,
            req.watcher.clone(),
            req.presentity.clone(),
            req.event.as_str(),
        );
        let event = match (&outcome.subscription, &existing) {
            (Some(s), None) => RegistrarEvent::SubscriptionCreated {
                subscription: sref,
                pending: s.state == SubState::Pending,
            },
            (Some(s), Some(_)) => RegistrarEvent::SubscriptionRefreshed {
                subscription: sref,
                expires_at: s.expires_at,
            },
            (None, _) => RegistrarEvent::SubscriptionTerminated {
                subscription: sref,
                reason: "timeout".to_owned(),
            },
        };
        let mut events = vec![event];
        events.extend(
            outcome
                .also_notify
                .iter()
                .filter_map(|n| intent_event(n, false)),
        );
        self.inner.bus.publish_batch(now, events);
        let mut intents = Vec::with_capacity(1 + outcome.also_notify.len());
        intents.push(outcome.notify.clone());
        intents.extend(outcome.also_notify.iter().cloned());
        if let Err(e) = self.persist(&intents).await {
            // Not durable, so not accepted: a new subscription is forgotten again (the subscriber retries).
            if existing.is_none() {
                self.inner.subs.drop_subscription(&req.dialog);
            }
            return Err(e);
        }
        self.inner.notifier.notify(intents).await;
        self.inner.wake.notify_one();
        Ok(outcome)
    }

    /// End the subscription of `dialog` as if its subscriber sent `Expires: 0`: a final NOTIFY
    /// `terminated;reason=timeout`.
    ///
    /// # Errors
    /// [`Error::NoSuchSubscription`] (481) when there is none.
    pub async fn unsubscribe(&self, dialog: &DialogId) -> Result<SubscribeOutcome, Error> {
        let (sub, list) = match self.inner.subs.get(dialog) {
            Some(s) => (s, false),
            None => match self.inner.lists.get(dialog) {
                Some(l) => (l.subscription, true),
                None => return Err(Error::NoSuchSubscription),
            },
        };
        let mut req = SubscribeRequest::new(sub.dialog, sub.watcher, sub.presentity)
            .event(sub.event)
            .in_dialog()
            .expires(0);
        req.accept = sub.accept;
        self.subscribe(&req, list).await
    }

    /// Record `presentity`'s decision about `watcher` and apply it: pending subscriptions become active or
    /// end, politely blocked ones see `closed`, buddy list subscribers see the new instance state.
    ///
    /// # Errors
    /// A store failure.
    pub async fn authorize_watcher(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
    ) -> Result<(), Error> {
        // Durable before it takes effect: a decision that is not stored is not made.
        self.save_settings(&[SubscriptionChange::Rule {
            presentity: presentity.clone(),
            watcher: watcher.clone(),
            decision,
        }])
        .await?;
        self.apply_decision(presentity, watcher, decision).await
    }

    /// Apply a decision already stored (here, or by another node): live subscriptions and buddy list
    /// subscribers see it.
    async fn apply_decision(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
    ) -> Result<(), Error> {
        let now = self.now();
        let xml = self
            .inner
            .presences
            .presence(presentity, now)
            .await?
            .xml
            .clone();
        let mut intents = self
            .inner
            .subs
            .authorize_watcher(presentity, watcher, decision, &xml, now);
        let docs = self.list_documents_for(watcher, now).await?;
        let presence_of = |a: &Aor| lookup_doc(&docs, a);
        let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
        intents.extend(
            self.inner
                .lists
                .watcher_decided(now, presentity, watcher, ctx),
        );
        let mut events = vec![RegistrarEvent::WatcherAuthorized {
            presentity: presentity.clone(),
            watcher: watcher.clone(),
            decision: decision_token(decision).to_owned(),
        }];
        events.extend(intents.iter().filter_map(|n| intent_event(n, true)));
        self.inner.bus.publish_batch(now, events);
        self.persist(&intents).await?;
        self.inner.notifier.notify(intents).await;
        Ok(())
    }

    /// The decision in force for `watcher` of `presentity` (its rule or the default policy).
    pub fn watcher_decision(&self, presentity: &Aor, watcher: &Aor) -> WatcherDecision {
        self.inner.subs.decision(presentity, watcher)
    }

    /// The decisions `presentity` made about its watchers (the others get the default policy).
    pub fn decisions_of(&self, presentity: &Aor) -> Vec<(Aor, WatcherDecision)> {
        self.inner.subs.rules_of(presentity)
    }

    /// The live subscriptions to `presentity` (its watchers).
    pub fn watchers_of(&self, presentity: &Aor) -> Vec<Subscription> {
        self.inner.subs.watchers_of(presentity, self.now())
    }

    /// How many addresses-of-record have bindings (for gauges; expired ones count until the next sweep).
    ///
    /// # Errors
    /// A store failure.
    pub async fn registered_count(&self) -> Result<usize, Error> {
        Ok(self.inner.registry.registered_count().await?)
    }

    /// How many subscriptions exist, buddy list subscriptions included (for gauges).
    pub fn subscription_count(&self) -> usize {
        self.inner.subs.len() + self.inner.lists.len()
    }

    /// The live subscriptions `watcher` holds, including its buddy list subscriptions.
    pub fn watching(&self, watcher: &Aor) -> Vec<Subscription> {
        let now = self.now();
        let mut out = self.inner.subs.watching(watcher, now);
        out.extend(
            self.inner
                .lists
                .subscriptions_of(watcher, now)
                .into_iter()
                .map(|l| l.subscription),
        );
        out
    }

    // ----- buddy lists -----

    /// Add `buddy` to `owner`'s list (or update its name and group). Returns whether it was added.
    ///
    /// # Errors
    /// The list is full (503).
    pub async fn add_buddy(&self, owner: &Aor, buddy: Buddy) -> Result<bool, Error> {
        let now = self.now();
        let uri = buddy.uri.clone();
        let _one_at_a_time = self.list_lock(owner).await;
        let before = self.inner.buddies.get(owner, &uri);
        let added = self.inner.buddies.add(owner, buddy)?;
        if let Err(e) = self.save_list(owner).await {
            // Not durable, so not made.
            match before {
                Some(b) => self.inner.buddies.restore(owner, b),
                None => {
                    self.inner.buddies.remove(owner, &uri);
                }
            }
            return Err(e);
        }
        let change = if added {
            BuddyChange::Added
        } else {
            BuddyChange::Updated
        };
        self.list_changed(owner, &uri, change, now).await?;
        Ok(added)
    }

    /// Remove `buddy` from `owner`'s list. Returns whether it was there.
    ///
    /// # Errors
    /// A store failure while telling list subscribers.
    pub async fn remove_buddy(&self, owner: &Aor, buddy: &Aor) -> Result<bool, Error> {
        let now = self.now();
        let _one_at_a_time = self.list_lock(owner).await;
        let Some(before) = self.inner.buddies.get(owner, buddy) else {
            return Ok(false);
        };
        let removed = self.inner.buddies.remove(owner, buddy);
        if let Err(e) = self.save_list(owner).await {
            // Not durable, so not made (it goes back at the end of the list).
            self.inner.buddies.restore(owner, before);
            return Err(e);
        }
        if removed {
            self.list_changed(owner, buddy, BuddyChange::Removed, now)
                .await?;
        }
        Ok(removed)
    }

    /// `owner`'s buddies, in the order added.
    pub fn buddies(&self, owner: &Aor) -> Vec<Buddy> {
        self.inner.buddies.list(owner)
    }

    /// The URI of `owner`'s buddy list, for a resource list SUBSCRIBE.
    pub fn buddy_list_uri(&self, owner: &Aor) -> Option<Aor> {
        self.inner.buddies.list_uri(owner)
    }

    /// The presence of every buddy of `owner` in one call, as each buddy's watcher rules allow.
    ///
    /// # Errors
    /// A store failure.
    pub async fn buddy_presence(&self, owner: &Aor) -> Result<Vec<(Buddy, BuddyPresence)>, Error> {
        Ok(self
            .inner
            .buddies
            .presence_of_list(owner, &self.inner.presences, &self.inner.subs, self.now())
            .await?)
    }

    // ----- background work -----

    /// Start the background task: it sleeps until the next deadline of any expiry index (registrations,
    /// publications, subscriptions, held-back NOTIFYs) — not a fixed poll — and runs [`run_due`](Self::run_due)
    /// then. Calling it twice starts one task. Needs a tokio runtime with the time driver.
    pub fn start(&self) {
        let mut task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if task.is_some() {
            return;
        }
        self.inner.shutdown.send_replace(false);
        let me = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        *task = Some(tokio::spawn(async move {
            loop {
                me.inner.sleeping_until.store(AWAKE, Ordering::SeqCst);
                me.run_due().await;
                let now = me.now().as_millis();
                let wait = match me.next_deadline().await {
                    Some(t) => Duration::from_millis(t.as_millis().saturating_sub(now)),
                    None => me.inner.max_sleep,
                }
                .min(me.inner.max_sleep);
                let until = now.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                me.inner.sleeping_until.store(until, Ordering::SeqCst);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = me.inner.wake.notified() => {}
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
            }
        }));
    }

    /// Stop the background task and wait for it: the sweep in progress finishes, so every event it
    /// started is published.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = task {
            // A panicked task has nothing left to finish.
            let _ = t.await;
        }
    }

    /// Wake the background task if `due` comes before the time it sleeps until (the task recomputes its
    /// deadline on every wake, so a later `due` is found then). The task marks itself [`AWAKE`] before it
    /// reads the expiry indexes and publishes its deadline after, so a change made while it computes is
    /// either seen by that computation or followed by a wake.
    fn wake_for(&self, due: Timestamp) {
        if due.as_millis() < self.inner.sleeping_until.load(Ordering::SeqCst) {
            self.inner.wake.notify_one();
        }
    }

    /// The earliest instant something is due: an expiry or a held-back NOTIFY.
    pub async fn next_deadline(&self) -> Option<Timestamp> {
        let i = &self.inner;
        [
            i.registry.next_expiry().await.ok().flatten(),
            i.presences.next_expiry().await.ok().flatten(),
            i.subs.next_expiry(),
            i.subs.next_flush(),
            i.lists.next_expiry(),
            i.lists.next_flush(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Do everything due at the clock's current time: expire registrations (telling `reg` subscribers),
    /// publications (telling watchers of the new composed state) and subscriptions (final NOTIFYs), and send
    /// the NOTIFYs rate control held back. Each kind of sweep emits its events as one batch.
    pub async fn run_due(&self) {
        let now = self.now();
        let i = &self.inner;
        // A store failure here is retried at the next deadline; nothing was removed then.
        if let Ok(expired) = i.registry.expire(now).await
            && !expired.is_empty()
        {
            let mut expired = expired;
            // Stable: each AoR's bindings keep the order the store reported them in.
            expired.sort_by(|a, b| a.0.cmp(&b.0));
            let mut by_aor: Vec<(Aor, Vec<BindingChange>)> = Vec::new();
            for (aor, b) in expired {
                let change = BindingChange::new(ChangeKind::Expired, b);
                match by_aor.last_mut() {
                    Some((last, list)) if *last == aor => list.push(change),
                    _ => by_aor.push((aor, vec![change])),
                }
            }
            let mut events = Vec::new();
            let mut intents = Vec::new();
            for (aor, changes) in &by_aor {
                let still = i
                    .registry
                    .lookup(aor, now)
                    .await
                    .is_ok_and(|b| !b.is_empty());
                events.extend(changes.iter().map(|c| registration_event(aor, c)));
                intents.extend(
                    i.subs
                        .registration_changed(aor, &reg_changes(changes), still, now),
                );
            }
            i.bus.publish_batch(now, events);
            self.deliver(intents).await;
        }
        if let Ok(expired) = i.presences.expire(now).await
            && !expired.is_empty()
        {
            let mut events = Vec::new();
            let mut intents = Vec::new();
            for e in &expired {
                events.extend(e.expired.iter().map(|p| RegistrarEvent::PresenceExpired {
                    aor: e.aor.clone(),
                    etag: p.etag.clone(),
                }));
                events.push(RegistrarEvent::PresenceChanged {
                    aor: e.aor.clone(),
                    pidf: e.composed.xml.clone(),
                });
                intents.extend(self.fan_out(&e.aor, &e.composed.xml, now).await);
            }
            i.bus.publish_batch(now, events);
            self.deliver(intents).await;
        }
        let mut ended = i.subs.expire(now);
        ended.extend(i.lists.expire(now));
        if !ended.is_empty() {
            let events: Vec<RegistrarEvent> = ended
                .iter()
                .filter_map(|n| intent_event(n, false))
                .collect();
            i.bus.publish_batch(now, events);
            self.deliver(ended).await;
        }
        let presence_of = |a: &Aor| self.cached_xml(a);
        let mut flushed = i.subs.flush_deferred(now, &presence_of);
        let ctx = ListContext::new(&i.buddies, &i.subs, &presence_of);
        flushed.extend(i.lists.flush_deferred(now, ctx));
        if !flushed.is_empty() {
            self.deliver(flushed).await;
        }
    }

    // ----- several nodes -----

    /// Another node changed the publications of `aor` in a store this service shares with it: drop the
    /// cached composed document, compose it again from the store, and when it differs from what this node's
    /// watchers last saw, emit `PresenceChanged` and notify them (and the buddy lists holding `aor`).
    ///
    /// # Errors
    /// A store failure (the cache stays empty, so the next read tries the store again).
    pub async fn presence_changed_elsewhere(&self, aor: &Aor) -> Result<(), Error> {
        let now = self.now();
        let before = self.inner.presences.cached(aor).map_or_else(
            || ComposedPresence::build(aor, &[], now).xml.clone(),
            |c| c.xml.clone(),
        );
        self.inner.presences.forget(aor);
        let after = self.inner.presences.presence(aor, now).await?;
        if after.xml == before {
            return Ok(());
        }
        self.inner.bus.publish(
            now,
            RegistrarEvent::PresenceChanged {
                aor: aor.clone(),
                pidf: after.xml.clone(),
            },
        );
        let intents = self.fan_out(aor, &after.xml, now).await;
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        Ok(())
    }

    /// Changes made elsewhere may have been missed (the notice channel reconnected): drop every cached
    /// composed document, so the next read of each comes from the shared store.
    pub fn forget_cached_presence(&self) {
        self.inner.presences.forget_all();
    }

    // ----- restart -----

    /// Take back what a [`SubscriptionStore`] kept (`stored`, from its `load`) after a restart: watcher
    /// decisions, buddy lists and the members of automatic lists first, then the subscriptions — each live
    /// one is served again and its watcher gets a NOTIFY with the current state (a buddy list subscription:
    /// the list's full state) — while expired and ended ones are dropped from the store. Returns how many
    /// subscriptions were restored. Call it once, after the SIP layer has its dialogs' routes back, before
    /// traffic starts.
    ///
    /// # Errors
    /// A store failure while reading presence, bindings or writing the store.
    pub async fn restore_subscriptions(&self, stored: StoredPresence) -> Result<usize, Error> {
        let now = self.now();
        for (presentity, watcher, decision) in &stored.rules {
            self.inner.subs.restore_rule(presentity, watcher, *decision);
        }
        for user in &stored.joined {
            self.inner.buddies.restore_joined(user);
        }
        for (owner, list) in stored.buddies {
            for buddy in list {
                self.inner.buddies.restore(&owner, buddy);
            }
        }
        let mut gone = Vec::new();
        let mut restored = Vec::new();
        for sub in stored.subscriptions {
            let dialog = sub.dialog.clone();
            if self.inner.subs.restore(sub, now) {
                restored.push(dialog);
            } else {
                gone.push(SubscriptionChange::Remove(dialog));
            }
        }
        let mut lists = Vec::new();
        for sub in stored.lists {
            let dialog = sub.dialog.clone();
            if self.inner.lists.restore(sub, &self.inner.buddies, now) {
                lists.push(dialog);
            } else {
                gone.push(SubscriptionChange::RemoveList(dialog));
            }
        }
        if let Some(store) = &self.inner.sub_store
            && !gone.is_empty()
        {
            store.save(&gone).await?;
        }
        let mut intents = Vec::with_capacity(restored.len() + lists.len());
        for dialog in &restored {
            let Some(sub) = self.inner.subs.get(dialog) else {
                continue;
            };
            // Each package's state comes from its own store; the others are not read.
            let (xml, bindings) = match sub.event {
                EventPackage::Reg => {
                    let b = self.inner.registry.lookup(&sub.presentity, now).await?;
                    (Arc::from(""), b.to_vec())
                }
                EventPackage::PresenceWinfo => (Arc::from(""), Vec::new()),
                _ => {
                    let p = self.inner.presences.presence(&sub.presentity, now).await?;
                    (p.xml.clone(), Vec::new())
                }
            };
            intents.extend(self.inner.subs.resume(dialog, &xml, &bindings, now));
        }
        for dialog in &lists {
            let Some(list) = self.inner.lists.get(dialog) else {
                continue;
            };
            let docs = self.list_documents_for(&list.owner, now).await?;
            let presence_of = |a: &Aor| lookup_doc(&docs, a);
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
            intents.extend(self.inner.lists.resume(dialog, now, ctx));
        }
        self.persist(&intents).await?;
        self.inner.notifier.notify(intents).await;
        self.inner.wake.notify_one();
        Ok(restored.len() + lists.len())
    }

    /// Another node stored new decisions of `presentity` (shared stores): read them from the store and
    /// apply those that differ from this node's, so its subscriptions and buddy list subscribers see them.
    ///
    /// # Errors
    /// A store failure.
    pub async fn decisions_changed_elsewhere(&self, presentity: &Aor) -> Result<(), Error> {
        let Some(store) = &self.inner.sub_store else {
            return Ok(());
        };
        let stored = store.rules_of(presentity).await?;
        let known = self.inner.subs.rules_of(presentity);
        for (watcher, decision) in stored {
            if !known.contains(&(watcher.clone(), decision)) {
                self.apply_decision(presentity, &watcher, decision).await?;
            }
        }
        Ok(())
    }

    /// Another node changed `owner`'s buddy list (shared stores): take the stored list, and tell the owner's
    /// list subscribers on this node when it differs.
    ///
    /// # Errors
    /// A store failure.
    pub async fn buddies_changed_elsewhere(&self, owner: &Aor) -> Result<(), Error> {
        let Some(store) = &self.inner.sub_store else {
            return Ok(());
        };
        let list = store.buddies_of(owner).await?;
        let (changed, removed) = self.inner.buddies.replace(owner, list);
        let now = self.now();
        for uri in &changed {
            self.list_changed(owner, uri, BuddyChange::Updated, now)
                .await?;
        }
        for uri in &removed {
            self.list_changed(owner, uri, BuddyChange::Removed, now)
                .await?;
        }
        Ok(())
    }

    /// Notices from other nodes may have been missed (shared stores): read every decision, buddy list and
    /// automatic list member again and apply what differs.
    ///
    /// # Errors
    /// A store failure.
    pub async fn settings_changed_elsewhere(&self) -> Result<(), Error> {
        let Some(store) = &self.inner.sub_store else {
            return Ok(());
        };
        let stored = store.load().await?;
        for user in &stored.joined {
            self.inner.buddies.restore_joined(user);
        }
        let mut presentities: Vec<Aor> = stored.rules.iter().map(|r| r.0.clone()).collect();
        presentities.sort();
        presentities.dedup();
        for p in presentities {
            self.decisions_changed_elsewhere(&p).await?;
        }
        let mut owners: Vec<Aor> = stored.buddies.into_iter().map(|(o, _)| o).collect();
        owners.extend(self.inner.buddies.owners());
        owners.sort();
        owners.dedup();
        for o in owners {
            self.buddies_changed_elsewhere(&o).await?;
        }
        Ok(())
    }

    /// Another node paired `user` with its domain (shared stores): later members are paired with it here too.
    pub fn joined_elsewhere(&self, user: &Aor) {
        self.inner.buddies.restore_joined(user);
    }

    /// Store `owner`'s list as memory holds it (under [`Self::list_lock`], so lists are stored in the order
    /// they changed).
    async fn save_list(&self, owner: &Aor) -> Result<(), Error> {
        self.save_settings(&[SubscriptionChange::Buddies {
            owner: owner.clone(),
            list: self.inner.buddies.list(owner),
        }])
        .await
    }

    /// One change of `owner`'s list at a time (a lock per stripe of owners).
    async fn list_lock(&self, owner: &Aor) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let stripes = &self.inner.list_locks;
        let h = self.inner.list_locks_hasher.hash_one(owner);
        stripes[(h as usize) % stripes.len()].lock().await
    }

    /// Record decisions and buddy list changes durably (no store: nothing to do).
    async fn save_settings(&self, changes: &[SubscriptionChange]) -> Result<(), Error> {
        match &self.inner.sub_store {
            Some(store) => Ok(store.save(changes).await?),
            None => Ok(()),
        }
    }

    // ----- internals -----

    /// Record in the subscription store (if any) the state of every subscription `intents` touch, buddy
    /// list subscriptions included: its new record, or its removal when it ended.
    async fn persist(&self, intents: &[NotifyIntent]) -> Result<(), Error> {
        let Some(store) = &self.inner.sub_store else {
            return Ok(());
        };
        let mut changes = Vec::with_capacity(intents.len());
        let mut seen = std::collections::HashSet::with_capacity(intents.len());
        for n in intents {
            if !seen.insert(&n.dialog) {
                continue;
            }
            match (
                self.inner.subs.get(&n.dialog),
                self.inner.lists.get(&n.dialog),
            ) {
                (Some(sub), _) => changes.push(SubscriptionChange::Put(sub)),
                (None, Some(list)) => changes.push(SubscriptionChange::PutList(list.subscription)),
                // Ended: whichever kind it was, its record goes (removing a missing record is harmless).
                (None, None) => {
                    changes.push(SubscriptionChange::Remove(n.dialog.clone()));
                    changes.push(SubscriptionChange::RemoveList(n.dialog.clone()));
                }
            }
        }
        if changes.is_empty() {
            return Ok(());
        }
        store.save(&changes).await?;
        Ok(())
    }

    /// Record, then send. A store failure here does not hold NOTIFYs back: the change they carry is already
    /// made, and a restored subscription's CSeq jumps past anything not recorded.
    async fn deliver(&self, intents: Vec<NotifyIntent>) {
        let _ = self.persist(&intents).await;
        self.inner.notifier.notify(intents).await;
    }

    async fn bindings_changed(
        &self,
        aor: &Aor,
        changes: &[BindingChange],
        still_registered: bool,
        now: Timestamp,
    ) {
        let events: Vec<RegistrarEvent> =
            changes.iter().map(|c| registration_event(aor, c)).collect();
        self.inner.bus.publish_batch(now, events);
        let intents =
            self.inner
                .subs
                .registration_changed(aor, &reg_changes(changes), still_registered, now);
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
    }

    /// Pair a newly registered user with the other users of its domain (automatic buddy lists); whether
    /// anyone was paired.
    async fn join_domain(&self, user: &Aor, now: Timestamp) -> bool {
        if self.inner.buddies.has_joined(user) {
            return false;
        }
        let paired = self.inner.buddies.join_domain(user);
        let mut stored = vec![SubscriptionChange::Joined(user.clone())];
        for owner in paired.iter().chain(std::iter::once(user)) {
            stored.push(SubscriptionChange::Buddies {
                owner: owner.clone(),
                list: self.inner.buddies.list(owner),
            });
        }
        // Best effort, like the pairing itself: a failure leaves the lists as they are in memory.
        let _ = self.save_settings(&stored).await;
        if paired.is_empty() {
            return false;
        }
        let mut events = Vec::new();
        for other in &paired {
            events.push(RegistrarEvent::BuddyListChanged {
                owner: user.clone(),
                buddy: other.clone(),
                change: BuddyChange::Added,
            });
            events.push(RegistrarEvent::BuddyListChanged {
                owner: other.clone(),
                buddy: user.clone(),
                change: BuddyChange::Added,
            });
        }
        self.inner.bus.publish_batch(now, events);
        let mut owners = paired;
        owners.push(user.clone());
        let mut intents = Vec::new();
        for owner in owners {
            if !self.inner.lists.has_subscriptions(&owner) {
                continue;
            }
            if let Ok(docs) = self.list_documents_for(&owner, now).await {
                let presence_of = |a: &Aor| lookup_doc(&docs, a);
                let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
                intents.extend(self.inner.lists.list_changed(now, &owner, ctx));
            }
        }
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        true
    }

    async fn published(&self, aor: &Aor, r: &PublishResult, now: Timestamp) {
        let mut events = Vec::with_capacity(2);
        match (&r.outcome.kind, &r.outcome.etag) {
            (PublishKind::Removed, _) | (_, None) => {}
            (_, Some(etag)) => events.push(RegistrarEvent::PresencePublished {
                aor: aor.clone(),
                etag: etag.clone(),
                expires_at: now.plus_secs(u64::from(r.outcome.expires)),
            }),
        }
        let mut intents = Vec::new();
        if let Some(composed) = &r.changed {
            events.push(RegistrarEvent::PresenceChanged {
                aor: aor.clone(),
                pidf: composed.xml.clone(),
            });
            intents = self.fan_out(aor, &composed.xml, now).await;
        }
        self.inner.bus.publish_batch(now, events);
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        self.inner.wake.notify_one();
    }

    /// The NOTIFYs a new composed state of `aor` causes: its watchers, and the buddy lists holding it.
    async fn fan_out(&self, aor: &Aor, xml: &Arc<str>, now: Timestamp) -> Vec<NotifyIntent> {
        let mut intents = self.inner.subs.notify_change(aor, xml, now);
        let holders = self.inner.buddies.holders_of(aor);
        if holders
            .iter()
            .any(|h| self.inner.lists.has_subscriptions(h))
        {
            let presence_of = |a: &Aor| {
                if a == aor {
                    Arc::clone(xml)
                } else {
                    self.cached_xml(a)
                }
            };
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
            intents.extend(self.inner.lists.buddy_changed(now, aor, ctx));
        }
        intents
    }

    async fn list_changed(
        &self,
        owner: &Aor,
        buddy: &Aor,
        change: BuddyChange,
        now: Timestamp,
    ) -> Result<(), Error> {
        self.inner.bus.publish(
            now,
            RegistrarEvent::BuddyListChanged {
                owner: owner.clone(),
                buddy: buddy.clone(),
                change,
            },
        );
        if !self.inner.lists.has_subscriptions(owner) {
            return Ok(());
        }
        let docs = self.list_documents_for(owner, now).await?;
        let presence_of = |a: &Aor| lookup_doc(&docs, a);
        let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of);
        let intents = self.inner.lists.list_changed(now, owner, ctx);
        self.inner.notifier.notify(intents).await;
        Ok(())
    }

    /// Whether a SUBSCRIBE names a buddy list rather than a user.
    async fn is_list(&self, req: &SubscribeRequest) -> Result<bool, Error> {
        if self.inner.buddies.owner_of_list(&req.presentity).is_none() {
            return Ok(false);
        }
        Ok(self
            .inner
            .registry
            .lookup(&req.presentity, self.now())
            .await?
            .is_empty())
    }

    /// The composed documents of every buddy on the list `list_uri` names.
    async fn list_documents(
        &self,
        list_uri: &Aor,
        now: Timestamp,
    ) -> Result<HashMap<Aor, Arc<str>>, Error> {
        match self.inner.buddies.owner_of_list(list_uri) {
            Some(owner) => self.list_documents_for(&owner, now).await,
            None => Ok(HashMap::new()),
        }
    }

    /// The composed documents of every buddy of `owner`.
    async fn list_documents_for(
        &self,
        owner: &Aor,
        now: Timestamp,
    ) -> Result<HashMap<Aor, Arc<str>>, Error> {
        let mut docs = HashMap::new();
        for b in self.inner.buddies.list(owner) {
            let xml = self
                .inner
                .presences
                .presence(&b.uri, now)
                .await?
                .xml
                .clone();
            docs.insert(b.uri, xml);
        }
        Ok(docs)
    }

    /// The cached composed document of `aor`, or an empty document when it has no live publication.
    fn cached_xml(&self, aor: &Aor) -> Arc<str> {
        self.inner.presences.cached(aor).map_or_else(
            || Arc::from(Presence::new(aor.as_str()).to_xml()),
            |c| c.xml.clone(),
        )
    }
}

fn lookup_doc(docs: &HashMap<Aor, Arc<str>>, aor: &Aor) -> Arc<str> {
    docs.get(aor).map_or_else(
        || Arc::from(Presence::new(aor.as_str()).to_xml()),
        Arc::clone,
    )
}

fn registration_event(aor: &Aor, c: &BindingChange) -> RegistrarEvent {
    let aor = aor.clone();
    let binding = c.binding.clone();
    match c.kind {
        ChangeKind::Added => RegistrarEvent::RegistrationAdded { aor, binding },
        ChangeKind::Refreshed => RegistrarEvent::RegistrationRefreshed { aor, binding },
        ChangeKind::Updated => RegistrarEvent::RegistrationUpdated { aor, binding },
        ChangeKind::Evicted => RegistrarEvent::RegistrationRemoved {
            aor,
            binding,
            evicted: true,
        },
        ChangeKind::Expired => RegistrarEvent::RegistrationExpired { aor, binding },
        // Removed, and any kind added later.
        _ => RegistrarEvent::RegistrationRemoved {
            aor,
            binding,
            evicted: false,
        },
    }
}

/// Binding changes as RFC 3680 contact states and events.
fn reg_changes(changes: &[BindingChange]) -> Vec<(Binding, ContactState, ContactEvent)> {
    changes
        .iter()
        .map(|c| {
            let (state, event) = match c.kind {
                ChangeKind::Added | ChangeKind::Updated => {
                    (ContactState::Active, ContactEvent::Registered)
                }
                ChangeKind::Refreshed => (ContactState::Active, ContactEvent::Refreshed),
                ChangeKind::Expired => (ContactState::Terminated, ContactEvent::Expired),
                ChangeKind::Evicted => (ContactState::Terminated, ContactEvent::Deactivated),
                _ => (ContactState::Terminated, ContactEvent::Unregistered),
            };
            (c.binding.clone(), state, event)
        })
        .collect()
}

const fn decision_token(d: WatcherDecision) -> &'static str {
    match d {
        WatcherDecision::Allow => "allow",
        WatcherDecision::Block => "block",
        WatcherDecision::PoliteBlock => "polite-block",
        _ => "confirm",
    }
}

/// The subscription event a NOTIFY stands for: activation (after a decision) or termination.
fn intent_event(n: &NotifyIntent, decision: bool) -> Option<RegistrarEvent> {
    let sref = SubscriptionRef::new(
        n.dialog.call_id.clone(),
        &n.dialog.remote_tag,
        &n.dialog.local_tag,
        n.watcher.clone(),
        n.presentity.clone(),
        n.event.as_str(),
    );
    match n.state.state {
        SubState::Terminated(r) => Some(RegistrarEvent::SubscriptionTerminated {
            subscription: sref,
            reason: r.as_str().to_owned(),
        }),
        SubState::Active if decision && n.event != EventPackage::PresenceWinfo => {
            Some(RegistrarEvent::SubscriptionActivated { subscription: sref })
        }
        _ => None,
    }
}
