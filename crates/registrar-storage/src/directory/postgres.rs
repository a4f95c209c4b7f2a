//! The directory in PostgreSQL ([`PostgresDirectoryStore`]), for shared mode: every node reads and writes
//! the same database. Migrations are embedded in the binary and run at connect (`sqlx` keeps track of the
//! ones applied in `_sqlx_migrations`); see `migrations/` for the schema.
//!
//! It is a [`SharedStore`]: every write takes a transaction-scoped advisory lock (one per schema), appends
//! its state changes to `directory_feed` at the next position, and sends a notice on the channel
//! [`FEED_CHANNEL`] (delivered at commit), so the positions follow commit order and nodes that `LISTEN`
//! learn of it at once. Entries older than the retention are pruned; an erasure also removes the erased
//! participant's data from the entries still in the feed.

use std::borrow::Cow;

use async_trait::async_trait;
use registrar_directory::audit::{AuditEntry, AuditParty};
use registrar_directory::{
    DirectoryChange, DirectoryStore, Error as DirError, FeedEntry, ParticipantId, SharedStore,
    SharedWrite, Snapshot,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

/// The channel of the feed's notices (the payload is the schema's name).
pub const FEED_CHANNEL: &str = "registrar_directory_feed";

/// The feed's position: its newest entry, or what was pruned when it is empty.
const HEAD_SQL: &str = "SELECT GREATEST(COALESCE((SELECT max(seq) FROM directory_feed), 0), \
                        (SELECT pruned_through FROM directory_feed_state))";

/// How long feed entries are kept by default: a node that was cut off longer reloads everything.
pub const FEED_RETENTION_SECS: u64 = 3_600;

/// The schema's migrations, in order (each a file of `migrations/`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "directory",
        include_str!("../../migrations/0001_directory.sql"),
    ),
    (
        2,
        "contact requests",
        include_str!("../../migrations/0002_contact_requests.sql"),
    ),
    (
        3,
        "directory feed",
        include_str!("../../migrations/0003_directory_feed.sql"),
    ),
    (
        4,
        "directory origin",
        include_str!("../../migrations/0004_directory_origin.sql"),
    ),
];

fn migrator() -> Migrator {
    Migrator {
        migrations: Cow::Owned(
            MIGRATIONS
                .iter()
                .map(|(v, d, sql)| {
                    Migration::new(
                        *v,
                        Cow::Borrowed(*d),
                        MigrationType::Simple,
                        Cow::Borrowed(*sql),
                        false,
                    )
                })
                .collect(),
        ),
        ..Migrator::DEFAULT
    }
}

