//! The directory's records and audit log in the data file ([`EmbeddedDirectoryStore`]).
//!
//! Layout (keys are fields joined by U+001F, values JSON):
//! - table `directory`: `p␟id` participant, `r␟from␟to` relationship (and `R␟to␟from`, empty, so an
//!   erasure finds the relationships others declared to the erased participant), `t␟id␟topic` topic
//!   subscription, `g␟rater␟ratee␟category` rating (and `G␟ratee␟rater␟category`), `s␟id` priority
//!   settings, `c␟id` contact request (and `K␟party␟id`, empty, for each of its two parties),
//!   `m␟audit_seq` the next audit sequence number.
//! - table `directory_audit`: `S␟subject␟seq` entry (seq zero-padded, so a subject's entries are in time
//!   order), `A␟actor␟seq` → the entry's key (so an erasure finds the entries the erased participant made).
//!
//! Every `apply` is one log frame: after a crash all of it is back or none (an erasure never half-happens).

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use registrar_directory::audit::{AuditEntry, AuditParty};
use registrar_directory::{
    DirectoryChange, DirectoryStore, Error as DirError, ParticipantId, Snapshot,
};

use crate::journal::{Journal, Table};

const SEP: char = '\u{1f}';
const SEQ_KEY: &str = "m\u{1f}audit_seq";
/// This file's stamp (`DirectoryStore::stamp`): a random name given at first open and a counter of the
/// state changes committed since, written in the same frame as each of them.
const STAMP_KEY: &str = "m\u{1f}stamp";

/// A name for a new store: unique enough to tell two data files apart (not a secret).
fn new_store_name() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

fn key(parts: &[&str]) -> String {
    let mut k = String::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(SEP);
        }
        k.push_str(p);
    }
    k
}

fn category(c: registrar_directory::model::TrustCategory) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn party_key(p: &AuditParty) -> Option<String> {
    match p {
        AuditParty::Participant(id) => Some(id.as_str().to_owned()),
        AuditParty::Erased(t) => Some(t.clone()),
        _ => None,
    }
}

fn storage(e: impl std::fmt::Display) -> DirError {
    DirError::Storage(crate::Error::Db(e.to_string()).boxed())
}

fn from_storage(e: crate::Error) -> DirError {
    DirError::Storage(e.boxed())
}

fn json<T: serde::Serialize>(v: &T) -> Result<Vec<u8>, DirError> {
    serde_json::to_vec(v).map_err(storage)
}

/// The directory's [`DirectoryStore`] in the embedded data file, committed with the group commit of the
/// other tables.
#[derive(Debug)]
pub struct EmbeddedDirectoryStore {
    journal: Arc<Journal>,
    /// The next audit sequence number; held while a change list is queued, so sequence order is log order.
    seq: Mutex<u64>,
    /// This file's name and its count of state changes (the stamp), under the same discipline.
    stamp: Mutex<(String, u64)>,
}

type Op = (Table, String, Option<Vec<u8>>);

impl EmbeddedDirectoryStore {
    /// The directory of `journal`'s file.
    ///
    /// # Errors
    /// The file cannot be read.
    pub async fn open(journal: Arc<Journal>) -> Result<Self, crate::Error> {
        let next = journal
            .prefix(Table::Directory, SEQ_KEY, false, 1)
            .await?
            .into_iter()
            .find(|(k, _)| k == SEQ_KEY)
            .and_then(|(_, v)| std::str::from_utf8(&v).ok()?.parse().ok())
            .unwrap_or(0);
        let stored = journal
            .prefix(Table::Directory, STAMP_KEY, false, 1)
            .await?
            .into_iter()
            .find(|(k, _)| k == STAMP_KEY)
            .and_then(|(_, v)| {
                let v = String::from_utf8(v).ok()?;
                let (name, n) = v.rsplit_once(':')?;
                Some((name.to_owned(), n.parse::<u64>().ok()?))
            });
        let stamp = match stored {
            Some(s) => s,
            None => {
                let s = (new_store_name(), 0);
                let ack = journal.queue_batch(vec![(
                    Table::Directory,
                    STAMP_KEY.to_owned(),
                    Some(format!("{}:{}", s.0, s.1).into_bytes()),
                )])?;
                Journal::durable(ack).await?;
                s
            }
        };
        Ok(Self {
            journal,
            seq: Mutex::new(next),
            stamp: Mutex::new(stamp),
        })
    }

