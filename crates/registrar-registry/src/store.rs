//! The storage trait the registry needs, owned here so engines elsewhere implement it.

use std::sync::Arc;

use async_trait::async_trait;
use registrar_types::{Aor, Binding, Timestamp};

use crate::Error;

/// The function a store runs to change one AoR: it gets the current bindings and returns the new complete
/// set (`Some`, empty to remove the AoR) or `None` for no change. An error aborts with nothing changed.
pub type UpdateFn<'a> = dyn FnMut(&[Binding]) -> Result<Option<Arc<[Binding]>>, Error> + Send + 'a;

/// Where bindings live. Implemented in memory here ([`crate::MemoryLocationStore`]) and by the durable and
/// shared engines of `registrar-storage`.
///
/// Contract:
/// - [`update`](Self::update) is atomic per AoR: the function sees one consistent set and its result replaces
///   that set entirely, or nothing happens. Optimistic engines may call the function more than once.
/// - Sets are stored in the order given (the registry passes them sorted).
/// - Expired bindings may stay stored until [`remove_expired`](Self::remove_expired) runs; readers filter them.
#[async_trait]
pub trait LocationStore: Send + Sync {
    /// The stored bindings of `aor` (possibly including expired ones); empty when there are none.
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, Error>;

    /// The stored bindings of `aor` straight from memory, for an engine that keeps every binding in memory
    /// (the in-memory store, and the durable engines whose memory serves every read). `None` means "ask
    /// [`bindings`](Self::bindings)"; the default. Lookups take this path first, so a memory-served read
    /// costs no future and no allocation.
    fn bindings_in_memory(&self, aor: &Aor) -> Option<Arc<[Binding]>> {
        let _ = aor;
        None
    }

    /// Change the bindings of `aor` atomically with `f`.
    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error>;

    /// Remove every binding expired at `now` and return them with their AoR. Costs O(expired), not O(all).
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, Error>;

    /// The earliest instant at which something may expire, for a sweeper to sleep until.
    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error>;

    /// The AoR whose binding holds the temporary GRUU series `key`.
    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, Error>;

    /// How many AoRs have bindings stored.
    async fn aor_count(&self) -> Result<usize, Error>;

    /// Up to `limit` AoRs with bindings stored, in ascending order, starting after `after` (a page of the
    /// registered users; pass the last AoR of one page to get the next).
    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, Error>;
}

#[async_trait]
impl<T: LocationStore + ?Sized> LocationStore for Arc<T> {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, Error> {
        (**self).bindings(aor).await
    }
    fn bindings_in_memory(&self, aor: &Aor) -> Option<Arc<[Binding]>> {
        (**self).bindings_in_memory(aor)
    }
    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), Error> {
        (**self).update(aor, f).await
    }
    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, Error> {
        (**self).remove_expired(now).await
    }
    async fn next_expiry(&self) -> Result<Option<Timestamp>, Error> {
        (**self).next_expiry().await
    }
    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, Error> {
        (**self).aor_for_temp_gruu(key).await
    }
    async fn aor_count(&self) -> Result<usize, Error> {
        (**self).aor_count().await
    }
    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, Error> {
        (**self).aors(after, limit).await
    }
}
