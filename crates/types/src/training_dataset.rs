//! The record of a materialised training dataset: everything needed to
//! rebuild it row for row and to check that the rebuild is identical.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How rows are divided between splits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Split {
    /// Everything in one split named `all`.
    None,
    /// Each row goes to `train` with probability `train_fraction`, decided by a hash of (seed, row position).
    Random {
        /// The share of rows that train, strictly between 0 and 1.
        train_fraction: f64,
        /// Fixes the assignment, so that a recreate gives the same splits.
        seed: u64,
    },
    /// Rows before `train_end` train; rows at or after `test_start` test; rows in between are left out.
    Time {
        /// The first time that no longer trains.
        train_end: DateTime<Utc>,
        /// The first time that tests; equal to `train_end` unless a gap is given.
        test_start: DateTime<Utc>,
    },
}

impl Split {
    /// Parses `random:FRACTION:SEED` or `time:TRAIN_END[,TEST_START]` (RFC 3339 times).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("split '{text}': {why}; expected random:FRACTION:SEED or time:TRAIN_END[,TEST_START]")
        };
        match text.split_once(':') {
            Some(("random", rest)) => {
                let (fraction, seed) = rest
                    .split_once(':')
                    .ok_or_else(|| bad("missing the seed"))?;
                let train_fraction: f64 = fraction
                    .parse()
                    .map_err(|_| bad("the fraction is not a number"))?;
                if !(train_fraction > 0.0 && train_fraction < 1.0) {
                    return Err(bad("the fraction must be between 0 and 1"));
                }
                let seed = seed
                    .parse()
                    .map_err(|_| bad("the seed is not a non-negative integer"))?;
                Ok(Split::Random {
                    train_fraction,
                    seed,
                })
            }
            Some(("time", rest)) => {
                let (train_end, test_start) = rest.split_once(',').unwrap_or((rest, rest));
                let time = |t: &str| {
                    DateTime::parse_from_rfc3339(t)
                        .map(|t| t.with_timezone(&Utc))
                        .map_err(|_| bad(&format!("'{t}' is not an RFC 3339 time")))
                };
                let (train_end, test_start) = (time(train_end)?, time(test_start)?);
                if test_start < train_end {
                    return Err(bad(
                        "the test split cannot start before the train split ends",
                    ));
                }
                Ok(Split::Time {
                    train_end,
                    test_start,
                })
            }
            _ => Err(bad("unknown kind")),
        }
    }

    /// The splits it makes, in order: `all`, or `train` then `test`.
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Split::None => vec!["all"],
            _ => vec!["train", "test"],
        }
    }
}

/// Per-column statistics of the training split (or of `all`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnStatistics {
    /// The column described.
    pub column: String,
    /// Non-null values.
    pub count: u64,
    /// Null values.
    pub nulls: u64,
    /// Mean of the non-null values; numeric columns only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Population standard deviation (divided by `count`); numeric columns only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub std: Option<f64>,
    /// Smallest value; numeric columns only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value; numeric columns only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Distinct non-null values.
    pub distinct: u64,
}

/// One file of a training dataset: a split, or the spine file it was made from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SplitFile {
    /// The split's name (`train`, `test`, `all`), or the spine file's name.
    pub name: String,
    /// Rows in the file.
    pub rows: u64,
    /// blake3 of the split's rows in a canonical Arrow IPC encoding.
    pub hash: String,
}

/// A training dataset as the catalog records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingDatasetSpec {
    /// The feature view it was made from.
    pub feature_view: String,
    /// That view's version.
    pub feature_view_version: u32,
    /// Only spine rows with event time at or after this were used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// … and before this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// How the rows were divided.
    pub split: Split,
    /// The offline commit read from each feature group (`NAME:VERSION`), the spine's included.
    pub commits: BTreeMap<String, u64>,
    /// The split files, in the order of [`Split::names`].
    pub splits: Vec<SplitFile>,
    /// blake3 over the split hashes, in split order.
    pub content_hash: String,
    /// When the spine rows came from a file rather than the spine group: the
    /// file's name, its row count and hash. A copy is kept beside the splits
    /// (`spine.parquet`) so that the dataset can be recreated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spine_file: Option<SplitFile>,
    /// Statistics of the first split (`train`, or `all`), per described column.
    pub statistics: Vec<ColumnStatistics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_splits() {
        assert_eq!(
            Split::parse("random:0.8:42").unwrap(),
            Split::Random {
                train_fraction: 0.8,
                seed: 42
            }
        );
        let Split::Time {
            train_end,
            test_start,
        } = Split::parse("time:2026-01-01T00:00:00Z,2026-02-01T00:00:00Z").unwrap()
        else {
            panic!("a time split")
        };
        assert!(test_start > train_end);
        for bad in [
            "random:1.5:1",
            "random:0.5",
            "time:yesterday",
            "time:2026-02-01T00:00:00Z,2026-01-01T00:00:00Z",
            "hash:1",
        ] {
            assert!(Split::parse(bad).is_err(), "{bad}");
        }
    }
}