    /// The removals (and tombstone rewrites) of an erasure, read from the file.
    async fn erasure(&self, id: &ParticipantId) -> Result<Vec<Op>, DirError> {
        let j = &self.journal;
        j.checkpoint().await.map_err(from_storage)?;
        let scan = |table: Table, prefix: &str| {
            j.prefix_now(table, prefix, false, usize::MAX)
                .map_err(from_storage)
        };
        let id_s = id.as_str();
        let mut ops: Vec<Op> = vec![
            (Table::Directory, key(&["p", id_s]), None),
            (Table::Directory, key(&["s", id_s]), None),
        ];
        let under = |tag: &str| format!("{tag}{SEP}{id_s}{SEP}");
        // Relationships and ratings both ways, with their mirror keys.
        for (tag, mirror) in [("r", "R"), ("R", "r"), ("g", "G"), ("G", "g")] {
            for (k, _) in scan(Table::Directory, &under(tag))? {
                let mut parts: Vec<&str> = k.split(SEP).collect();
                parts[0] = mirror;
                parts.swap(1, 2);
                ops.push((Table::Directory, key(&parts), None));
                ops.push((Table::Directory, k, None));
            }
        }
        for (k, _) in scan(Table::Directory, &under("t"))? {
            ops.push((Table::Directory, k, None));
        }
        // Contact requests either way, with both parties' mirror keys.
        for (k, _) in scan(Table::Directory, &under("K"))? {
            let Some(n) = k.rsplit(SEP).next().map(str::to_owned) else {
                continue;
            };
            if let Some(v) = j
                .get_now(Table::Directory, &key(&["c", &n]))
                .map_err(from_storage)?
            {
                let c: registrar_directory::contact::ContactRequest =
                    serde_json::from_slice(&v).map_err(storage)?;
                for party in [&c.from, &c.to] {
                    ops.push((Table::Directory, key(&["K", party.as_str(), &n]), None));
                }
            }
            ops.push((Table::Directory, key(&["c", &n]), None));
            ops.push((Table::Directory, k, None));
        }
        // The audit: entries about them go; entries they made name their tombstone instead.
        for (k, v) in scan(Table::Audit, &under("S"))? {
            // The actor's index entry names this entry's key (and so the erased id): it goes too.
            let e: AuditEntry = serde_json::from_slice(&v).map_err(storage)?;
            if let (AuditParty::Participant(a), Some(seq)) = (&e.actor, k.rsplit(SEP).next()) {
                ops.push((Table::Audit, key(&["A", a.as_str(), seq]), None));
            }
            ops.push((Table::Audit, k, None));
        }
        let tomb = AuditParty::tombstone(id);
        for (k, entry_key) in scan(Table::Audit, &under("A"))? {
            ops.push((Table::Audit, k, None));
            let entry_key = String::from_utf8(entry_key).map_err(storage)?;
            if let Some(v) = j.get_now(Table::Audit, &entry_key).map_err(from_storage)? {
                let mut e: AuditEntry = serde_json::from_slice(&v).map_err(storage)?;
                if e.subject.is(id) {
                    continue;
                }
                e.actor = tomb.clone();
                ops.push((Table::Audit, entry_key, Some(json(&e)?)));
            }
        }
        Ok(ops)
    }
}

