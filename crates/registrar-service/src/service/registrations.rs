//! Registrations: register, unregister, lookups and the registered users.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Process a whole REGISTER (its contacts, Call-ID, CSeq, Expires). Emits one event per changed binding
    /// (as one batch), tells `reg` subscribers, and, with automatic buddy lists, pairs a user registering for
    /// the first time with the other users of its domain.
    ///
    /// # Errors
    /// The rule the request breaks (see [`Error::sip_status`]) or a store failure; nothing changed then.
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterOutcome, Error> {
        self.register_at(self.now(), req).await
    }

    /// [`Self::register`] at `now`, the time the caller took once for the whole request (the clock is not
    /// read again).
    ///
    /// # Errors
    /// As [`Self::register`].
    pub async fn register_at(
        &self,
        now: Timestamp,
        req: &RegisterRequest,
    ) -> Result<RegisterOutcome, Error> {
        self.check_push_params(req)?;
        let out = self.inner.registry.register(now, req).await?;
        if !out.changes.is_empty() {
            self.push_registered(&out.aor, &out.changes, now);
            let still = !out.bindings.is_empty();
            self.bindings_changed(&out.aor, &out.changes, still, now)
                .await;
            let joined = self.inner.automatic_buddy_lists
                && out.changes.iter().any(|c| c.kind == ChangeKind::Added)
                && self.join_domain(&out.aor, now).await;
            if joined || self.inner.subs.has_reg_subscribers(&out.aor) {
                // NOTIFYs went out, or were held back by rate control until a time not known here.
                self.inner.wake.notify_one();
            } else {
                // Only new expiry times: the task need not wake unless one is due before it would anyway.
                let due = out
                    .changes
                    .iter()
                    .filter(|c| {
                        matches!(
                            c.kind,
                            ChangeKind::Added | ChangeKind::Refreshed | ChangeKind::Updated
                        )
                    })
                    .map(|c| c.binding.expires_at)
                    .min();
                if let Some(due) = due {
                    self.wake_for(due);
                }
            }
        }
        Ok(out)
    }

    /// Remove every binding of `aor` (an operator's action); returns what was live.
    ///
    /// # Errors
    /// A store failure.
    pub async fn unregister(&self, aor: &Aor) -> Result<Vec<Binding>, Error> {
        let now = self.now();
        let removed = self.inner.registry.remove_all(aor, now).await?;
        if !removed.is_empty() {
            let changes: Vec<BindingChange> = removed
                .iter()
                .map(|b| BindingChange::new(ChangeKind::Removed, b.clone()))
                .collect();
            self.bindings_changed(aor, &changes, false, now).await;
        }
        Ok(removed)
    }

    /// Remove the live bindings of `aor` that `which` picks because their device cannot be reached any more
    /// (its outbound flow closed, or it stopped answering pings): they end as [`ChangeKind::Unreachable`]
    /// (RFC 3680 `deactivated`), with their events. Returns what was removed.
    ///
    /// # Errors
    /// A store failure; nothing changed then.
    pub async fn remove_unreachable_at(
        &self,
        now: Timestamp,
        aor: &Aor,
        which: &(dyn Fn(&Binding) -> bool + Sync),
    ) -> Result<Vec<Binding>, Error> {
        let removed = self.inner.registry.remove_where(aor, now, which).await?;
        if !removed.is_empty() {
            let changes: Vec<BindingChange> = removed
                .iter()
                .map(|b| BindingChange::new(ChangeKind::Unreachable, b.clone()))
                .collect();
            let still = !self.inner.registry.lookup(aor, now).await?.is_empty();
            self.bindings_changed(aor, &changes, still, now).await;
            self.inner.wake.notify_one();
        }
        Ok(removed)
    }

    /// The live binding a GRUU this server issued (public or temporary) routes to at `now`; `None` for a URI
    /// that is not one, or whose binding is gone.
    ///
    /// # Errors
    /// A store failure.
    pub async fn resolve_gruu_at(
        &self,
        now: Timestamp,
        uri: &registrar_types::SipUri,
    ) -> Result<Option<Binding>, Error> {
        Ok(self.inner.registry.resolve_gruu(uri, now).await?)
    }

    /// The live bindings of `aor`, best first; empty when nobody is registered.
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup(&self, aor: &Aor) -> Result<Bindings, Error> {
        Ok(self.inner.registry.lookup(aor, self.now()).await?)
    }

    /// [`lookup`](Self::lookup) for many AoRs at once, in the order given.
    ///
    /// # Errors
    /// A store failure.
    pub async fn lookup_many(&self, aors: &[Aor]) -> Result<Vec<Bindings>, Error> {
        let now = self.now();
        let mut out = Vec::with_capacity(aors.len());
        for a in aors {
            out.push(self.inner.registry.lookup(a, now).await?);
        }
        Ok(out)
    }

    /// A page of at most `limit` registered users after `after`, ascending.
    ///
    /// # Errors
    /// A store failure.
    pub async fn registered_users(
        &self,
        after: Option<&Aor>,
        limit: usize,
    ) -> Result<UsersPage, Error> {
        let users = self.inner.registry.registered_users(after, limit).await?;
        let next = (users.len() == limit && limit > 0)
            .then(|| users.last().cloned())
            .flatten();
        Ok(UsersPage { users, next })
    }
}
