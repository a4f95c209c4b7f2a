//! Subscriptions of every presentity and the presentities' watcher rules, in memory.

use std::sync::Arc;

use dashmap::DashMap;
use registrar_types::{Aor, ExpiryIndex, Timestamp};

use crate::Error;
use crate::subscribe::{
    DialogId, NotifyIntent, Reason, SubState, SubscribeOutcome, SubscribeRequest, Subscription,
    SubscriptionPolicy, SubscriptionStateHeader, WatcherDecision, closed_document, plan_subscribe,
};

/// Subscriptions and watcher rules. Every operation returns the NOTIFYs it causes; nothing is sent here.
///
/// Fan-out shares one body: [`Subscriptions::notify_change`] clones an `Arc<str>` per watcher, it never
/// rebuilds a document.
#[derive(Debug, Default)]
pub struct Subscriptions {
    policy: SubscriptionPolicy,
    by_dialog: DashMap<DialogId, Subscription>,
    by_presentity: DashMap<Aor, Vec<DialogId>>,
    per_watcher: DashMap<Aor, usize>,
    rules: DashMap<(Aor, Aor), WatcherDecision>,
    closed: DashMap<Aor, Arc<str>>,
    expiry: ExpiryIndex<DialogId>,
    deferred: ExpiryIndex<DialogId>,
}

impl Subscriptions {
    /// No subscriptions, with `policy`.
    ///
    /// # Errors
    /// [`Error::InvalidPolicy`] when the expiries contradict each other.
    pub fn new(policy: SubscriptionPolicy) -> Result<Self, Error> {
        if policy.min_expires == 0
            || policy.min_expires > policy.default_expires
            || policy.default_expires > policy.max_expires
        {
            return Err(Error::InvalidPolicy(
                "subscription expiries must satisfy 0 < min <= default <= max",
            ));
        }
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
        let decision = self.decision(&req.presentity, &req.watcher);
        let count = self.per_watcher.get(&req.watcher).map_or(0, |c| *c);
        let closed = self.closed_for(&req.presentity);
        let existing = self.by_dialog.get(&req.dialog).map(|s| s.clone());
        let outcome = plan_subscribe(
            now,
            req,
            existing.as_ref(),
            decision,
            count,
            &self.policy,
            presence,
            &closed,
        )?;
        match &outcome.subscription {
            Some(sub) => {
                if existing.is_none() {
                    self.by_presentity
                        .entry(sub.presentity.clone())
                        .or_default()
                        .push(sub.dialog.clone());
                    *self.per_watcher.entry(sub.watcher.clone()).or_insert(0) += 1;
                }
                self.expiry.insert(&sub.dialog, sub.expires_at);
                self.by_dialog.insert(sub.dialog.clone(), sub.clone());
            }
            None => {
                if existing.is_some() {
                    self.remove(&req.dialog);
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
        let Some(dialogs) = self.by_presentity.get(presentity).map(|d| d.clone()) else {
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
            let allowed_at = self.allowed_at(&sub);
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
            out.push(intent(&sub, now, Some(Arc::clone(presence))));
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
            let allowed_at = self.allowed_at(&sub);
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
            let body = presence_of(&sub.presentity);
            out.push(intent(&sub, now, Some(body)));
        }
        out
    }

    /// When the next deferred NOTIFY may be due.
    pub fn next_flush(&self) -> Option<Timestamp> {
        self.deferred.next()
    }

    fn allowed_at(&self, sub: &Subscription) -> Timestamp {
        sub.last_notify_at
            .saturating_add(std::time::Duration::from_millis(
                self.policy.min_notify_interval_ms,
            ))
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
        self.rules
            .insert((presentity.clone(), watcher.clone()), decision);
        let dialogs = self
            .by_presentity
            .get(presentity)
            .map(|d| d.clone())
            .unwrap_or_default();
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
                    Some(Arc::clone(presence))
                }
                WatcherDecision::PoliteBlock => {
                    sub.state = SubState::Active;
                    Some(self.closed_for(presentity))
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
            out.push(intent(&sub, now, body));
        }
        for d in ended {
            self.remove(&d);
        }
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
            }
        }
        out
    }

    /// End a subscription whose NOTIFY failed (481 or a transaction timeout), without a further NOTIFY.
    pub fn drop_subscription(&self, dialog: &DialogId) -> Option<Subscription> {
        self.remove(dialog)
    }

    /// The live subscriptions to `presentity` (its watchers).
    pub fn watchers_of(&self, presentity: &Aor, now: Timestamp) -> Vec<Subscription> {
        let dialogs = self
            .by_presentity
            .get(presentity)
            .map(|d| d.clone())
            .unwrap_or_default();
        dialogs
            .iter()
            .filter_map(|d| self.by_dialog.get(d).map(|s| s.clone()))
            .filter(|s| s.expires_at > now)
            .collect()
    }

    /// When the next subscription may expire.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.expiry.next()
    }

    fn remove(&self, dialog: &DialogId) -> Option<Subscription> {
        let (_, sub) = self.by_dialog.remove(dialog)?;
        if let Some(mut list) = self.by_presentity.get_mut(&sub.presentity) {
            list.retain(|d| d != dialog);
        }
        self.by_presentity
            .remove_if(&sub.presentity, |_, l| l.is_empty());
        if let Some(mut c) = self.per_watcher.get_mut(&sub.watcher) {
            *c = c.saturating_sub(1);
        }
        self.per_watcher.remove_if(&sub.watcher, |_, c| *c == 0);
        Some(sub)
    }

    fn closed_for(&self, presentity: &Aor) -> Arc<str> {
        Arc::clone(
            self.closed
                .entry(presentity.clone())
                .or_insert_with(|| Arc::from(closed_document(presentity).to_xml()))
                .value(),
        )
    }
}

fn intent(sub: &Subscription, now: Timestamp, body: Option<Arc<str>>) -> NotifyIntent {
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
        body,
        cseq: sub.notify_cseq,
    }
}
