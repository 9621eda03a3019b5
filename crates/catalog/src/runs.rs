//! Pipeline runs: one row per `sluice run`, from start to its outcome.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

impl RunStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
    }

    pub(crate) fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a run has done so far, or did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunProgress {
    pub status: RunStatus,
    pub rows_in: u64,
    pub rows_out: u64,
    /// The last offline commit the run produced.
    pub offline_version: Option<u64>,
    pub error: Option<String>,
    /// What the next run continues from: files read, an event-time
    /// high-water mark, a stream sequence.
    pub state: serde_json::Value,
}

impl RunProgress {
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
    pub id: u64,
    pub pipeline: String,
    /// The feature group written, `NAME:VERSION`.
    pub sink: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub progress: RunProgress,
}
