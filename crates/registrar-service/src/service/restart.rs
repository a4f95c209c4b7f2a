//! Restart: what a durable store kept, taken back.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
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
                EventPackage::Dialog | EventPackage::MessageSummary => (
                    self.body_for(&sub.event, &sub.presentity, now).await?,
                    Vec::new(),
                ),
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
            let resources = &list.subscription.resources;
            if list.subscription.event == EventPackage::Dialog {
                if resources.is_empty() {
                    self.warm_dialogs(&list.subscription.presentity, now)
                        .await?;
                } else {
                    self.warm_dialogs_of(resources, now).await?;
                }
            }
            let docs = if resources.is_empty() {
                self.list_documents_for(&list.owner, now).await?
            } else {
                self.documents_of(resources, now).await?
            };
            let presence_of = |a: &Aor| lookup_doc(&docs, a);
            let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
            let ctx = ListContext::new(&self.inner.buddies, &self.inner.subs, &presence_of)
                .with_dialogs(&dialogs_of);
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
    pub(super) async fn save_list(&self, owner: &Aor) -> Result<(), Error> {
        self.save_settings(&[SubscriptionChange::Buddies {
            owner: owner.clone(),
            list: self.inner.buddies.list(owner),
        }])
        .await
    }

    /// One change of `owner`'s list at a time (a lock per stripe of owners).
    pub(super) async fn list_lock(&self, owner: &Aor) -> tokio::sync::MutexGuard<'_, ()> {
        use std::hash::BuildHasher;
        let stripes = &self.inner.list_locks;
        let h = self.inner.list_locks_hasher.hash_one(owner);
        stripes[(h as usize) % stripes.len()].lock().await
    }

    /// Record decisions and buddy list changes durably (no store: nothing to do).
    pub(super) async fn save_settings(&self, changes: &[SubscriptionChange]) -> Result<(), Error> {
        match &self.inner.sub_store {
            Some(store) => Ok(store.save(changes).await?),
            None => Ok(()),
        }
    }
}
