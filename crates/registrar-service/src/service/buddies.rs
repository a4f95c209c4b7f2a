//! Buddy lists: entries, the list URI and every buddy's presence at once.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
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
}