fn pg(e: impl std::fmt::Display) -> DirError {
    DirError::Storage(crate::Error::Postgres(e.to_string()).boxed())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, DirError> {
    serde_json::to_string(v).map_err(pg)
}

/// Whether `c` is of the same kind as `first`, and a kind written in bulk.
fn same_bulk_kind(c: &DirectoryChange, first: &DirectoryChange) -> bool {
    matches!(
        (c, first),
        (
            DirectoryChange::PutParticipant(_),
            DirectoryChange::PutParticipant(_)
        ) | (
            DirectoryChange::PutRelationship(_),
            DirectoryChange::PutRelationship(_)
        ) | (DirectoryChange::PutTopic(_), DirectoryChange::PutTopic(_))
    )
}

fn category(c: registrar_directory::model::TrustCategory) -> String {
    serde_json::to_value(c)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn party(p: &AuditParty) -> Option<String> {
    match p {
        AuditParty::Participant(id) => Some(id.as_str().to_owned()),
        AuditParty::Erased(t) => Some(t.clone()),
        _ => None,
    }
}

/// A [`DirectoryStore`] and [`SharedStore`] in PostgreSQL.
#[derive(Debug)]
pub struct PostgresDirectoryStore {
    pool: PgPool,
    /// The connection that listens for the feed's notices (opened at the first wait).
    listener: tokio::sync::Mutex<Option<PgListener>>,
    retention_secs: u64,
}

impl PostgresDirectoryStore {
    /// Connect to `url` (`postgres://user@host:port/db`) with at most `max_connections`, and bring the
    /// schema up to date.
    ///
    /// # Errors
    /// [`crate::Error::Postgres`]: the database cannot be reached, or a migration failed.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, crate::Error> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await
            .map_err(|e| crate::Error::Postgres(format!("{url}: {e}")))?;
        Self::with_pool(pool).await
    }

    /// Use `pool`, bringing the schema up to date.
    ///
    /// # Errors
    /// [`crate::Error::Postgres`]: a migration failed.
    pub async fn with_pool(pool: PgPool) -> Result<Self, crate::Error> {
        migrator()
            .run(&pool)
            .await
            .map_err(|e| crate::Error::Postgres(format!("migration: {e}")))?;
        Ok(Self {
            pool,
            listener: tokio::sync::Mutex::new(None),
            retention_secs: FEED_RETENTION_SECS,
        })
    }

    /// Keep feed entries this long (default [`FEED_RETENTION_SECS`]).
    #[must_use]
    pub fn feed_retention(mut self, secs: u64) -> Self {
        self.retention_secs = secs.max(1);
        self
    }

    /// Take the write lock in `tx` (released at commit or rollback).
    async fn lock(tx: &mut Transaction<'_, Postgres>) -> Result<(), DirError> {
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.directory_feed'))",
        )
        .execute(&mut **tx)
        .await
        .map_err(pg)?;
        Ok(())
    }

    /// The entries after `after` as `tx` sees them; `None` when some were pruned.
    async fn entries_after(
        tx: &mut Transaction<'_, Postgres>,
        after: u64,
    ) -> Result<Option<Vec<FeedEntry>>, DirError> {
        let pruned: i64 = sqlx::query_scalar("SELECT pruned_through FROM directory_feed_state")
            .fetch_one(&mut **tx)
            .await
            .map_err(pg)?;
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        if after < pruned {
            return Ok(None);
        }
        let rows = sqlx::query(
            "SELECT seq, changes::text FROM directory_feed WHERE seq > $1 ORDER BY seq",
        )
        .bind(after)
        .fetch_all(&mut **tx)
        .await
        .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let seq: i64 = r.try_get(0).map_err(pg)?;
                let text: String = r.try_get(1).map_err(pg)?;
                Ok(FeedEntry {
                    seq: u64::try_from(seq).map_err(pg)?,
                    changes: serde_json::from_str(&text).map_err(pg)?,
                })
            })
            .collect::<Result<Vec<_>, DirError>>()
            .map(Some)
    }

    /// Write `changes` in `tx`, which holds the write lock: their rows, and their state changes as the next
    /// feed entry. The feed's position after them.
    async fn write_locked(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        changes: &[DirectoryChange],
    ) -> Result<u64, DirError> {
        Self::write_rows(tx, changes).await?;
        let state: Vec<&DirectoryChange> = changes
            .iter()
            .filter(|c| !matches!(c, DirectoryChange::Audit(_)))
            .collect();
        let head: i64 = sqlx::query_scalar(HEAD_SQL)
            .fetch_one(&mut **tx)
            .await
            .map_err(pg)?;
        if state.is_empty() {
            return u64::try_from(head).map_err(pg);
        }
        for c in &state {
            if let DirectoryChange::EraseParticipant(id) = c {
                Self::scrub_feed(tx, id).await?;
            }
        }
        let seq = head + 1;
        sqlx::query("INSERT INTO directory_feed (seq, changes) VALUES ($1, $2::jsonb)")
            .bind(seq)
            .bind(json(&state)?)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        if seq % 256 == 0 {
            sqlx::query(
                "WITH gone AS (DELETE FROM directory_feed WHERE at < now() - make_interval(secs => $1) \
                 RETURNING seq) UPDATE directory_feed_state \
                 SET pruned_through = GREATEST(pruned_through, COALESCE((SELECT max(seq) FROM gone), 0))",
            )
            .bind(self.retention_secs as f64)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        }
        sqlx::query("SELECT pg_notify($1, current_schema())")
            .bind(FEED_CHANNEL)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        u64::try_from(seq).map_err(pg)
    }

    /// An erasure reaches the feed too: the erased participant's data leaves the entries still kept (the
    /// entries stay, so positions do not move; a node that has not applied them yet ends in the same state).
    async fn scrub_feed(
        tx: &mut Transaction<'_, Postgres>,
        id: &ParticipantId,
    ) -> Result<(), DirError> {
        let rows = sqlx::query(
            "SELECT seq, changes::text FROM directory_feed \
             WHERE jsonb_path_exists(changes, '$.** ? (@ == $id)', jsonb_build_object('id', $1::text))",
        )
        .bind(id.as_str())
        .fetch_all(&mut **tx)
        .await
        .map_err(pg)?;
        for r in rows {
            let seq: i64 = r.try_get(0).map_err(pg)?;
            let text: String = r.try_get(1).map_err(pg)?;
            let changes: Vec<DirectoryChange> = serde_json::from_str(&text).map_err(pg)?;
            let kept: Vec<&DirectoryChange> = changes.iter().filter(|c| !c.concerns(id)).collect();
            if kept.len() == changes.len() {
                continue;
            }
            sqlx::query("UPDATE directory_feed SET changes = $2::jsonb WHERE seq = $1")
                .bind(seq)
                .bind(json(&kept)?)
                .execute(&mut **tx)
                .await
                .map_err(pg)?;
        }
        Ok(())
    }

    /// The pool (for health checks).
    pub const fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn erase(tx: &mut Transaction<'_, Postgres>, id: &ParticipantId) -> Result<(), DirError> {
        let id = id.as_str();
        // Relationships, topics, ratings and priorities go with the participant (ON DELETE CASCADE).
        sqlx::query("DELETE FROM directory_participants WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        sqlx::query("SELECT set_config('registrar.erasing', 'on', true)")
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        sqlx::query("DELETE FROM directory_audit WHERE subject = $1")
            .bind(id)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        let pid = ParticipantId::parse(id).map_err(pg)?;
        let AuditParty::Erased(tomb) = AuditParty::tombstone(&pid) else {
            return Err(pg("tombstone"));
        };
        let tomb_json = json(&AuditParty::tombstone(&pid))?;
        sqlx::query(
            "UPDATE directory_audit SET actor = $2, record = jsonb_set(record, '{actor}', $3::jsonb) \
             WHERE actor = $1",
        )
        .bind(id)
        .bind(&tomb)
        .bind(&tomb_json)
        .execute(&mut **tx)
        .await
        .map_err(pg)?;
        sqlx::query("SELECT set_config('registrar.erasing', 'off', true)")
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        Ok(())
    }
}

