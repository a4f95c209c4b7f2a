//! The directory in PostgreSQL ([`PostgresDirectoryStore`]), for shared mode: every node reads and writes
//! the same database. Migrations are embedded in the binary and run at connect (`sqlx` keeps track of the
//! ones applied in `_sqlx_migrations`); see `migrations/` for the schema.

use std::borrow::Cow;

use async_trait::async_trait;
use registrar_directory::audit::{AuditEntry, AuditParty};
use registrar_directory::{
    DirectoryChange, DirectoryStore, Error as DirError, ParticipantId, Snapshot,
};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Postgres, Row, Transaction};

/// The schema's migrations, in order (each a file of `migrations/`).
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "directory",
        include_str!("../migrations/0001_directory.sql"),
    ),
    (
        2,
        "contact requests",
        include_str!("../migrations/0002_contact_requests.sql"),
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

/// A [`DirectoryStore`] in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresDirectoryStore {
    pool: PgPool,
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
            .acquire_timeout(std::time::Duration::from_secs(5))
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
        Ok(Self { pool })
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

#[async_trait]
impl DirectoryStore for PostgresDirectoryStore {
    async fn apply(&self, changes: &[DirectoryChange]) -> Result<(), DirError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await.map_err(pg)?;
        for c in changes {
            match c {
                DirectoryChange::PutParticipant(p) => {
                    sqlx::query(
                        "INSERT INTO directory_participants (id, record) VALUES ($1, $2::jsonb) \
                         ON CONFLICT (id) DO UPDATE SET record = EXCLUDED.record, updated_at = now()",
                    )
                    .bind(p.id.as_str())
                    .bind(json(p)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::EraseParticipant(id) => Self::erase(&mut tx, id).await?,
                DirectoryChange::PutRelationship(r) => {
                    sqlx::query(
                        "INSERT INTO directory_relationships (from_id, to_id, record) \
                         VALUES ($1, $2, $3::jsonb) \
                         ON CONFLICT (from_id, to_id) DO UPDATE SET record = EXCLUDED.record",
                    )
                    .bind(r.from.as_str())
                    .bind(r.to.as_str())
                    .bind(json(r)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::RemoveRelationship(f, t) => {
                    sqlx::query(
                        "DELETE FROM directory_relationships WHERE from_id = $1 AND to_id = $2",
                    )
                    .bind(f.as_str())
                    .bind(t.as_str())
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
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
                    .execute(&mut *tx)
                    .await
                    .map_err(pg)?;
                }
                DirectoryChange::Audit(e) => {
                    let Some(subject) = party(&e.subject) else {
                        continue;
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
                    .execute(&mut *tx)
                    .await
                    .map_err(pg)?;
                }
                // A change this engine does not know: nothing to write.
                _ => {}
            }
        }
        tx.commit().await.map_err(pg)
    }

    async fn load(&self) -> Result<Snapshot, DirError> {
        async fn all<T: serde::de::DeserializeOwned>(
            pool: &PgPool,
            sql: &str,
        ) -> Result<Vec<T>, DirError> {
            let rows = sqlx::query(sql).fetch_all(pool).await.map_err(pg)?;
            rows.iter()
                .map(|r| {
                    let s: String = r.try_get(0).map_err(pg)?;
                    serde_json::from_str(&s).map_err(pg)
                })
                .collect()
        }
        let p = &self.pool;
        Ok(Snapshot {
            participants: all(p, "SELECT record::text FROM directory_participants").await?,
            relationships: all(p, "SELECT record::text FROM directory_relationships").await?,
            topics: all(p, "SELECT record::text FROM directory_topics").await?,
            ratings: all(p, "SELECT record::text FROM directory_ratings").await?,
            priorities: all(p, "SELECT record::text FROM directory_priorities").await?,
            contacts: all(p, "SELECT record::text FROM directory_contacts").await?,
        })
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
