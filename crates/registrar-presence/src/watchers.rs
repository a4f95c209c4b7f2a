//! Subscriptions of every presentity and the presentities' watcher rules, in memory.

use std::sync::Arc;

use dashmap::DashMap;
use registrar_pidf::{
    ContactEvent, ContactState, DocState, RegContact, RegInfo, Registration, RegistrationState,
    Watcher, WatcherEvent, WatcherInfo, WatcherList, WatcherStatus,
};
use registrar_types::{Aor, Binding, ExpiryIndex, Timestamp};

use crate::Error;
use crate::event::EventPackage;
use crate::subscribe::{
    DialogId, NotifyIntent, Reason, SubState, SubscribeOutcome, SubscribeRequest, Subscription,
    SubscriptionPolicy, SubscriptionStateHeader, WatcherDecision, closed_document, dialog_version,
    plan_subscribe,
};

/// How far a restored subscription's NOTIFY CSeq and document version jump ahead of the stored ones (see
/// [`Subscriptions::restore`]).
pub const RESUME_GAP: u32 = 1000;

/// Subscriptions and watcher rules. Every operation returns the NOTIFYs it causes; nothing is sent here.
///
/// Fan-out shares one body: [`Subscriptions::notify_change`] clones an `Arc<str>` per watcher, it never
/// rebuilds a document.
#[derive(Debug, Default)]
pub struct Subscriptions {
    policy: SubscriptionPolicy,
    by_dialog: DashMap<DialogId, Subscription>,
    by_presentity: DashMap<Aor, Vec<DialogId>>,
    winfo_by_presentity: DashMap<Aor, Vec<DialogId>>,
    reg_by_aor: DashMap<Aor, Vec<DialogId>>,
    dialog_by_presentity: DashMap<Aor, Vec<DialogId>>,
    mwi_by_presentity: DashMap<Aor, Vec<DialogId>>,
    by_watcher: DashMap<Aor, Vec<DialogId>>,
    rules: DashMap<(Aor, Aor), WatcherDecision>,
    closed: DashMap<Aor, Arc<str>>,
    closed_dialogs: DashMap<Aor, Arc<str>>,
    expiry: ExpiryIndex<DialogId>,
    deferred: ExpiryIndex<DialogId>,
}

impl Subscriptions {
    /// No subscriptions, with `policy`.
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

    /// The decision for `watcher` of `presentity`: its rule, or the default policy.
    pub fn decision(&self, presentity: &Aor, watcher: &Aor) -> WatcherDecision {
        self.rules
            .get(&(presentity.clone(), watcher.clone()))
            .map_or_else(
                || {
                    self.policy
                        .default_watcher_policy
                        .decide(watcher, presentity)
                },
                |d| *d,
            )
    }

    /// Process a SUBSCRIBE at `now`; `presence` is the presentity's composed document (its XML).
    ///
    /// # Errors
    /// See [`plan_subscribe`].
    pub fn subscribe(
        &self,
        now: Timestamp,
        req: &SubscribeRequest,
        presence: &Arc<str>,
    ) -> Result<SubscribeOutcome, Error> {
        if req.event == EventPackage::Reg {
            // The body of a `reg` subscription comes from the location service.
            return self.subscribe_reg(now, req, &[]);
        }
        let winfo = req.event == EventPackage::PresenceWinfo;
        let existing = self.by_dialog.get(&req.dialog).map(|s| s.clone());
        // Only the presentity may see who watches it (RFC 3857 §5.1.1 leaves the policy to us), and only the
        // mailbox's owner its message summary (voicemail counts are nobody else's business).
        let owner_only = winfo || req.event == EventPackage::MessageSummary;
        let decision = if owner_only {
            if req.watcher == req.presentity {
                WatcherDecision::Allow
            } else {
                WatcherDecision::Block
            }
        } else {
            self.decision(&req.presentity, &req.watcher)
        };
        let closed = self.closed_body(&req.event, &req.presentity);
        let version = existing.as_ref().map_or(0, |s| s.version.saturating_add(1));
        let body = if winfo {
            Arc::from(self.full_winfo(&req.presentity, version, now))
        } else {
            Arc::clone(presence)
        };
        let mut outcome = self.plan(
            now,
            req,
            existing.as_ref(),
            decision,
            version,
            &body,
            &closed,
        )?;
        match &mut outcome.subscription {
            Some(sub) => {
                let changed = existing.as_ref().is_none_or(|e| e.state != sub.state);
                if sub.event == EventPackage::Presence && changed {
                    outcome.also_notify =
                        self.winfo_changes(&sub.presentity, &[(sub.clone(), sub.state)], now);
                }
            }
            None => {
                if let Some(old) = existing {
                    self.remove(&req.dialog);
                    if old.event == EventPackage::Presence {
                        let state = SubState::Terminated(Reason::Timeout);
                        let presentity = old.presentity.clone();
                        outcome.also_notify = self.winfo_changes(&presentity, &[(old, state)], now);
                    }
                }
            }
        }
        Ok(outcome)
    }

