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
    Buddy, BuddyLists, BuddyPresence, ComposedPresence, DialogId, EventBody, EventPackage,
    ListContext, MemoryPresenceStore, NotifyIntent, PresencePolicy, PresenceStore, Presences,
    PublishKind, PublishRequest, PublishResult, ResourceLists, StoredPresence, SubState,
    SubscribeOutcome, SubscribeRequest, Subscription, SubscriptionChange, SubscriptionPolicy,
    SubscriptionStore, Subscriptions, WatcherDecision,
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

pub use calls::CallReport;

mod background;
mod buddies;
mod calls;
mod fanout;
mod nodes;
mod presence;
mod push;
mod registrations;
mod restart;
#[cfg(test)]
mod seams;
mod subscriptions;

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
    settings: Settings,
}

/// What a [`ServiceBuilder`] holds besides the two stores (which set its type).
struct Settings {
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
    call_activity: Option<String>,
    call_state_expires: u32,
    push: Option<(Arc<dyn crate::push::PushSender>, crate::push::PushPolicy)>,
}

impl<L, P> std::fmt::Debug for ServiceBuilder<L, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceBuilder")
            .field("mode", &self.settings.mode)
            .finish_non_exhaustive()
    }
}

impl<L: LocationStore + 'static, P: PresenceStore + 'static> ServiceBuilder<L, P> {
    /// Keep registrations in `store` instead of memory.
    pub fn location_store<L2: LocationStore + 'static>(self, store: L2) -> ServiceBuilder<L2, P> {
        ServiceBuilder {
            location: store,
            presence: self.presence,
            settings: self.settings,
        }
    }

    /// Keep publications in `store` instead of memory.
    pub fn presence_store<P2: PresenceStore + 'static>(self, store: P2) -> ServiceBuilder<L, P2> {
        ServiceBuilder {
            location: self.location,
            presence: store,
            settings: self.settings,
        }
    }

    /// Look for due expiries at least this often (default an hour). The background task sleeps until the
    /// next deadline it knows; with a store shared by several nodes, another node may file an earlier one,
    /// so shared stores want a short bound (a second).
    #[must_use]
    pub const fn max_sleep(mut self, max: Duration) -> Self {
        self.settings.max_sleep = max;
        self
    }

    /// Keep subscriptions in `store` as well as in memory, so that they outlive a restart (none by default:
    /// subscriptions then live in memory only). Every subscription change is recorded before its answer or
    /// NOTIFY leaves; [`RegistrarService::restore_subscriptions`] takes them back.
    #[must_use]
    pub fn subscription_store(mut self, store: Arc<dyn SubscriptionStore>) -> Self {
        self.settings.subscription_store = Some(store);
        self
    }

    /// The REGISTER rules' limits.
    #[must_use]
    pub fn registrar_policy(mut self, policy: RegistrarPolicy) -> Self {
        self.settings.registrar_policy = policy;
        self
    }

    /// The PUBLISH rules' limits.
    #[must_use]
    pub fn presence_policy(mut self, policy: PresencePolicy) -> Self {
        self.settings.presence_policy = policy;
        self
    }

    /// The SUBSCRIBE rules' limits, default watcher policy and NOTIFY rate control.
    #[must_use]
    pub fn subscription_policy(mut self, policy: SubscriptionPolicy) -> Self {
        self.settings.subscription_policy = policy;
        self
    }

    /// The clock (the system clock by default; a `ManualClock` in tests).
    #[must_use]
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.settings.clock = clock;
        self
    }

    /// Where events go (an [`InProcessBus`] by default).
    #[must_use]
    pub fn event_bus(mut self, bus: Arc<dyn EventBus>) -> Self {
        self.settings.bus = bus;
        self
    }

    /// Where NOTIFYs go ([`NoNotifier`] by default).
    #[must_use]
    pub fn notifier(mut self, notifier: Arc<dyn Notifier>) -> Self {
        self.settings.notifier = notifier;
        self
    }

    /// P2P (the default) or B2BUA.
    #[must_use]
    pub const fn mode(mut self, mode: Mode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// Whether users of one domain are put on each other's buddy lists on first registration (default: on
    /// in B2BUA mode, off in P2P mode).
    #[must_use]
    pub const fn automatic_buddy_lists(mut self, on: bool) -> Self {
        self.settings.automatic_buddy_lists = Some(on);
        self
    }

    /// Most buddies per list (default 1000).
    #[must_use]
    pub const fn max_buddies(mut self, max: usize) -> Self {
        self.settings.max_buddies = max;
        self
    }

    /// What follows a user's name in the URI of their buddy list (default `-buddies`).
    #[must_use]
    pub fn buddy_list_suffix(mut self, suffix: &str) -> Self {
        self.settings.list_suffix = Some(suffix.to_owned());
        self
    }

    /// The RPID activity a user's composed presence shows while one of their reported calls is confirmed
    /// (default `on-the-phone`; `None`: reported calls leave presence alone). See
    /// [`RegistrarService::report_call`].
    #[must_use]
    pub fn call_activity(mut self, activity: Option<&str>) -> Self {
        self.settings.call_activity = activity.map(str::to_owned);
        self
    }

    /// How long reported call state lives after the last report of the user (default 43 200 s, 12 hours):
    /// a SIP stack that died does not leave its users on the phone for ever.
    #[must_use]
    pub const fn call_state_expires(mut self, secs: u32) -> Self {
        self.settings.call_state_expires = secs;
        self
    }

    /// Wake sleeping devices with push notifications (RFC 8599) through `sender`, as `policy` says: REGISTERs
    /// with push parameters are checked, their 2xx carry `Feature-Caps`, [`RegistrarService::reach`] pushes
    /// before a request is forked, and devices that cannot refresh by themselves are pushed before their
    /// binding expires. Off by default: push parameters are then kept in the Contact and nothing else.
    #[must_use]
    pub fn push(
        mut self,
        sender: Arc<dyn crate::push::PushSender>,
        policy: crate::push::PushPolicy,
    ) -> Self {
        self.settings.push = Some((sender, policy));
        self
    }

    /// The service.
    ///
    /// # Errors
    /// A policy that contradicts itself.
    pub fn build(self) -> Result<RegistrarService<L, P>, Error> {
        let mut buddies = BuddyLists::new(self.settings.max_buddies);
        if let Some(s) = &self.settings.list_suffix {
            buddies = buddies.with_list_suffix(s)?;
        }
        let automatic = self
            .settings
            .automatic_buddy_lists
            .unwrap_or(self.settings.mode == Mode::B2BUA);
        let (shutdown, _) = watch::channel(false);
        Ok(RegistrarService {
            inner: Arc::new(Inner {
                registry: Registry::new(self.location, self.settings.registrar_policy)?,
                presences: Presences::new(self.presence, self.settings.presence_policy)?,
                subs: Subscriptions::new(self.settings.subscription_policy.clone())?,
                lists: ResourceLists::new(self.settings.subscription_policy)?,
                buddies,
                bus: self.settings.bus,
                notifier: self.settings.notifier,
                sub_store: self.settings.subscription_store,
                max_sleep: self.settings.max_sleep,
                clock: self.settings.clock,
                mode: self.settings.mode,
                automatic_buddy_lists: automatic,
                wake: Notify::new(),
                sleeping_until: AtomicU64::new(AWAKE),
                shutdown,
                task: Mutex::new(None),
                list_locks: (0..64).map(|_| tokio::sync::Mutex::new(())).collect(),
                list_locks_hasher: std::collections::hash_map::RandomState::new(),
                call_activity: self.settings.call_activity,
                call_state_expires: self.settings.call_state_expires,
                push: self
                    .settings
                    .push
                    .map(|(sender, policy)| push::PushState::new(sender, policy)),
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
    /// The RPID activity shown during a confirmed reported call.
    call_activity: Option<String>,
    /// How long reported call state lives after its last report.
    call_state_expires: u32,
    /// Push notifications, when configured.
    push: Option<push::PushState>,
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
            settings: Settings {
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
                call_activity: Some("on-the-phone".to_owned()),
                call_state_expires: 43_200,
                push: None,
            },
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

impl UsersPage {
    /// A page of `users`, continuing after `next`.
    pub const fn new(users: Vec<Aor>, next: Option<Aor>) -> Self {
        Self { users, next }
    }
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
                ChangeKind::Evicted | ChangeKind::Unreachable => {
                    (ContactState::Terminated, ContactEvent::Deactivated)
                }
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
