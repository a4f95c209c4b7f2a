//! Resource list subscriptions (RFC 4662): one SUBSCRIBE to a user's buddy list URI watches every buddy.
//!
//! The list is the owner's [`BuddyLists`] entry; its URI comes from [`BuddyLists::list_uri`]. Because this
//! server is also the presence server of every buddy, the "back-end subscriptions" of RFC 4662 §4.4 are
//! virtual: each buddy's state is its composed presence as the buddy's watcher rules let the owner see it.
//! Every NOTIFY is `multipart/related` with the RLMI document as its root part and one
//! `application/pidf+xml` part per visible buddy: full state on subscribe, refresh and list change, then only
//! the buddies that changed.
//!
//! An ad-hoc list (RFC 5367, as Linphone subscribes to its friend list): a SUBSCRIBE with
//! `Require: recipient-list-subscribe` carries the list in its body; the subscriber is its owner, each
//! listed resource is shown as the resource's watcher rules let the subscriber see it, and a refresh whose
//! body lists other resources changes the list (full state follows). Ad-hoc lists are kept with their
//! subscription ([`Subscription::resources`]), so they outlive a restart with it.
//!
//! A list subscription to `Event: dialog` (the BLF lists of Yealink and Polycom desk phones: many keys, one
//! SUBSCRIBE) works the same way with one `application/dialog-info+xml` part per visible buddy, each written
//! at the RLMI document's version, so every buddy's dialog-info version grows with each NOTIFY.

use std::fmt::Write as _;
use std::sync::Arc;

use dashmap::DashMap;
use registrar_pidf::{Instance, InstanceState, Note, Resource, ResourceList};
use registrar_types::{Aor, ExpiryIndex, Timestamp};

use crate::Error;
use crate::buddies::{Buddy, BuddyLists};
use crate::event::EventPackage;
use crate::subscribe::{
    DialogId, NotifyIntent, Reason, SubState, SubscribeOutcome, SubscribeRequest, Subscription,
    SubscriptionPolicy, WatcherDecision, plan_subscribe,
};
use crate::watchers::{Subscriptions, intent, short_hash};

/// What the resource list server reads to build a NOTIFY: the buddy lists, the watcher rules, and each
/// buddy's current composed presence (its XML, as [`crate::Presences::presence`] caches it).
#[derive(Clone, Copy)]
pub struct ListContext<'a> {
    lists: &'a BuddyLists,
    subscriptions: &'a Subscriptions,
    presence_of: &'a dyn Fn(&Aor) -> Arc<str>,
    dialogs_of: Option<&'a DocumentOf<'a>>,
}

/// A function from a buddy to its current document.
pub type DocumentOf<'a> = dyn Fn(&Aor) -> Arc<str> + 'a;

impl std::fmt::Debug for ListContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListContext").finish_non_exhaustive()
    }
}

impl<'a> ListContext<'a> {
    /// A context over `lists`, the watcher rules of `subscriptions`, and `presence_of`, which returns a
    /// buddy's composed presence document.
    pub fn new(
        lists: &'a BuddyLists,
        subscriptions: &'a Subscriptions,
        presence_of: &'a dyn Fn(&Aor) -> Arc<str>,
    ) -> Self {
        Self {
            lists,
            subscriptions,
            presence_of,
            dialogs_of: None,
        }
    }

    /// The same context, with `dialogs_of` giving a buddy's composed dialog state (the body of
    /// [`crate::Presences::event_body`] for `dialog`) for `Event: dialog` lists. Without it, such lists
    /// show every buddy idle.
    #[must_use]
    pub fn with_dialogs(mut self, dialogs_of: &'a DocumentOf<'a>) -> Self {
        self.dialogs_of = Some(dialogs_of);
        self
    }

