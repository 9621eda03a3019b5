//! The Delta Lake implementation: one table per feature-group version at
//! `<root>/<name>/v<version>/`, Parquet files plus a transaction log whose
//! atomic commits give both crash safety and time travel.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deltalake::datafusion::common::Column;
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::operations::write::WriteBuilder;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::{BlindDeltaTable, DeltaTable, DeltaTableBuilder, DeltaTableError};
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use sluice_types::FeatureGroupSpec;
use url::Url;

use crate::last_wins::last_per_identity;
use crate::predicates::{column, keys_predicate, merge_predicate, qualified, row_identity};
use crate::store::{BatchStream, CommitMetrics, OfflineStore, ReadAt};
use crate::{Error, Result};

/// Name of the input-order column the staging step may add; the last row per identity wins.
pub const SEQUENCE_COLUMN: &str = "__sluice_seq";

/// Appends between checkpoints: Delta's default `delta.checkpointInterval`.
const CHECKPOINT_INTERVAL: u64 = 100;

/// Commit attempts of one append racing other writers of the same table.
const APPEND_COMMIT_TRIES: u32 = 20;

pub struct DeltaOfflineStore {
    root: Url,
    /// Object-store settings (`aws_endpoint`, `aws_region`, …); empty for local disk.
    storage_options: HashMap<String, String>,
}

impl DeltaOfflineStore {
    pub fn new(root: Url) -> Self {
        Self::with_storage_options(root, HashMap::new())
    }

    /// A store on object storage; options the URL does not give come from
    /// the standard environment variables (`AWS_ENDPOINT_URL`, `AWS_REGION`,
    /// `AWS_ACCESS_KEY_ID`, …).
    pub fn with_storage_options(root: Url, storage_options: HashMap<String, String>) -> Self {
        crate::synced_local::register();
        Self {
            root,
            storage_options,
        }
    }

    /// The store's root as an object store, for files that are not tables.
    fn files(&self) -> std::result::Result<deltalake::logstore::ObjectStoreRef, DeltaTableError> {
        deltalake::logstore::store_for(&self.root, self.storage_options.iter())
    }

    fn file_error<'a>(
        &'a self,
        path: &'a str,
        operation: &'static str,
    ) -> impl Fn(String) -> Error + 'a {
        move |message| Error::File {
            location: self.file_location(path),
            operation,
            message,
        }
    }

    fn builder(&self, fg: &FeatureGroupSpec, operation: &'static str) -> Result<DeltaTable> {
        DeltaTableBuilder::from_url(self.table_url(fg))
            .map(|b| b.with_storage_options(self.storage_options.clone()))
            .and_then(|b| b.build())
            .map_err(delta(fg, operation))
    }

    fn table_url(&self, fg: &FeatureGroupSpec) -> Url {
        self.root
            .join(&format!("{}/v{}/", fg.name, fg.version))
            .expect("validated names are valid URL segments")
    }

    /// The table, loaded at its latest version, or `None` when it was never written.
    async fn open(&self, fg: &FeatureGroupSpec) -> Result<Option<DeltaTable>> {
        let url = self.table_url(fg);
        if url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.exists()) {
            return Ok(None);
        }
        let mut table = self.builder(fg, "open")?;
        match table.load().await {
            Ok(()) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(delta(fg, "open")(e)),
        }
    }

    /// The table's metadata without its file list (what an append needs,
    /// however many files the table holds), or `None` when it was never written.
    async fn open_for_append(&self, fg: &FeatureGroupSpec) -> Result<Option<BlindDeltaTable>> {
        let url = self.table_url(fg);
        if url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.exists()) {
            return Ok(None);
        }
        let table = self.builder(fg, "open")?;
        match BlindDeltaTable::try_new_with_log_store(table.log_store()).await {
            Ok(table) => Ok(Some(table)),
            Err(DeltaTableError::NotATable(_)) => Ok(None),
            Err(e) => Err(delta(fg, "open")(e)),
        }
    }

    /// Writes a checkpoint of `version`. Blind appends skip the post-commit
    /// hook that checkpoints merges, and without checkpoints every open
    /// replays the whole log, so each append of a long-lived log (one a
    /// second from a server) would cost more than the one before. The rows
    /// are committed either way, so a failure is only reported.
    async fn checkpoint(&self, fg: &FeatureGroupSpec, version: u64) {
        let written = async {
            let mut table = self.builder(fg, "checkpoint")?;
            table
                .load_version(version)
                .await
                .map_err(delta(fg, "checkpoint"))?;
            deltalake::checkpoints::create_checkpoint(&table, None)
                .await
                .map_err(delta(fg, "checkpoint"))
        };
        if let Err(e) = written.await {
            tracing::warn!("{e}");
        }
    }

    /// The first commit of a table: the source's rows, written as a new table.
    async fn create_with(
        &self,
        fg: &FeatureGroupSpec,
        source: DataFrame,
        started: Instant,
    ) -> Result<CommitMetrics> {
        let table = self.new_table(fg)?;
        let rows = source.clone().count().await.map_err(query(fg, "write"))? as u64;
        let table = WriteBuilder::new(table.log_store(), None)
            .with_input_plan(source.logical_plan().clone())
            .with_save_mode(SaveMode::Append)
            .with_writer_properties(writer_properties(fg))
            .with_table_name(label(fg))
            .with_description(fg.description.clone())
            .await
            .map_err(delta(fg, "write"))?;
        Ok(CommitMetrics {
            version: table.version().unwrap_or_default(),
            rows_inserted: rows,
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        })
    }

    /// A handle on a table that does not exist yet, its directory created where the store is local.
    fn new_table(&self, fg: &FeatureGroupSpec) -> Result<DeltaTable> {
        let url = self.table_url(fg);
        if let Ok(path) = url.to_file_path() {
            std::fs::create_dir_all(&path)
                .map_err(|e| delta(fg, "create")(DeltaTableError::from(e)))?;
        }
        self.builder(fg, "create")
    }
}

