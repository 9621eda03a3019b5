//! The embedded default: one redb file (copy-on-write B-trees, ACID, crash-safe)
//! with one table per feature-group version; deferred writes wait in memory
//! (`deferred`) for the next flush.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use redb::{Database, ReadOnlyTable, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use sluice_types::FeatureGroupSpec;

use crate::assemble::{ReadAssembler, ReadSchemas};
use crate::codec;
use crate::deferred::DeferredRows;
use crate::error::storage_error;
use crate::newest::newest_per_key;
use crate::store::{OnlineRead, OnlineStore, WriteMetrics};
use crate::{Error, Result};

const DB_FILE: &str = "online.redb";

/// The default online store: one redb file (`online.redb`) in a directory,
/// which one process at a time may open.
pub struct EmbeddedOnlineStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    path: PathBuf,
    /// Rows of `write_deferred` not yet committed. Readers take this lock
    /// before they open a redb read transaction, so a row leaves it only
    /// after a commit every later reader sees.
    deferred: RwLock<DeferredRows>,
    /// Held by a flush from its snapshot to its commit, and by a delete, so
    /// that a flush cannot put back a key deleted after it took its snapshot.
    flushing: Mutex<()>,
    schemas: ReadSchemas,
    snapshots: Snapshots,
}

type Table = ReadOnlyTable<&'static [u8], &'static [u8]>;

/// Read views of committed tables, shared by readers from one commit to the
/// next: for a one-key read, opening a read transaction and its table cost
/// more than the key's lookup.
#[derive(Default)]
struct Snapshots {
    /// Commits so far. A view is cached only if no commit came between the
    /// count its reader took and the caching, and every commit clears the
    /// cache, so no view outlives the next commit there (an open read
    /// transaction keeps the pages it sees from reuse).
    commits: AtomicU64,
    /// By table name; `None` for a table not created yet.
    tables: RwLock<HashMap<String, Option<Arc<Table>>>>,
}

impl Snapshots {
    fn cached(&self, name: &str) -> Option<Option<Arc<Table>>> {
        self.tables
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
    }

    /// Keeps `table`, opened after the count was `commits`, unless a commit came since.
    fn keep(&self, name: &str, commits: u64, table: Option<Arc<Table>>) {
        let mut tables = self.tables.write().unwrap_or_else(PoisonError::into_inner);
        if self.commits.load(Ordering::Acquire) == commits {
            tables.insert(name.to_string(), table);
        }
    }

    /// Called after every commit, before its rows leave the deferred ones.
    fn committed(&self) {
        self.commits.fetch_add(1, Ordering::AcqRel);
        self.tables
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

impl EmbeddedOnlineStore {
    /// Opens (creating if needed) the store in directory `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        let open_error = |message: String| Error::Open {
            path: dir.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_error(e.to_string()))?;
        let path = dir.join(DB_FILE);
        let db = Database::create(&path).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => Error::Held { path: path.clone() },
            e => open_error(e.to_string()),
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                db,
                path,
                deferred: RwLock::default(),
                flushing: Mutex::default(),
                schemas: ReadSchemas::default(),
                snapshots: Snapshots::default(),
            }),
        })
    }

    /// The redb file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    fn deferred(&self) -> RwLockReadGuard<'_, DeferredRows> {
        self.deferred.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn deferred_mut(&self) -> RwLockWriteGuard<'_, DeferredRows> {
        self.deferred
            .write()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_flushing(&self) -> MutexGuard<'_, ()> {
        self.flushing.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One durable write transaction. While the feature group has deferred
    /// rows, the rows join them and are flushed, so that a deferred row
    /// cannot hide a newer one committed here.
    fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        let name = table_name(fg);
        {
            // Held through the commit, so no deferred row of this group appears meanwhile.
            let deferred = self.deferred();
            if !deferred.holds(&name) {
                return self.commit_rows(fg, &name, rows);
            }
        }
        let metrics = self.write_deferred(fg, rows)?;
        self.flush()?;
        Ok(metrics)
    }

    /// Each key's newest row, unless a newer one is stored, in one durable transaction.
    fn commit_rows(
        &self,
        fg: &FeatureGroupSpec,
        name: &str,
        rows: &RecordBatch,
    ) -> Result<WriteMetrics> {
        let err = storage_error::<redb::Error>(fg);
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let (candidates, superseded) = newest_per_key(fg, rows)?;
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
        let mut metrics = WriteMetrics {
            rows_older: superseded,
            ..Default::default()
        };
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut table = txn.open_table(definition).map_err(|e| err(e.into()))?;
            let mut row_buf = Vec::new();
            for candidate in &candidates {
                let stored = stored_time(&table, &candidate.key).map_err(|e| err(e.into()))?;
                if stored.is_some_and(|stored| stored > candidate.event_time) {
                    metrics.rows_older += 1;
                    continue;
                }
                codec::encode_row(&all, candidate.row, candidate.event_time, &mut row_buf);
                table
                    .insert(candidate.key.as_slice(), row_buf.as_slice())
                    .map_err(|e| err(e.into()))?;
                metrics.rows_written += 1;
            }
        }
        txn.commit().map_err(|e| err(e.into()))?;
        self.snapshots.committed();
        Ok(metrics)
    }

    /// Applies the newest-wins rule against deferred and committed rows and
    /// keeps the winners in memory.
    fn write_deferred(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        let err = storage_error::<redb::Error>(fg);
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let (candidates, superseded) = newest_per_key(fg, rows)?;
        let name = table_name(fg);
        let mut metrics = WriteMetrics {
            rows_older: superseded,
            ..Default::default()
        };
        let mut deferred = self.deferred_mut();
        let committed = self.committed_table(fg, &name)?;
        let mut writer = deferred.writer(&name);
        for candidate in candidates {
            let current = match writer.event_time(&candidate.key) {
                Some(time) => Some(time),
                None => match &committed {
                    Some(table) => {
                        stored_time(table.as_ref(), &candidate.key).map_err(|e| err(e.into()))?
                    }
                    None => None,
                },
            };
            if current.is_some_and(|current| current > candidate.event_time) {
                metrics.rows_older += 1;
                continue;
            }
            let mut row = Vec::new();
            codec::encode_row(&all, candidate.row, candidate.event_time, &mut row);
            writer.insert(candidate.key, row, candidate.event_time);
            metrics.rows_written += 1;
        }
        Ok(metrics)
    }

    /// The feature group's committed rows as of now, `None` before its first commit.
    fn committed_table(&self, fg: &FeatureGroupSpec, name: &str) -> Result<Option<Arc<Table>>> {
        if let Some(table) = self.snapshots.cached(name) {
            return Ok(table);
        }
        let commits = self.snapshots.commits.load(Ordering::Acquire);
        let err = storage_error::<redb::Error>(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = match txn.open_table(definition) {
            Ok(table) => Some(Arc::new(table)),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        self.snapshots.keep(name, commits, table.clone());
        Ok(table)
    }

    /// Commits every deferred row in one durable transaction (a key's row
    /// only if no newer one was committed since), then forgets them.
    fn flush(&self) -> Result<()> {
        let failed = |message: String| Error::Open {
            path: self.path.clone(),
            message,
        };
        let _flushing = self.lock_flushing();
        let snapshot = self.deferred().snapshot();
        if snapshot.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| failed(e.to_string()))?;
        for (name, rows) in &snapshot.tables {
            let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(name);
            let mut table = txn
                .open_table(definition)
                .map_err(|e| failed(e.to_string()))?;
            for row in rows {
                let stored = stored_time(&table, &row.key).map_err(|e| failed(e.to_string()))?;
                if stored.is_some_and(|stored| stored > row.event_time) {
                    continue;
                }
                table
                    .insert(row.key.as_slice(), row.row.as_slice())
                    .map_err(|e| failed(e.to_string()))?;
            }
        }
        txn.commit().map_err(|e| failed(e.to_string()))?;
        self.snapshots.committed();
        self.deferred_mut().remove_flushed(&snapshot);
        Ok(())
    }
}