    /// The NOTIFYs that a change of `presentity`'s composed presence causes: one per active, allowed
    /// subscription, all sharing `presence`. Pending and politely blocked watchers are not told. A
    /// subscription notified less than `min_notify_interval_ms` ago is deferred instead (see
    /// [`flush_deferred`](Self::flush_deferred)).
    pub fn notify_change(
        &self,
        presentity: &Aor,
        presence: &Arc<str>,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        self.notify_event(&EventPackage::Presence, presentity, presence, now)
    }

    /// [`notify_change`](Self::notify_change) for the subscriptions of `event` (`presence`, `dialog`,
    /// `message-summary`), all sharing `body`; a `dialog` NOTIFY carries its subscription's next version.
    pub fn notify_event(
        &self,
        event: &EventPackage,
        presentity: &Aor,
        body: &Arc<str>,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        let Some(dialogs) = self.index_of(event).get(presentity).map(|d| d.clone()) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(dialogs.len());
        for d in dialogs {
            let Some(mut sub) = self.by_dialog.get_mut(&d) else {
                continue;
            };
            if sub.state != SubState::Active
                || sub.decision != WatcherDecision::Allow
                || sub.expires_at <= now
            {
                continue;
            }
            let allowed_at = self.policy.notify_allowed_at(&sub);
            if now < allowed_at {
                if !sub.deferred {
                    sub.deferred = true;
                    self.deferred.insert(&sub.dialog, allowed_at);
                }
                continue;
            }
            sub.notify_cseq = sub.notify_cseq.saturating_add(1);
            sub.last_notify_at = now;
            sub.deferred = false;
            next_version(&mut sub);
            out.push(intent(&sub, now, Some(Arc::clone(body))));
        }
        out
    }

    /// Send what rate control held back and is now due, each with the presentity's *current* state from
    /// `presence_of`: the newest state wins, intermediate ones are skipped, the last one never is.
    pub fn flush_deferred(
        &self,
        now: Timestamp,
        presence_of: &dyn Fn(&Aor) -> Arc<str>,
    ) -> Vec<NotifyIntent> {
        self.flush_deferred_with(now, &|_, a| presence_of(a))
    }

    /// [`flush_deferred`](Self::flush_deferred) for every package: `body_of(event, presentity)` gives the
    /// current state of the presentity in the subscription's package.
    pub fn flush_deferred_with(
        &self,
        now: Timestamp,
        body_of: &dyn Fn(&EventPackage, &Aor) -> Arc<str>,
    ) -> Vec<NotifyIntent> {
        let mut due = self.deferred.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut out = Vec::new();
        for d in due {
            let Some(mut sub) = self.by_dialog.get_mut(&d) else {
                continue;
            };
            if !sub.deferred {
                continue;
            }
            let allowed_at = self.policy.notify_allowed_at(&sub);
            if now < allowed_at {
                // Filed under a whole second that came before the interval's end: look again then.
                self.deferred.insert(&d, allowed_at);
                continue;
            }
            sub.deferred = false;
            if sub.state != SubState::Active
                || sub.decision != WatcherDecision::Allow
                || sub.expires_at <= now
            {
                continue;
            }
            sub.notify_cseq = sub.notify_cseq.saturating_add(1);
            sub.last_notify_at = now;
            next_version(&mut sub);
            let body = body_of(&sub.event, &sub.presentity);
            out.push(intent(&sub, now, Some(body)));
        }
        out
    }

