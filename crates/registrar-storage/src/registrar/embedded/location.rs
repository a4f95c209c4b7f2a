//! Bindings in memory, written through to the data file.

use std::sync::Arc;

use async_trait::async_trait;
use registrar_registry::{Error as RegistryError, LocationStore, MemoryLocationStore, UpdateFn};
use registrar_types::{Aor, Binding, Timestamp};

use crate::Error;
use crate::codec::{decode_bindings, encode_bindings};
use crate::journal::{Ack, Journal, Table};

/// A [`LocationStore`] whose memory serves every read and whose every change is committed to the data file
/// before [`update`](LocationStore::update) returns.
///
/// A change is queued for the file while the AoR's lock is still held, so the file sees changes to one AoR in
/// the order memory did; then `update` waits for the group commit that carries it. When the commit fails,
/// `update` fails (the SIP layer answers 503) and the store refuses every later change until restart.
#[derive(Debug)]
pub struct EmbeddedLocationStore {
    mem: MemoryLocationStore,
    journal: Arc<Journal>,
}

/// What loading found.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct LoadReport {
    /// AoRs or presentities with live entries, now in memory.
    pub loaded: usize,
    /// Entries that had expired while the server was down, dropped (and removed from the file).
    pub expired: usize,
}

impl EmbeddedLocationStore {
    /// Load the bindings of `journal`'s file, dropping those expired at `now`.
    ///
    /// # Errors
    /// The file cannot be read or holds a damaged record.
    pub async fn load(journal: Arc<Journal>, now: Timestamp) -> Result<(Self, LoadReport), Error> {
        journal.checkpoint().await?;
        let n = usize::try_from(journal.count(Table::Bindings)?).unwrap_or(usize::MAX);
        let mem = MemoryLocationStore::with_capacity(n);
        // Decoding and indexing run on every core (a million records in a few seconds).
        let parts = journal.scan_parallel(
            Table::Bindings,
            || (LoadReport::default(), Vec::new()),
            |(report, stale), key, bytes| {
                let aor: Aor = key
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("stored AoR {key:?}")))?;
                let all = decode_bindings(bytes)?;
                let n = all.len();
                let live: Vec<Binding> = all.into_iter().filter(|b| b.is_live(now)).collect();
                report.expired += n - live.len();
                if live.len() != n {
                    stale.push((
                        aor.clone(),
                        (!live.is_empty()).then(|| encode_bindings(&live)),
                    ));
                }
                if !live.is_empty() {
                    report.loaded += 1;
                    let set: Arc<[Binding]> = Arc::from(live);
                    mem.update_sync(&aor, &mut |_| Ok(Some(Arc::clone(&set))))
                        .map_err(|e| Error::Corrupt(e.to_string()))?;
                }
                Ok(())
            },
        )?;
        let mut report = LoadReport::default();
        let mut stale = Vec::new();
        for (r, s) in parts {
            report.loaded += r.loaded;
            report.expired += r.expired;
            stale.extend(s);
        }
        // Rewrite what expired meanwhile, so it does not come back on the next start either.
        let mut acks = Vec::new();
        for (aor, value) in stale {
            acks.push(journal.queue(Table::Bindings, aor.as_str(), value)?);
        }
        for a in acks {
            Journal::durable(a).await?;
        }
        Ok((Self { mem, journal }, report))
    }

    /// The memory side (for figures and tests).
    pub const fn memory(&self) -> &MemoryLocationStore {
        &self.mem
    }

    /// Queue the current set of `aor` for the file, under its lock.
    fn rewrite(&self, aor: &Aor) -> Result<Option<Ack>, RegistryError> {
        let mut ack = None;
        self.mem.update_sync(aor, &mut |cur| {
            let value = (!cur.is_empty()).then(|| encode_bindings(cur));
            ack = Some(
                self.journal
                    .queue(Table::Bindings, aor.as_str(), value)
                    .map_err(|e| RegistryError::Storage(e.boxed()))?,
            );
            Ok(None)
        })?;
        Ok(ack)
    }
}

#[async_trait]
impl LocationStore for EmbeddedLocationStore {
    async fn bindings(&self, aor: &Aor) -> Result<Arc<[Binding]>, RegistryError> {
        Ok(self.mem.stored(aor))
    }

    fn bindings_in_memory(&self, aor: &Aor) -> Option<Arc<[Binding]>> {
        Some(self.mem.stored(aor))
    }

    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), RegistryError> {
        let mut ack = None;
        self.mem.update_sync(aor, &mut |old| {
            let new = f(old)?;
            if let Some(set) = &new {
                let value = (!set.is_empty()).then(|| encode_bindings(set));
                ack = Some(
                    self.journal
                        .queue(Table::Bindings, aor.as_str(), value)
                        .map_err(|e| RegistryError::Storage(e.boxed()))?,
                );
            }
            Ok(new)
        })?;
        match ack {
            Some(a) => Journal::durable(a)
                .await
                .map_err(|e| RegistryError::Storage(e.boxed())),
            None => Ok(()),
        }
    }

    async fn remove_expired(&self, now: Timestamp) -> Result<Vec<(Aor, Binding)>, RegistryError> {
        let removed = self.mem.remove_expired_sync(now);
        let mut aors: Vec<&Aor> = removed.iter().map(|(a, _)| a).collect();
        aors.dedup();
        let mut acks = Vec::with_capacity(aors.len());
        for aor in aors {
            acks.extend(self.rewrite(aor)?);
        }
        for a in acks {
            Journal::durable(a)
                .await
                .map_err(|e| RegistryError::Storage(e.boxed()))?;
        }
        Ok(removed)
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, RegistryError> {
        self.mem.next_expiry().await
    }

    async fn aor_for_temp_gruu(&self, key: u64) -> Result<Option<Aor>, RegistryError> {
        self.mem.aor_for_temp_gruu(key).await
    }

    async fn aor_count(&self) -> Result<usize, RegistryError> {
        Ok(self.mem.len())
    }

    async fn aors(&self, after: Option<&Aor>, limit: usize) -> Result<Vec<Aor>, RegistryError> {
        Ok(self.mem.aors_sync(after, limit))
    }
}