fn label(fg: &FeatureGroupSpec) -> String {
    format!("{}:{}", fg.name, fg.version)
}

fn delta<'a>(
    fg: &'a FeatureGroupSpec,
    operation: &'static str,
) -> impl Fn(DeltaTableError) -> Error + 'a {
    use deltalake::kernel::transaction::TransactionError;
    move |source| match source {
        DeltaTableError::VersionAlreadyExists(_)
        | DeltaTableError::Transaction {
            source:
                TransactionError::CommitConflict(_)
                | TransactionError::VersionAlreadyExists(_)
                | TransactionError::MaxCommitAttempts(_),
        } => Error::Conflict {
            feature_group: label(fg),
            operation,
        },
        source => Error::Delta {
            feature_group: label(fg),
            operation,
            source: Box::new(source),
        },
    }
}

fn query<'a>(
    fg: &'a FeatureGroupSpec,
    operation: &'static str,
) -> impl Fn(deltalake::datafusion::error::DataFusionError) -> Error + 'a {
    move |source| Error::Query {
        feature_group: label(fg),
        operation,
        source: Box::new(source),
    }
}

/// The staged rows, with later duplicates of a row identity replacing earlier ones.
async fn staged_source(fg: &FeatureGroupSpec, staged: &[PathBuf]) -> Result<DataFrame> {
    let ctx = SessionContext::new();
    let paths: Vec<String> = staged.iter().map(|p| p.display().to_string()).collect();
    let df = ctx
        .read_parquet(paths, ParquetReadOptions::default())
        .await
        .map_err(query(fg, "read of staged rows"))?;
    let columns: Vec<_> = fg.columns.iter().map(|c| column(&c.name)).collect();
    if !df
        .schema()
        .has_column_with_unqualified_name(SEQUENCE_COLUMN)
        || !has_duplicates(fg, &df).await?
    {
        return df.select(columns).map_err(query(fg, "read of staged rows"));
    }
    let identity: Vec<_> = row_identity(fg).into_iter().map(column).collect();
    // DISTINCT ON keeps the first row of each group in this order: the last one staged.
    let order = identity
        .iter()
        .map(|c| c.clone().sort(true, false))
        .chain([column(SEQUENCE_COLUMN).sort(false, false)])
        .collect();
    df.distinct_on(identity, columns, Some(order))
        .map_err(query(fg, "de-duplication of staged rows"))
}

