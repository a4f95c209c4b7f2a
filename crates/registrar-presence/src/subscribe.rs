//! Subscriptions to presence (RFC 6665, RFC 3856): their state machine, watcher authorization, and the
//! NOTIFY intents the SIP layer sends.

use std::fmt;
use std::sync::Arc;

use registrar_pidf::{Basic, Presence, Tuple};
use registrar_types::{Aor, CallId, Timestamp};

use crate::Error;
use crate::event::EventPackage;

/// Identifies a subscription: the dialog its SUBSCRIBE created (RFC 6665 §4.1.2.1).
#[derive(Clone, Debug, Eq, Hash, Ord, PartialEq, PartialOrd)]
#[non_exhaustive]
pub struct DialogId {
    /// Call-ID.
    pub call_id: CallId,
    /// The subscriber's tag (From-tag of the SUBSCRIBE).
    pub remote_tag: String,
    /// Our tag (To-tag of the 200/202).
    pub local_tag: String,
}

impl DialogId {
    /// A dialog identifier.
    pub fn new(call_id: CallId, remote_tag: &str, local_tag: &str) -> Self {
        Self {
            call_id,
            remote_tag: remote_tag.to_owned(),
            local_tag: local_tag.to_owned(),
        }
    }
}

/// Why a subscription ended (RFC 6665 §4.1.3).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum Reason {
    /// Its expiry passed, or the subscriber unsubscribed.
    Timeout,
    /// The presentity refused the watcher.
    Rejected,
    /// Ended by the server; the subscriber may subscribe again at once.
    Deactivated,
    /// The resource no longer exists.
    Noresource,
    /// The server gave up waiting for a decision.
    Giveup,
    /// Ended for now; the subscriber may try later.
    Probation,
}

impl Reason {
    /// The token for `Subscription-State: terminated;reason=…`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Rejected => "rejected",
            Self::Deactivated => "deactivated",
            Self::Noresource => "noresource",
            Self::Giveup => "giveup",
            Self::Probation => "probation",
        }
    }
}

/// A subscription's state.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum SubState {
    /// Waiting for the presentity's decision: notifications carry no presence.
    Pending,
    /// Receiving notifications.
    Active,
    /// Ended.
    Terminated(Reason),
}

/// What a presentity decided about a watcher (RFC 3856 §5.1.2, common authorization practice).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum WatcherDecision {
    /// The watcher sees the presentity's presence.
    Allow,
    /// The SUBSCRIBE is refused (403); existing subscriptions end with `reason=rejected`.
    Block,
    /// The subscription looks active, but the watcher only ever sees `closed`.
    PoliteBlock,
    /// The subscription stays pending until the presentity decides.
    Confirm,
}

/// What a presentity's watchers get when it has no rule for them.
#[derive(Clone, Copy, Debug, Default, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub enum DefaultWatcherPolicy {
    /// Everyone is allowed.
    Allow,
    /// Everyone waits for a decision.
    Confirm,
    /// Everyone is refused.
    Block,
    /// Watchers of the presentity's own domain are allowed, others wait for a decision (the server's default).
    #[default]
    SameDomainElseConfirm,
}

impl DefaultWatcherPolicy {
    /// The decision for `watcher` watching `presentity` without an explicit rule. A user always sees
    /// themselves.
    pub fn decide(self, watcher: &Aor, presentity: &Aor) -> WatcherDecision {
        if watcher == presentity {
            return WatcherDecision::Allow;
        }
        match self {
            Self::Allow => WatcherDecision::Allow,
            Self::Confirm => WatcherDecision::Confirm,
            Self::Block => WatcherDecision::Block,
            Self::SameDomainElseConfirm if watcher.hostport() == presentity.hostport() => {
                WatcherDecision::Allow
            }
            Self::SameDomainElseConfirm => WatcherDecision::Confirm,
        }
    }
}

