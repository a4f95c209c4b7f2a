//! Subscriptions (presence, presence.winfo, reg, buddy lists) and watcher decisions.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
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
        self.subscribe_at(self.now(), req, supports_eventlist).await
    }

    /// [`Self::subscribe`] at `now`, the time the caller took once for the whole request.
    ///
    /// # Errors
    /// As [`Self::subscribe`].
    pub async fn subscribe_at(
        &self,
        now: Timestamp,
        req: &SubscribeRequest,
        supports_eventlist: bool,
    ) -> Result<SubscribeOutcome, Error> {
        let existing = self
            .inner
            .subs
            .get(&req.dialog)
            .map(|s| (s, false))
            .or_else(|| {
                self.inner
                    .lists
                    .get(&req.dialog)
                    .map(|l| (l.subscription, true))
            });
        let outcome = if req.event == EventPackage::Reg {
            let bindings = self.inner.registry.lookup(&req.presentity, now).await?;
            self.inner
                .subs
                .subscribe_reg(now, req, &bindings.to_vec())?
        } else if req.resources.is_some()
            || existing.as_ref().is_some_and(|(_, list)| *list)
            || self.is_list(req, now).await?
        {
            // An ad-hoc list (RFC 5367) names its resources in the request, or kept them from before.
            let adhoc = req
                .resources
                .clone()
                .or_else(|| existing.as_ref().map(|(s, _)| s.resources.clone()))
                .filter(|r| !r.is_empty());
            let docs = match &adhoc {
                Some(r) => self.documents_of(r, now).await?,
                None => self.list_documents(&req.presentity, now).await?,
            };
            if req.event == EventPackage::Dialog {
                match &adhoc {
                    Some(r) => self.warm_dialogs_of(r, now).await?,
                    None => self.warm_dialogs(&req.presentity, now).await?,
                }
            }
            let presence_of = |a: &Aor| lookup_doc(&docs, a);
            let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
                .with_dialogs(&dialogs_of);
            self.inner
                .lists
                .subscribe(now, req, supports_eventlist, ctx)?
        } else {
            let body = self.body_for(&req.event, &req.presentity, now).await?;
            self.inner.subs.subscribe(now, req, &body)?
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
        let mut intents = Vec::with_capacity(1 + outcome.also_notify.len());
        intents.push(outcome.notify.clone());
        intents.extend(outcome.also_notify.iter().cloned());
        if let Err(e) = self.persist(&intents).await {
            // Not durable, so not accepted: memory goes back to what the store holds (a new subscription
            // is forgotten, a refreshed or ended one is as it was), and nothing is announced or sent. The
            // subscriber retries.
            self.revert(&req.dialog, existing, now);
            return Err(e);
        }
        self.inner.bus.publish_batch(now, events);
        self.inner.notifier.notify(intents).await;
        self.inner.wake.notify_one();
        Ok(outcome)
    }

    /// Put the subscription of `dialog` back as it was before a change the store refused: `before` (with
    /// whether it was a buddy list subscription), or nothing.
    fn revert(&self, dialog: &DialogId, before: Option<(Subscription, bool)>, now: Timestamp) {
        self.inner.subs.drop_subscription(dialog);
        self.inner.lists.drop_subscription(dialog);
        match before {
            Some((sub, false)) => {
                self.inner.subs.restore(sub, now);
            }
            Some((sub, true)) => {
                self.inner.lists.restore(sub, &self.inner.buddies, now);
            }
            None => {}
        }
    }

    /// End the subscription of `dialog` as if its subscriber sent `Expires: 0`: a final NOTIFY
    /// `terminated;reason=timeout`.
    ///
    /// # Errors
    /// [`Error::NoSuchSubscription`] (481) when there is none.
    pub async fn unsubscribe(&self, dialog: &DialogId) -> Result<SubscribeOutcome, Error> {
        self.unsubscribe_at(self.now(), dialog).await
    }

    /// [`Self::unsubscribe`] at `now`, the time the caller took once.
    ///
    /// # Errors
    /// As [`Self::unsubscribe`].
    pub async fn unsubscribe_at(
        &self,
        now: Timestamp,
        dialog: &DialogId,
    ) -> Result<SubscribeOutcome, Error> {
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
        self.subscribe_at(now, &req, list).await
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
        let now = self.now();
        // What the NOTIFYs will carry is read first, so that a read failure changes nothing.
        let (bodies, docs) = self.decision_inputs(presentity, watcher, now).await?;
        // Durable before it takes effect: a decision that is not stored is not made.
        self.save_settings(&[SubscriptionChange::Rule {
            presentity: presentity.clone(),
            watcher: watcher.clone(),
            decision,
        }])
        .await?;
        self.decided(presentity, watcher, decision, &bodies, &docs, now)
            .await;
        Ok(())
    }

    /// Apply a decision already stored (here, or by another node): live subscriptions and buddy list
    /// subscribers see it.
    pub(super) async fn apply_decision(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
    ) -> Result<(), Error> {
        let now = self.now();
        let (bodies, docs) = self.decision_inputs(presentity, watcher, now).await?;
        self.decided(presentity, watcher, decision, &bodies, &docs, now)
            .await;
        Ok(())
    }

    /// What a decision's NOTIFYs carry: the presentity's presence and dialog state, and the documents of
    /// the watcher's buddies (for its buddy list subscribers).
    async fn decision_inputs(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        now: Timestamp,
    ) -> Result<([Arc<str>; 2], HashMap<Aor, Arc<str>>), Error> {
        let xml = self
            .body_for(&EventPackage::Presence, presentity, now)
            .await?;
        let dialogs = self
            .body_for(&EventPackage::Dialog, presentity, now)
            .await?;
        let mut docs = self.list_documents_for(watcher, now).await?;
        // The watcher's ad-hoc lists (RFC 5367) may hold the presentity without its buddy list doing so.
        docs.entry(presentity.clone())
            .or_insert_with(|| Arc::clone(&xml));
        Ok(([xml, dialogs], docs))
    }

    /// A stored decision takes effect in memory: its events, then its NOTIFYs (recorded, then sent: the
    /// decision is durable, so a failure to record a subscription's new state does not hold them back).
    async fn decided(
        &self,
        presentity: &Aor,
        watcher: &Aor,
        decision: WatcherDecision,
        bodies: &[Arc<str>; 2],
        docs: &HashMap<Aor, Arc<str>>,
        now: Timestamp,
    ) {
        let [xml, dialogs] = bodies;
        let body_of = |e: &EventPackage| {
            if *e == EventPackage::Dialog {
                Arc::clone(dialogs)
            } else {
                Arc::clone(xml)
            }
        };
        let mut intents = self
            .inner
            .subs
            .authorize_watcher_with(presentity, watcher, decision, &body_of, now);
        let presence_of = |a: &Aor| lookup_doc(docs, a);
        let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
        let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
            .with_dialogs(&dialogs_of);
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
        self.deliver(intents).await;
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
}
