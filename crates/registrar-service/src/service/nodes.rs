//! Several nodes: changes other nodes made, applied here.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Another node changed the publications of `aor` in a store this service shares with it: drop the
    /// cached composed document, compose it again from the store, and when it differs from what this node's
    /// watchers last saw, emit `PresenceChanged` and notify them (and the buddy lists holding `aor`).
    ///
    /// # Errors
    /// A store failure (the cache stays empty, so the next read tries the store again).
    pub async fn presence_changed_elsewhere(&self, aor: &Aor) -> Result<(), Error> {
        let now = self.now();
        let before = self.inner.presences.cached(aor).map_or_else(
            || ComposedPresence::build(aor, &[], now).xml.clone(),
            |c| c.xml.clone(),
        );
        let packages = [EventPackage::Dialog, EventPackage::MessageSummary];
        let before_events = packages.clone().map(|e| self.cached_body(&e, aor));
        self.inner.presences.forget(aor);
        let after = self.inner.presences.presence(aor, now).await?;
        let mut intents = Vec::new();
        for (event, before) in packages.into_iter().zip(before_events) {
            let body = self.inner.presences.event_body(&event, aor, now).await?;
            if body != before {
                intents.extend(self.fan_out_event(aor, &EventBody::new(event, body), now));
            }
        }
        if after.xml == before {
            if !intents.is_empty() {
                self.deliver(intents).await;
            }
            return Ok(());
        }
        self.inner.bus.publish(
            now,
            RegistrarEvent::PresenceChanged {
                aor: aor.clone(),
                pidf: after.xml.clone(),
            },
        );
        intents.extend(self.fan_out(aor, &after.xml, now).await);
        if !intents.is_empty() {
            self.deliver(intents).await;
        }
        Ok(())
    }

    /// Changes made elsewhere may have been missed (the notice channel reconnected): drop every cached
    /// composed document, so the next read of each comes from the shared store.
    pub fn forget_cached_presence(&self) {
        self.inner.presences.forget_all();
    }
}
