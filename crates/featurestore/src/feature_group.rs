//! A handle on one registered feature-group version: read, look up, delete, describe.

use std::sync::Arc;

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use serde::Serialize;
use sluice_catalog::{CommitOperation, CommitRecord};
use sluice_offline::{BatchStream, ReadAt};
use sluice_online::OnlineRead;
use sluice_types::coerce::InputCoercer;
use sluice_types::FeatureGroupSpec;

use crate::project::FeatureStore;
use crate::{Error, Result};

/// A handle on one registered version of a feature group, borrowed from
/// its [`FeatureStore`]; get one with [`FeatureStore::feature_group`].
pub struct FeatureGroup<'a> {
    pub(crate) store: &'a FeatureStore,
    pub(crate) spec: Arc<FeatureGroupSpec>,
    pub(crate) created_at: DateTime<Utc>,
}

/// What `show` prints.
#[derive(Debug, Clone, Serialize)]
pub struct FeatureGroupInfo {
    /// The registered definition.
    #[serde(flatten)]
    pub spec: FeatureGroupSpec,
    /// When this version was registered.
    pub created_at: DateTime<Utc>,
    /// Rows in the latest offline state.
    pub offline_rows: u64,
    /// The offline store's latest version of the table; `None` before the first write.
    pub offline_version: Option<u64>,
    /// The commits the catalog records, oldest first.
    pub commits: Vec<CommitRecord>,
}

impl<'a> FeatureGroup<'a> {
    pub(crate) fn new(
        store: &'a FeatureStore,
        spec: Arc<FeatureGroupSpec>,
        created_at: DateTime<Utc>,
    ) -> Self {
        Self {
            store,
            spec,
            created_at,
        }
    }

    /// The registered definition.
    pub fn spec(&self) -> &FeatureGroupSpec {
        &self.spec
    }

    /// `NAME:VERSION`, as messages, ingest metrics and training-dataset
    /// records name the group.
    pub fn label(&self) -> String {
        format!("{}:{}", self.spec.name, self.spec.version)
    }

    /// Streams one state of the offline history, at most `limit` rows. A
    /// time is read as the commit [`resolve`](Self::resolve) names, so it
    /// is refused when it comes before the first commit.
    pub async fn read(&self, at: ReadAt, limit: Option<usize>) -> Result<BatchStream> {
        let at = match at {
            ReadAt::Time(_) => self.resolve(at).await?.map_or(at, ReadAt::Version),
            other => other,
        };
        let stream = self.store.offline.scan(&self.spec, at, None).await?;
        let Some(limit) = limit else {
            return Ok(stream);
        };
        let mut remaining = limit;
        Ok(stream
            .try_take_while(move |_| std::future::ready(Ok(remaining > 0)))
            .map_ok(move |batch| {
                let take = remaining.min(batch.num_rows());
                remaining -= take;
                batch.slice(0, take)
            })
            .boxed())
    }

    /// The offline commit a read of `at` sees, so that callers can say what
    /// they read and read exactly that (`ReadAt::Version`) even while others
    /// commit. `None` when nothing has been written, and for a time when the
    /// catalog records no commit (a table only other tools wrote), which the
    /// offline store then resolves itself.
    ///
    /// A time is resolved against the commit times the catalog records (those
    /// `describe` lists): the newest commit made at or before it. A time
    /// before the first commit is an error naming that commit's time.
    pub async fn resolve(&self, at: ReadAt) -> Result<Option<u64>> {
        let time = match at {
            ReadAt::Latest => return Ok(self.store.offline.latest_version(&self.spec).await?),
            ReadAt::Version(version) => return Ok(Some(version)),
            ReadAt::Time(time) => time,
        };
        let commits = self
            .store
            .catalog
            .commits(&self.spec.name, self.spec.version)
            .await?;
        let Some(first) = commits.iter().min_by_key(|c| c.committed_at) else {
            return Ok(None);
        };
        match commits
            .iter()
            .filter(|c| c.committed_at <= time)
            .max_by_key(|c| c.offline_version)
        {
            Some(commit) => Ok(Some(commit.offline_version)),
            None => Err(Error::BeforeFirstCommit {
                feature_group: self.label(),
                requested: time,
                first_commit: first.offline_version,
                first_committed_at: first.committed_at,
            }),
        }
    }