    /// What `owner` sees of `buddy` in `event`.
    fn view(&self, owner: &Aor, buddy: &Aor, event: &EventPackage) -> View {
        let dialog = *event == EventPackage::Dialog;
        match self.subscriptions.decision(buddy, owner) {
            WatcherDecision::Allow if dialog => View::Visible(match self.dialogs_of {
                Some(f) => f(buddy),
                None => self.subscriptions.closed_body(event, buddy),
            }),
            WatcherDecision::Allow => View::Visible((self.presence_of)(buddy)),
            WatcherDecision::PoliteBlock => {
                View::Visible(self.subscriptions.closed_body(event, buddy))
            }
            WatcherDecision::Confirm => View::Pending,
            // Block, and any decision added later: never the real state.
            _ => View::Rejected,
        }
    }
}

/// What a list subscriber sees of one buddy.
enum View {
    /// Active, with this document.
    Visible(Arc<str>),
    /// The buddy has not decided about the owner.
    Pending,
    /// The buddy refused the owner.
    Rejected,
}

/// A subscription to a resource list.
#[derive(Clone, Debug, Eq, PartialEq)]
#[non_exhaustive]
pub struct ListSubscription {
    /// The subscription; its presentity is the list URI and its watcher the list's owner. `version` is the
    /// RLMI version of the last NOTIFY.
    pub subscription: Subscription,
    /// Whose list it is.
    pub owner: Aor,
    /// Buddies whose change rate control held back, to be sent when the interval ends.
    pub waiting: Vec<Aor>,
    /// The list itself changed during the interval: the next NOTIFY carries full state.
    pub full_state_due: bool,
}

/// The resource list server: list subscriptions and the NOTIFYs that buddy changes cause in them.
#[derive(Debug, Default)]
pub struct ResourceLists {
    policy: SubscriptionPolicy,
    subs: DashMap<DialogId, ListSubscription>,
    by_owner: DashMap<Aor, Vec<DialogId>>,
    /// Ad-hoc list subscriptions by the resources they list.
    adhoc_by_member: DashMap<Aor, Vec<DialogId>>,
    expiry: ExpiryIndex<DialogId>,
    deferred: ExpiryIndex<DialogId>,
}

impl ResourceLists {
    /// No list subscriptions; expiry limits, the per-watcher limit and rate control come from `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when the expiries contradict each other.
    pub fn new(policy: SubscriptionPolicy) -> Result<Self, Error> {
        policy.validate()?;
        Ok(Self {
            policy,
            ..Self::default()
        })
    }