/// A subscription to a presentity.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct Subscription {
    /// Its dialog.
    pub dialog: DialogId,
    /// Who watches.
    pub watcher: Aor,
    /// Whom.
    pub presentity: Aor,
    /// The event package.
    pub event: EventPackage,
    /// When it expires.
    pub expires_at: Timestamp,
    /// Its state.
    pub state: SubState,
    /// The authorization it was last given.
    pub decision: WatcherDecision,
    /// CSeq of the last NOTIFY sent in its dialog.
    pub notify_cseq: u32,
    /// Version of the last watcherinfo or reginfo document sent (RFC 3858 §4.2, RFC 3680 §5.2).
    pub version: u64,
    /// When the last NOTIFY was sent (for rate control).
    pub last_notify_at: Timestamp,
    /// A change arrived too soon after the last NOTIFY and waits to be sent (newest state wins).
    pub deferred: bool,
    /// When it was created.
    pub created_at: Timestamp,
    /// The body types the subscriber accepts (its `Accept` header; empty when it sent none, which means the
    /// package's default type).
    pub accept: Vec<String>,
    /// What the SIP layer needs to send NOTIFYs in this dialog (its route), opaque here: kept with the
    /// subscription so that a durable store can hand it back on restart. `None` when the caller keeps routes
    /// elsewhere.
    pub route: Option<Arc<str>>,
    /// The resources of an ad-hoc resource list subscription (RFC 5367: the list came in the SUBSCRIBE's
    /// body); empty for every other subscription.
    pub resources: Vec<Aor>,
}

impl Subscription {
    /// A subscription in its first state (active, allowed, no NOTIFY sent yet), for stores that rebuild one
    /// from a record; set the other fields after.
    pub fn new(
        dialog: DialogId,
        watcher: Aor,
        presentity: Aor,
        event: EventPackage,
        expires_at: Timestamp,
        created_at: Timestamp,
    ) -> Self {
        Self {
            dialog,
            watcher,
            presentity,
            event,
            expires_at,
            state: SubState::Active,
            decision: WatcherDecision::Allow,
            notify_cseq: 0,
            version: 0,
            last_notify_at: created_at,
            deferred: false,
            created_at,
            accept: Vec::new(),
            route: None,
            resources: Vec::new(),
        }
    }
}

/// One SUBSCRIBE, as the SIP layer hands it over.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SubscribeRequest {
    /// The dialog (existing for a refresh, new for an initial SUBSCRIBE).
    pub dialog: DialogId,
    /// The subscriber (From).
    pub watcher: Aor,
    /// The presentity (Request-URI).
    pub presentity: Aor,
    /// The `Event` package.
    pub event: EventPackage,
    /// `Expires`.
    pub expires: Option<u32>,
    /// Whether the SUBSCRIBE was sent inside the dialog (it carried a To-tag): a refresh or unsubscribe.
    pub refresh: bool,
    /// The media ranges of its `Accept` header, without parameters (empty when it had none).
    pub accept: Vec<String>,
    /// The dialog's route as the SIP layer encodes it (see [`Subscription::route`]); a refresh without one
    /// keeps the stored route.
    pub route: Option<Arc<str>>,
    /// The resources of the list the SUBSCRIBE carried in its body (RFC 5367,
    /// `Require: recipient-list-subscribe`), for an ad-hoc resource list subscription; `None` when it carried
    /// none (a refresh of an ad-hoc list without a body keeps its resources).
    pub resources: Option<Vec<Aor>>,
}

impl SubscribeRequest {
    /// An initial SUBSCRIBE to `presence`.
    pub const fn new(dialog: DialogId, watcher: Aor, presentity: Aor) -> Self {
        Self {
            dialog,
            watcher,
            presentity,
            event: EventPackage::Presence,
            expires: None,
            refresh: false,
            accept: Vec::new(),
            route: None,
            resources: None,
        }
    }

    /// The same request carrying an ad-hoc resource list (RFC 5367).
    #[must_use]
    pub fn with_resources(mut self, resources: Vec<Aor>) -> Self {
        self.resources = Some(resources);
        self
    }

    /// The same request sent inside its dialog (a refresh, or with `Expires: 0` an unsubscribe).
    #[must_use]
    pub const fn in_dialog(mut self) -> Self {
        self.refresh = true;
        self
    }

    /// Set `Expires`.
    #[must_use]
    pub const fn expires(mut self, secs: u32) -> Self {
        self.expires = Some(secs);
        self
    }

