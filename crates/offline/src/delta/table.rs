//! A feature group's Delta table: where it lives, opening, creating and
//! checkpointing it, and the schema and Parquet settings of what is written
//! to it.

use std::time::Instant;

use arrow::array::RecordBatch;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{DataType, Schema, SchemaRef};
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::operations::write::WriteBuilder;
use deltalake::parquet::basic::Compression;
use deltalake::parquet::file::properties::{WriterProperties, WriterPropertiesBuilder};
use deltalake::parquet::schema::types::ColumnPath;
use deltalake::protocol::SaveMode;
use deltalake::{BlindDeltaTable, DeltaTable, DeltaTableBuilder, DeltaTableError};
use sluice_types::FeatureGroupSpec;
use url::Url;

use super::{delta, label, query, DeltaOfflineStore};
use crate::store::CommitMetrics;
use crate::Result;

impl DeltaOfflineStore {
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
    pub(super) async fn open(&self, fg: &FeatureGroupSpec) -> Result<Option<DeltaTable>> {
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
    pub(super) async fn open_for_append(
        &self,
        fg: &FeatureGroupSpec,
    ) -> Result<Option<BlindDeltaTable>> {
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
    pub(super) async fn checkpoint(&self, fg: &FeatureGroupSpec, version: u64) {
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
    pub(super) async fn create_with(
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

/// Parquet settings for stored data: snappy, dictionary encoding as
/// [`parquet_encodings`] chooses.
pub(super) fn writer_properties(fg: &FeatureGroupSpec) -> WriterProperties {
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
pub(super) fn conform(schema: &SchemaRef, batch: RecordBatch) -> arrow::error::Result<RecordBatch> {
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