    /// When the next deferred NOTIFY may be due.
    pub fn next_flush(&self) -> Option<Timestamp> {
        self.deferred.next()
    }

    /// Record the presentity's decision about a watcher and apply it to the watcher's live subscriptions:
    /// a pending one becomes active (allow, polite-block) or ends with `reason=rejected` (block).
    pub fn authorize_watcher(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
        presence: &Arc<str>,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        let closed_dialogs = self.closed_body(&EventPackage::Dialog, presentity);
        self.authorize_watcher_with(
            presentity,
            watcher,
            decision,
            &|e| {
                if *e == EventPackage::Dialog {
                    Arc::clone(&closed_dialogs)
                } else {
                    Arc::clone(presence)
                }
            },
            now,
        )
    }

    /// [`authorize_watcher`](Self::authorize_watcher) for the watcher's `presence` and `dialog`
    /// subscriptions of `presentity`; `body_of(event)` is the presentity's current state in that package.
    pub fn authorize_watcher_with(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
        body_of: &dyn Fn(&EventPackage) -> Arc<str>,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        self.rules
            .insert((presentity.clone(), watcher.clone()), decision);
        let mut dialogs = self
            .by_presentity
            .get(presentity)
            .map(|d| d.clone())
            .unwrap_or_default();
        if let Some(d) = self.dialog_by_presentity.get(presentity) {
            dialogs.extend(d.iter().cloned());
        }
        let mut out = Vec::new();
        let mut ended = Vec::new();
        for d in dialogs {
            let Some(mut sub) = self.by_dialog.get_mut(&d) else {
                continue;
            };
            if &sub.watcher != watcher || sub.expires_at <= now || sub.decision == decision {
                continue;
            }
            sub.decision = decision;
            sub.notify_cseq = sub.notify_cseq.saturating_add(1);
            sub.last_notify_at = now;
            sub.deferred = false;
            let body = match decision {
                WatcherDecision::Allow => {
                    sub.state = SubState::Active;
                    Some(body_of(&sub.event))
                }
                WatcherDecision::PoliteBlock => {
                    sub.state = SubState::Active;
                    Some(self.closed_body(&sub.event, presentity))
                }
                WatcherDecision::Confirm => {
                    sub.state = SubState::Pending;
                    None
                }
                WatcherDecision::Block => {
                    sub.state = SubState::Terminated(Reason::Rejected);
                    ended.push(d.clone());
                    None
                }
            };
            if body.is_some() {
                next_version(&mut sub);
            }
            out.push(intent(&sub, now, body));
        }
        for d in ended {
            self.remove(&d);
        }
        let changed: Vec<(Subscription, SubState)> = out
            .iter()
            .filter(|n| n.event == EventPackage::Presence)
            .filter_map(|n| {
                let sub = self
                    .by_dialog
                    .get(&n.dialog)
                    .map(|s| s.clone())
                    .or_else(|| {
                        // Ended just now: rebuild what the watcher list needs from the NOTIFY.
                        Some(Subscription {
                            dialog: n.dialog.clone(),
                            watcher: n.watcher.clone(),
                            presentity: n.presentity.clone(),
                            event: n.event.clone(),
                            expires_at: now,
                            state: n.state.state,
                            decision,
                            notify_cseq: n.cseq,
                            version: 0,
                            last_notify_at: now,
                            deferred: false,
                            created_at: now,
                            accept: Vec::new(),
                            route: None,
                            resources: Vec::new(),
                        })
                    })?;
                Some((sub, n.state.state))
            })
            .collect();
        out.extend(self.winfo_changes(presentity, &changed, now));
        out
    }

