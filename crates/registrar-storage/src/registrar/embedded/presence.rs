//! Publications in memory, written through to the data file.

use std::sync::Arc;

use async_trait::async_trait;
use registrar_presence::{
    Error as PresenceError, MemoryPresenceStore, PresenceStore, Publication, UpdateFn,
};
use registrar_types::{Aor, Timestamp};

use super::location::LoadReport;
use crate::Error;
use crate::codec::{decode_publications, encode_publications};
use crate::journal::{Journal, Table};

/// A [`PresenceStore`] whose memory serves every read and whose every change is committed to the data file
/// before [`update`](PresenceStore::update) returns (see [`EmbeddedLocationStore`](crate::EmbeddedLocationStore)).
#[derive(Debug)]
pub struct EmbeddedPresenceStore {
    mem: MemoryPresenceStore,
    journal: Arc<Journal>,
}

fn storage(e: Error) -> PresenceError {
    PresenceError::Storage(e.boxed())
}

impl EmbeddedPresenceStore {
    /// Load the publications of `journal`'s file, dropping those expired at `now`.
    ///
    /// # Errors
    /// The file cannot be read or holds a damaged record.
    pub async fn load(journal: Arc<Journal>, now: Timestamp) -> Result<(Self, LoadReport), Error> {
        let mem = MemoryPresenceStore::new();
        let mut report = LoadReport::default();
        let mut found = Vec::new();
        journal
            .scan(Table::Publications, |key, bytes| {
                let aor: Aor = key
                    .parse()
                    .map_err(|_| Error::Corrupt(format!("stored presentity {key:?}")))?;
                found.push((aor, decode_publications(bytes)?));
                Ok(())
            })
            .await?;
        let mut acks = Vec::new();
        for (aor, all) in found {
            let n = all.len();
            let live: Vec<Publication> = all.into_iter().filter(|p| p.is_live(now)).collect();
            report.expired += n - live.len();
            if live.len() != n {
                let value = (!live.is_empty()).then(|| encode_publications(&live));
                acks.push(journal.queue(Table::Publications, aor.as_str(), value)?);
            }
            if !live.is_empty() {
                report.loaded += 1;
                let set: Arc<[Publication]> = Arc::from(live);
                mem.update(&aor, &mut |_| Ok(Some(Arc::clone(&set))))
                    .await
                    .map_err(|e| Error::Corrupt(e.to_string()))?;
            }
        }
        for a in acks {
            Journal::durable(a).await?;
        }
        Ok((Self { mem, journal }, report))
    }
}

#[async_trait]
impl PresenceStore for EmbeddedPresenceStore {
    async fn publications(&self, aor: &Aor) -> Result<Arc<[Publication]>, PresenceError> {
        self.mem.publications(aor).await
    }

    async fn update(&self, aor: &Aor, f: &mut UpdateFn<'_>) -> Result<(), PresenceError> {
        let mut ack = None;
        self.mem
            .update(aor, &mut |old| {
                let new = f(old)?;
                if let Some(set) = &new {
                    let value = (!set.is_empty()).then(|| encode_publications(set));
                    ack = Some(
                        self.journal
                            .queue(Table::Publications, aor.as_str(), value)
                            .map_err(storage)?,
                    );
                }
                Ok(new)
            })
            .await?;
        match ack {
            Some(a) => Journal::durable(a).await.map_err(storage),
            None => Ok(()),
        }
    }

    async fn remove_expired(
        &self,
        now: Timestamp,
    ) -> Result<Vec<(Aor, Publication)>, PresenceError> {
        let removed = self.mem.remove_expired(now).await?;
        let mut aors: Vec<&Aor> = removed.iter().map(|(a, _)| a).collect();
        aors.dedup();
        let mut acks = Vec::with_capacity(aors.len());
        for aor in aors {
            // Under the presentity's lock: the file gets its current set, in order with other changes.
            self.mem
                .update(aor, &mut |cur| {
                    let value = (!cur.is_empty()).then(|| encode_publications(cur));
                    acks.push(
                        self.journal
                            .queue(Table::Publications, aor.as_str(), value)
                            .map_err(storage)?,
                    );
                    Ok(None)
                })
                .await?;
        }
        for a in acks {
            Journal::durable(a).await.map_err(storage)?;
        }
        Ok(removed)
    }

    async fn next_expiry(&self) -> Result<Option<Timestamp>, PresenceError> {
        self.mem.next_expiry().await
    }
}
