//! The backend trait and the types it exchanges.

use std::fmt;
use std::sync::Arc;

use arrow::array::RecordBatch;
use async_trait::async_trait;
use sluice_types::FeatureGroupSpec;

use crate::Result;

/// What a lookup found for one requested key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum LookupStatus {
    /// The key's newest row was found and has not expired.
    Present,
    /// The key has no row (never written, or deleted).
    Missing,
    /// The key has a row, but its event time is older than the feature group's TTL.
    Expired,
}

impl fmt::Display for LookupStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LookupStatus::Present => "PRESENT",
            LookupStatus::Missing => "MISSING",
            LookupStatus::Expired => "EXPIRED",
        })
    }
}

/// The answer to a batch lookup: one row and one status per requested key, in request order.
#[derive(Debug, Clone)]
pub struct OnlineRead {
    /// The feature group's columns, all nullable. Key columns echo the request;
    /// other columns are null unless the status is `Present`.
    pub rows: RecordBatch,
    /// One status per requested key, in request order.
    pub status: Vec<LookupStatus>,
}

/// What a write did, per row given.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteMetrics {
    /// Keys whose stored row was created or replaced.
    pub rows_written: u64,
    /// Rows not stored because their key has a newer row, already stored or
    /// in the same write (equal event times: the later row is the newer).
    pub rows_older: u64,
}

/// A store of the newest row per key of each feature group.
///
/// Backends hold one namespace per feature group *version*; versions never share rows.
#[async_trait]
pub trait OnlineStore: Send + Sync {
    /// Writes rows of the feature group's schema. For each row, the key's stored
    /// row is replaced when the new event time is greater than *or equal to* the
    /// stored one (equal times: the later write wins); older rows are ignored.
    /// Rows are applied as if in batch order. The embedded store applies one call
    /// atomically; every backend's result is durable per its configuration when
    /// the call returns, and re-applying the same rows converges to the same state.
    async fn write(&self, fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<WriteMetrics>;

    /// As `write`, but the backend may defer making it durable until the next
    /// `flush`: for writers that can replay what a crash loses (a streaming
    /// pipeline replays from its checkpoint). Readers see the rows at once.
    async fn write_deferred(
        &self,
        fg: &FeatureGroupSpec,
        rows: &RecordBatch,
    ) -> Result<WriteMetrics> {
        self.write(fg, rows).await
    }

    /// Makes every deferred write durable.
    async fn flush(&self) -> Result<()> {
        Ok(())
    }

    /// Looks up keys (a batch of the primary-key columns). Returns exactly one
    /// row per requested key, in request order, duplicates included; a key with
    /// no row is `Missing`, one older than the TTL at `now_micros` is `Expired`.
    async fn read(
        &self,
        fg: &FeatureGroupSpec,
        keys: &RecordBatch,
        now_micros: i64,
    ) -> Result<OnlineRead>;

    /// Removes keys; returns how many had a row. Missing keys are not an error.
    async fn delete(&self, fg: &FeatureGroupSpec, keys: &RecordBatch) -> Result<u64>;
}

/// A shared handle to any backend.
pub type OnlineStoreRef = Arc<dyn OnlineStore>;

/// The TTL rule every backend applies: expired when strictly older than the TTL.
pub fn is_expired(fg: &FeatureGroupSpec, event_time_micros: Option<i64>, now_micros: i64) -> bool {
    match (&fg.ttl, event_time_micros) {
        (Some(ttl), Some(ts)) => now_micros.saturating_sub(ts) > ttl.as_micros(),
        _ => false,
    }
}
