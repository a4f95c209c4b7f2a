//! What a change causes: events on the bus, NOTIFY intents, records in the subscription store.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Record in the subscription store (if any) the state of every subscription `intents` touch, buddy
    /// list subscriptions included: its new record, or its removal when it ended.
    pub(super) async fn persist(&self, intents: &[NotifyIntent]) -> Result<(), Error> {
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
    pub(super) async fn deliver(&self, intents: Vec<NotifyIntent>) {
        let _ = self.persist(&intents).await;
        self.inner.notifier.notify(intents).await;
    }

    pub(super) async fn bindings_changed(
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
    pub(super) async fn join_domain(&self, user: &Aor, now: Timestamp) -> bool {
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
                let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
                let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
                    .with_dialogs(&dialogs_of);
                intents.extend(self.inner.lists.list_changed(now, &owner, ctx));
            }
        }
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        true
    }

    pub(super) async fn published(&self, aor: &Aor, r: &PublishResult, now: Timestamp) {
        let mut events = Vec::with_capacity(2);
        match (&r.outcome.kind, &r.outcome.etag) {
            // The bus's presence events are about presence; dialog and message-summary publications show in
            // their NOTIFYs and the HTTP API.
            _ if r.event != EventPackage::Presence => {}
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
        if let Some(b) = &r.changed_event {
            intents.extend(self.fan_out_event(aor, b, now));
        }
        self.inner.bus.publish_batch(now, events);
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        self.inner.wake.notify_one();
    }

    /// The NOTIFYs a new composed state of `aor` causes: its watchers, and the buddy lists holding it.
    pub(super) async fn fan_out(
        &self,
        aor: &Aor,
        xml: &Arc<str>,
        now: Timestamp,
    ) -> Vec<NotifyIntent> {
        let mut intents = self.inner.subs.notify_change(aor, xml, now);
        let holders = self.inner.buddies.holders_of(aor);
        if self.inner.lists.lists_resource(aor)
            || holders
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
            let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
                .with_dialogs(&dialogs_of);
            intents.extend(self.inner.lists.buddy_changed(now, aor, ctx));
        }
        intents
    }

    pub(super) async fn list_changed(
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
        let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
        let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
            .with_dialogs(&dialogs_of);
        let intents = self.inner.lists.list_changed(now, owner, ctx);
        self.inner.notifier.notify(intents).await;
        Ok(())
    }

    /// Whether a SUBSCRIBE names a buddy list rather than a user.
    pub(super) async fn is_list(
        &self,
        req: &SubscribeRequest,
        now: Timestamp,
    ) -> Result<bool, Error> {
        if self.inner.buddies.owner_of_list(&req.presentity).is_none() {
            return Ok(false);
        }
        Ok(self
            .inner
            .registry
            .lookup(&req.presentity, now)
            .await?
            .is_empty())
    }

    /// The composed documents of every buddy on the list `list_uri` names.
    pub(super) async fn list_documents(
        &self,
        list_uri: &Aor,
        now: Timestamp,
    ) -> Result<HashMap<Aor, Arc<str>>, Error> {
        match self.inner.buddies.owner_of_list(list_uri) {
            Some(owner) => self.list_documents_for(&owner, now).await,
            None => Ok(HashMap::new()),
        }
    }

    /// The composed documents of `aors`.
    pub(super) async fn documents_of(
        &self,
        aors: &[Aor],
        now: Timestamp,
    ) -> Result<HashMap<Aor, Arc<str>>, Error> {
        let mut docs = HashMap::with_capacity(aors.len());
        for a in aors {
            let xml = self.inner.presences.presence(a, now).await?.xml.clone();
            docs.insert(a.clone(), xml);
        }
        Ok(docs)
    }

    /// The composed documents of every buddy of `owner`.
    pub(super) async fn list_documents_for(
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
    pub(super) fn cached_xml(&self, aor: &Aor) -> Arc<str> {
        self.inner.presences.cached(aor).map_or_else(
            || Arc::from(Presence::new(aor.as_str()).to_xml()),
            |c| c.xml.clone(),
        )
    }
}