    /// Set the `Accept` media ranges from the header's value (`application/pidf+xml, multipart/related;q=0.5`):
    /// parameters are dropped, types lower-cased.
    #[must_use]
    pub fn accept(mut self, header: &str) -> Self {
        self.accept = header
            .split(',')
            .filter_map(|range| {
                let t = range.split(';').next().unwrap_or("").trim();
                (!t.is_empty()).then(|| t.to_ascii_lowercase())
            })
            .collect();
        self
    }

    /// Whether the subscriber accepts `media_type` (RFC 3261 §20.1: no `Accept` means the package's default
    /// type; `*/*` and `type/*` match).
    pub fn accepts(&self, media_type: &str) -> bool {
        if self.accept.is_empty() {
            return true;
        }
        let main = media_type.split('/').next().unwrap_or("");
        self.accept.iter().any(|range| {
            range == "*/*"
                || range.eq_ignore_ascii_case(media_type)
                || range
                    .strip_suffix("/*")
                    .is_some_and(|m| m.eq_ignore_ascii_case(main))
        })
    }

    /// Set the package.
    #[must_use]
    pub fn event(mut self, event: EventPackage) -> Self {
        self.event = event;
        self
    }
}

/// The `Subscription-State` of a NOTIFY (RFC 6665 §8.2.3).
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
#[non_exhaustive]
pub struct SubscriptionStateHeader {
    /// The state.
    pub state: SubState,
    /// Seconds left, for active and pending states.
    pub expires: Option<u64>,
}

impl fmt::Display for SubscriptionStateHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.state {
            SubState::Active => f.write_str("active")?,
            SubState::Pending => f.write_str("pending")?,
            SubState::Terminated(r) => return write!(f, "terminated;reason={}", r.as_str()),
        }
        if let Some(e) = self.expires {
            write!(f, ";expires={e}")?;
        }
        Ok(())
    }
}

/// A NOTIFY to send: everything the SIP layer needs besides the dialog's route.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct NotifyIntent {
    /// The subscription's dialog.
    pub dialog: DialogId,
    /// The watcher.
    pub watcher: Aor,
    /// The presentity.
    pub presentity: Aor,
    /// The package (`Event` header).
    pub event: EventPackage,
    /// `Subscription-State`.
    pub state: SubscriptionStateHeader,
    /// The body (`application/pidf+xml`), shared by every watcher of the same state; `None` for a NOTIFY
    /// without body (pending, terminated).
    pub body: Option<Arc<str>>,
    /// CSeq for this NOTIFY in the dialog.
    pub cseq: u32,
    /// The `Content-Type` of a resource list NOTIFY (RFC 4662 `multipart/related` with its `type`, `start`
    /// and `boundary` parameters); `None` for the package's own type.
    pub list_content_type: Option<Arc<str>>,
    /// For a `dialog` NOTIFY: the subscription's document version (RFC 4235 §4.1), which
    /// [`body_text`](Self::body_text) writes into the shared body in place of
    /// [`crate::DIALOG_VERSION_SLOT`].
    pub version: Option<u64>,
    /// The `Event` header's token when it is not the package's own name: `Presence` for an ad-hoc list
    /// (RFC 5367), which liblinphone, the one client of such lists, dispatches on exactly (see
    /// docs/interop.md); `None` otherwise.
    pub event_header: Option<&'static str>,
}

impl NotifyIntent {
    /// The `Content-Type` to send: `application/pidf+xml`, `application/watcherinfo+xml` for
    /// `presence.winfo`, `application/reginfo+xml` for `reg` — exactly, without parameters (some phones refuse
    /// them) —, the `multipart/related` type of a resource list NOTIFY, or none without body.
    pub fn content_type(&self) -> Option<&str> {
        let ct = match &self.list_content_type {
            Some(list) => list,
            None => self.event.body_type().unwrap_or("application/pidf+xml"),
        };
        self.body.as_ref().map(|_| ct)
    }

    /// The body as sent: the shared body, with this subscription's version in the slot of a `dialog`
    /// document (one copy made per NOTIFY, while it is written out anyway).
    pub fn body_text(&self) -> Option<std::borrow::Cow<'_, str>> {
        let body = self.body.as_deref()?;
        Some(match self.version {
            Some(v) if body.contains(crate::DIALOG_VERSION_SLOT) => std::borrow::Cow::Owned(
                body.replacen(crate::DIALOG_VERSION_SLOT, &format!("version=\"{v}\""), 1),
            ),
            _ => std::borrow::Cow::Borrowed(body),
        })
    }

    /// Whether the NOTIFY belongs to a resource list subscription and must carry `Require: eventlist`
    /// (RFC 4662 §4.4).
    pub const fn requires_eventlist(&self) -> bool {
        self.list_content_type.is_some()
    }
}