    /// Parses key values given as text (`column = [values...]`, one entry per key
    /// column, equal lengths) into a key batch.
    pub fn keys_from_text(&self, columns: &[(String, Vec<String>)]) -> Result<RecordBatch> {
        let fields: Vec<&str> = columns.iter().map(|(name, _)| name.as_str()).collect();
        let schema = InputCoercer::text_schema(fields);
        let arrays = columns
            .iter()
            .map(|(_, values)| {
                Arc::new(arrow::array::StringArray::from_iter_values(values))
                    as arrow::array::ArrayRef
            })
            .collect();
        let batch = RecordBatch::try_new(schema, arrays).map_err(|e| Error::InvalidKey {
            text: columns
                .iter()
                .map(|(n, v)| format!("{n}={}", v.join(",")))
                .collect::<Vec<_>>()
                .join(" "),
            reason: e.to_string(),
        })?;
        Ok(InputCoercer::new(self.spec.clone()).coerce_keys("key", &batch)?)
    }

    /// Looks keys up in the online store, judging TTL against the current time.
    pub async fn lookup(&self, keys: &RecordBatch) -> Result<OnlineRead> {
        self.lookup_at(keys, Utc::now()).await
    }

    /// Looks keys up, judging TTL against `now`.
    pub async fn lookup_at(&self, keys: &RecordBatch, now: DateTime<Utc>) -> Result<OnlineRead> {
        self.store.lookup_in(&self.spec, keys, now).await
    }

    /// Removes every row of the keys from both stores: a new offline commit, then the online store.
    /// Returns the number of offline rows removed.
    pub async fn delete(&self, keys: &RecordBatch) -> Result<u64> {
        let keys = InputCoercer::new(self.spec.clone()).coerce_keys("key", keys)?;
        self.hold_online().await?;
        let mut removed = 0;
        if let Some(commit) = self.store.offline.delete_keys(&self.spec, &keys).await? {
            removed = commit.rows_deleted;
            let described = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(&keys))
                .map(|t| t.to_string())
                .unwrap_or_default();
            self.record_commit(
                commit.version,
                CommitOperation::Delete,
                commit.rows_deleted,
                format!("{} key(s)\n{described}", keys.num_rows()),
            )
            .await?;
        }
        if self.spec.online {
            self.store.online().await?.delete(&self.spec, &keys).await?;
        }
        Ok(removed)
    }

    /// Appends an offline commit to the feature group's history in the catalog.
    pub(crate) async fn record_commit(
        &self,
        version: u64,
        operation: CommitOperation,
        rows: u64,
        source: String,
    ) -> Result<()> {
        let record = CommitRecord {
            offline_version: version,
            operation,
            rows,
            committed_at: Utc::now(),
            source,
        };
        Ok(self
            .store
            .catalog
            .record_commit(&self.spec.name, self.spec.version, &record)
            .await?)
    }

    /// Rows in the latest offline state.
    pub async fn count_rows(&self) -> Result<u64> {
        let first = [self.spec.columns[0].name.clone()];
        let stream = self
            .store
            .offline
            .scan(&self.spec, ReadAt::Latest, Some(&first))
            .await?;
        stream
            .try_fold(0u64, |n, batch| {
                std::future::ready(Ok(n + batch.num_rows() as u64))
            })
            .await
            .map_err(Error::from)
    }

    /// Definition, commit history and row count.
    pub async fn describe(&self) -> Result<FeatureGroupInfo> {
        Ok(FeatureGroupInfo {
            spec: self.spec.as_ref().clone(),
            created_at: self.created_at,
            offline_rows: self.count_rows().await?,
            offline_version: self.store.offline.latest_version(&self.spec).await?,
            commits: self
                .store
                .catalog
                .commits(&self.spec.name, self.spec.version)
                .await?,
        })
    }
}