    /// Process a SUBSCRIBE whose Request-URI is a buddy list URI (RFC 4662 §4.4). `supports_eventlist` says
    /// whether the request carried `Supported: eventlist`. The answer and every NOTIFY carry
    /// `Require: eventlist`; the first NOTIFY has the full state of the list.
    ///
    /// # Errors
    /// 404 when the URI is not a list URI, 489 for a package other than `presence` and `dialog`, 421
    /// without eventlist support, 403 for anyone but the list's owner, and the errors of [`plan_subscribe`].
    pub fn subscribe(
        &self,
        now: Timestamp,
        req: &SubscribeRequest,
        supports_eventlist: bool,
        ctx: ListContext<'_>,
    ) -> Result<SubscribeOutcome, Error> {
        let existing = self.subs.get(&req.dialog).map(|s| s.subscription.clone());
        let adhoc: Vec<Aor> = match (&req.resources, &existing) {
            (Some(r), _) => r.clone(),
            (None, Some(e)) => e.resources.clone(),
            (None, None) => Vec::new(),
        };
        let owner = if adhoc.is_empty() && req.resources.is_none() {
            ctx.lists
                .owner_of_list(&req.presentity)
                .ok_or(Error::NoSuchList)?
        } else {
            // An ad-hoc list belongs to whoever sent it.
            req.watcher.clone()
        };
        if req.resources.as_ref().is_some_and(Vec::is_empty) {
            return Err(Error::EmptyResourceList);
        }
        if adhoc.len() > MAX_ADHOC_RESOURCES {
            return Err(Error::TooManyResources {
                max: MAX_ADHOC_RESOURCES,
            });
        }
        if !matches!(req.event, EventPackage::Presence | EventPackage::Dialog) {
            return Err(Error::BadEvent(req.event.as_str().to_owned()));
        }
        if !supports_eventlist {
            return Err(Error::EventlistRequired);
        }
        // RFC 4662 §4.1: list NOTIFYs are multipart/related with an RLMI root.
        for needed in ["multipart/related", "application/rlmi+xml"] {
            if !req.accepts(needed) {
                return Err(Error::NotAcceptable(needed));
            }
        }
        // A buddy list is personal: only its owner may watch it.
        let decision = if req.watcher == owner {
            WatcherDecision::Allow
        } else {
            WatcherDecision::Block
        };
        let count = self.by_owner.get(&req.watcher).map_or(0, |d| d.len());
        let version = existing.as_ref().map_or(0, |s| s.version.saturating_add(1));
        let (content_type, body) = full_state(
            &req.dialog,
            &req.presentity,
            &owner,
            &adhoc,
            &req.event,
            version,
            ctx,
        );
        let mut outcome = plan_subscribe(
            now,
            req,
            existing.as_ref(),
            decision,
            count,
            &self.policy,
            &body,
            &body,
        )?;
        outcome.eventlist = true;
        outcome.notify.list_content_type = outcome.notify.body.as_ref().map(|_| content_type);
        if !adhoc.is_empty() && req.event == EventPackage::Presence {
            outcome.notify.event_header = Some("Presence");
        }
        match &mut outcome.subscription {
            Some(sub) => {
                sub.version = version;
                let list = ListSubscription {
                    subscription: sub.clone(),
                    owner,
                    waiting: Vec::new(),
                    full_state_due: false,
                };
                self.store(list, existing.is_none());
            }
            None => {
                self.remove(&req.dialog);
            }
        }
        Ok(outcome)
    }

    /// The NOTIFYs a change of `buddy`'s presence causes: a partial-state NOTIFY with that buddy to every
    /// active `presence` list subscription whose list holds it.
    pub fn buddy_changed(
        &self,
        now: Timestamp,
        buddy: &Aor,
        ctx: ListContext<'_>,
    ) -> Vec<NotifyIntent> {
        self.buddy_changed_in(now, &EventPackage::Presence, buddy, ctx)
    }

    /// [`buddy_changed`](Self::buddy_changed) for the list subscriptions of `event` (`presence`, `dialog`).
    pub fn buddy_changed_in(
        &self,
        now: Timestamp,
        event: &EventPackage,
        buddy: &Aor,
        ctx: ListContext<'_>,
    ) -> Vec<NotifyIntent> {
        let mut dialogs: Vec<DialogId> = ctx
            .lists
            .holders_of(buddy)
            .iter()
            .flat_map(|owner| self.dialogs_of(owner))
            .collect();
        if let Some(d) = self.adhoc_by_member.get(buddy) {
            dialogs.extend(d.iter().cloned());
        }
        dialogs.sort_unstable();
        dialogs.dedup();
        self.changed_in(now, &dialogs, std::slice::from_ref(buddy), Some(event), ctx)
    }

    /// The NOTIFYs a decision of `presentity` about `watcher` causes: when `presentity` is on `watcher`'s
    /// list, a partial-state NOTIFY with its new instance state (active, pending, or terminated with
    /// `reason=rejected`) to the watcher's list subscriptions.
    pub fn watcher_decided(
        &self,
        now: Timestamp,
        presentity: &Aor,
        watcher: &Aor,
        ctx: ListContext<'_>,
    ) -> Vec<NotifyIntent> {
        self.changed_in(
            now,
            &self.dialogs_of(watcher),
            std::slice::from_ref(presentity),
            None,
            ctx,
        )
    }

