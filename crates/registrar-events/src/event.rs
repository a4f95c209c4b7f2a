//! What changes in a registrar, as events.

use std::sync::Arc;

use registrar_types::{Aor, Binding, CallId, ETag, Timestamp};

/// The kind of an event, for filtering.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A binding was added, refreshed, updated, removed or expired.
    Registration,
    /// A publication was made or expired, or a presentity's composed state changed.
    Presence,
    /// A subscription was created, activated, refreshed or terminated.
    Subscription,
    /// A presentity decided about a watcher.
    Authorization,
    /// A buddy list changed.
    BuddyList,
}

impl EventKind {
    const fn bit(self) -> u8 {
        match self {
            Self::Registration => 1,
            Self::Presence => 2,
            Self::Subscription => 4,
            Self::Authorization => 8,
            Self::BuddyList => 16,
        }
    }
}

/// Who holds a subscription and on what: enough to find it again and to tell who is involved.
#[derive(Clone, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionRef {
    /// The dialog's Call-ID.
    pub call_id: CallId,
    /// The subscriber's tag.
    pub remote_tag: String,
    /// Our tag.
    pub local_tag: String,
    /// Who watches.
    pub watcher: Aor,
    /// What is watched: a presentity, an AoR (`reg`), or a buddy list URI.
    pub resource: Aor,
    /// The event package (`presence`, `presence.winfo`, `reg`).
    pub package: String,
}

impl SubscriptionRef {
    /// A reference to a subscription.
    pub fn new(
        call_id: CallId,
        remote_tag: &str,
        local_tag: &str,
        watcher: Aor,
        resource: Aor,
        package: &str,
    ) -> Self {
        Self {
            call_id,
            remote_tag: remote_tag.to_owned(),
            local_tag: local_tag.to_owned(),
            watcher,
            resource,
            package: package.to_owned(),
        }
    }
}

/// A change to a buddy list.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum BuddyChange {
    /// The buddy was added.
    Added,
    /// The buddy's name or group changed.
    Updated,
    /// The buddy was removed.
    Removed,
}

/// Everything that changes in a registrar.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum RegistrarEvent {
    /// A new binding.
    RegistrationAdded {
        /// The AoR.
        aor: Aor,
        /// The binding.
        binding: Binding,
    },
    /// A binding re-registered with a new expiry (same Call-ID).
    RegistrationRefreshed {
        /// The AoR.
        aor: Aor,
        /// The binding after the refresh.
        binding: Binding,
    },
    /// A binding replaced (a new Call-ID, or a new contact for the same outbound flow).
    RegistrationUpdated {
        /// The AoR.
        aor: Aor,
        /// The binding after the change.
        binding: Binding,
    },
    /// A binding removed by its device, an operator, or to make room under the contact limit.
    RegistrationRemoved {
        /// The AoR.
        aor: Aor,
        /// The binding as it was.
        binding: Binding,
        /// Whether it was evicted by the contact limit rather than removed on request.
        evicted: bool,
    },
    /// A binding's expiry passed.
    RegistrationExpired {
        /// The AoR.
        aor: Aor,
        /// The binding as it was.
        binding: Binding,
    },
    /// A publication was created, refreshed or modified (PUBLISH or the API).
    PresencePublished {
        /// The presentity.
        aor: Aor,
        /// The publication's entity-tag after the request.
        etag: ETag,
        /// When it expires.
        expires_at: Timestamp,
    },
    /// A publication was removed (`Expires: 0`) or expired.
    PresenceExpired {
        /// The presentity.
        aor: Aor,
        /// Its entity-tag.
        etag: ETag,
    },
    /// A presentity's composed state changed; every watcher was told.
    PresenceChanged {
        /// The presentity.
        aor: Aor,
        /// The new composed document (`application/pidf+xml`).
        pidf: Arc<str>,
    },
    /// A subscription was accepted (active or pending).
    SubscriptionCreated {
        /// The subscription.
        subscription: SubscriptionRef,
        /// Whether it is pending the presentity's decision.
        pending: bool,
    },
    /// A pending subscription became active.
    SubscriptionActivated {
        /// The subscription.
        subscription: SubscriptionRef,
    },
    /// A subscription was refreshed.
    SubscriptionRefreshed {
        /// The subscription.
        subscription: SubscriptionRef,
        /// Its new expiry.
        expires_at: Timestamp,
    },
    /// A subscription ended.
    SubscriptionTerminated {
        /// The subscription.
        subscription: SubscriptionRef,
        /// The reason token (`timeout`, `rejected`, `deactivated`, …).
        reason: String,
    },
    /// A presentity decided about a watcher.
    WatcherAuthorized {
        /// The presentity.
        presentity: Aor,
        /// The watcher.
        watcher: Aor,
        /// The decision (`allow`, `block`, `polite-block`, `confirm`).
        decision: String,
    },
    /// A buddy list changed.
    BuddyListChanged {
        /// The list's owner.
        owner: Aor,
        /// The buddy.
        buddy: Aor,
        /// What happened.
        change: BuddyChange,
    },
}