    /// End every subscription expired at `now`, with a final NOTIFY `terminated;reason=timeout` each.
    pub fn expire(&self, now: Timestamp) -> Vec<NotifyIntent> {
        let mut due = self.expiry.take_due(now);
        due.sort_unstable();
        due.dedup();
        let mut out = Vec::new();
        for d in due {
            let expired = self.by_dialog.get(&d).is_some_and(|s| s.expires_at <= now);
            if !expired {
                continue;
            }
            if let Some(mut sub) = self.remove(&d) {
                sub.notify_cseq = sub.notify_cseq.saturating_add(1);
                sub.state = SubState::Terminated(Reason::Timeout);
                out.push(intent(&sub, now, None));
                if sub.event == EventPackage::Presence {
                    let presentity = sub.presentity.clone();
                    let state = sub.state;
                    out.extend(self.winfo_changes(&presentity, &[(sub, state)], now));
                }
            }
        }
        out
    }

    /// End a subscription whose NOTIFY failed (481 or a transaction timeout), without a further NOTIFY.
    pub fn drop_subscription(&self, dialog: &DialogId) -> Option<Subscription> {
        self.remove(dialog)
    }

    /// How many subscriptions of any package are live or waiting for their expiry sweep.
    pub fn len(&self) -> usize {
        self.by_dialog.len()
    }

    /// Whether there is no subscription.
    pub fn is_empty(&self) -> bool {
        self.by_dialog.is_empty()
    }

    /// The live subscriptions to `presentity` (its watchers) in `presence`, `dialog` and `message-summary`.
    pub fn watchers_of(&self, presentity: &Aor, now: Timestamp) -> Vec<Subscription> {
        let mut dialogs = Vec::new();
        for index in [
            &self.by_presentity,
            &self.dialog_by_presentity,
            &self.mwi_by_presentity,
        ] {
            if let Some(d) = index.get(presentity) {
                dialogs.extend(d.iter().cloned());
            }
        }
        dialogs
            .iter()
            .filter_map(|d| self.by_dialog.get(d).map(|s| s.clone()))
            .filter(|s| s.expires_at > now)
            .collect()
    }

    /// The live subscriptions `watcher` holds, of any package.
    pub fn watching(&self, watcher: &Aor, now: Timestamp) -> Vec<Subscription> {
        let dialogs = self
            .by_watcher
            .get(watcher)
            .map(|d| d.clone())
            .unwrap_or_default();
        dialogs
            .iter()
            .filter_map(|d| self.by_dialog.get(d).map(|s| s.clone()))
            .filter(|s| s.expires_at > now)
            .collect()
    }

    /// The subscription of `dialog`, if it exists.
    pub fn get(&self, dialog: &DialogId) -> Option<Subscription> {
        self.by_dialog.get(dialog).map(|s| s.clone())
    }

    /// Put back a decision a durable store kept (at start-up, before any subscription is restored): no
    /// NOTIFY.
    pub fn restore_rule(&self, presentity: &Aor, watcher: &Aor, decision: WatcherDecision) {
        self.rules
            .insert((presentity.clone(), watcher.clone()), decision);
    }

