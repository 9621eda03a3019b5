//! The Delta Lake implementation: one table per feature-group version at
//! `<root>/<name>/v<version>/`, Parquet files plus a transaction log whose
//! atomic commits give both crash safety and time travel.
//!
//! This module holds the store, the errors its steps map to, and the
//! [`OfflineStore`] implementation, which hands each call to the module
//! that reads, writes or stores files.

mod files;
mod read;
mod table;
mod write;

pub use table::parquet_encodings;

use std::collections::HashMap;
use std::path::PathBuf;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use deltalake::DeltaTableError;
use sluice_types::FeatureGroupSpec;
use url::Url;

use crate::store::{BatchStream, CommitMetrics, OfflineStore, ReadAt};
use crate::{Error, Result};

/// Name of the input-order column the staging step may add; the last row per identity wins.
pub const SEQUENCE_COLUMN: &str = "__sluice_seq";

/// The offline store on Delta Lake, on local disk (`file://`) or object
/// storage (`s3://`); each feature-group version is its own table.
pub struct DeltaOfflineStore {
    root: Url,
    /// Object-store settings (`aws_endpoint`, `aws_region`, …); empty for local disk.
    storage_options: HashMap<String, String>,
}

impl DeltaOfflineStore {
    /// A store whose tables live under `root`, a directory URL; it must end
    /// in `/`, as table paths are joined onto it.
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

#[async_trait]
impl OfflineStore for DeltaOfflineStore {
    async fn upsert(&self, fg: &FeatureGroupSpec, staged: &[PathBuf]) -> Result<CommitMetrics> {
        write::upsert(self, fg, staged).await
    }

    async fn append(
        &self,
        fg: &FeatureGroupSpec,
        batches: &[RecordBatch],
    ) -> Result<CommitMetrics> {
        write::append(self, fg, batches).await
    }

    async fn scan(
        &self,
        fg: &FeatureGroupSpec,
        at: ReadAt,
        columns: Option<&[String]>,
    ) -> Result<BatchStream> {
        read::scan(self, fg, at, columns).await
    }

    async fn delete_keys(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
    ) -> Result<Option<CommitMetrics>> {
        write::delete_keys(self, fg, keys).await
    }

    async fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        files::put(self, path, bytes).await
    }

    async fn get_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        files::get(self, path).await
    }

    fn file_location(&self, path: &str) -> String {
        files::location(self, path)
    }

    async fn latest_version(&self, fg: &FeatureGroupSpec) -> Result<Option<u64>> {
        read::latest_version(self, fg).await
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
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
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
            assert!(error.kind().is_caller_fault(), "{error:?}");
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