async fn has_duplicates(fg: &FeatureGroupSpec, df: &DataFrame) -> Result<bool> {
    use deltalake::datafusion::functions_aggregate::expr_fn::count;
    use deltalake::datafusion::logical_expr::lit;
    let identity: Vec<_> = row_identity(fg).into_iter().map(column).collect();
    let groups = df
        .clone()
        .aggregate(identity, vec![count(lit(1)).alias("__sluice_rows")])
        .and_then(|g| g.filter(column("__sluice_rows").gt(lit(1))))
        .and_then(|g| g.limit(0, Some(1)))
        .map_err(query(fg, "duplicate check"))?;
    let found = groups.count().await.map_err(query(fg, "duplicate check"))?;
    Ok(found > 0)
}

/// Parquet settings for stored data: snappy, dictionary encoding as
/// [`parquet_encodings`] chooses.
fn writer_properties(fg: &FeatureGroupSpec) -> WriterProperties {
    parquet_encodings(&fg.arrow_schema())
        .set_compression(Compression::SNAPPY)
        .build()
}

/// Dictionary encoding only for text columns, where values repeat; for
/// numbers and times it costs more write time than it saves (the writer
/// builds a dictionary, finds it too large and falls back, per page).
pub fn parquet_encodings(schema: &Schema) -> WriterPropertiesBuilder {
    schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
        .fold(
            WriterProperties::builder().set_dictionary_enabled(false),
            |builder, f| {
                builder.set_column_dictionary_enabled(ColumnPath::from(f.name().as_str()), true)
            },
        )
}

/// Casts a batch to the feature group's declared schema (the reader may hand
/// back view or large string types; a caller's batch may differ in nullability).
fn conform(schema: &SchemaRef, batch: RecordBatch) -> arrow::error::Result<RecordBatch> {
    if batch.schema().fields() == schema.fields() {
        return Ok(batch);
    }
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let array = batch.column_by_name(field.name()).ok_or_else(|| {
                arrow::error::ArrowError::SchemaError(format!("no column '{}'", field.name()))
            })?;
            cast_with_options(array, field.data_type(), &CastOptions::default())
        })
        .collect::<arrow::error::Result<Vec<_>>>()?;
    RecordBatch::try_new(schema.clone(), columns)
}

#[async_trait]
impl OfflineStore for DeltaOfflineStore {
    async fn upsert(&self, fg: &FeatureGroupSpec, staged: &[PathBuf]) -> Result<CommitMetrics> {
        let started = Instant::now();
        let source = staged_source(fg, staged).await?;
        let Some(table) = self.open(fg).await? else {
            return self.create_with(fg, source, started).await;
        };
        let (table, metrics) = table
            .merge(source, merge_predicate(fg))
            .with_source_alias("source")
            .with_target_alias("target")
            .with_writer_properties(writer_properties(fg))
            .when_matched_update(|update| {
                fg.columns
                    .iter()
                    .filter(|c| !row_identity(fg).contains(&c.name.as_str()))
                    .fold(update, |u, c| {
                        u.update(
                            Column::new_unqualified(c.name.as_str()),
                            qualified("source", &c.name),
                        )
                    })
            })
            .and_then(|merge| {
                merge.when_not_matched_insert(|insert| {
                    fg.columns.iter().fold(insert, |i, c| {
                        i.set(
                            Column::new_unqualified(c.name.as_str()),
                            qualified("source", &c.name),
                        )
                    })
                })
            })
            .map_err(delta(fg, "merge"))?
            .await
            .map_err(delta(fg, "merge"))?;
        Ok(CommitMetrics {
            version: table.version().unwrap_or_default(),
            rows_inserted: metrics.num_target_rows_inserted as u64,
            rows_updated: metrics.num_target_rows_updated as u64,
            rows_deleted: 0,
            elapsed_ms: started.elapsed().as_millis() as u64,
        })
    }