    /// The NOTIFYs a change of `owner`'s list (a buddy added, removed, renamed) causes: full state to each
    /// of the owner's list subscriptions, since resources came or went.
    pub fn list_changed(
        &self,
        now: Timestamp,
        owner: &Aor,
        ctx: ListContext<'_>,
    ) -> Vec<NotifyIntent> {
        let dialogs = self.dialogs_of(owner);
        let mut out = Vec::new();
        for d in dialogs {
            let Some(mut list) = self.subs.get_mut(&d) else {
                continue;
            };
            // An ad-hoc list is what its SUBSCRIBE said, whatever the buddy list holds.
            if !is_live(&list.subscription, now) || !list.subscription.resources.is_empty() {
                continue;
            }
            if self.hold_back(&mut list, now) {
                list.full_state_due = true;
                continue;
            }
            out.push(send_full(&mut list, now, ctx));
        }
        out
    }

    /// Send what rate control held back and is now due, each buddy with its *current* state: the newest
    /// state wins, and no change is lost.
    pub fn flush_deferred(&self, now: Timestamp, ctx: ListContext<'_>) -> Vec<NotifyIntent> {
        let mut due = self.deferred.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut out = Vec::new();
        for d in due {
            let Some(mut list) = self.subs.get_mut(&d) else {
                continue;
            };
            if list.waiting.is_empty() && !list.full_state_due {
                continue;
            }
            let allowed_at = self.policy.notify_allowed_at(&list.subscription);
            if now < allowed_at {
                self.deferred.insert(&d, allowed_at);
                continue;
            }
            if !is_live(&list.subscription, now) {
                continue;
            }
            if list.full_state_due {
                out.push(send_full(&mut list, now, ctx));
            } else {
                let waiting = std::mem::take(&mut list.waiting);
                if let Some(n) = send_partial(&mut list, &waiting, now, ctx) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// End every list subscription expired at `now`, with a final NOTIFY `terminated;reason=timeout` each.
    pub fn expire(&self, now: Timestamp) -> Vec<NotifyIntent> {
        let mut due = self.expiry.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut out = Vec::new();
        for d in due {
            let expired = self
                .subs
                .get(&d)
                .is_some_and(|s| s.subscription.expires_at <= now);
            if !expired {
                continue;
            }
            if let Some(mut list) = self.remove(&d) {
                let sub = &mut list.subscription;
                sub.notify_cseq = sub.notify_cseq.saturating_add(1);
                sub.state = SubState::Terminated(Reason::Timeout);
                out.push(intent(sub, now, None));
            }
        }
        out
    }

    /// End a list subscription whose NOTIFY failed (481 or a transaction timeout), without a further NOTIFY.
    pub fn drop_subscription(&self, dialog: &DialogId) -> Option<ListSubscription> {
        self.remove(dialog)
    }

    /// The live list subscriptions of `owner`.
    pub fn subscriptions_of(&self, owner: &Aor, now: Timestamp) -> Vec<ListSubscription> {
        self.dialogs_of(owner)
            .iter()
            .filter_map(|d| self.subs.get(d).map(|s| s.clone()))
            .filter(|s| s.subscription.expires_at > now)
            .collect()
    }

    /// Whether an ad-hoc list subscription (RFC 5367) lists `resource`: a cheap check before gathering the
    /// documents a list NOTIFY needs.
    pub fn lists_resource(&self, resource: &Aor) -> bool {
        self.adhoc_by_member.contains_key(resource)
    }

    /// Whether `owner` holds any list subscription (live or waiting for its expiry sweep): a cheap check
    /// before gathering the documents a list NOTIFY needs.
    pub fn has_subscriptions(&self, owner: &Aor) -> bool {
        self.by_owner.contains_key(owner)
    }

    /// The list subscription of `dialog`, if it exists.
    pub fn get(&self, dialog: &DialogId) -> Option<ListSubscription> {
        self.subs.get(dialog).map(|s| s.clone())
    }

    /// How many list subscriptions are live or waiting for their expiry sweep.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether there is no list subscription.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// When the next list subscription may expire.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.next()
    }

    /// When the next held-back NOTIFY may be due.
    pub fn next_flush(&self) -> Option<Timestamp> {
        self.deferred.next()
    }

    /// Take back a list subscription a durable store kept across a restart (its presentity is the list's
    /// URI). Returns `false`, keeping nothing, when it expired by `now`, had ended, names no list of
    /// `lists`, or is already known. CSeq and RLMI version jump ahead by [`crate::RESUME_GAP`], as for
    /// [`crate::Subscriptions::restore`].
    pub fn restore(&self, mut sub: Subscription, lists: &BuddyLists, now: Timestamp) -> bool {
        let owner = if sub.resources.is_empty() {
            let Some(owner) = lists.owner_of_list(&sub.presentity) else {
                return false;
            };
            owner
        } else {
            sub.watcher.clone()
        };
        if sub.expires_at <= now
            || matches!(sub.state, SubState::Terminated(_))
            || self.subs.contains_key(&sub.dialog)
        {
            return false;
        }
        sub.notify_cseq = sub.notify_cseq.saturating_add(crate::RESUME_GAP);
        sub.version = sub.version.saturating_add(u64::from(crate::RESUME_GAP));
        sub.deferred = false;
        self.store(
            ListSubscription {
                subscription: sub,
                owner,
                waiting: Vec::new(),
                full_state_due: false,
            },
            true,
        );
        true
    }

    /// The full-state NOTIFY that tells the owner of a restored list subscription the list's current state.
    /// `None` when the dialog is unknown.
    pub fn resume(
        &self,
        dialog: &DialogId,
        now: Timestamp,
        ctx: ListContext<'_>,
    ) -> Option<NotifyIntent> {
        let mut list = self.subs.get_mut(dialog)?;
        Some(send_full(&mut list, now, ctx))
    }

    /// A partial-state NOTIFY about those of `buddies` each list subscription of `dialogs` holds (of `event`
    /// only, when given), or a deferral.
    fn changed_in(
        &self,
        now: Timestamp,
        dialogs: &[DialogId],
        buddies: &[Aor],
        event: Option<&EventPackage>,
        ctx: ListContext<'_>,
    ) -> Vec<NotifyIntent> {
        let mut out = Vec::new();
        for d in dialogs {
            let Some(mut list) = self.subs.get_mut(d) else {
                continue;
            };
            if !is_live(&list.subscription, now)
                || event.is_some_and(|e| *e != list.subscription.event)
                || !buddies.iter().any(|b| member(&list, b, ctx).is_some())
            {
                continue;
            }
            if self.hold_back(&mut list, now) {
                for b in buddies {
                    if !list.waiting.contains(b) {
                        list.waiting.push(b.clone());
                    }
                }
                continue;
            }
            if let Some(n) = send_partial(&mut list, buddies, now, ctx) {
                out.push(n);
            }
        }
        out
    }

    /// Whether rate control holds back a NOTIFY of `list` at `now`; if so, it is filed to be flushed.
    fn hold_back(&self, list: &mut ListSubscription, now: Timestamp) -> bool {
        let allowed_at = self.policy.notify_allowed_at(&list.subscription);
        if now >= allowed_at {
            return false;
        }
        if list.waiting.is_empty() && !list.full_state_due {
            self.deferred.insert(&list.subscription.dialog, allowed_at);
        }
        true
    }

    fn dialogs_of(&self, owner: &Aor) -> Vec<DialogId> {
        self.by_owner
            .get(owner)
            .map(|d| d.clone())
            .unwrap_or_default()
    }

    fn store(&self, list: ListSubscription, is_new: bool) {
        let dialog = list.subscription.dialog.clone();
        if let Some(old) = self
            .subs
            .get(&dialog)
            .map(|l| l.subscription.resources.clone())
        {
            self.unindex_members(&dialog, &old);
        }
        for r in &list.subscription.resources {
            self.adhoc_by_member
                .entry(r.clone())
                .or_default()
                .push(dialog.clone());
        }
        if is_new {
            self.by_owner
                .entry(list.owner.clone())
                .or_default()
                .push(dialog.clone());
        }
        self.expiry.insert(&dialog, list.subscription.expires_at);
        self.subs.insert(dialog, list);
    }

    fn unindex_members(&self, dialog: &DialogId, resources: &[Aor]) {
        for r in resources {
            if let Some(mut d) = self.adhoc_by_member.get_mut(r) {
                d.retain(|x| x != dialog);
            }
            self.adhoc_by_member.remove_if(r, |_, d| d.is_empty());
        }
    }

    fn remove(&self, dialog: &DialogId) -> Option<ListSubscription> {
        let (_, list) = self.subs.remove(dialog)?;
        self.unindex_members(dialog, &list.subscription.resources);
        if let Some(mut d) = self.by_owner.get_mut(&list.owner) {
            d.retain(|x| x != dialog);
        }
        self.by_owner.remove_if(&list.owner, |_, d| d.is_empty());
        Some(list)
    }
}

/// The most resources an ad-hoc list (RFC 5367) may hold.
pub const MAX_ADHOC_RESOURCES: usize = 1000;

/// `buddy` as `list` holds it: an entry of the owner's buddy list, or a resource of an ad-hoc list.
fn member(list: &ListSubscription, buddy: &Aor, ctx: ListContext<'_>) -> Option<Buddy> {
    if list.subscription.resources.is_empty() {
        ctx.lists.get(&list.owner, buddy)
    } else {
        list.subscription
            .resources
            .contains(buddy)
            .then(|| Buddy::new(buddy.clone()))
    }
}

fn is_live(sub: &Subscription, now: Timestamp) -> bool {
    sub.state == SubState::Active && sub.expires_at > now
}

/// The next NOTIFY of `list`, with full state.
fn send_full(list: &mut ListSubscription, now: Timestamp, ctx: ListContext<'_>) -> NotifyIntent {
    let sub = &mut list.subscription;
    sub.version = sub.version.saturating_add(1);
    let (content_type, body) = full_state(
        &sub.dialog,
        &sub.presentity,
        &list.owner,
        &sub.resources,
        &sub.event,
        sub.version,
        ctx,
    );
    list.waiting.clear();
    list.full_state_due = false;
    next_notify(sub, now, content_type, body)
}

/// The next NOTIFY of `list`, with the state of those `buddies` that are still on the list; `None` when
/// none is.
fn send_partial(
    list: &mut ListSubscription,
    buddies: &[Aor],
    now: Timestamp,
    ctx: ListContext<'_>,
) -> Option<NotifyIntent> {
    let on_list: Vec<Buddy> = buddies
        .iter()
        .filter_map(|b| member(list, b, ctx))
        .collect();
    if on_list.is_empty() {
        return None;
    }
    let sub = &mut list.subscription;
    sub.version = sub.version.saturating_add(1);
    let entries: Vec<(Buddy, View)> = on_list
        .into_iter()
        .map(|b| {
            let view = ctx.view(&list.owner, &b.uri, &sub.event);
            (b, view)
        })
        .collect();
    let (content_type, body) = multipart(
        &sub.dialog,
        &sub.presentity,
        &list.owner,
        &sub.event,
        sub.version,
        false,
        !sub.resources.is_empty(),
        &entries,
    );
    Some(next_notify(sub, now, content_type, body))
}

fn next_notify(
    sub: &mut Subscription,
    now: Timestamp,
    content_type: Arc<str>,
    body: Arc<str>,
) -> NotifyIntent {
    sub.notify_cseq = sub.notify_cseq.saturating_add(1);
    sub.last_notify_at = now;
    let mut n = intent(sub, now, Some(body));
    n.list_content_type = Some(content_type);
    n
}

/// The full state of `owner`'s list: content type and body.
#[allow(clippy::too_many_arguments)]
fn full_state(
    dialog: &DialogId,
    list_uri: &Aor,
    owner: &Aor,
    adhoc: &[Aor],
    event: &EventPackage,
    version: u64,
    ctx: ListContext<'_>,
) -> (Arc<str>, Arc<str>) {
    let members = if adhoc.is_empty() {
        ctx.lists.list(owner)
    } else {
        adhoc.iter().map(|r| Buddy::new(r.clone())).collect()
    };
    let entries: Vec<(Buddy, View)> = members
        .into_iter()
        .map(|b| {
            let view = ctx.view(owner, &b.uri, event);
            (b, view)
        })
        .collect();
    multipart(
        dialog,
        list_uri,
        owner,
        event,
        version,
        true,
        !adhoc.is_empty(),
        &entries,
    )
}

/// A `multipart/related` body (RFC 2387) whose root is the RLMI document and whose further parts are the
/// visible buddies' PIDF documents (RFC 4662 §5); returns the `Content-Type` and the body.
#[allow(clippy::too_many_arguments)]
fn multipart(
    dialog: &DialogId,
    list_uri: &Aor,
    owner: &Aor,
    event: &EventPackage,
    version: u64,
    full: bool,
    adhoc: bool,
    entries: &[(Buddy, View)],
) -> (Arc<str>, Arc<str>) {
    let dialog_key = [
        dialog.call_id.as_str(),
        dialog.remote_tag.as_str(),
        dialog.local_tag.as_str(),
    ];
    let version_text = version.to_string();
    let tag = short_hash(&[dialog_key[0], dialog_key[1], dialog_key[2], &version_text]);
    let domain = owner.domain();
    let mut rlmi = ResourceList::new(list_uri.as_str(), version, full);
    // A dialog-info part carries the RLMI document's version: it grows with every NOTIFY of the
    // subscription, so each resource's documents are strictly increasing as RFC 4235 §4.1 asks.
    let versioned = format!("version=\"{version}\"");
    let mut parts: Vec<(String, std::borrow::Cow<'_, str>)> = Vec::new();
    for (i, (buddy, view)) in entries.iter().enumerate() {
        let mut resource = Resource::new(buddy.uri.as_str());
        if let Some(name) = &buddy.display_name {
            resource.names.push(Note::new(name));
        }
        // Stable for the life of the subscription, as RFC 4662 §5.2 asks of an instance id.
        let id = short_hash(&[
            dialog_key[0],
            dialog_key[1],
            dialog_key[2],
            buddy.uri.as_str(),
        ]);
        let instance = match view {
            View::Visible(doc) => {
                let cid = format!("{tag}.{i}@{domain}");
                let mut inst = Instance::new(&id, InstanceState::Active);
                inst.cid = Some(cid.clone());
                let doc = if *event == EventPackage::Dialog {
                    std::borrow::Cow::Owned(doc.replacen(crate::DIALOG_VERSION_SLOT, &versioned, 1))
                } else {
                    std::borrow::Cow::Borrowed(&**doc)
                };
                parts.push((cid, doc));
                inst
            }
            View::Pending => Instance::new(&id, InstanceState::Pending),
            View::Rejected => {
                let mut inst = Instance::new(&id, InstanceState::Terminated);
                inst.reason = Some(Reason::Rejected.as_str().to_owned());
                inst
            }
        };
        resource.instances.push(instance);
        rlmi.resources.push(resource);
    }
    let root = rlmi.to_xml();
    let root_cid = format!("{tag}@{domain}");
    // The boundary must not occur in any part (RFC 2046 §5.1.1); a hash makes that all but certain, and the
    // check makes it certain.
    let mut boundary = format!("rls-{tag}");
    let mut n = 0u32;
    while root.contains(&boundary) || parts.iter().any(|(_, doc)| doc.contains(&boundary)) {
        n += 1;
        boundary = format!("rls-{tag}-{n}");
    }
    let size = root.len() + parts.iter().map(|(_, d)| d.len() + 160).sum::<usize>() + 256;
    let mut body = String::with_capacity(size);
    write_part(
        &mut body,
        &boundary,
        &root_cid,
        "application/rlmi+xml;charset=\"UTF-8\"",
        &root,
        adhoc,
    );
    let part_type = match event {
        EventPackage::Dialog => "application/dialog-info+xml;charset=\"UTF-8\"",
        _ => "application/pidf+xml;charset=\"UTF-8\"",
    };
    for (cid, doc) in &parts {
        write_part(&mut body, &boundary, cid, part_type, doc, adhoc);
    }
    let _ = write!(body, "--{boundary}--\r\n");
    // The boundary is a token (letters, digits, `-`), written without quotes: belle-sip (Linphone) takes the
    // quotes for part of the boundary and then finds no part.
    let content_type = format!(
        "multipart/related;type=\"application/rlmi+xml\";start=\"<{root_cid}>\";boundary={boundary}"
    );
    (Arc::from(content_type), Arc::from(body))
}

/// One body part. An ad-hoc list's parts name themselves `Content-Id: cid`, without the angle brackets of
/// RFC 2045: liblinphone, the one client of ad-hoc lists, finds a resource's part by comparing the RLMI
/// `cid` with that header's raw value under exactly that name.
fn write_part(
    body: &mut String,
    boundary: &str,
    cid: &str,
    content_type: &str,
    doc: &str,
    adhoc: bool,
) {
    // Writing to a String cannot fail.
    let _ = if adhoc {
        write!(
            body,
            "--{boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-Id: {cid}\r\nContent-Type: {content_type}\r\n\r\n{doc}\r\n"
        )
    } else {
        write!(
            body,
            "--{boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{cid}>\r\nContent-Type: {content_type}\r\n\r\n{doc}\r\n"
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dialog() -> DialogId {
        DialogId::new("c".parse().unwrap(), "f", "t")
    }

    fn aor(s: &str) -> Aor {
        s.parse().unwrap()
    }

    #[test]
    fn boundary_never_occurs_in_a_part() {
        let owner = aor("sip:alice@example.com");
        let list = aor("sip:alice-buddies@example.com");
        let buddy = Buddy::new(aor("sip:bob@example.com"));
        let plain: Arc<str> = Arc::from("<presence/>");
        let (ct, _) = multipart(
            &dialog(),
            &list,
            &owner,
            &EventPackage::Presence,
            0,
            true,
            false,
            &[(buddy.clone(), View::Visible(Arc::clone(&plain)))],
        );
        let boundary = ct.split("boundary=").nth(1).unwrap();
        // A document that happens to contain that boundary forces another one.
        let hostile: Arc<str> = Arc::from(format!("<presence>{boundary}</presence>"));
        let (ct2, body2) = multipart(
            &dialog(),
            &list,
            &owner,
            &EventPackage::Presence,
            0,
            true,
            false,
            &[(buddy, View::Visible(hostile))],
        );
        let b2 = ct2.split("boundary=").nth(1).unwrap();
        assert_ne!(b2, boundary);
        assert_eq!(body2.matches(&format!("--{b2}")).count(), 3);
    }

    #[test]
    fn empty_list_is_the_rlmi_part_alone() {
        let owner = aor("sip:alice@example.com");
        let list = aor("sip:alice-buddies@example.com");
        let (_, body) = multipart(
            &dialog(),
            &list,
            &owner,
            &EventPackage::Presence,
            3,
            false,
            false,
            &[],
        );
        assert_eq!(body.matches("Content-ID:").count(), 1);
        assert!(body.contains("version=\"3\" fullState=\"false\""));
    }
}
