//! The writer thread: group commit (every change of a gathering interval in one fsync'd frame), log rotation, and folding logs into the tables in the background.

use super::*;

/// The log the writer appends to.
pub(super) struct Log {
    pub(super) file: File,
    pub(super) path: PathBuf,
    pub(super) generation: u64,
    /// Bytes of frames written.
    pub(super) len: u64,
    /// Bytes of the file, zeros past `len`.
    pub(super) allocated: u64,
    pub(super) frame: Vec<u8>,
}

/// A log grows in steps of zeros written ahead, so that the fsync of a group only flushes data: the file's
/// size and block map do not change (no file-system journal commit per group). Zeros read as the end of the
/// log (a frame is never empty).
pub(super) const ALLOCATE: u64 = 4 << 20;

impl Log {
    pub(super) fn create(dir: &Path, generation: u64) -> Result<Self, Error> {
        let path = dir.join(log_name(generation));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
        sync_dir(dir)?;
        Ok(Self {
            file,
            path,
            generation,
            len: 0,
            allocated: 0,
            frame: Vec::new(),
        })
    }

    /// Write zeros so that at least `need` bytes past the frames are allocated, and make the new size durable.
    pub(super) fn allocate(&mut self, need: u64) -> std::io::Result<()> {
        use std::os::unix::fs::FileExt;
        let target = (self.len + need).div_ceil(ALLOCATE) * ALLOCATE;
        let zeros = vec![0u8; 1 << 20];
        let mut at = self.allocated;
        while at < target {
            let n = (target - at).min(zeros.len() as u64);
            #[allow(clippy::cast_possible_truncation)] // at most 1 MiB
            self.file.write_all_at(&zeros[..n as usize], at)?;
            at += n;
        }
        self.file.sync_all()?;
        self.allocated = target;
        Ok(())
    }

    /// Append one group as a frame and make it durable.
    pub(super) fn append(&mut self, batch: &[Op]) -> Result<(), String> {
        use std::os::unix::fs::FileExt;
        self.frame.clear();
        self.frame.extend_from_slice(&[0; 8]);
        for op in batch {
            encode_change(&mut self.frame, op.table, &op.key, op.value.as_deref());
        }
        let len = u32::try_from(self.frame.len() - 8).map_err(|_| "group too large".to_owned())?;
        let crc = crc32(&self.frame[8..]);
        self.frame[..4].copy_from_slice(&len.to_le_bytes());
        self.frame[4..8].copy_from_slice(&crc.to_le_bytes());
        let size = self.frame.len() as u64;
        if self.len + size > self.allocated {
            self.allocate(size)
                .map_err(|e| format!("{}: {e}", self.path.display()))?;
        }
        let io = |e: std::io::Error| format!("{}: {e}", self.path.display());
        self.file.write_all_at(&self.frame, self.len).map_err(io)?;
        self.file.sync_data().map_err(io)?;
        self.len += size;
        // Do not keep a huge buffer after a burst of large records.
        if self.frame.capacity() > 4 << 20 {
            self.frame = Vec::new();
        }
        Ok(())
    }
}

pub(super) struct Writer {
    pub(super) db: Arc<Database>,
    pub(super) dir: PathBuf,
    pub(super) shared: Arc<Shared>,
    pub(super) log: Log,
    pub(super) pending: Pending,
    /// The checkpoint running in the background, if any.
    pub(super) checkpoint: Option<JoinHandle<Result<(), String>>>,
    /// Log length that starts a checkpoint.
    pub(super) rotate_bytes: u64,
}

impl Writer {
    pub(super) fn run(&mut self, mut rx: mpsc::Receiver<Msg>) {
        let mut batch = Vec::with_capacity(GROUP);
        while let Some(first) = rx.blocking_recv() {
            let mut asked = Vec::new();
            match first {
                Msg::Change(op) => batch.push(op),
                Msg::Batch(ops) => batch.extend(ops),
                Msg::Checkpoint(ack) => asked.push(ack),
            }
            let mut waited = false;
            loop {
                while batch.len() < GROUP && asked.is_empty() {
                    match rx.try_recv() {
                        Ok(Msg::Change(op)) => batch.push(op),
                        Ok(Msg::Batch(ops)) => batch.extend(ops),
                        Ok(Msg::Checkpoint(ack)) => asked.push(ack),
                        Err(_) => break,
                    }
                }
                // A small group: give concurrent requests a moment to join it (PostgreSQL's commit_delay).
                // Under load this turns thousands of small fsyncs a second into a few hundred larger ones,
                // which matters most on virtual disks where each flush is an exit to the host; alone, a
                // request waits this much longer.
                if waited || !asked.is_empty() || batch.is_empty() || batch.len() >= GATHER {
                    break;
                }
                std::thread::sleep(GATHER_DELAY);
                waited = true;
            }
            if !batch.is_empty() {
                self.group(&mut batch);
            }
            if !asked.is_empty() {
                let result = self.fold_all().map_err(|e| Arc::<str>::from(e.as_str()));
                for ack in asked {
                    let _ = ack.send(result.clone());
                }
            } else if self.log.len >= self.rotate_bytes && self.idle() {
                // The previous checkpoint is done: close this log and fold it in the background.
                if let Err(e) = self.rotate() {
                    self.fail(&e);
                }
            }
        }
        // Clean shutdown: fold everything in, so the next start has no log to replay.
        if self.fold_all().is_ok() {
            let _ = std::fs::remove_file(&self.log.path);
        }
    }

