//! The data file's tables and their format version: which redb table each kind of record is in, and the migrations from older formats.

use super::*;

/// Record the format in a new file; check it in an existing one.
pub(super) fn check_format(db: &Database, path: &Path) -> Result<(), Error> {
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
        // A new file, or an older format: bring it to this one. 1 → 2 rewrites nothing (format 1 had no
        // logs; `log_checkpoint` starts at 0); 2 → 3 adds the directory's two tables (empty; format 2 had
        // no directory, and its logs cannot name table 3 or 4); 3 → 4 adds the presence state table (empty:
        // format 3 kept no decisions, buddy lists or list subscriptions). A later format adds its step here
        // (each step rewrites what changed, in the same transaction as the new version number).
        _ => {
            let txn = db.begin_write().map_err(|e| err(&e))?;
            {
                let mut t = txn.open_table(META).map_err(|e| err(&e))?;
                t.insert("format_version", FORMAT_VERSION)
                    .map_err(|e| err(&e))?;
                txn.open_table(BINDINGS).map_err(|e| err(&e))?;
                txn.open_table(PUBLICATIONS).map_err(|e| err(&e))?;
                txn.open_table(SUBSCRIPTIONS).map_err(|e| err(&e))?;
                txn.open_table(DIRECTORY).map_err(|e| err(&e))?;
                txn.open_table(AUDIT).map_err(|e| err(&e))?;
                txn.open_table(PRESENCE_STATE).map_err(|e| err(&e))?;
            }
            txn.commit().map_err(|e| err(&e))
        }
    }
}

/// The three tables of one write transaction.
pub(super) struct Tables<'t> {
    bindings: redb::Table<'t, &'static str, &'static [u8]>,
    publications: redb::Table<'t, &'static str, &'static [u8]>,
    subscriptions: redb::Table<'t, &'static str, &'static [u8]>,
    directory: redb::Table<'t, &'static str, &'static [u8]>,
    audit: redb::Table<'t, &'static str, &'static [u8]>,
    presence_state: redb::Table<'t, &'static str, &'static [u8]>,
}

impl<'t> Tables<'t> {
    pub(super) fn open(txn: &'t redb::WriteTransaction) -> Result<Self, redb::TableError> {
        Ok(Self {
            bindings: txn.open_table(BINDINGS)?,
            publications: txn.open_table(PUBLICATIONS)?,
            subscriptions: txn.open_table(SUBSCRIPTIONS)?,
            directory: txn.open_table(DIRECTORY)?,
            audit: txn.open_table(AUDIT)?,
            presence_state: txn.open_table(PRESENCE_STATE)?,
        })
    }

    pub(super) fn apply(
        &mut self,
        table: Table,
        key: &str,
        value: Option<&[u8]>,
    ) -> Result<(), redb::StorageError> {
        let t = match table {
            Table::Bindings => &mut self.bindings,
            Table::Publications => &mut self.publications,
            Table::Subscriptions => &mut self.subscriptions,
            Table::Directory => &mut self.directory,
            Table::Audit => &mut self.audit,
            Table::PresenceState => &mut self.presence_state,
        };
        match value {
            Some(v) => t.insert(key, v).map(|_| ()),
            None => t.remove(key).map(|_| ()),
        }
    }
}

/// The redb table of `table`.
pub(super) const fn definition(
    table: Table,
) -> TableDefinition<'static, &'static str, &'static [u8]> {
    match table {
        Table::Bindings => BINDINGS,
        Table::Publications => PUBLICATIONS,
        Table::Subscriptions => SUBSCRIPTIONS,
        Table::Directory => DIRECTORY,
        Table::Audit => AUDIT,
        Table::PresenceState => PRESENCE_STATE,
    }
}
