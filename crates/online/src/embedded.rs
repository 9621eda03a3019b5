//! The embedded default: one redb file (copy-on-write B-trees, ACID, crash-safe)
//! with one table per feature-group version.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use sluice_types::FeatureGroupSpec;

use crate::codec::{self, fg_label, ColumnBuilder, NO_EVENT_TIME};
use crate::store::{is_expired, LookupStatus, OnlineRead, OnlineStore, WriteMetrics};
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
}

fn table_name(fg: &FeatureGroupSpec) -> String {
    format!("{}:{}", fg.name, fg.version)
}

fn storage_error(fg: &FeatureGroupSpec) -> impl Fn(redb::Error) -> Error + '_ {
    move |e| Error::Storage {
        feature_group: fg_label(fg),
        message: e.to_string(),
    }
}

fn key_columns(fg: &FeatureGroupSpec) -> impl Iterator<Item = &str> {
    fg.primary_key.iter().map(String::as_str)
}

#[async_trait]
impl OnlineStore for EmbeddedOnlineStore {
    async fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics> {
        let err = storage_error(fg);
        let keys = codec::views(fg, rows, key_columns(fg))?;
        let all = codec::views(fg, rows, fg.columns.iter().map(|c| c.name.as_str()))?;
        let times = fg
            .event_time
            .as_deref()
            .map(|ts| rows.column_by_name(ts).expect("view checked the column"))
            .map(|a| {
                a.as_any()
                    .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
                    .expect("view checked the type")
            });
        let name = table_name(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let mut metrics = WriteMetrics::default();
        let txn = self.db.begin_write().map_err(|e| err(e.into()))?;
        {
            let mut table = txn.open_table(definition).map_err(|e| err(e.into()))?;
            let (mut key_buf, mut row_buf) = (Vec::new(), Vec::new());
            for row in 0..rows.num_rows() {
                let event_time = times.map_or(NO_EVENT_TIME, |t| t.value(row));
                key_buf.clear();
                codec::encode_values(&keys, row, &mut key_buf);
                let stored = table.get(key_buf.as_slice()).map_err(|e| err(e.into()))?;
                let newer_stored = stored
                    .and_then(|guard| codec::stored_event_time(guard.value()))
                    .is_some_and(|stored_time| stored_time > event_time);
                if newer_stored {
                    metrics.rows_older += 1;
                    continue;
                }
                codec::encode_row(&all, row, event_time, &mut row_buf);
                table
                    .insert(key_buf.as_slice(), row_buf.as_slice())
                    .map_err(|e| err(e.into()))?;
                metrics.rows_written += 1;
            }
        }
        txn.commit().map_err(|e| err(e.into()))?;
        Ok(metrics)
    }

    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead> {
        let err = storage_error(fg);
        let key_views = codec::views(fg, keys, key_columns(fg))?;
        let n = keys.num_rows();
        let mut builders: Vec<ColumnBuilder> = fg
            .columns
            .iter()
            .map(|c| ColumnBuilder::new(c.column_type, n))
            .collect();
        let mut status = Vec::with_capacity(n);
        let name = table_name(fg);
        let definition: TableDefinition<&[u8], &[u8]> = TableDefinition::new(&name);
        let txn = self.db.begin_read().map_err(|e| err(e.into()))?;
        let table = match txn.open_table(definition) {
            Ok(table) => Some(table),
            Err(TableError::TableDoesNotExist(_)) => None,
            Err(e) => return Err(err(e.into())),
        };
        let corrupt = |message: String| Error::Corrupt {
            feature_group: fg_label(fg),
            message,
        };
        // Where each output column's value comes from when the key has no usable row: the request.
        let key_slot: Vec<Option<usize>> = fg
            .columns
            .iter()
            .map(|c| fg.primary_key.iter().position(|k| *k == c.name))
            .collect();
        let mut key_buf = Vec::new();
        for row in 0..n {
            key_buf.clear();
            codec::encode_values(&key_views, row, &mut key_buf);
            let guard = match &table {
                Some(table) => table.get(key_buf.as_slice()).map_err(|e| err(e.into()))?,
                None => None,
            };
            let found = match &guard {
                Some(guard) => Some(codec::decode_row(fg, guard.value())?),
                None => None,
            };
            let row_status = match &found {
                None => LookupStatus::Missing,
                Some((ts, _))
                    if is_expired(fg, (*ts != NO_EVENT_TIME).then_some(*ts), now_micros) =>
                {
                    LookupStatus::Expired
                }
                Some(_) => LookupStatus::Present,
            };
            for (index, builder) in builders.iter_mut().enumerate() {
                let value = match (&found, row_status) {
                    (Some((_, values)), LookupStatus::Present) => values[index],
                    _ => match key_slot[index] {
                        Some(k) => key_views[k].value(row),
                        None => codec::Value::Null,
                    },
                };
                builder.append(&value).map_err(corrupt)?;
            }
            status.push(row_status);
        }
        let columns = builders.into_iter().map(ColumnBuilder::finish).collect();
        Ok(OnlineRead {
            rows: RecordBatch::try_new(codec::read_schema(fg), columns)?,
            status,
        })
    }

    async fn delete(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<u64> {
        let err = storage_error(fg);
        let key_views = codec::views(fg, keys, key_columns(fg))?;
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
