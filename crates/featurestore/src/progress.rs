//! How long-running operations report progress, without knowing who listens.

/// Receives progress from ingest and other long work. Implementations must be cheap: `advance` is called per batch.
pub trait Progress: Send + Sync {
    /// A new phase starts; `total` is its size in the unit `advance` counts, when known.
    fn phase(&self, name: &str, total: Option<u64>);
    /// `amount` more units of the current phase are done (bytes read while
    /// staging, rows written online, boosting rounds run).
    fn advance(&self, amount: u64);
    /// The work is done; not called when it fails.
    fn finish(&self) {}
}

/// Discards progress: for tests, pipes and library callers that do not care.
pub struct NoProgress;

impl Progress for NoProgress {
    fn phase(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}