impl PostgresDirectoryStore {
    /// The rows of `changes` (participants, relationships, …, audit entries) in `tx`.
    async fn write_rows(
        tx: &mut Transaction<'_, Postgres>,
        changes: &[DirectoryChange],
    ) -> Result<(), DirError> {
        // Runs of participants, relationships or topics (an import, a restore) go in one statement each;
        // everything else, and the order between runs, as it comes.
        let mut i = 0;
        while i < changes.len() {
            let run = changes[i..]
                .iter()
                .take_while(|c| same_bulk_kind(c, &changes[i]))
                .count();
            if run > 1 {
                Self::write_bulk(tx, &changes[i..i + run]).await?;
                i += run;
            } else {
                Self::write_one(tx, &changes[i]).await?;
                i += 1;
            }
        }
        Ok(())
    }

    /// A run of changes of one bulk kind in one `INSERT … SELECT FROM UNNEST`; a key that comes twice keeps
    /// its last record, as one statement at a time would.
    async fn write_bulk(
        tx: &mut Transaction<'_, Postgres>,
        run: &[DirectoryChange],
    ) -> Result<(), DirError> {
        let mut keys: Vec<(String, String)> = Vec::with_capacity(run.len());
        let mut records: Vec<String> = Vec::with_capacity(run.len());
        let mut at: std::collections::HashMap<(String, String), usize> =
            std::collections::HashMap::with_capacity(run.len());
        for c in run {
            let (key, record) = match c {
                DirectoryChange::PutParticipant(p) => {
                    ((p.id.as_str().to_owned(), String::new()), json(p)?)
                }
                DirectoryChange::PutRelationship(r) => (
                    (r.from.as_str().to_owned(), r.to.as_str().to_owned()),
                    json(r)?,
                ),
                DirectoryChange::PutTopic(t) => (
                    (t.participant.as_str().to_owned(), t.topic.clone()),
                    json(t)?,
                ),
                _ => return Err(pg("not a bulk change")),
            };
            match at.get(&key) {
                Some(&k) => records[k] = record,
                None => {
                    at.insert(key.clone(), keys.len());
                    keys.push(key);
                    records.push(record);
                }
            }
        }
        let (a, b): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
        let sql = match &run[0] {
            DirectoryChange::PutParticipant(_) => {
                "INSERT INTO directory_participants (id, record) \
                 SELECT k, r::jsonb FROM UNNEST($1::text[], $3::text[]) AS u(k, r) \
                 ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()"
            }
            DirectoryChange::PutRelationship(_) => {
                "INSERT INTO directory_relationships (from_id, to_id, record) \
                 SELECT f, t, r::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(f, t, r) \
                 ON CONFLICT (from_id, to_id) DO UPDATE SET record = EXCLUDED.record"
            }
            _ => {
                "INSERT INTO directory_topics (participant, topic, record) \
                 SELECT p, t, r::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[]) AS u(p, t, r) \
                 ON CONFLICT (participant, topic) DO UPDATE SET record = EXCLUDED.record"
            }
        };
        sqlx::query(sql)
            .bind(&a)
            .bind(&b)
            .bind(&records)
            .execute(&mut **tx)
            .await
            .map_err(pg)?;
        Ok(())
    }