impl RegistrarEvent {
    /// The event's kind.
    pub const fn kind(&self) -> EventKind {
        match self {
            Self::RegistrationAdded { .. }
            | Self::RegistrationRefreshed { .. }
            | Self::RegistrationUpdated { .. }
            | Self::RegistrationRemoved { .. }
            | Self::RegistrationExpired { .. } => EventKind::Registration,
            Self::PresencePublished { .. }
            | Self::PresenceExpired { .. }
            | Self::PresenceChanged { .. } => EventKind::Presence,
            Self::SubscriptionCreated { .. }
            | Self::SubscriptionActivated { .. }
            | Self::SubscriptionRefreshed { .. }
            | Self::SubscriptionTerminated { .. } => EventKind::Subscription,
            Self::WatcherAuthorized { .. } => EventKind::Authorization,
            Self::BuddyListChanged { .. } => EventKind::BuddyList,
        }
    }

    /// The addresses the event is about: the AoR or presentity first, then the other party (watcher, buddy)
    /// when there is one.
    pub fn aors(&self) -> [Option<&Aor>; 2] {
        match self {
            Self::RegistrationAdded { aor, .. }
            | Self::RegistrationRefreshed { aor, .. }
            | Self::RegistrationUpdated { aor, .. }
            | Self::RegistrationRemoved { aor, .. }
            | Self::RegistrationExpired { aor, .. }
            | Self::PresencePublished { aor, .. }
            | Self::PresenceExpired { aor, .. }
            | Self::PresenceChanged { aor, .. } => [Some(aor), None],
            Self::SubscriptionCreated { subscription, .. }
            | Self::SubscriptionActivated { subscription }
            | Self::SubscriptionRefreshed { subscription, .. }
            | Self::SubscriptionTerminated { subscription, .. } => {
                [Some(&subscription.resource), Some(&subscription.watcher)]
            }
            Self::WatcherAuthorized {
                presentity,
                watcher,
                ..
            } => [Some(presentity), Some(watcher)],
            Self::BuddyListChanged { owner, buddy, .. } => [Some(owner), Some(buddy)],
        }
    }
}

/// One event as delivered: its sequence number (strictly increasing by one across the bus, so a gap means
/// missed events) and when it happened.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Envelope {
    /// Sequence number, from 1.
    pub seq: u64,
    /// When it happened (the registrar's clock).
    pub at: Timestamp,
    /// The event.
    pub event: RegistrarEvent,
}

/// Which events a subscriber wants: some kinds, events about one address, or both.
#[derive(Clone, Debug, Default, Eq, PartialEq)]
pub struct EventFilter {
    kinds: u8,
    aor: Option<Aor>,
}

impl EventFilter {
    /// Every event.
    pub const fn all() -> Self {
        Self {
            kinds: 0,
            aor: None,
        }
    }

    /// Only events of these kinds (adds to earlier calls).
    #[must_use]
    pub fn kinds(mut self, kinds: &[EventKind]) -> Self {
        for k in kinds {
            self.kinds |= k.bit();
        }
        self
    }

    /// Only events about `aor` (as the AoR, presentity, watcher, list owner or buddy).
    #[must_use]
    pub fn aor(mut self, aor: Aor) -> Self {
        self.aor = Some(aor);
        self
    }

    /// Whether `event` passes.
    pub fn matches(&self, event: &RegistrarEvent) -> bool {
        if self.kinds != 0 && self.kinds & event.kind().bit() == 0 {
            return false;
        }
        match &self.aor {
            None => true,
            Some(a) => event.aors().iter().flatten().any(|x| *x == a),
        }
    }

    /// Whether events of `kind` can pass (the address part aside).
    pub const fn admits_kind(&self, kind: EventKind) -> bool {
        self.kinds == 0 || self.kinds & kind.bit() != 0
    }

    /// Whether every event passes.
    pub const fn is_all(&self) -> bool {
        self.kinds == 0 && self.aor.is_none()
    }
}
