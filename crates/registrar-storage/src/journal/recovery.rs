//! Recovery at start: the logs a crash left are folded into the tables in order; a frame cut short or failing its checksum ends its log.

use super::*;

pub(super) fn log_name(generation: u64) -> String {
    format!("journal-{generation:020}.log")
}

/// The logs in `dir`, oldest first.
pub(super) fn logs(dir: &Path) -> Result<Vec<(u64, PathBuf)>, Error> {
    let io = |e| Error::Io {
        path: dir.to_owned(),
        source: e,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        let Some(g) = name
            .to_str()
            .and_then(|n| n.strip_prefix("journal-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((g, entry.path()));
    }
    out.sort_unstable_by_key(|(g, _)| *g);
    Ok(out)
}

/// Make the directory's entries (a new or removed log) durable.
pub(super) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::Io {
            path: dir.to_owned(),
            source: e,
        })
}

/// Fold the logs a crash left into the tables, remove them, and return the newest generation seen.
pub(super) fn recover(db: &Database, dir: &Path) -> Result<u64, Error> {
    let err = |e: &dyn std::fmt::Display| Error::Db(e.to_string());
    let done = {
        let txn = db.begin_read().map_err(|e| err(&e))?;
        let t = txn.open_table(META).map_err(|e| err(&e))?;
        t.get(LOG_CHECKPOINT)
            .map_err(|e| err(&e))?
            .map_or(0, |v| v.value())
    };
    let found = logs(dir)?;
    let newest = found.last().map_or(done, |(g, _)| (*g).max(done));
    let replay: Vec<&PathBuf> = found
        .iter()
        .filter(|(g, _)| *g > done)
        .map(|(_, p)| p)
        .collect();
    if !replay.is_empty() {
        let txn = db.begin_write().map_err(|e| err(&e))?;
        {
            let mut tables = Tables::open(&txn).map_err(|e| err(&e))?;
            for path in replay {
                let bytes = std::fs::read(path).map_err(|e| Error::Io {
                    path: path.clone(),
                    source: e,
                })?;
                for frame in frames(&bytes) {
                    for change in changes(frame) {
                        let (table, key, value) = change
                            .map_err(|e| Error::Corrupt(format!("{}: {e}", path.display())))?;
                        tables.apply(table, key, value).map_err(|e| err(&e))?;
                    }
                }
            }
            let mut meta = txn.open_table(META).map_err(|e| err(&e))?;
            meta.insert(LOG_CHECKPOINT, newest).map_err(|e| err(&e))?;
        }
        txn.commit().map_err(|e| err(&e))?;
    }
    for (_, path) in &found {
        std::fs::remove_file(path).map_err(|e| Error::Io {
            path: path.clone(),
            source: e,
        })?;
    }
    if !found.is_empty() {
        sync_dir(dir)?;
    }
    Ok(newest)
}

/// Apply `pending` to the tables and record `generation` as folded in, in one transaction; then remove the
/// logs it replaces.
pub(super) fn fold(
    db: &Database,
    dir: &Path,
    pending: Pending,
    generation: u64,
    remove: &[PathBuf],
) -> Result<(), String> {
    let mut changes: Vec<_> = pending.into_iter().collect();
    // Key order keeps the B-tree walk local.
    changes.sort_unstable_by(|a, b| (a.0.0 as u8, &a.0.1).cmp(&(b.0.0 as u8, &b.0.1)));
    let txn = db.begin_write().map_err(|e| e.to_string())?;
    {
        let mut tables = Tables::open(&txn).map_err(|e| e.to_string())?;
        for ((table, key), value) in &changes {
            tables
                .apply(*table, key, value.as_deref())
                .map_err(|e| e.to_string())?;
        }
        let mut meta = txn.open_table(META).map_err(|e| e.to_string())?;
        meta.insert(LOG_CHECKPOINT, generation)
            .map_err(|e| e.to_string())?;
    }
    txn.commit().map_err(|e| e.to_string())?;
    for p in remove {
        std::fs::remove_file(p).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if !remove.is_empty() {
        sync_dir(dir).map_err(|e| e.to_string())?;
    }
    Ok(())
}