/// The event time of the row stored under `key`, if any.
fn stored_time(
    table: &impl ReadableTable<&'static [u8], &'static [u8]>,
    key: &[u8],
) -> std::result::Result<Option<i64>, redb::StorageError> {
    Ok(table
        .get(key)?
        .and_then(|guard| codec::stored_event_time(guard.value())))
}

fn table_name(fg: &FeatureGroupSpec) -> String {
    format!("{}:{}", fg.name, fg.version)
}

#[async_trait]
impl OnlineStore for EmbeddedOnlineStore {
    async fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        self.inner.write(fg, rows)
    }

    async fn write_deferred(
        &self,
        fg: &FeatureGroupSpec,
        rows: &RecordBatch,
    ) -> Result<WriteMetrics> {
        self.inner.write_deferred(fg, rows)
    }

    /// On a blocking thread: the commit waits for the disk, and the runtime's
    /// workers have readers and deferred writers to serve meanwhile.
    async fn flush(&self) -> Result<()> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || inner.flush())
            .await
            .map_err(|e| Error::Open {
                path: self.inner.path.clone(),
                message: format!("flush task failed: {e}"),
            })?
    }

    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead> {
        let err = storage_error::<redb::Error>(fg);
        let mut answer = ReadAssembler::new(fg, &self.inner.schemas, keys, now_micros)?;
        let name = table_name(fg);
        let deferred = self.inner.deferred();
        let pending = deferred.table(&name);
        let table = self.inner.committed_table(fg, &name)?;
        let mut key_buf = Vec::new();
        for row in 0..keys.num_rows() {
            key_buf.clear();
            codec::encode_values(answer.key_views(), row, &mut key_buf);
            if let Some(bytes) = pending.as_ref().and_then(|p| p.row(&key_buf)) {
                answer.push(Some(bytes))?;
                continue;
            }
            let guard = match &table {
                Some(table) => table.get(key_buf.as_slice()).map_err(|e| err(e.into()))?,
                None => None,
            };
            answer.push(guard.as_ref().map(|g| g.value()))?;
        }
        answer.finish()
    }

    async fn delete(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<u64> {
        let err = storage_error::<redb::Error>(fg);
        let key_views = codec::views(fg, keys, fg.primary_key.iter().map(String::as_str))?;
        let name = table_name(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let _flushing = self.inner.lock_flushing();
        let mut deferred = self.inner.deferred_mut();
        let txn = self.inner.db.begin_write().map_err(|e| err(e.into()))?;
        let mut removed = 0;
        {
            let mut table = txn.open_table(definition).map_err(|e| err(e.into()))?;
            let mut key_buf = Vec::new();
            for row in 0..keys.num_rows() {
                key_buf.clear();
                codec::encode_values(&key_views, row, &mut key_buf);
                let was_deferred = deferred.remove(&name, &key_buf);
                let was_committed = table
                    .remove(key_buf.as_slice())
                    .map_err(|e| err(e.into()))?
                    .is_some();
                if was_deferred || was_committed {
                    removed += 1;
                }
            }
        }
        txn.commit().map_err(|e| err(e.into()))?;
        self.inner.snapshots.committed();
        Ok(removed)
    }
}
