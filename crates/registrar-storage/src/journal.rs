//! The redb file and its writer: one thread that commits queued changes in groups, so many concurrent
//! requests share one fsync, and acknowledges each change only after its commit is durable.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::Error;

/// The format of the data file this binary writes. Recorded in the file; see [`Journal::open`].
pub const FORMAT_VERSION: u64 = 1;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(crate) const BINDINGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bindings");
pub(crate) const PUBLICATIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("publications");
pub(crate) const SUBSCRIPTIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("subscriptions");

/// Which table a change goes to.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Table {
    Bindings,
    Publications,
    Subscriptions,
}

/// Resolves when a queued change is durable (or its commit failed).
pub(crate) type Ack = oneshot::Receiver<Result<(), Arc<str>>>;

/// One change: the complete new record of a key, or its removal.
struct Op {
    table: Table,
    key: String,
    value: Option<Vec<u8>>,
    ack: oneshot::Sender<Result<(), Arc<str>>>,
}

/// How many changes wait at most for the writer; beyond that a change is refused (503), never queued without
/// bound.
const QUEUE: usize = 65_536;
/// Most changes in one commit.
const GROUP: usize = 8_192;

/// Counters of the writer.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct JournalStats {
    /// Changes committed.
    pub changes: u64,
    /// Commits (each one fsync).
    pub commits: u64,
}

#[derive(Debug, Default)]
struct Shared {
    changes: AtomicU64,
    commits: AtomicU64,
    failed: AtomicBool,
}

/// The data file and its group-commit writer.
#[derive(Debug)]
pub struct Journal {
    db: Arc<Database>,
    tx: Option<mpsc::Sender<Op>>,
    writer: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Journal {
    /// Open (or create) `data_dir/registrar.redb`. A file of an older format is migrated; a file of a newer
    /// format than [`FORMAT_VERSION`] is refused with [`Error::NewerFormat`] and left untouched.
    ///
    /// # Errors
    /// The directory or file cannot be created or read, or the file's format is unknown.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        std::fs::create_dir_all(data_dir).map_err(|e| Error::Io {
            path: data_dir.to_owned(),
            source: e,
        })?;
        let path = data_dir.join("registrar.redb");
        // Look before opening for writing, which may touch the file: a newer file must stay as it is. (A file
        // that a crash left needing repair cannot be opened read-only; the check below runs after repair.)
        if let Ok(Some(found)) = format_version(data_dir)
            && found > FORMAT_VERSION
        {
            return Err(Error::NewerFormat {
                path,
                found,
                supported: FORMAT_VERSION,
            });
        }
        let db =
            Database::create(&path).map_err(|e| Error::Db(format!("{}: {e}", path.display())))?;
        check_format(&db, &path)?;
        let db = Arc::new(db);
        let (tx, rx) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let (d, s) = (Arc::clone(&db), Arc::clone(&shared));
        let writer = std::thread::Builder::new()
            .name("registrar-journal".into())
            .spawn(move || write_loop(&d, rx, &s))
            .map_err(|e| Error::Db(format!("journal thread: {e}")))?;
        Ok(Self {
            db,
            tx: Some(tx),
            writer: Some(writer),
            shared,
            path,
        })
    }

    /// The data file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the writer did so far.
    pub fn stats(&self) -> JournalStats {
        JournalStats {
            changes: self.shared.changes.load(Ordering::Relaxed),
            commits: self.shared.commits.load(Ordering::Relaxed),
        }
    }

    /// Queue a change without waiting (callers do this under the lock that orders changes to the key, so the
    /// file sees them in the same order as memory). Wait on the returned receiver for durability.
    pub(crate) fn queue(
        &self,
        table: Table,
        key: &str,
        value: Option<Vec<u8>>,
    ) -> Result<Ack, Error> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(Error::Failed);
        }
        let (ack, rx) = oneshot::channel();
        let Some(tx) = &self.tx else {
            return Err(Error::Failed);
        };
        tx.try_send(Op {
            table,
            key: key.to_owned(),
            value,
            ack,
        })
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::Busy,
            mpsc::error::TrySendError::Closed(_) => Error::Failed,
        })?;
        Ok(rx)
    }

    /// Wait until a queued change is durable.
    pub(crate) async fn durable(rx: Ack) -> Result<(), Error> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Db(e.to_string())),
            Err(_) => Err(Error::Failed),
        }
    }

    /// Every record of `table`, in key order.
    pub(crate) fn scan(
        &self,
        table: Table,
        mut f: impl FnMut(&str, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let db = |e: &dyn std::fmt::Display| Error::Db(e.to_string());
        let txn = self.db.begin_read().map_err(|e| db(&e))?;
        let t = match txn.open_table(definition(table)) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(()),
            Err(e) => return Err(db(&e)),
        };
        for item in t.iter().map_err(|e| db(&e))? {
            let (k, v) = item.map_err(|e| db(&e))?;
            f(k.value(), v.value())?;
        }
        Ok(())
    }
}

