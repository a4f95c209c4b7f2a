//! The data directory and its writer: one thread that appends queued changes in groups to a write-ahead log
//! (one fsync per group, so many concurrent requests share it) and acknowledges each change only once its
//! group is durable; the log is folded into the redb file in the background (a checkpoint).
//!
//! Why a log in front of redb: a redb commit copies every B-tree page it touches, so a group of refreshes of
//! random users rewrites about one 4 KiB page per change. The log writes each change once, sequentially;
//! the checkpoint then applies only the latest record of each key, sorted, in one large transaction.
//!
//! Files: `registrar.redb` (the tables, the format version and `log_checkpoint`, the newest log generation
//! already in the tables) and `journal-<generation>.log`. A log is a sequence of frames
//! `[payload length u32 LE][CRC-32 of payload u32 LE][payload]`, one per group; a payload is a sequence of
//! changes `[table u8][key length u32][key][0 | 1 + value length u32 + value]`. A frame that is cut short or
//! fails its checksum ends the log: it is the group a crash interrupted, which was never acknowledged.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use tokio::sync::{mpsc, oneshot};

use crate::Error;

mod format;
mod frames;
mod recovery;
mod writer;

use format::{Tables, check_format, definition};
use frames::{changes, crc32, encode_change, frames};
use recovery::{fold, log_name, recover, sync_dir};
use writer::{Log, Writer};

/// The format of the data file this binary writes. Recorded in the file; see [`Journal::open`].
///
/// 1: the tables only. 2: the tables plus write-ahead logs beside the file (`log_checkpoint` in `meta`); a
/// format-1 file needs no rewrite, but a format-1 binary must not open a directory whose logs it would ignore.
pub const FORMAT_VERSION: u64 = 4;

const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
pub(crate) const BINDINGS: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("bindings");
pub(crate) const PUBLICATIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("publications");
pub(crate) const SUBSCRIPTIONS: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("subscriptions");
pub(crate) const DIRECTORY: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("directory");
pub(crate) const AUDIT: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("directory_audit");
pub(crate) const PRESENCE_STATE: TableDefinition<'_, &str, &[u8]> =
    TableDefinition::new("presence_state");