    /// The presentity's explicit rules: each watcher with the decision made about it.
    pub fn rules_of(&self, presentity: &Aor) -> Vec<(Aor, WatcherDecision)> {
        let mut out: Vec<(Aor, WatcherDecision)> = self
            .rules
            .iter()
            .filter(|e| &e.key().0 == presentity)
            .map(|e| (e.key().1.clone(), *e.value()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Take back a subscription that a durable store kept across a restart. Returns `false`, keeping nothing,
    /// when it expired by `now`, had ended, or its dialog is already known.
    ///
    /// NOTIFYs sent after the store's last record of it may have used higher CSeqs and document versions, so
    /// both jump ahead by [`RESUME_GAP`]: a watcher must never see a CSeq go backwards (RFC 3261 §12.2.2).
    pub fn restore(&self, mut sub: Subscription, now: Timestamp) -> bool {
        if sub.expires_at <= now
            || matches!(sub.state, SubState::Terminated(_))
            || self.by_dialog.contains_key(&sub.dialog)
        {
            return false;
        }
        sub.notify_cseq = sub.notify_cseq.saturating_add(RESUME_GAP);
        sub.version = sub.version.saturating_add(u64::from(RESUME_GAP));
        sub.deferred = false;
        self.store(&sub, true);
        true
    }

    /// The NOTIFY that tells the watcher of a restored subscription the current state (a notifier may notify
    /// at any time, RFC 6665 §4.2.2): `presence` (or `closed` for a politely blocked watcher, no body while
    /// pending) for `presence`, the full watcher list for `presence.winfo`, the full registration state built
    /// from `bindings` for `reg` (`presence` is read only for `presence`, `bindings` only for `reg`). `None`
    /// when the dialog is unknown.
    pub fn resume(
        &self,
        dialog: &DialogId,
        presence: &Arc<str>,
        bindings: &[Binding],
        now: Timestamp,
    ) -> Option<NotifyIntent> {
        let snapshot = self.by_dialog.get(dialog)?.clone();
        let version = snapshot.version.saturating_add(1);
        let body: Option<Arc<str>> = match (&snapshot.event, snapshot.state, snapshot.decision) {
            (_, SubState::Pending, _) => None,
            (EventPackage::PresenceWinfo, ..) => Some(Arc::from(self.full_winfo(
                &snapshot.presentity,
                version,
                now,
            ))),
            (EventPackage::Reg, ..) => Some(Arc::from(full_reginfo(
                &snapshot.presentity,
                version,
                bindings,
                now,
            ))),
            (event, _, WatcherDecision::PoliteBlock) => {
                Some(self.closed_body(event, &snapshot.presentity))
            }
            _ => Some(Arc::clone(presence)),
        };
        let mut sub = self.by_dialog.get_mut(dialog)?;
        sub.version = version;
        sub.notify_cseq = sub.notify_cseq.saturating_add(1);
        sub.last_notify_at = now;
        Some(intent(&sub, now, body))
    }

    /// When the next subscription may expire.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.next()
    }

    fn remove(&self, dialog: &DialogId) -> Option<Subscription> {
        let (_, sub) = self.by_dialog.remove(dialog)?;
        let index = self.index_of(&sub.event);
        if let Some(mut list) = index.get_mut(&sub.presentity) {
            list.retain(|d| d != dialog);
        }
        index.remove_if(&sub.presentity, |_, l| l.is_empty());
        if let Some(mut d) = self.by_watcher.get_mut(&sub.watcher) {
            d.retain(|x| x != dialog);
        }
        self.by_watcher.remove_if(&sub.watcher, |_, d| d.is_empty());
        Some(sub)
    }

    /// What a politely blocked watcher of `presentity` sees in `event`: closed presence, or no dialog.
    pub(crate) fn closed_body(&self, event: &EventPackage, presentity: &Aor) -> Arc<str> {
        if *event != EventPackage::Dialog {
            return self.closed_for(presentity);
        }
        Arc::clone(
            self.closed_dialogs
                .entry(presentity.clone())
                .or_insert_with(|| {
                    Arc::from(
                        crate::compose_dialogs(presentity, &[], Timestamp::from_millis(0)).to_xml(),
                    )
                })
                .value(),
        )
    }

    /// The document a politely blocked watcher of `presentity` sees, built once per presentity.
    pub(crate) fn closed_for(&self, presentity: &Aor) -> Arc<str> {
        Arc::clone(
            self.closed
                .entry(presentity.clone())
                .or_insert_with(|| Arc::from(closed_document(presentity).to_xml()))
                .value(),
        )
    }
}

impl Subscriptions {
    fn index_of(&self, event: &EventPackage) -> &DashMap<Aor, Vec<DialogId>> {
        match event {
            EventPackage::PresenceWinfo => &self.winfo_by_presentity,
            EventPackage::Reg => &self.reg_by_aor,
            EventPackage::Dialog => &self.dialog_by_presentity,
            EventPackage::MessageSummary => &self.mwi_by_presentity,
            _ => &self.by_presentity,
        }
    }

    /// Process a SUBSCRIBE to `reg` (RFC 3680) for an AoR whose live bindings are `bindings`: the first
    /// NOTIFY carries the full registration state. Only the AoR itself may subscribe (others get 403).
    ///
    /// # Errors
    /// See [`plan_subscribe`].
    pub fn subscribe_reg(
        &self,
        now: Timestamp,
        req: &SubscribeRequest,
        bindings: &[Binding],
    ) -> Result<SubscribeOutcome, Error> {
        let existing = self.by_dialog.get(&req.dialog).map(|s| s.clone());
        let decision = if req.watcher == req.presentity {
            WatcherDecision::Allow
        } else {
            WatcherDecision::Block
        };
        let version = existing.as_ref().map_or(0, |s| s.version.saturating_add(1));
        let body: Arc<str> = Arc::from(full_reginfo(&req.presentity, version, bindings, now));
        let outcome = self.plan(now, req, existing.as_ref(), decision, version, &body, &body)?;
        if outcome.subscription.is_none() && existing.is_some() {
            self.remove(&req.dialog);
        }
        Ok(outcome)
    }

    /// [`plan_subscribe`] for `req` with this watcher's subscription count, and the subscription it leaves
    /// stored at `version` (a subscription that ended is left for the caller to remove).
    #[allow(clippy::too_many_arguments)]
    fn plan(
        &self,
        now: Timestamp,
        req: &SubscribeRequest,
        existing: Option<&Subscription>,
        decision: WatcherDecision,
        version: u64,
        body: &Arc<str>,
        closed: &Arc<str>,
    ) -> Result<SubscribeOutcome, Error> {
        let count = self.by_watcher.get(&req.watcher).map_or(0, |d| d.len());
        let mut outcome = plan_subscribe(
            now,
            req,
            existing,
            decision,
            count,
            &self.policy,
            body,
            closed,
        )?;
        if let Some(sub) = &mut outcome.subscription {
            sub.version = version;
            self.store(sub, existing.is_none());
        }
        if outcome.notify.version.is_some() {
            outcome.notify.version = Some(version);
        }
        Ok(outcome)
    }

    /// Whether anyone subscribes to `aor`'s registrations (the `reg` package).
    pub fn has_reg_subscribers(&self, aor: &Aor) -> bool {
        self.reg_by_aor.contains_key(aor)
    }

    /// The NOTIFYs a change of `aor`'s bindings causes: a partial reginfo document with the changed contacts,
    /// to every active `reg` subscription of the AoR. `changes` pairs each changed binding with its new
    /// state and what happened (RFC 3680 §5.1: registered, refreshed, expired, unregistered, …);
    /// `still_registered` says whether the AoR has any live binding left (the registration's state).
    pub fn registration_changed(
        &self,
        aor: &Aor,
        changes: &[(Binding, ContactState, ContactEvent)],
        still_registered: bool,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        if changes.is_empty() {
            return Vec::new();
        }
        let Some(dialogs) = self.reg_by_aor.get(aor).map(|d| d.clone()) else {
            return Vec::new();
        };
        let refs: Vec<(&Binding, ContactState, ContactEvent)> =
            changes.iter().map(|(b, s, e)| (b, *s, *e)).collect();
        self.notify_next_version(&dialogs, now, |version| {
            reginfo(
                aor,
                version,
                DocState::Partial,
                &refs,
                still_registered,
                now,
            )
        })
    }

    /// The complete watcher list of `presentity` (RFC 3858, `state="full"`).
    fn full_winfo(&self, presentity: &Aor, version: u64, now: Timestamp) -> String {
        let mut doc = WatcherInfo::new(version, DocState::Full);
        let mut list = WatcherList::new(presentity.as_str(), "presence");
        for sub in self.watchers_of(presentity, now) {
            let state = sub.state;
            list.watchers.push(winfo_watcher(&sub, state, now));
        }
        doc.lists.push(list);
        doc.to_xml()
    }

    /// Partial watcher information about `changed` watchers, to every active `presence.winfo` subscription of
    /// `presentity`, each with its next document version.
    fn winfo_changes(
        &self,
        presentity: &Aor,
        changed: &[(Subscription, SubState)],
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        if changed.is_empty() {
            return Vec::new();
        }
        let Some(dialogs) = self.winfo_by_presentity.get(presentity).map(|d| d.clone()) else {
            return Vec::new();
        };
        self.notify_next_version(&dialogs, now, |version| {
            let mut doc = WatcherInfo::new(version, DocState::Partial);
            let mut list = WatcherList::new(presentity.as_str(), "presence");
            for (w, state) in changed {
                list.watchers.push(winfo_watcher(w, *state, now));
            }
            doc.lists.push(list);
            doc.to_xml()
        })
    }

    /// Send each active subscription among `dialogs` (watcherinfo or reginfo subscribers) the next version of
    /// its document, as `build(version)` writes it.
    fn notify_next_version(
        &self,
        dialogs: &[DialogId],
        now: Timestamp,
        build: impl Fn(u64) -> String,
    ) -> Vec<NotifyIntent> {
        let mut out = Vec::new();
        for d in dialogs {
            let Some(mut sub) = self.by_dialog.get_mut(d) else {
                continue;
            };
            if sub.state != SubState::Active || sub.expires_at <= now {
                continue;
            }
            sub.version = sub.version.saturating_add(1);
            sub.notify_cseq = sub.notify_cseq.saturating_add(1);
            sub.last_notify_at = now;
            let body = Arc::from(build(sub.version));
            out.push(intent(&sub, now, Some(body)));
        }
        out
    }

    /// Keep a new or refreshed subscription: in its package's index (when new), the watcher's count, the
    /// expiry index and the dialog map.
    fn store(&self, sub: &Subscription, is_new: bool) {
        if is_new {
            self.index_of(&sub.event)
                .entry(sub.presentity.clone())
                .or_default()
                .push(sub.dialog.clone());
            self.by_watcher
                .entry(sub.watcher.clone())
                .or_default()
                .push(sub.dialog.clone());
        }
        self.expiry.insert(&sub.dialog, sub.expires_at);
        self.by_dialog.insert(sub.dialog.clone(), sub.clone());
    }
}

/// A reginfo document (RFC 3680) about `aor` with the given contacts.
/// The complete registration state of `aor` from its `bindings` (RFC 3680, `state="full"`): the live ones,
/// each active.
fn full_reginfo(aor: &Aor, version: u64, bindings: &[Binding], now: Timestamp) -> String {
    let live: Vec<(&Binding, ContactState, ContactEvent)> = bindings
        .iter()
        .filter(|b| b.is_live(now))
        .map(|b| (b, ContactState::Active, ContactEvent::Registered))
        .collect();
    let registered = !live.is_empty();
    reginfo(aor, version, DocState::Full, &live, registered, now)
}

fn reginfo(
    aor: &Aor,
    version: u64,
    state: DocState,
    contacts: &[(&Binding, ContactState, ContactEvent)],
    registered: bool,
    now: Timestamp,
) -> String {
    let mut doc = RegInfo::new(version, state);
    let reg_state = match (state, registered) {
        (_, true) => RegistrationState::Active,
        (DocState::Full, false) => RegistrationState::Init,
        (_, false) => RegistrationState::Terminated,
    };
    let mut reg = Registration::new(aor.as_str(), &short_hash(&[aor.as_str()]), reg_state);
    for (b, cstate, event) in contacts {
        let uri = b.contact.to_string();
        let mut c = RegContact::new(&short_hash(&[aor.as_str(), &uri]), &uri, *cstate, *event);
        c.duration_registered = Some(now.saturating_since(b.registered_at).as_secs().to_string());
        if *cstate == ContactState::Active {
            c.expires = Some(b.expires_in(now).to_string());
        }
        c.q = Some(b.q.to_string());
        c.callid = Some(b.call_id.to_string());
        c.cseq = Some(b.cseq.to_string());
        reg.contacts.push(c);
    }
    doc.registrations.push(reg);
    doc.to_xml()
}

/// A stable short id (FNV-1a, hex) of some strings.
pub(crate) fn short_hash(parts: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for b in part.bytes().chain([0u8]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// A watcher element for a presence subscription in `state`.
fn winfo_watcher(sub: &Subscription, state: SubState, now: Timestamp) -> Watcher {
    let (status, event) = match state {
        SubState::Pending => (WatcherStatus::Pending, WatcherEvent::Subscribe),
        SubState::Active => (WatcherStatus::Active, WatcherEvent::Approved),
        SubState::Terminated(r) => (
            WatcherStatus::Terminated,
            match r {
                Reason::Rejected => WatcherEvent::Rejected,
                Reason::Deactivated => WatcherEvent::Deactivated,
                Reason::Noresource => WatcherEvent::Noresource,
                Reason::Giveup => WatcherEvent::Giveup,
                Reason::Probation => WatcherEvent::Probation,
                // Timeout, and any reason added later.
                _ => WatcherEvent::Timeout,
            },
        ),
    };
    let mut w = Watcher::new(
        &watcher_id(&sub.dialog),
        sub.watcher.as_str(),
        status,
        event,
    );
    w.duration_subscribed = Some(now.saturating_since(sub.created_at).as_secs().to_string());
    if !matches!(state, SubState::Terminated(_)) {
        w.expiration = Some(sub.expires_at.secs_until(now).to_string());
    }
    w
}

/// A stable id for a subscription in watcher information: FNV-1a of its dialog, so it does not reveal the
/// watcher's Call-ID and survives restarts.
fn watcher_id(d: &DialogId) -> String {
    short_hash(&[d.call_id.as_str(), &d.remote_tag, &d.local_tag])
}

/// A `dialog` subscription's next document version, before a NOTIFY with a body (RFC 4235 §4.1: it grows by
/// one per document sent in the subscription).
fn next_version(sub: &mut Subscription) {
    if sub.event == EventPackage::Dialog {
        sub.version = sub.version.saturating_add(1);
    }
}

pub(crate) fn intent(sub: &Subscription, now: Timestamp, body: Option<Arc<str>>) -> NotifyIntent {
    let expires = match sub.state {
        SubState::Terminated(_) => None,
        _ => Some(sub.expires_at.secs_until(now)),
    };
    NotifyIntent {
        dialog: sub.dialog.clone(),
        watcher: sub.watcher.clone(),
        presentity: sub.presentity.clone(),
        event: sub.event.clone(),
        state: SubscriptionStateHeader {
            state: sub.state,
            expires,
        },
        version: dialog_version(&sub.event, &body, sub.version),
        body,
        cseq: sub.notify_cseq,
        list_content_type: None,
        event_header: linphone_event(sub),
    }
}

/// The `Event` token liblinphone needs in the NOTIFYs of an ad-hoc presence list (RFC 5367): it compares the
/// NOTIFY's token with `Presence`, byte by byte, though its SUBSCRIBE says `presence`.
pub(crate) fn linphone_event(sub: &Subscription) -> Option<&'static str> {
    (!sub.resources.is_empty() && sub.event == EventPackage::Presence).then_some("Presence")
}
