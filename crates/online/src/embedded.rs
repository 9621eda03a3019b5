//! The embedded default: one redb file (copy-on-write B-trees, ACID, crash-safe)
//! with one table per feature-group version.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use sluice_types::FeatureGroupSpec;

use crate::assemble::ReadAssembler;
use crate::codec;
use crate::error::storage_error;
use crate::newest::newest_per_key;
use crate::store::{OnlineRead, OnlineStore, WriteMetrics};
use crate::{Error, Result};

const DB_FILE: &str = "online.redb";

pub struct EmbeddedOnlineStore {
    db: Database,
    path: PathBuf,
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
        let db = Database::create(&path).map_err(|e| open_error(e.to_string()))?;
        Ok(Self { db, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One atomic write transaction, durable when `durability` is `Immediate`.
    fn write_with(
        &self,
        fg: &FeatureGroupSpec,
        rows: &RecordBatch,
        durability: Durability,
    ) -> Result<WriteMetrics> {
        let err = storage_error::<redb::Error>(fg);
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let (candidates, superseded) = newest_per_key(fg, rows)?;
        let name = table_name(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let mut metrics = WriteMetrics {
            rows_older: superseded,
            ..Default::default()
        };
        let mut txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        txn.set_durability(durability)
            .map_err(|e| err(redb::Error::from(e)))?;
        {
            let mut table = txn.open_table(definition).map_err(|e| err(e.into()))?;
            let mut row_buf = Vec::new();
            for candidate in &candidates {
                let stored = table
                    .get(candidate.key.as_slice())
                    .map_err(|e| err(e.into()))?;
                let newer_stored = stored
                    .and_then(|guard| codec::stored_event_time(guard.value()))
                    .is_some_and(|stored_time| stored_time > candidate.event_time);
                if newer_stored {
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
        Ok(metrics)
    }
}

fn table_name(fg: &FeatureGroupSpec) -> String {
    format!("{}:{}", fg.name, fg.version)
}

#[async_trait]
impl OnlineStore for EmbeddedOnlineStore {
    async fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        self.write_with(fg, rows, Durability::Immediate)
    }

    async fn write_deferred(
        &self,
        fg: &FeatureGroupSpec,
        rows: &RecordBatch,
    ) -> Result<WriteMetrics> {
        self.write_with(fg, rows, Durability::None)
    }

    /// An empty durable commit persists every `Durability::None` commit before it.
    async fn flush(&self) -> Result<()> {
        let failed = |message: String| Error::Open {
            path: self.path.clone(),
            message,
        };
        let txn = self.db.begin_write().map_err(|e| failed(e.to_string()))?;
        txn.commit().map_err(|e| failed(e.to_string()))
    }

    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead> {
        let err = storage_error::<redb::Error>(fg);
        let mut answer = ReadAssembler::new(fg, keys, now_micros)?;
        let name = table_name(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = match txn.open_table(definition) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        let mut key_buf = Vec::new();
        for row in 0..keys.num_rows() {
            key_buf.clear();
            codec::encode_values(answer.key_views(), row, &mut key_buf);
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
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        let mut removed = 0;
        {
            let mut table = txn.open_table(definition).map_err(|e| err(e.into()))?;
            let mut key_buf = Vec::new();
            for row in 0..keys.num_rows() {
                key_buf.clear();
                codec::encode_values(&key_views, row, &mut key_buf);
                if table
                    .remove(key_buf.as_slice())
                    .map_err(|e| err(e.into()))?
                    .is_some()
                {
                    removed += 1;
                }
            }
        }
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(removed)
    }
}