    /// Log one group, acknowledge it, and remember its records for the next checkpoint.
    pub(super) fn group(&mut self, batch: &mut Vec<Op>) {
        let result = if self.shared.failed.load(Ordering::Acquire) {
            Err(self.refusal())
        } else {
            self.log
                .append(batch)
                .map_err(|e| Arc::<str>::from(e.as_str()))
        };
        match &result {
            Ok(()) => {
                self.shared
                    .changes
                    .fetch_add(batch.len() as u64, Ordering::Relaxed);
                self.shared.commits.fetch_add(1, Ordering::Relaxed);
            }
            // A failed write leaves memory ahead of the disk; refuse every later change (fail-stop) rather
            // than acknowledge changes that a restart would lose.
            Err(e) => self.fail(e),
        }
        for op in batch.drain(..) {
            let _ = op.ack.send(result.clone());
            if result.is_ok() {
                self.pending.insert((op.table, op.key), op.value);
            }
        }
    }

    /// Stop accepting changes (fail-stop); `why` is what every later change is told.
    pub(super) fn fail(&self, why: &str) {
        if let Ok(mut r) = self.shared.reason.lock()
            && r.is_none()
        {
            *r = Some(Arc::from(why));
        }
        self.shared.failed.store(true, Ordering::Release);
    }

    pub(super) fn refusal(&self) -> Arc<str> {
        let why = self.shared.reason.lock().ok().and_then(|r| r.clone());
        Arc::from(format!(
            "an earlier write failed ({}); restart the server",
            why.as_deref().unwrap_or("unknown")
        ))
    }

    /// No checkpoint is running (a finished one is collected, and its failure makes the store fail-stop).
    pub(super) fn idle(&mut self) -> bool {
        match &self.checkpoint {
            None => true,
            Some(h) if !h.is_finished() => false,
            Some(_) => {
                self.join_checkpoint();
                true
            }
        }
    }

    pub(super) fn join_checkpoint(&mut self) {
        if let Some(h) = self.checkpoint.take() {
            match h.join() {
                Ok(Ok(())) => {}
                Ok(Err(e)) => self.fail(&e),
                Err(_) => self.fail("checkpoint thread panicked"),
            }
        }
    }

    /// Start a new log and fold the closed one into the tables on another thread.
    pub(super) fn rotate(&mut self) -> Result<(), String> {
        let next = Log::create(&self.dir, self.log.generation + 1).map_err(|e| e.to_string())?;
        let closed = std::mem::replace(&mut self.log, next);
        let pending = std::mem::take(&mut self.pending);
        let (db, dir) = (Arc::clone(&self.db), self.dir.clone());
        let shared = Arc::clone(&self.shared);
        let h = std::thread::Builder::new()
            .name("registrar-checkpoint".into())
            .spawn(move || {
                let r = fold(&db, &dir, pending, closed.generation, &[closed.path]);
                if r.is_ok() {
                    shared.checkpoints.fetch_add(1, Ordering::Relaxed);
                }
                r
            })
            .map_err(|e| format!("checkpoint thread: {e}"))?;
        self.checkpoint = Some(h);
        Ok(())
    }

    /// Fold everything logged so far into the tables, synchronously. The current log stays open (now empty
    /// of anything the tables lack) and is reused.
    pub(super) fn fold_all(&mut self) -> Result<(), String> {
        self.join_checkpoint();
        if self.shared.failed.load(Ordering::Acquire) {
            return Err(self.refusal().to_string());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        // Everything up to this log's generation goes in; the next change starts a new log, so the one just
        // folded can be removed.
        let pending = std::mem::take(&mut self.pending);
        let generation = self.log.generation;
        let r = fold(&self.db, &self.dir, pending, generation, &[]);
        if let Err(e) = &r {
            self.fail(e);
            return r;
        }
        self.shared.checkpoints.fetch_add(1, Ordering::Relaxed);
        match Log::create(&self.dir, generation + 1) {
            Ok(next) => {
                let old = std::mem::replace(&mut self.log, next);
                let _ = std::fs::remove_file(&old.path);
                Ok(())
            }
            Err(e) => {
                let e = e.to_string();
                self.fail(&e);
                Err(e)
            }
        }
    }
}