    async fn append(
        &self,
        fg: &FeatureGroupSpec,
        batches: &[RecordBatch],
    ) -> Result<CommitMetrics> {
        let started = Instant::now();
        let unfit = |source| Error::Rows {
            feature_group: label(fg),
            operation: "append",
            source,
        };
        let schema = fg.arrow_schema();
        let conformed = batches
            .iter()
            .map(|b| conform(&schema, b.clone()))
            .collect::<arrow::error::Result<Vec<_>>>()
            .map_err(unfit)?;
        let batch = arrow::compute::concat_batches(&schema, &conformed).map_err(unfit)?;
        let batch = last_per_identity(fg, batch).map_err(unfit)?;
        let rows = batch.num_rows() as u64;
        let Some(mut table) = self.open_for_append(fg).await? else {
            let source = SessionContext::new()
                .read_batch(batch)
                .map_err(query(fg, "write"))?;
            return self.create_with(fg, source, started).await;
        };
        let mut writer = RecordBatchWriter::for_blind_appends(&table)
            .map_err(delta(fg, "append"))?
            .with_writer_properties(writer_properties(fg));
        writer.write(batch).await.map_err(delta(fg, "append"))?;
        let adds = writer.flush().await.map_err(delta(fg, "append"))?;
        // Appends never conflict in what they change, so losing the race for
        // a commit number only means committing the same files at the next one.
        let mut tries = 1;
        let version = loop {
            match table.commit(adds.clone()).await {
                Ok(version) => break version,
                Err(DeltaTableError::VersionAlreadyExists(_)) if tries < APPEND_COMMIT_TRIES => {
                    tries += 1;
                    table = self
                        .open_for_append(fg)
                        .await?
                        .expect("a table that refused a commit exists");
                }
                Err(e) => return Err(delta(fg, "append")(e)),
            }
        };
        if version % CHECKPOINT_INTERVAL == 0 {
            self.checkpoint(fg, version).await;
        }
        Ok(CommitMetrics {
            version,
            rows_inserted: rows,
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        })
    }

    async fn scan(
        &self,
        fg: &FeatureGroupSpec,
        at: ReadAt,
        columns: Option<&[String]>,
    ) -> Result<BatchStream> {
        let schema = match columns {
            None => fg.arrow_schema(),
            Some(names) => {
                let full = fg.arrow_schema();
                let indices = names
                    .iter()
                    .map(|name| {
                        full.index_of(name).map_err(|_| Error::UnknownColumn {
                            feature_group: label(fg),
                            column: name.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                std::sync::Arc::new(full.project(&indices)?)
            }
        };
        let Some(mut table) = self.open(fg).await? else {
            if at == ReadAt::Latest {
                return Ok(futures::stream::empty().boxed());
            }
            return Err(Error::NoSuchState {
                feature_group: label(fg),
                requested: describe(at),
                message: "nothing has been written to it yet".into(),
            });
        };
        let no_such_state = |e: DeltaTableError| Error::NoSuchState {
            feature_group: label(fg),
            requested: describe(at),
            message: e.to_string(),
        };
        match at {
            ReadAt::Latest => {}
            ReadAt::Version(version) => {
                let newest = table.version().unwrap_or_default();
                if version > newest {
                    return Err(Error::NoSuchState {
                        feature_group: label(fg),
                        requested: describe(at),
                        message: format!("the newest commit is {newest}"),
                    });
                }
                table.load_version(version).await.map_err(no_such_state)?
            }
            ReadAt::Time(time) => {
                if time
                    < first_commit_time(&table)
                        .await
                        .map_err(delta(fg, "time travel"))?
                {
                    // Before the first commit the feature group held no rows.
                    return Ok(futures::stream::empty().boxed());
                }
                table
                    .load_with_datetime(time)
                    .await
                    .map_err(no_such_state)?
            }
        }
        let stream = parallel_scan(&table, columns)
            .await
            .map_err(query(fg, "scan"))?;
        let name = label(fg);
        Ok(stream
            .map(move |batch| {
                let batch = batch.map_err(|source| Error::Query {
                    feature_group: name.clone(),
                    operation: "scan",
                    source: Box::new(source),
                })?;
                Ok(conform(&schema, batch)?)
            })
            .boxed())
    }

    async fn delete_keys(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
    ) -> Result<Option<CommitMetrics>> {
        let started = Instant::now();
        let Some(table) = self.open(fg).await? else {
            return Ok(None);
        };
        let before = table.version();
        let (table, metrics) = table
            .delete()
            .with_predicate(keys_predicate(fg, keys)?)
            .with_writer_properties(writer_properties(fg))
            .await
            .map_err(delta(fg, "delete"))?;
        if table.version() == before {
            return Ok(None);
        }
        Ok(Some(CommitMetrics {
            version: table.version().unwrap_or_default(),
            rows_deleted: metrics.num_deleted_rows.unwrap_or_default() as u64,
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        }))
    }

    async fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        let fail = self.file_error(path, "write");
        let store = self.files().map_err(|e| fail(e.to_string()))?;
        let location = object_store::path::Path::parse(path).map_err(|e| fail(e.to_string()))?;
        let create = object_store::PutOptions {
            mode: object_store::PutMode::Create,
            ..Default::default()
        };
        match store.put_opts(&location, bytes.into(), create).await {
            Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    async fn get_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        let fail = self.file_error(path, "read");
        let store = self.files().map_err(|e| fail(e.to_string()))?;
        let location = object_store::path::Path::parse(path).map_err(|e| fail(e.to_string()))?;
        match store.get(&location).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .map_err(|e| fail(e.to_string()))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(fail(e.to_string())),
        }
    }

    fn file_location(&self, path: &str) -> String {
        let mut shown = self.root.clone();
        shown.set_query(None);
        format!("{shown}{path}")
    }

    async fn latest_version(&self, fg: &FeatureGroupSpec) -> Result<Option<u64>> {
        Ok(self.open(fg).await?.and_then(|t| t.version()))
    }
}

/// Scans the loaded table with one task per partition (one per core), so that
/// Parquet decoding uses every core; batches arrive in no particular order.
async fn parallel_scan(
    table: &DeltaTable,
    columns: Option<&[String]>,
) -> std::result::Result<
    BoxStream<'static, std::result::Result<RecordBatch, DataFusionError>>,
    DataFusionError,
> {
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut frame = ctx.read_table(provider)?;
    if let Some(columns) = columns {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        frame = frame.select_columns(&names)?;
    }
    let partitions = frame.execute_stream_partitioned().await?;
    let (sender, receiver) = tokio::sync::mpsc::channel(partitions.len().max(1) * 2);
    for mut partition in partitions {
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(batch) = partition.next().await {
                if sender.send(batch).await.is_err() {
                    break;
                }
            }
        });
    }
    Ok(tokio_stream_from(receiver))
}

fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
}

