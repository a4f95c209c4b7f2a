//! Presence: publications and composed documents.

use super::*;

impl<L: LocationStore + 'static, P: PresenceStore + 'static> RegistrarService<L, P> {
    /// Process one PUBLISH; watchers of the presentity (and buddy list subscribers holding it) are notified
    /// when its composed state changed.
    ///
    /// # Errors
    /// The RFC 3903 rule the request breaks, or a store failure.
    pub async fn publish(&self, req: &PublishRequest) -> Result<PublishResult, Error> {
        self.publish_at(self.now(), req).await
    }

    /// [`Self::publish`] at `now`, the time the caller took once for the whole request.
    ///
    /// # Errors
    /// As [`Self::publish`].
    pub async fn publish_at(
        &self,
        now: Timestamp,
        req: &PublishRequest,
    ) -> Result<PublishResult, Error> {
        let r = self.inner.presences.publish(now, req).await?;
        self.published(&req.aor, &r, now).await;
        Ok(r)
    }

    /// Set `aor`'s presence without SIP (the API's one publication per user), through the PUBLISH path.
    ///
    /// # Errors
    /// As [`publish`](Self::publish).
    pub async fn update_presence(
        &self,
        aor: &Aor,
        document: &Presence,
        expires: u32,
    ) -> Result<PublishResult, Error> {
        let now = self.now();
        let r = self
            .inner
            .presences
            .update_presence(now, aor, document, expires)
            .await?;
        self.published(aor, &r, now).await;
        Ok(r)
    }

    /// The composed presence of `aor`, from the cache.
    ///
    /// # Errors
    /// A store failure.
    pub async fn presence(&self, aor: &Aor) -> Result<Arc<ComposedPresence>, Error> {
        Ok(self.inner.presences.presence(aor, self.now()).await?)
    }

    /// [`presence`](Self::presence) for many presentities, in the order given.
    ///
    /// # Errors
    /// A store failure.
    pub async fn presence_many(&self, aors: &[Aor]) -> Result<Vec<Arc<ComposedPresence>>, Error> {
        let now = self.now();
        let mut out = Vec::with_capacity(aors.len());
        for a in aors {
            out.push(self.inner.presences.presence(a, now).await?);
        }
        Ok(out)
    }
}