/// What a SUBSCRIBE did.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SubscribeOutcome {
    /// 200 when active, 202 when pending.
    pub status: u16,
    /// The expiry granted (`Expires` of the answer).
    pub expires: u32,
    /// The NOTIFY to send at once, with the full state.
    pub notify: NotifyIntent,
    /// The subscription after the request (`None` when it ended: unsubscribe or fetch).
    pub subscription: Option<Subscription>,
    /// Further NOTIFYs the request causes: partial watcher information to the presentity's
    /// `presence.winfo` subscribers when a watcher comes, goes or changes state.
    pub also_notify: Vec<NotifyIntent>,
    /// Whether the answer is to a resource list subscription and carries `Require: eventlist` (RFC 4662
    /// §4.1).
    pub eventlist: bool,
}

/// Limits and defaults of subscriptions.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SubscriptionPolicy {
    /// Shortest non-zero expiry (default 60); shorter gets 423.
    pub min_expires: u32,
    /// Expiry of a SUBSCRIBE without `Expires` (default 3600, RFC 3856 §6.4).
    pub default_expires: u32,
    /// Longest expiry granted (default 86400).
    pub max_expires: u32,
    /// Most subscriptions one watcher may hold (default 1000).
    pub max_per_watcher: usize,
    /// What watchers without an explicit rule get.
    pub default_watcher_policy: DefaultWatcherPolicy,
    /// Shortest time between two NOTIFYs of one subscription caused by state changes, in milliseconds
    /// (default 0: off). Changes inside the interval are coalesced: one NOTIFY with the newest state is sent
    /// when the interval ends, so nothing is lost.
    pub min_notify_interval_ms: u64,
}

impl SubscriptionPolicy {
    /// Check that the policy does not contradict itself.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when the expiries do not satisfy `0 < min <= default <= max`.
    pub const fn validate(&self) -> Result<(), Error> {
        if self.min_expires == 0
            || self.min_expires > self.default_expires
            || self.default_expires > self.max_expires
        {
            return Err(Error::InvalidPolicy(
                "subscription expiries must satisfy 0 < min <= default <= max",
            ));
        }
        Ok(())
    }

    /// The earliest instant rate control lets `sub` be notified of a state change again.
    pub(crate) fn notify_allowed_at(&self, sub: &Subscription) -> Timestamp {
        sub.last_notify_at
            .saturating_add(std::time::Duration::from_millis(
                self.min_notify_interval_ms,
            ))
    }
}

impl Default for SubscriptionPolicy {
    fn default() -> Self {
        Self {
            min_expires: 60,
            default_expires: 3600,
            max_expires: 86_400,
            max_per_watcher: 1000,
            default_watcher_policy: DefaultWatcherPolicy::default(),
            min_notify_interval_ms: 0,
        }
    }
}