/// Which table a change goes to.
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub(crate) enum Table {
    Bindings,
    Publications,
    Subscriptions,
    /// The participant directory's records (participants, relationships, topics, ratings, priorities).
    Directory,
    /// The directory's audit log.
    Audit,
    /// What users set about presence: watcher decisions, buddy lists, automatic list members, buddy list
    /// subscriptions.
    PresenceState,
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

/// What the writer is asked to do.
enum Msg {
    Change(Op),
    /// Changes that must be logged in one frame (all or none after a crash).
    Batch(Vec<Op>),
    /// Fold everything acknowledged so far into the tables, then answer.
    Checkpoint(oneshot::Sender<Result<(), Arc<str>>>),
}

/// How many changes wait at most for the writer; beyond that a change is refused (503), never queued without
/// bound.
const QUEUE: usize = 65_536;
/// Most changes in one group (one log frame, one fsync).
const GROUP: usize = 8_192;
/// A group smaller than this waits [`GATHER_DELAY`] once for more changes before it is written.
const GATHER: usize = 64;
const GATHER_DELAY: std::time::Duration = std::time::Duration::from_micros(250);
/// A log this long is closed and folded into the tables while a new one takes the changes.
const ROTATE_BYTES: u64 = 32 << 20;

/// Counters of the writer.
#[derive(Clone, Copy, Debug, Default, Eq, PartialEq)]
#[non_exhaustive]
pub struct JournalStats {
    /// Changes committed.
    pub changes: u64,
    /// Groups made durable (each one fsync of the log).
    pub commits: u64,
    /// Logs folded into the tables.
    pub checkpoints: u64,
}

#[derive(Debug, Default)]
struct Shared {
    changes: AtomicU64,
    commits: AtomicU64,
    checkpoints: AtomicU64,
    failed: AtomicBool,
    reason: std::sync::Mutex<Option<Arc<str>>>,
}

/// The data file and its group-commit writer.
#[derive(Debug)]
pub struct Journal {
    db: Arc<Database>,
    tx: Option<mpsc::Sender<Msg>>,
    writer: Option<std::thread::JoinHandle<()>>,
    shared: Arc<Shared>,
    path: PathBuf,
}

impl Journal {
    /// Open (or create) `data_dir/registrar.redb`. A file of an older format is migrated; a file of a newer
    /// format than [`FORMAT_VERSION`] is refused with [`Error::NewerFormat`] and left untouched. Logs left by
    /// a crash are folded into the tables before this returns.
    ///
    /// # Errors
    /// The directory or file cannot be created or read, or the file's format is unknown.
    pub fn open(data_dir: &Path) -> Result<Self, Error> {
        Self::open_with(data_dir, ROTATE_BYTES)
    }

    fn open_with(data_dir: &Path, rotate_bytes: u64) -> Result<Self, Error> {
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
        let generation = recover(&db, data_dir)? + 1;
        let log = Log::create(data_dir, generation)?;
        let (tx, rx) = mpsc::channel(QUEUE);
        let shared = Arc::new(Shared::default());
        let mut writer = Writer {
            db: Arc::clone(&db),
            dir: data_dir.to_owned(),
            shared: Arc::clone(&shared),
            log,
            pending: HashMap::new(),
            checkpoint: None,
            rotate_bytes,
        };
        let writer = std::thread::Builder::new()
            .name("registrar-journal".into())
            .spawn(move || writer.run(rx))
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
            checkpoints: self.shared.checkpoints.load(Ordering::Relaxed),
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
        tx.try_send(Msg::Change(Op {
            table,
            key: key.to_owned(),
            value,
            ack,
        }))
        .map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::Busy,
            mpsc::error::TrySendError::Closed(_) => Error::Failed,
        })?;
        Ok(rx)
    }

    /// Queue changes that must be durable together: they go into one log frame, so after a crash either
    /// all of them are back or none. Wait on the returned receiver for durability of the lot.
    pub(crate) fn queue_batch(
        &self,
        changes: Vec<(Table, String, Option<Vec<u8>>)>,
    ) -> Result<Ack, Error> {
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(Error::Failed);
        }
        let Some(tx) = &self.tx else {
            return Err(Error::Failed);
        };
        let mut ops = Vec::with_capacity(changes.len());
        let mut last = None;
        for (table, key, value) in changes {
            let (ack, rx) = oneshot::channel();
            last = Some(rx);
            ops.push(Op {
                table,
                key,
                value,
                ack,
            });
        }
        let Some(last) = last else {
            // Nothing to write: durable already.
            let (ack, rx) = oneshot::channel();
            let _ = ack.send(Ok(()));
            return Ok(rx);
        };
        tx.try_send(Msg::Batch(ops)).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Error::Busy,
            mpsc::error::TrySendError::Closed(_) => Error::Failed,
        })?;
        Ok(last)
    }

    /// The records of `table` whose keys start with `prefix`, in key order (`reverse`: newest key first),
    /// at most `limit`, including every change acknowledged before the call (it checkpoints first, so this
    /// is for rare reads: a participant's audit trail, an erasure).
    ///
    /// # Errors
    /// The writer failed, or the file cannot be read.
    pub(crate) async fn prefix(
        &self,
        table: Table,
        prefix: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, Error> {
        self.checkpoint().await?;
        self.prefix_now(table, prefix, reverse, limit)
    }

    /// Run `f` on `table` as the tables hold it now (`None` when the table was never created).
    fn read<R>(
        &self,
        table: Table,
        f: impl FnOnce(Option<&redb::ReadOnlyTable<&'static str, &'static [u8]>>) -> Result<R, Error>,
    ) -> Result<R, Error> {
        let txn = self.db.begin_read().map_err(|e| Error::Db(e.to_string()))?;
        match txn.open_table(definition(table)) {
            Ok(t) => f(Some(&t)),
            Err(redb::TableError::TableDoesNotExist(_)) => f(None),
            Err(e) => Err(Error::Db(e.to_string())),
        }
    }

    /// [`Self::prefix`] without the checkpoint: what the tables hold now (call [`Self::checkpoint`] first to
    /// include every change acknowledged so far).
    pub(crate) fn prefix_now(
        &self,
        table: Table,
        prefix: &str,
        reverse: bool,
        limit: usize,
    ) -> Result<Vec<(String, Vec<u8>)>, Error> {
        let db = |e: redb::StorageError| Error::Db(e.to_string());
        // Every key under the prefix sorts before the prefix with its last character raised.
        let end = prefix.chars().last().and_then(|c| {
            let raised = char::from_u32(c as u32 + 1)?;
            let mut e = prefix[..prefix.len() - c.len_utf8()].to_owned();
            e.push(raised);
            Some(e)
        });
        self.read(table, |t| {
            let Some(t) = t else {
                return Ok(Vec::new());
            };
            let range = match &end {
                Some(end) => t.range(prefix..end.as_str()),
                None => t.range(prefix..),
            }
            .map_err(db)?;
            let items: Box<dyn Iterator<Item = _>> = if reverse {
                Box::new(range.rev())
            } else {
                Box::new(range)
            };
            // Without an upper bound (an empty prefix, or one ending in the last character) keys past the
            // prefix can come first when reversed: skip them, and stop at the first one after.
            let mut out = Vec::new();
            for item in items {
                if out.len() >= limit {
                    break;
                }
                let (k, v) = item.map_err(db)?;
                if k.value().starts_with(prefix) {
                    out.push((k.value().to_owned(), v.value().to_vec()));
                } else if !out.is_empty() || !reverse {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// One record of the tables as they are now (see [`Self::prefix_now`]).
    pub(crate) fn get_now(&self, table: Table, key: &str) -> Result<Option<Vec<u8>>, Error> {
        self.read(table, |t| match t {
            Some(t) => Ok(t
                .get(key)
                .map_err(|e| Error::Db(e.to_string()))?
                .map(|v| v.value().to_vec())),
            None => Ok(None),
        })
    }

    /// Wait until a queued change is durable.
    pub(crate) async fn durable(rx: Ack) -> Result<(), Error> {
        match rx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Db(e.to_string())),
            Err(_) => Err(Error::Failed),
        }
    }

    /// Fold every change acknowledged so far into the tables (waits for the writer).
    ///
    /// # Errors
    /// The writer failed or stopped.
    pub async fn checkpoint(&self) -> Result<(), Error> {
        let (ack, rx) = oneshot::channel();
        let Some(tx) = &self.tx else {
            return Err(Error::Failed);
        };
        tx.send(Msg::Checkpoint(ack))
            .await
            .map_err(|_| Error::Failed)?;
        Self::durable(rx).await
    }

    /// Every record of `table`, in key order, including every change acknowledged before the call.
    pub(crate) async fn scan(
        &self,
        table: Table,
        f: impl FnMut(&str, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.checkpoint().await?;
        self.scan_tables(table, f)
    }

    /// Every record of `table` in the tables (call [`Self::checkpoint`] first to include every change
    /// acknowledged so far), handed out in chunks to one worker thread per core: `work` runs on the workers,
    /// each with its own state from `state`. Start-up uses it to decode and index a million records on every
    /// core while one thread reads the file. Returns the workers' states.
    pub(crate) fn scan_parallel<S: Send>(
        &self,
        table: Table,
        state: impl Fn() -> S,
        work: impl Fn(&mut S, &str, &[u8]) -> Result<(), Error> + Sync,
    ) -> Result<Vec<S>, Error> {
        /// Records in one contiguous buffer: (key end, value end) offsets.
        #[derive(Default)]
        struct Chunk {
            buf: Vec<u8>,
            ends: Vec<(usize, usize)>,
        }
        const RECORDS: usize = 2_048;
        let workers = std::thread::available_parallelism()
            .map_or(1, std::num::NonZeroUsize::get)
            .clamp(1, 8);
        let failed = AtomicBool::new(false);
        std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (tx, rx) = std::sync::mpsc::sync_channel::<Chunk>(4);
                senders.push(tx);
                let (work, failed, mut st) = (&work, &failed, state());
                handles.push(scope.spawn(move || -> Result<S, Error> {
                    for chunk in rx {
                        let mut at = 0;
                        for &(k, v) in &chunk.ends {
                            let key = std::str::from_utf8(&chunk.buf[at..k])
                                .map_err(|_| Error::Corrupt("stored key is not UTF-8".into()));
                            let r = key.and_then(|key| work(&mut st, key, &chunk.buf[k..v]));
                            if let Err(e) = r {
                                failed.store(true, Ordering::Relaxed);
                                return Err(e);
                            }
                            at = v;
                        }
                    }
                    Ok(st)
                }));
            }
            let mut chunk = Chunk::default();
            let mut next = 0;
            let read = self.scan_tables(table, |k, v| {
                chunk.buf.extend_from_slice(k.as_bytes());
                let key_end = chunk.buf.len();
                chunk.buf.extend_from_slice(v);
                chunk.ends.push((key_end, chunk.buf.len()));
                if chunk.ends.len() == RECORDS {
                    if failed.load(Ordering::Relaxed) {
                        return Err(Error::Corrupt("a worker failed".into()));
                    }
                    let full = std::mem::take(&mut chunk);
                    // A worker that stopped (failed) drops its receiver; its error is reported below.
                    let _ = senders[next].send(full);
                    next = (next + 1) % senders.len();
                }
                Ok(())
            });
            if !chunk.ends.is_empty() {
                let _ = senders[next].send(chunk);
            }
            drop(senders);
            let mut states = Vec::with_capacity(workers);
            let mut first_err = None;
            for h in handles {
                match h.join() {
                    Ok(Ok(st)) => states.push(st),
                    Ok(Err(e)) => {
                        first_err.get_or_insert(e);
                    }
                    Err(_) => {
                        first_err.get_or_insert(Error::Corrupt("a loader thread panicked".into()));
                    }
                }
            }
            match (first_err, read) {
                (Some(e), _) | (None, Err(e)) => Err(e),
                (None, Ok(())) => Ok(states),
            }
        })
    }

    /// How many records `table` holds in the tables (for sizing memory before a load; call after a
    /// checkpoint).
    pub(crate) fn count(&self, table: Table) -> Result<u64, Error> {
        use redb::ReadableTableMetadata;
        let db = |e: &dyn std::fmt::Display| Error::Db(e.to_string());
        let txn = self.db.begin_read().map_err(|e| db(&e))?;
        match txn.open_table(definition(table)) {
            Ok(t) => t.len().map_err(|e| db(&e)),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
            Err(e) => Err(db(&e)),
        }
    }

    fn scan_tables(
        &self,
        table: Table,
        mut f: impl FnMut(&str, &[u8]) -> Result<(), Error>,
    ) -> Result<(), Error> {
        let db = |e: redb::StorageError| Error::Db(e.to_string());
        self.read(table, |t| {
            let Some(t) = t else {
                return Ok(());
            };
            for item in t.iter().map_err(db)? {
                let (k, v) = item.map_err(db)?;
                f(k.value(), v.value())?;
            }
            Ok(())
        })
    }
}

impl Drop for Journal {
    /// Let the writer log what is queued and fold the log into the tables, then close the file (so it can be
    /// opened again at once, with no log to replay).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(w) = self.writer.take() {
            let _ = w.join();
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

/// The newest log generation whose changes are in the tables (0 when none).
const LOG_CHECKPOINT: &str = "log_checkpoint";

type Change<'a> = (Table, &'a str, Option<&'a [u8]>);

/// The latest record of every key changed since the last checkpoint began.
type Pending = HashMap<(Table, String), Option<Vec<u8>>>;

#[cfg(test)]
mod tests {
    use super::recovery::logs;
    use super::*;

    struct Dir(PathBuf);
    impl Dir {
        fn new(name: &str) -> Self {
            let p = std::env::temp_dir().join(format!(
                "registrar-journal-{name}-{}-{:?}",
                std::process::id(),
                std::time::SystemTime::now()
            ));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    async fn put(j: &Journal, key: &str, value: Option<&str>) {
        let a = j
            .queue(Table::Bindings, key, value.map(|v| v.as_bytes().to_vec()))
            .unwrap();
        Journal::durable(a).await.unwrap();
    }

    async fn contents(j: &Journal) -> Vec<(String, String)> {
        let mut out = Vec::new();
        j.scan(Table::Bindings, |k, v| {
            out.push((k.to_owned(), String::from_utf8(v.to_vec()).unwrap()));
            Ok(())
        })
        .await
        .unwrap();
        out
    }

    fn copy_dir(from: &Path, to: &Path) {
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn logs_rotate_fold_in_the_background_and_keep_the_latest_record() {
        let dir = Dir::new("rotate");
        {
            // A tiny rotation size: nearly every group starts a checkpoint.
            let j = Journal::open_with(&dir.0, 256).unwrap();
            for round in 0..20 {
                for k in 0..30 {
                    put(&j, &format!("k{k:02}"), Some(&format!("r{round}"))).await;
                }
            }
            put(&j, "k07", None).await;
            assert!(j.stats().checkpoints > 1, "{:?}", j.stats());
        }
        // A clean close folds everything: no log is left.
        assert!(logs(&dir.0).unwrap().is_empty());
        let j = Journal::open(&dir.0).unwrap();
        let got = contents(&j).await;
        assert_eq!(got.len(), 29);
        assert!(got.iter().all(|(k, v)| k != "k07" && v == "r19"), "{got:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crash_leaves_logs_that_the_next_open_replays() {
        let live = Dir::new("live");
        let crashed = Dir::new("crashed");
        let j = Journal::open(&live.0).unwrap();
        put(&j, "a", Some("1")).await;
        put(&j, "b", Some("1")).await;
        // Folded into the tables …
        j.checkpoint().await.unwrap();
        // … and these only in the log.
        put(&j, "a", Some("2")).await;
        put(&j, "b", None).await;
        put(&j, "c", Some("1")).await;
        // What a crash at this moment leaves on disk, plus a group the crash cut short.
        copy_dir(&live.0, &crashed.0);
        let (_, log) = logs(&crashed.0).unwrap().pop().unwrap();
        let bytes = std::fs::read(&log).unwrap();
        let end: usize = frames(&bytes).map(|f| 8 + f.len()).sum();
        assert!(end > 0 && bytes[end..].iter().all(|b| *b == 0));
        let f = OpenOptions::new().write(true).open(&log).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &[200, 0, 0, 0, 1, 2, 3, 4, 5], end as u64)
            .unwrap();
        drop(f);
        let again = Journal::open(&crashed.0).unwrap();
        assert!(
            logs(&crashed.0).unwrap().len() == 1,
            "only the new, empty log"
        );
        assert_eq!(
            contents(&again).await,
            vec![("a".into(), "2".into()), ("c".into(), "1".into())]
        );
        drop(again);
        drop(j);
    }

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn frames_stop_at_a_torn_or_damaged_frame() {
        let mut log = Vec::new();
        for key in ["a", "b", "c"] {
            let mut payload = Vec::new();
            encode_change(&mut payload, Table::Bindings, key, Some(b"v"));
            log.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            log.extend_from_slice(&crc32(&payload).to_le_bytes());
            log.extend_from_slice(&payload);
        }
        assert_eq!(frames(&log).count(), 3);
        // Cut inside the last frame: two remain.
        assert_eq!(frames(&log[..log.len() - 2]).count(), 2);
        // A flipped bit in the second frame ends the log there.
        let mut bad = log.clone();
        let second = log.len() / 3 + 9;
        bad[second] ^= 1;
        assert_eq!(frames(&bad).count(), 1);
    }

    #[test]
    fn changes_round_trip_and_report_damage() {
        let mut p = Vec::new();
        encode_change(&mut p, Table::Publications, "sip:a@x", Some(b"rec"));
        encode_change(&mut p, Table::Subscriptions, "k", None);
        let got: Vec<_> = changes(&p).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            got,
            vec![
                (Table::Publications, "sip:a@x", Some(&b"rec"[..])),
                (Table::Subscriptions, "k", None)
            ]
        );
        let cut = &p[..p.len() - 3];
        assert!(changes(cut).any(|c| c.is_err()));
        assert!(changes(&[9, 0, 0, 0, 0, 0]).next().unwrap().is_err());
    }
}