impl Drop for Journal {
    /// Let the writer commit what is queued, then close the file (so it can be opened again at once).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

const fn definition(table: Table) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match table {
        Table::Bindings => BINDINGS,
        Table::Publications => PUBLICATIONS,
        Table::Subscriptions => SUBSCRIPTIONS,
    }
}

/// Record the format in a new file; check it in an existing one.
fn check_format(db: &Database, path: &Path) -> Result<(), Error> {
    let err = |e: &dyn std::fmt::Display| Error::Db(format!("{}: {e}", path.display()));
    let stored = {
        let txn = db.begin_read().map_err(|e| err(&e))?;
        match txn.open_table(META) {
            Ok(t) => t
                .get("format_version")
                .map_err(|e| err(&e))?
                .map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(&e)),
        }
    };
    match stored {
        Some(v) if v > FORMAT_VERSION => Err(Error::NewerFormat {
            path: path.to_owned(),
            found: v,
            supported: FORMAT_VERSION,
        }),
        Some(v) if v == FORMAT_VERSION => Ok(()),
        // A new file, or an older format: bring it to this one. Format 1 is the first; a later format adds
        // its step here (each step rewrites what changed, in the same transaction as the new version number).
        _ => {
            let txn = db.begin_write().map_err(|e| err(&e))?;
            {
                let mut t = txn.open_table(META).map_err(|e| err(&e))?;
                t.insert("format_version", FORMAT_VERSION)
                    .map_err(|e| err(&e))?;
                txn.open_table(BINDINGS).map_err(|e| err(&e))?;
                txn.open_table(PUBLICATIONS).map_err(|e| err(&e))?;
                txn.open_table(SUBSCRIPTIONS).map_err(|e| err(&e))?;
            }
            txn.commit().map_err(|e| err(&e))
        }
    }
}

/// Read the format version of the data file in `data_dir` without opening it for writing (for `registrar`'s
/// start-up message and tests). `None` when there is no file.
///
/// # Errors
/// The file exists but cannot be read.
pub fn format_version(data_dir: &Path) -> Result<Option<u64>, Error> {
    let path = data_dir.join("registrar.redb");
    if !path.exists() {
        return Ok(None);
    }
    let err = |e: &dyn std::fmt::Display| Error::Db(format!("{}: {e}", path.display()));
    let db = redb::ReadOnlyDatabase::open(&path).map_err(|e| err(&e))?;
    let txn = db.begin_read().map_err(|e| err(&e))?;
    match txn.open_table(META) {
        Ok(t) => Ok(t
            .get("format_version")
            .map_err(|e| err(&e))?
            .map(|v| v.value())),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
        Err(e) => Err(err(&e)),
    }
}

/// Write `version` as the file's format (tests of the version check use it to fake a newer file).
///
/// # Errors
/// The file cannot be written.
pub fn set_format_version(data_dir: &Path, version: u64) -> Result<(), Error> {
    let path = data_dir.join("registrar.redb");
    let err = |e: &dyn std::fmt::Display| Error::Db(format!("{}: {e}", path.display()));
    let db = Database::create(&path).map_err(|e| err(&e))?;
    let txn = db.begin_write().map_err(|e| err(&e))?;
    {
        let mut t = txn.open_table(META).map_err(|e| err(&e))?;
        t.insert("format_version", version).map_err(|e| err(&e))?;
    }
    txn.commit().map_err(|e| err(&e))
}

fn write_loop(db: &Database, mut rx: mpsc::Receiver<Op>, shared: &Shared) {
    let mut batch = Vec::with_capacity(GROUP);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < GROUP {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let result = if shared.failed.load(Ordering::Acquire) {
            Err(Arc::from("an earlier commit failed; restart the server"))
        } else {
            commit(db, &batch).map_err(|e| Arc::<str>::from(e.as_str()))
        };
        match &result {
            Ok(()) => {
                shared
                    .changes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                shared.commits.fetch_add(1, Ordering::Relaxed);
            }
            // A failed commit leaves memory ahead of the file; refuse every later change (fail-stop) rather
            // than acknowledge changes that a restart would lose.
            Err(_) => shared.failed.store(true, Ordering::Release),
        }
        for op in batch.drain(..) {
            let _ = op.ack.send(result.clone());
        }
    }
}

fn commit(db: &Database, batch: &[Op]) -> Result<(), String> {
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut bindings = txn.open_table(BINDINGS).map_err(|e| e.to_string())?;
        let mut publications = txn.open_table(PUBLICATIONS).map_err(|e| e.to_string())?;
        let mut subscriptions = txn.open_table(SUBSCRIPTIONS).map_err(|e| e.to_string())?;
        for op in batch {
            let t = match op.table {
                Table::Bindings => &mut bindings,
                Table::Publications => &mut publications,
                Table::Subscriptions => &mut subscriptions,
            };
            match &op.value {
                Some(v) => t.insert(op.key.as_str(), v.as_slice()).map(|_| ()),
                None => t.remove(op.key.as_str()).map(|_| ()),
            }
            .map_err(|e| e.to_string())?;
        }
    }
    txn.commit().map_err(|e| e.to_string())
}
