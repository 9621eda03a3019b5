//! Pipeline runs: one row per `sluice run`, from start to its outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::records::stored_as_words;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished; a run whose process died stays here.
    Running,
    /// Finished without error.
    Succeeded,
    /// Stopped by an error, which the progress records.
    Failed,
}

stored_as_words!(RunStatus {
    Running => "running",
    Succeeded => "succeeded",
    Failed => "failed",
});

/// What a run has done so far, or did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunProgress {
    /// Where the run stands; a final status also ends the run.
    pub status: RunStatus,
    /// Rows read from the pipeline's source so far.
    pub rows_in: u64,
    /// Rows written to its sink so far.
    pub rows_out: u64,
    /// The last offline commit the run produced.
    pub offline_version: Option<u64>,
    /// Why the run failed; set with [`RunStatus::Failed`].
    pub error: Option<String>,
    /// What the next run continues from: files read, an event-time
    /// high-water mark, a stream sequence.
    pub state: serde_json::Value,
}

impl RunProgress {
    /// The progress of a run just started: nothing read or written, no state.
    pub fn running() -> Self {
        Self {
            status: RunStatus::Running,
            rows_in: 0,
            rows_out: 0,
            offline_version: None,
            error: None,
            state: serde_json::Value::Null,
        }
    }
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunRecord {
    /// Ascending across all pipelines, from 1.
    pub id: u64,
    /// The name of the pipeline that ran.
    pub pipeline: String,
    /// The feature group written, `NAME:VERSION`.
    pub sink: String,
    /// When the run was recorded as started.
    pub started_at: DateTime<Utc>,
    /// When a final status was recorded; `None` while running.
    pub ended_at: Option<DateTime<Utc>>,
    /// What the run has done; serialised as fields of the record itself.
    #[serde(flatten)]
    pub progress: RunProgress,
}
