//! The backend trait and the types it exchanges.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use sluice_types::FeatureGroupSpec;

use crate::Result;

/// Batches of a feature group's schema, read lazily.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// Which state of a feature group's history to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadAt {
    /// The state after the newest commit.
    Latest,
    /// The state right after this commit.
    Version(u64),
    /// The state of the newest commit made at or before this time.
    Time(DateTime<Utc>),
}

/// What one commit did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CommitMetrics {
    /// The table version the commit produced.
    pub version: u64,
    /// Rows added: for an upsert those whose (primary key, event time) was
    /// not stored, for an append every row once repeats collapse.
    pub rows_inserted: u64,
    /// Stored rows replaced by an upsert.
    pub rows_updated: u64,
    /// Rows removed by a delete.
    pub rows_deleted: u64,
    /// Wall-clock milliseconds from the call to the commit, reading the
    /// input included.
    pub elapsed_ms: u64,
}

/// Where feature history lives.
///
/// Every write is one atomic commit: a reader sees all of it or none of it,
/// and a process killed mid-write leaves the previous commit readable.
#[async_trait]
pub trait OfflineStore: Send + Sync {
    /// Upserts the rows of `staged` (local Parquet files in the feature group's
    /// schema) as one commit: a row whose (primary key, event time) is already
    /// stored replaces it; among input rows with the same (key, event time) the
    /// last one wins. Creates the table on first use.
    async fn upsert(&self, fg: &FeatureGroupSpec, staged: &[PathBuf]) -> Result<CommitMetrics>;

    /// Adds `batches` (rows already checked against the feature group's
    /// schema, held in memory) as one commit without reading the stored
    /// rows or staging them to disk, so its cost does not grow with the
    /// table: for rows whose identity is new by construction (a prediction
    /// log's request ids and times). Repeats within `batches` collapse as in
    /// `upsert`; a row whose (primary key, event time) is already stored is
    /// kept beside it, which is why callers that cannot promise fresh
    /// identities must upsert. Creates the table on first use.
    async fn append(&self, fg: &FeatureGroupSpec, batches: &[RecordBatch])
        -> Result<CommitMetrics>;

    /// Streams the rows of one state of the history: every column, or only
    /// `columns` (in that order; the others are not decoded). A feature
    /// group never written reads as empty at `Latest` and as an error at any
    /// other state.
    async fn scan(
        &self,
        fg: &FeatureGroupSpec,
        at: ReadAt,
        columns: Option<&[String]>,
    ) -> Result<BatchStream>;

    /// Removes every row of the given keys (a batch of the primary-key
    /// columns) as one commit. Returns `None` when there was nothing to delete.
    async fn delete_keys(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
    ) -> Result<Option<CommitMetrics>>;

    /// Stores an immutable file (a model artefact) at `path`, relative to the
    /// store's root, beside the tables: on local disk or the object store
    /// alike. Callers name files by their content's hash, so a file already
    /// there is left as it is. The write is atomic: a reader sees all of the
    /// file or none of it.
    async fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<()>;

    /// A file stored by `put_file`, or `None` when there is none at `path`.
    async fn get_file(&self, path: &str) -> Result<Option<Vec<u8>>>;

    /// Where `path` lives, for messages.
    fn file_location(&self, path: &str) -> String;

    /// The newest commit version, `None` before the first write.
    async fn latest_version(&self, fg: &FeatureGroupSpec) -> Result<Option<u64>>;
}

/// An offline store shared by the tasks of a process, as
/// [`open_offline_store`](crate::open_offline_store) returns it.
pub type OfflineStoreRef = Arc<dyn OfflineStore>;