/// When commit 0 was written, by the same clock `load_with_datetime` uses: the log file's modification time.
async fn first_commit_time(
    table: &DeltaTable,
) -> std::result::Result<DateTime<Utc>, DeltaTableError> {
    let first = deltalake::Path::from("_delta_log/00000000000000000000.json");
    let meta = table.log_store().object_store(None).head(&first).await?;
    Ok(meta.last_modified)
}

fn describe(at: ReadAt) -> String {
    match at {
        ReadAt::Latest => "the latest commit".into(),
        ReadAt::Version(v) => format!("commit {v}"),
        ReadAt::Time(t) => format!("the state as of {}", t.to_rfc3339()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use deltalake::kernel::transaction::TransactionError;
    use sluice_types::{ColumnSpec, ColumnType};

    #[test]
    fn a_lost_commit_race_says_so_once() {
        let fg = FeatureGroupSpec {
            name: "tx".into(),
            version: 1,
            primary_key: vec!["id".into()],
            event_time: None,
            online: false,
            ttl: None,
            description: String::new(),
            columns: vec![ColumnSpec::new("id", ColumnType::Int64)],
        };
        let lost = [
            DeltaTableError::VersionAlreadyExists(3),
            DeltaTableError::Transaction {
                source: TransactionError::VersionAlreadyExists(3),
            },
            DeltaTableError::Transaction {
                source: TransactionError::MaxCommitAttempts(15),
            },
        ];
        for source in lost {
            let error = delta(&fg, "merge")(source);
            assert!(error.is_user_error(), "{error:?}");
            assert_eq!(
                error.to_string(),
                "feature group tx:1: another write committed first; this merge wrote nothing, retry it"
            );
            assert!(std::error::Error::source(&error).is_none());
        }
        let other = delta(&fg, "merge")(DeltaTableError::NotATable("x".into()));
        assert!(matches!(other, Error::Delta { .. }), "{other:?}");
    }
}
