//! Background work: one task that sleeps until the next deadline of every expiry index.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Start the background task: it sleeps until the next deadline of any expiry index (registrations,
    /// publications, subscriptions, held-back NOTIFYs) — not a fixed poll — and runs [`run_due`](Self::run_due)
    /// then. Calling it twice starts one task. Needs a tokio runtime with the time driver.
    pub fn start(&self) {
        let mut task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if task.is_some() {
            return;
        }
        self.inner.shutdown.send_replace(false);
        let me = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        *task = Some(tokio::spawn(async move {
            loop {
                me.inner.sleeping_until.store(AWAKE, Ordering::SeqCst);
                me.run_due().await;
                let now = me.now().as_millis();
                let wait = match me.next_deadline().await {
                    Some(t) => Duration::from_millis(t.as_millis().saturating_sub(now)),
                    None => me.inner.max_sleep,
                }
                .min(me.inner.max_sleep);
                let until = now.saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
                me.inner.sleeping_until.store(until, Ordering::SeqCst);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = me.inner.wake.notified() => {}
                    _ = stop.changed() => break,
                }
                if *stop.borrow() {
                    break;
                }
            }
        }));
    }

    /// Stop the background task and wait for it: the sweep in progress finishes, so every event it
    /// started is published.
    pub async fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(t) = task {
            // A panicked task has nothing left to finish.
            let _ = t.await;
        }
    }

    /// Wake the background task if `due` comes before the time it sleeps until (the task recomputes its
    /// deadline on every wake, so a later `due` is found then). The task marks itself [`AWAKE`] before it
    /// reads the expiry indexes and publishes its deadline after, so a change made while it computes is
    /// either seen by that computation or followed by a wake.
    pub(super) fn wake_for(&self, due: Timestamp) {
        if due.as_millis() < self.inner.sleeping_until.load(Ordering::SeqCst) {
            self.inner.wake.notify_one();
        }
    }

    /// The earliest instant something is due: an expiry or a held-back NOTIFY.
    pub async fn next_deadline(&self) -> Option<Timestamp> {
        let i = &self.inner;
        [
            i.registry.next_expiry().await.ok().flatten(),
            i.presences.next_expiry().await.ok().flatten(),
            i.subs.next_expiry(),
            i.subs.next_flush(),
            i.lists.next_expiry(),
            i.lists.next_flush(),
            self.next_push_refresh(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Do everything due at the clock's current time: expire registrations (telling `reg` subscribers),
    /// publications (telling watchers of the new composed state) and subscriptions (final NOTIFYs), and send
    /// the NOTIFYs rate control held back. Each kind of sweep emits its events as one batch.
    pub async fn run_due(&self) {
        let now = self.now();
        let i = &self.inner;
        // A store failure here is retried at the next deadline; nothing was removed then.
        if let Ok(expired) = i.registry.expire(now).await
            && !expired.is_empty()
        {
            let mut expired = expired;
            // Stable: each AoR's bindings keep the order the store reported them in.
            expired.sort_by(|a, b| a.0.cmp(&b.0));
            let mut by_aor: Vec<(Aor, Vec<BindingChange>)> = Vec::new();
            for (aor, b) in expired {
                let change = BindingChange::new(ChangeKind::Expired, b);
                match by_aor.last_mut() {
                    Some((last, list)) if *last == aor => list.push(change),
                    _ => by_aor.push((aor, vec![change])),
                }
            }
            let mut events = Vec::new();
            let mut intents = Vec::new();
            for (aor, changes) in &by_aor {
                let still = i
                    .registry
                    .lookup(aor, now)
                    .await
                    .is_ok_and(|b| !b.is_empty());
                events.extend(changes.iter().map(|c| registration_event(aor, c)));
                intents.extend(
                    i.subs
                        .registration_changed(aor, &reg_changes(changes), still, now),
                );
            }
            i.bus.publish_batch(now, events);
            self.deliver(intents).await;
        }
        if let Ok(expired) = i.presences.expire(now).await
            && !expired.is_empty()
        {
            let mut events = Vec::new();
            let mut intents = Vec::new();
            for e in &expired {
                events.extend(
                    e.expired
                        .iter()
                        .filter(|p| p.document.event() == EventPackage::Presence)
                        .map(|p| RegistrarEvent::PresenceExpired {
                            aor: e.aor.clone(),
                            etag: p.etag.clone(),
                        }),
                );
                if e.presence_changed {
                    events.push(RegistrarEvent::PresenceChanged {
                        aor: e.aor.clone(),
                        pidf: e.composed.xml.clone(),
                    });
                    intents.extend(self.fan_out(&e.aor, &e.composed.xml, now).await);
                }
                for b in &e.events {
                    intents.extend(self.fan_out_event(&e.aor, b, now));
                }
            }
            i.bus.publish_batch(now, events);
            self.deliver(intents).await;
        }
        let mut ended = i.subs.expire(now);
        ended.extend(i.lists.expire(now));
        if !ended.is_empty() {
            let events: Vec<RegistrarEvent> = ended
                .iter()
                .filter_map(|n| intent_event(n, false))
                .collect();
            i.bus.publish_batch(now, events);
            self.deliver(ended).await;
        }
        self.run_push_refreshes(now).await;
        let presence_of = |a: &Aor| self.cached_xml(a);
        let body_of = |e: &EventPackage, a: &Aor| self.cached_body(e, a);
        let mut flushed = i.subs.flush_deferred_with(now, &body_of);
        let dialogs_of = |a: &Aor| self.cached_body(&EventPackage::Dialog, a);
        let ctx = ListContext::new(&i.buddies, &i.subs, &presence_of).with_dialogs(&dialogs_of);
        flushed.extend(i.lists.flush_deferred(now, ctx));
        if !flushed.is_empty() {
            self.deliver(flushed).await;
        }
    }
}