#[async_trait]
impl DirectoryStore for EmbeddedDirectoryStore {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), DirError> {
        // Reads first (an erasure needs to know what to remove), then one batch.
        let mut erasures = Vec::new();
        for c in changes {
            if let DirectoryChange::EraseParticipant(id) = c {
                erasures.push(self.erasure(id).await?);
            }
        }
        let mut erasures = erasures.into_iter();
        let ack = {
            let mut seq = self
                .seq
                .lock()
                .map_err(|_| storage("audit sequence lock poisoned"))?;
            let mut next = *seq;
            let mut ops: Vec<Op> = Vec::new();
            let d = Table::Directory;
            for c in changes {
                match c {
                    DirectoryChange::PutParticipant(p) => {
                        ops.push((d, key(&["p", p.id.as_str()]), Some(json(p)?)));
                    }
                    DirectoryChange::EraseParticipant(_) => {
                        ops.extend(erasures.next().unwrap_or_default())
                    }
                    DirectoryChange::PutRelationship(r) => {
                        let (f, t) = (r.from.as_str(), r.to.as_str());
                        ops.push((d, key(&["r", f, t]), Some(json(r)?)));
                        ops.push((d, key(&["R", t, f]), Some(Vec::new())));
                    }
                    DirectoryChange::RemoveRelationship(f, t) => {
                        ops.push((d, key(&["r", f.as_str(), t.as_str()]), None));
                        ops.push((d, key(&["R", t.as_str(), f.as_str()]), None));
                    }
                    DirectoryChange::PutTopic(t) => {
                        ops.push((
                            d,
                            key(&["t", t.participant.as_str(), &t.topic]),
                            Some(json(t)?),
                        ));
                    }
                    DirectoryChange::PutRating(r) => {
                        let (a, b, c) = (r.rater.as_str(), r.ratee.as_str(), category(r.category));
                        ops.push((d, key(&["g", a, b, &c]), Some(json(r)?)));
                        ops.push((d, key(&["G", b, a, &c]), Some(Vec::new())));
                    }
                    DirectoryChange::PutPriority(s) => {
                        ops.push((d, key(&["s", s.participant.as_str()]), Some(json(s)?)));
                    }
                    DirectoryChange::PutContact(c) => {
                        let n = format!("{:020}", c.id);
                        ops.push((d, key(&["c", &n]), Some(json(c)?)));
                        for party in [&c.from, &c.to] {
                            ops.push((d, key(&["K", party.as_str(), &n]), Some(Vec::new())));
                        }
                    }
                    DirectoryChange::Audit(e) => {
                        let Some(subject) = party_key(&e.subject) else {
                            continue;
                        };
                        let n = format!("{next:020}");
                        next += 1;
                        let entry_key = key(&["S", &subject, &n]);
                        if let AuditParty::Participant(a) = &e.actor {
                            ops.push((
                                Table::Audit,
                                key(&["A", a.as_str(), &n]),
                                Some(entry_key.clone().into_bytes()),
                            ));
                        }
                        ops.push((Table::Audit, entry_key, Some(json(e)?)));
                    }
                    // A change this engine does not know: nothing to write.
                    _ => {}
                }
            }
            if next != *seq {
                ops.push((d, SEQ_KEY.to_owned(), Some(next.to_string().into_bytes())));
            }
            let mut stamp = self
                .stamp
                .lock()
                .map_err(|_| storage("stamp lock poisoned"))?;
            let changed = changes
                .iter()
                .any(|c| !matches!(c, DirectoryChange::Audit(_)));
            if changed {
                ops.push((
                    d,
                    STAMP_KEY.to_owned(),
                    Some(format!("{}:{}", stamp.0, stamp.1 + 1).into_bytes()),
                ));
            }
            let ack = self.journal.queue_batch(ops).map_err(from_storage)?;
            *seq = next;
            if changed {
                stamp.1 += 1;
            }
            ack
        };
        Journal::durable(ack).await.map_err(from_storage)
    }

    async fn load(&self) -> Result<Snapshot, DirError> {
        let mut s = Snapshot::default();
        let mut bad = None;
        self.journal
            .scan(Table::Directory, |k, v| {
                let tag = k.split(SEP).next().unwrap_or("");
                let r = match tag {
                    "p" => serde_json::from_slice(v).map(|p| s.participants.push(p)),
                    "r" => serde_json::from_slice(v).map(|r| s.relationships.push(r)),
                    "t" => serde_json::from_slice(v).map(|t| s.topics.push(t)),
                    "g" => serde_json::from_slice(v).map(|r| s.ratings.push(r)),
                    "s" => serde_json::from_slice(v).map(|p| s.priorities.push(p)),
                    "c" => serde_json::from_slice(v).map(|c| s.contacts.push(c)),
                    _ => Ok(()),
                };
                if let Err(e) = r {
                    bad.get_or_insert_with(|| format!("{}: {e}", k.replace(SEP, "/")));
                }
                Ok(())
            })
            .await
            .map_err(from_storage)?;
        match bad {
            Some(e) => Err(from_storage(crate::Error::Corrupt(e))),
            None => Ok(s),
        }
    }

    async fn audit_of(
        &self,
        subject: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, DirError> {
        let prefix = format!("S{SEP}{}{SEP}", subject.as_str());
        self.journal
            .prefix(Table::Audit, &prefix, true, limit)
            .await
            .map_err(from_storage)?
            .into_iter()
            .map(|(_, v)| serde_json::from_slice(&v).map_err(storage))
            .collect()
    }

    async fn stamp(&self) -> Result<Option<String>, DirError> {
        let s = self
            .stamp
            .lock()
            .map_err(|_| storage("stamp lock poisoned"))?;
        Ok(Some(format!("embedded:{}:{}", s.0, s.1)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use registrar_directory::model::EntityType;
    use registrar_directory::privacy::Requester;
    use registrar_directory::{Directory, MemorySearchIndex, Participant};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_erasure_leaves_no_key_or_value_naming_the_participant() {
        let dir = std::env::temp_dir().join(format!(
            "registrar-directory-erase-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let j = Arc::new(Journal::open(&dir).unwrap());
        let store = EmbeddedDirectoryStore::open(j.clone()).await.unwrap();
        let mut d = Directory::new(MemorySearchIndex::new());
        let ids: Vec<ParticipantId> = ["alice", "bob", "carol"]
            .iter()
            .map(|n| ParticipantId::parse(&format!("{n}@lab.example.com")).unwrap())
            .collect();
        for i in &ids {
            let p = Participant::new(i.clone(), EntityType::Human, i.as_str());
            store.apply(&d.put_participant(p).unwrap()).await.unwrap();
        }
        // Views every way round: entries about alice by others, by alice about others, anonymous ones.
        for a in &ids {
            for b in &ids {
                let req = d.requester(Some(a));
                store.apply(&d.view(&req, b, 1).1).await.unwrap();
            }
            store
                .apply(&d.view(&Requester::anonymous(), a, 2).1)
                .await
                .unwrap();
        }
        // Contact requests both ways.
        for (a, b) in [(0, 1), (2, 0)] {
            let req = d.requester(Some(&ids[a]));
            store
                .apply(&d.ask_contact(&req, &ids[b], "hi", 2).unwrap().1)
                .await
                .unwrap();
        }
        store
            .apply(&d.erase(Some(&ids[0]), &ids[0], 3).unwrap())
            .await
            .unwrap();
        for table in [Table::Directory, Table::Audit] {
            for (k, v) in j.prefix(table, "", false, usize::MAX).await.unwrap() {
                let v = String::from_utf8_lossy(&v);
                assert!(
                    !k.contains("alice") && !v.contains("alice"),
                    "{} = {v}",
                    k.replace(SEP, "/")
                );
            }
        }
        // Bob's trail is whole: viewed by bob, carol, the anonymous requester and alice's tombstone, and
        // alice's tombstone asked to contact him.
        let trail = store.audit_of(&ids[1], 10).await.unwrap();
        assert_eq!(trail.len(), 5);
        assert!(
            trail
                .iter()
                .any(|e| e.actor == AuditParty::tombstone(&ids[0]))
        );
        drop(store);
        drop(j);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
