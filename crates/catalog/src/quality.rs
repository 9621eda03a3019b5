//! Data-quality records: a validation report, a commit's statistics or a
//! monitor's result, each kept as JSON the feature store writes and reads.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::records::stored_as_words;

/// What a quality record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QualityKind {
    /// A write's validation report: passed, warned or rejected.
    Validation,
    /// The statistics of one offline commit's rows.
    Statistics,
    /// One run of a drift monitor.
    Monitor,
}

stored_as_words!(QualityKind {
    Validation => "validation",
    Statistics => "statistics",
    Monitor => "monitor",
});

/// One quality record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityRecord {
    /// Assigned by the catalog, ascending across all records; 0 before then.
    pub id: u64,
    /// What it is about: a feature group as `NAME:VERSION`, or a monitor's name.
    pub subject: String,
    /// What it holds.
    pub kind: QualityKind,
    /// The offline commit it belongs to; `None` for a rejected write (which
    /// made no commit) and for monitor runs.
    pub offline_version: Option<u64>,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The record itself, as JSON.
    pub body: String,
}

/// Which quality records to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QualityQuery<'a> {
    /// As in [`QualityRecord::subject`].
    pub subject: &'a str,
    /// As in [`QualityRecord::kind`].
    pub kind: QualityKind,
    /// Only the records of this commit.
    pub offline_version: Option<u64>,
    /// At most this many, newest first.
    pub limit: usize,
}