    async fn write_one(
        tx: &mut Transaction<'_, Postgres>,
        c: &DirectoryChange,
    ) -> Result<(), DirError> {
        {
            match c {
                DirectoryChange::PutParticipant(p) => {
                    sqlx::query(
                        "INSERT INTO directory_participants (id, record) VALUES ($1, $2::jsonb) \
                         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()",
                    )
                    .bind(p.id.as_str())
                    .bind(json(p)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::EraseParticipant(id) => Self::erase(tx, id).await?,
                DirectoryChange::PutRelationship(r) => {
                    sqlx::query(
                        "INSERT INTO directory_relationships (from_id, to_id, record) \
                         VALUES ($1, $2, $3::jsonb) \
                         ON CONFLICT (from_id, to_id) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(r.from.as_str())
                    .bind(r.to.as_str())
                    .bind(json(r)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::RemoveRelationship(f, t) => {
                    sqlx::query(
                        "DELETE FROM directory_relationships WHERE from_id = $1 AND to_id = $2",
                    )
                    .bind(f.as_str())
                    .bind(t.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::PutTopic(t) => {
                    sqlx::query(
                        "INSERT INTO directory_topics (participant, topic, record) \
                         VALUES ($1, $2, $3::jsonb) \
                         ON CONFLICT (participant, topic) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(t.participant.as_str())
                    .bind(&t.topic)
                    .bind(json(t)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::PutRating(r) => {
                    sqlx::query(
                        "INSERT INTO directory_ratings (rater, ratee, category, score, record) \
                         VALUES ($1, $2, $3, $4, $5::jsonb) \
                         ON CONFLICT (rater, ratee, category) \
                         DO UPDATE SET score = EXCLUDED.score, record = EXCLUDED.record",
                    )
                    .bind(r.rater.as_str())
                    .bind(r.ratee.as_str())
                    .bind(category(r.category))
                    .bind(i16::from(r.score))
                    .bind(json(r)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::PutPriority(s) => {
                    sqlx::query(
                        "INSERT INTO directory_priorities (participant, record) VALUES ($1, $2::jsonb) \
                         ON CONFLICT (participant) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(s.participant.as_str())
                    .bind(json(s)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::PutContact(c) => {
                    sqlx::query(
                        "INSERT INTO directory_contacts (id, from_id, to_id, record) \
                         VALUES ($1, $2, $3, $4::jsonb) \
                         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(i64::try_from(c.id).map_err(pg)?)
                    .bind(c.from.as_str())
                    .bind(c.to.as_str())
                    .bind(json(c)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::Audit(e) => {
                    let Some(subject) = party(&e.subject) else {
                        return Ok(());
                    };
                    let action = serde_json::to_value(e.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    sqlx::query(
                        "INSERT INTO directory_audit (at_ms, actor, subject, action, record) \
                         VALUES ($1, $2, $3, $4, $5::jsonb)",
                    )
                    .bind(i64::try_from(e.at_ms).unwrap_or(i64::MAX))
                    .bind(party(&e.actor))
                    .bind(subject)
                    .bind(action)
                    .bind(json(e)?)
                    .execute(&mut **tx)
                    .await
                    .map_err(pg)?;
                }
                // A change this engine does not know: nothing to write.
                _ => {}
            }
        }
        Ok(())
    }
}

/// A write under the feed's lock.
struct PostgresWrite<'a> {
    store: &'a PostgresDirectoryStore,
    tx: Transaction<'static, Postgres>,
}

#[async_trait]
impl SharedWrite for PostgresWrite<'_> {
    async fn commit(mut self: Box<Self>, changes: &[DirectoryChange]) -> Result<u64, DirError> {
        let seq = self.store.write_locked(&mut self.tx, changes).await?;
        self.tx.commit().await.map_err(pg)?;
        Ok(seq)
    }
}

#[async_trait]
impl SharedStore for PostgresDirectoryStore {
    async fn load_at(&self) -> Result<(Snapshot, u64), DirError> {
        let mut tx = self.pool.begin().await.map_err(pg)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(pg)?;
        let head = Self::head_in(&mut tx).await?;
        let snapshot = Self::snapshot(&mut tx).await?;
        tx.commit().await.map_err(pg)?;
        Ok((snapshot, head))
    }

    async fn head(&self) -> Result<u64, DirError> {
        let mut conn = self.pool.acquire().await.map_err(pg)?;
        let head: i64 = sqlx::query_scalar(HEAD_SQL)
            .fetch_one(&mut *conn)
            .await
            .map_err(pg)?;
        u64::try_from(head).map_err(pg)
    }

    async fn changes_after(&self, after: u64) -> Result<Option<Vec<FeedEntry>>, DirError> {
        let mut tx = self.pool.begin().await.map_err(pg)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(pg)?;
        let entries = Self::entries_after(&mut tx, after).await?;
        tx.commit().await.map_err(pg)?;
        Ok(entries)
    }

    async fn begin(
        &self,
        after: u64,
    ) -> Result<(Box<dyn SharedWrite + '_>, Vec<FeedEntry>), DirError> {
        let mut tx = self.pool.begin().await.map_err(pg)?;
        Self::lock(&mut tx).await?;
        let pending = Self::entries_after(&mut tx, after)
            .await?
            .ok_or_else(|| pg("the feed no longer holds the entries this node needs; reload"))?;
        Ok((Box::new(PostgresWrite { store: self, tx }), pending))
    }

    async fn origin(&self) -> Result<String, DirError> {
        let name: String = sqlx::query_scalar("SELECT name FROM directory_origin")
            .fetch_one(&self.pool)
            .await
            .map_err(pg)?;
        Ok(format!("postgres:{name}"))
    }

    async fn wait(&self, timeout: std::time::Duration) {
        let mut guard = self.listener.lock().await;
        if guard.is_none() {
            match PgListener::connect_with(&self.pool).await {
                Ok(mut l) => match l.listen(FEED_CHANNEL).await {
                    Ok(()) => *guard = Some(l),
                    Err(_) => {
                        drop(guard);
                        tokio::time::sleep(timeout).await;
                        return;
                    }
                },
                Err(_) => {
                    drop(guard);
                    tokio::time::sleep(timeout).await;
                    return;
                }
            }
        }
        let Some(l) = guard.as_mut() else {
            return;
        };
        match tokio::time::timeout(timeout, l.recv()).await {
            // A notice, or the wait is over: either way the caller looks at the feed.
            Ok(Ok(_)) | Err(_) => {}
            // The connection broke: a new one at the next wait.
            Ok(Err(_)) => *guard = None,
        }
    }
}

impl PostgresDirectoryStore {
    async fn head_in(tx: &mut Transaction<'_, Postgres>) -> Result<u64, DirError> {
        let head: i64 = sqlx::query_scalar(HEAD_SQL)
            .fetch_one(&mut **tx)
            .await
            .map_err(pg)?;
        u64::try_from(head).map_err(pg)
    }

    async fn snapshot(tx: &mut Transaction<'_, Postgres>) -> Result<Snapshot, DirError> {
        async fn all<T: serde::de::DeserializeOwned>(
            tx: &mut Transaction<'_, Postgres>,
            sql: &str,
        ) -> Result<Vec<T>, DirError> {
            let rows = sqlx::query(sql).fetch_all(&mut **tx).await.map_err(pg)?;
            rows.iter()
                .map(|r| {
                    let s: String = r.try_get(0).map_err(pg)?;
                    serde_json::from_str(&s).map_err(pg)
                })
                .collect()
        }
        Ok(Snapshot {
            participants: all(tx, "SELECT record::text FROM directory_participants").await?,
            relationships: all(tx, "SELECT record::text FROM directory_relationships").await?,
            topics: all(tx, "SELECT record::text FROM directory_topics").await?,
            ratings: all(tx, "SELECT record::text FROM directory_ratings").await?,
            priorities: all(tx, "SELECT record::text FROM directory_priorities").await?,
            contacts: all(tx, "SELECT record::text FROM directory_contacts").await?,
        })
    }
}

#[async_trait]
impl DirectoryStore for PostgresDirectoryStore {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), DirError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(pg)?;
        // State changes go through the feed, under its lock; audit entries alone need neither.
        if changes
            .iter()
            .any(|c| !matches!(c, DirectoryChange::Audit(_)))
        {
            Self::lock(&mut tx).await?;
            self.write_locked(&mut tx, changes).await?;
        } else {
            Self::write_rows(&mut tx, changes).await?;
        }
        tx.commit().await.map_err(pg)
    }

    async fn load(&self) -> Result<Snapshot, DirError> {
        Ok(self.load_at().await?.0)
    }

    async fn audit_of(
        &self,
        subject: &ParticipantId,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, DirError> {
        let rows = sqlx::query(
            "SELECT record::text FROM directory_audit WHERE subject = $1 ORDER BY seq DESC LIMIT $2",
        )
        .bind(subject.as_str())
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(pg)?;
        rows.iter()
            .map(|r| {
                let s: String = r.try_get(0).map_err(pg)?;
                serde_json::from_str(&s).map_err(pg)
            })
            .collect()
    }
}