/// Apply one SUBSCRIBE at `now` (RFC 6665 §4.2.1). `existing` is the subscription of the request's dialog,
/// if any; `decision` is the presentity's decision about the watcher; `watcher_count` how many live
/// subscriptions the watcher already holds; `presence` the presentity's composed document (for active
/// subscriptions) and `closed` the document a politely blocked watcher sees.
///
/// # Errors
/// 489 for another package, 406 when the subscriber does not accept the package's body type, 423 below the
/// minimum expiry, 403 for a blocked watcher, 503 past the watcher's
/// limit, 481 for a refresh of a subscription that is gone.
#[allow(clippy::too_many_arguments)]
pub fn plan_subscribe(
    now: Timestamp,
    req: &SubscribeRequest,
    existing: Option<&Subscription>,
    decision: WatcherDecision,
    watcher_count: usize,
    policy: &SubscriptionPolicy,
    presence: &Arc<str>,
    closed: &Arc<str>,
) -> Result<SubscribeOutcome, Error> {
    let Some(body_type) = req.event.body_type() else {
        return Err(Error::BadEvent(req.event.as_str().to_owned()));
    };
    let asked = req.expires.unwrap_or(policy.default_expires);
    if asked != 0 && asked < policy.min_expires {
        return Err(Error::IntervalTooBrief {
            min: policy.min_expires,
        });
    }
    let expires = asked.min(policy.max_expires);
    if !req.accepts(body_type) {
        return Err(Error::NotAcceptable(body_type));
    }
    let existing =
        existing.filter(|s| s.expires_at > now && !matches!(s.state, SubState::Terminated(_)));
    if existing.is_none() && req.refresh {
        // A refresh names a dialog we gave out; if its subscription is gone, so is the dialog (481).
        return Err(Error::NoSuchSubscription);
    }
    if decision == WatcherDecision::Block {
        return Err(Error::Forbidden);
    }
    if existing.is_none() && expires != 0 && watcher_count >= policy.max_per_watcher {
        return Err(Error::TooManySubscriptions {
            max: policy.max_per_watcher,
        });
    }
    let state = if decision == WatcherDecision::Confirm {
        SubState::Pending
    } else {
        SubState::Active
    };
    let cseq = existing.map_or(1, |s| s.notify_cseq.saturating_add(1));
    let body = match (decision, expires) {
        (WatcherDecision::Allow, _) => Some(Arc::clone(presence)),
        (WatcherDecision::PoliteBlock, _) => Some(Arc::clone(closed)),
        _ => None,
    };
    let status = if state == SubState::Pending { 202 } else { 200 };
    if expires == 0 {
        // Unsubscribe (or a fetch): one NOTIFY with the current state, then the subscription is over.
        let notify = NotifyIntent {
            dialog: req.dialog.clone(),
            watcher: req.watcher.clone(),
            presentity: req.presentity.clone(),
            event: req.event.clone(),
            state: SubscriptionStateHeader {
                state: SubState::Terminated(Reason::Timeout),
                expires: None,
            },
            version: dialog_version(
                &req.event,
                &body,
                existing.map_or(0, |s| s.version.saturating_add(1)),
            ),
            body,
            cseq,
            list_content_type: None,
            event_header: None,
        };
        return Ok(SubscribeOutcome {
            status,
            expires: 0,
            notify,
            subscription: None,
            also_notify: Vec::new(),
            eventlist: false,
        });
    }
    let sub = Subscription {
        dialog: req.dialog.clone(),
        watcher: req.watcher.clone(),
        presentity: req.presentity.clone(),
        event: req.event.clone(),
        expires_at: now.plus_secs(u64::from(expires)),
        state,
        decision,
        notify_cseq: cseq,
        version: existing.map_or(0, |s| s.version),
        last_notify_at: now,
        deferred: false,
        created_at: existing.map_or(now, |s| s.created_at),
        accept: req.accept.clone(),
        route: req
            .route
            .clone()
            .or_else(|| existing.and_then(|s| s.route.clone())),
        resources: req
            .resources
            .clone()
            .unwrap_or_else(|| existing.map_or_else(Vec::new, |s| s.resources.clone())),
    };
    let notify = NotifyIntent {
        dialog: sub.dialog.clone(),
        watcher: sub.watcher.clone(),
        presentity: sub.presentity.clone(),
        event: sub.event.clone(),
        state: SubscriptionStateHeader {
            state,
            expires: Some(u64::from(expires)),
        },
        version: dialog_version(&sub.event, &body, sub.version),
        body,
        cseq,
        list_content_type: None,
        event_header: None,
    };
    Ok(SubscribeOutcome {
        status,
        expires,
        notify,
        subscription: Some(sub),
        also_notify: Vec::new(),
        eventlist: false,
    })
}

/// The version a `dialog` NOTIFY with a body carries.
pub(crate) fn dialog_version(
    event: &EventPackage,
    body: &Option<Arc<str>>,
    version: u64,
) -> Option<u64> {
    (*event == EventPackage::Dialog && body.is_some()).then_some(version)
}

/// The document a politely blocked watcher sees: the presentity, closed.
pub fn closed_document(presentity: &Aor) -> Presence {
    let mut p = Presence::new(presentity.as_str());
    p.tuples.push(Tuple::new("polite-block", Basic::Closed));
    p
}
