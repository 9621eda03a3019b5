//! How the prediction-log writer turns queued entries into commits: the
//! entries cut into commits within the row and byte caps, and each commit's
//! rows built as one record batch of the log group's schema.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{Field, Schema, SchemaRef};
use sluice_pipelines::prediction_log::{
    LOGGED_AT_COLUMN, REQUEST_ID_COLUMN, ROW_COLUMN, TRANSFORMED_COLUMN,
};
use sluice_pipelines::{ServingModel, MODEL_VERSION_COLUMN, PREDICTION_COLUMN};
use sluice_types::ColumnType;

use crate::prediction_log::LogEntry;
use crate::{Error, Result};

/// Rows `rows` of entry `entry`: one commit's share of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Slice {
    pub entry: usize,
    pub rows: Range<usize>,
}

/// Splits entries of `(rows, bytes per row)` into commits of at most
/// `max_rows` rows and `max_bytes` bytes, in order, an entry split where a
/// commit fills up. A row larger than `max_bytes` is a commit of its own.
pub(crate) fn plan_commits(
    sizes: &[(usize, usize)],
    max_rows: usize,
    max_bytes: usize,
) -> Vec<Vec<Slice>> {
    let max_rows = max_rows.max(1);
    let mut commits = Vec::new();
    let mut current: Vec<Slice> = Vec::new();
    let (mut rows, mut bytes) = (0, 0);
    for (entry, &(entry_rows, row_bytes)) in sizes.iter().enumerate() {
        let mut start = 0;
        while start < entry_rows {
            let fit = (entry_rows - start)
                .min(max_rows - rows)
                .min(max_bytes.saturating_sub(bytes) / row_bytes.max(1));
            let count = match fit {
                0 if current.is_empty() => 1,
                0 => {
                    commits.push(std::mem::take(&mut current));
                    (rows, bytes) = (0, 0);
                    continue;
                }
                fit => fit,
            };
            current.push(Slice {
                entry,
                rows: start..start + count,
            });
            rows += count;
            bytes += count * row_bytes;
            start += count;
        }
    }
    if !current.is_empty() {
        commits.push(current);
    }
    commits
}

/// A row's column data in the log batch, estimated from above: the
/// transformed vector as JSON (at most 24 characters a number, and a
/// separator), the row's share of its keys and features, and the
/// fixed-width columns.
pub(crate) fn row_bytes(entry: &LogEntry) -> usize {
    let rows = entry.predictions.len().max(1);
    let width = entry.transformed.len() / rows;
    let looked_up = entry.keys.get_array_memory_size() + entry.features.get_array_memory_size();
    2 + 25 * width + looked_up.div_ceil(rows) + entry.request_id.len() + 4 * 8
}

/// The log rows of `part`, slices of `entries` (all of one model version).
pub(crate) fn log_batch(
    model: &ServingModel,
    entries: &[LogEntry],
    part: &[Slice],
) -> Result<RecordBatch> {
    let fail =
        |e: arrow::error::ArrowError| Error::Internal(format!("building the log batch: {e}"));
    let mut request_ids = Vec::new();
    let mut rows = Vec::new();
    let mut times = Vec::new();
    let mut transformed = StringBuilder::new();
    let mut predictions = Vec::new();
    let mut vector_text = Vec::new();
    for slice in part {
        let entry = &entries[slice.entry];
        let width = entry.transformed.len() / entry.predictions.len().max(1);
        for i in slice.rows.clone() {
            request_ids.push(entry.request_id.as_str());
            rows.push(i as i64);
            times.push(entry.at.timestamp_micros());
            // serde_json writes a non-finite float as null, as the answers do.
            vector_text.clear();
            serde_json::to_writer(
                &mut vector_text,
                &entry.transformed[i * width..(i + 1) * width],
            )
            .map_err(|e| Error::Internal(format!("writing a logged vector: {e}")))?;
            transformed.append_value(String::from_utf8_lossy(&vector_text));
        }
        predictions.extend_from_slice(&entry.predictions[slice.rows.clone()]);
    }
    let total = predictions.len();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut push = |field: Field, column: ArrayRef| {
        fields.push(field);
        columns.push(column);
    };
    push(
        Field::new(REQUEST_ID_COLUMN, arrow::datatypes::DataType::Utf8, false),
        Arc::new(StringArray::from(request_ids)),
    );
    push(
        Field::new(ROW_COLUMN, arrow::datatypes::DataType::Int64, false),
        Arc::new(Int64Array::from(rows)),
    );
    push(
        Field::new(LOGGED_AT_COLUMN, ColumnType::Timestamp.arrow_type(), false),
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
    );
    push(
        Field::new(
            MODEL_VERSION_COLUMN,
            arrow::datatypes::DataType::Int64,
            false,
        ),
        Arc::new(Int64Array::from_value(i64::from(model.version()), total)),
    );
    let key_names: Vec<String> = model
        .view
        .key_columns()
        .into_iter()
        .map(|c| c.name)
        .collect();
    let feature_names = model.artefact.preprocessor.features();
    let keys: Vec<RecordBatch> = part
        .iter()
        .map(|s| entries[s.entry].keys.slice(s.rows.start, s.rows.len()))
        .collect();
    let features: Vec<RecordBatch> = part
        .iter()
        .map(|s| entries[s.entry].features.slice(s.rows.start, s.rows.len()))
        .collect();
    for (names, batches) in [
        (&key_names, gather(&key_names, keys.iter())?),
        (&feature_names, gather(&feature_names, features.iter())?),
    ] {
        for (name, column) in names.iter().zip(batches) {
            push(Field::new(name, column.data_type().clone(), true), column);
        }
    }
    push(
        Field::new(TRANSFORMED_COLUMN, arrow::datatypes::DataType::Utf8, false),
        Arc::new(transformed.finish()),
    );
    push(
        Field::new(PREDICTION_COLUMN, arrow::datatypes::DataType::Float64, true),
        Arc::new(Float64Array::from(predictions)),
    );
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(fail)
}

/// The named columns of every batch, each concatenated over the batches.
/// Names are looked up once per distinct schema (answers of one model share
/// one), not once per batch: a commit gathers thousands of one-row batches.
fn gather<'a>(
    names: &[String],
    batches: impl Iterator<Item = &'a RecordBatch>,
) -> Result<Vec<ArrayRef>> {
    let mut parts: Vec<Vec<&dyn arrow::array::Array>> = vec![Vec::new(); names.len()];
    let mut seen: Option<(SchemaRef, Vec<usize>)> = None;
    for batch in batches {
        let schema = batch.schema_ref();
        let known =
            matches!(&seen, Some((known, _)) if Arc::ptr_eq(known, schema) || known == schema);
        if !known {
            let indices = names
                .iter()
                .map(|name| {
                    schema.index_of(name).map_err(|_| {
                        Error::Internal(format!("the logged rows lack column '{name}'"))
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            seen = Some((schema.clone(), indices));
        }
        let Some((_, indices)) = &seen else {
            unreachable!("set above")
        };
        for (part, &index) in parts.iter_mut().zip(indices) {
            part.push(batch.column(index).as_ref());
        }
    }
    parts
        .iter()
        .map(|part| {
            arrow::compute::concat(part)
                .map_err(|e| Error::Internal(format!("building the log batch: {e}")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prediction_log::{COMMIT_BYTES, COMMIT_ROWS};

    /// Checks that `commits` cover every row of `sizes` once, in order, within the bounds.
    fn check(sizes: &[(usize, usize)], commits: &[Vec<Slice>], max_rows: usize, max_bytes: usize) {
        let mut next = vec![0; sizes.len()];
        let mut last = (0, 0);
        for commit in commits {
            assert!(!commit.is_empty());
            let rows: usize = commit.iter().map(|s| s.rows.len()).sum();
            let bytes: usize = commit.iter().map(|s| s.rows.len() * sizes[s.entry].1).sum();
            assert!(rows <= max_rows, "{rows} rows in {commit:?}");
            assert!(
                bytes <= max_bytes || rows == 1,
                "{bytes} bytes in {commit:?}"
            );
            for slice in commit {
                assert!(!slice.rows.is_empty());
                assert!(
                    (slice.entry, slice.rows.start) >= last,
                    "out of order: {commits:?}"
                );
                assert_eq!(slice.rows.start, next[slice.entry], "{commits:?}");
                next[slice.entry] = slice.rows.end;
                last = (slice.entry, slice.rows.end);
            }
        }
        let expected: Vec<usize> = sizes.iter().map(|(rows, _)| *rows).collect();
        assert_eq!(next, expected, "every row once: {commits:?}");
    }

    #[test]
    fn commits_are_split_at_the_row_cap_and_so_are_entries() {
        let sizes = vec![(150, 10); 7];
        let commits = plan_commits(&sizes, 500, usize::MAX);
        check(&sizes, &commits, 500, usize::MAX);
        let rows: Vec<usize> = commits
            .iter()
            .map(|c| c.iter().map(|s| s.rows.len()).sum())
            .collect();
        assert_eq!(rows, [500, 500, 50]);
        assert_eq!(
            commits[0][3],
            Slice {
                entry: 3,
                rows: 0..50
            },
            "the fourth entry is split"
        );
        assert_eq!(
            commits[1][0],
            Slice {
                entry: 3,
                rows: 50..150
            }
        );
    }

    #[test]
    fn commits_are_split_at_the_byte_cap() {
        // One request of 100,000 rows of 10 kB: far over 2 GiB in one batch.
        let sizes = [(100_000, 10_000), (3, 10)];
        let commits = plan_commits(&sizes, COMMIT_ROWS, COMMIT_BYTES);
        check(&sizes, &commits, COMMIT_ROWS, COMMIT_BYTES);
        assert_eq!(commits.len(), 4, "26,843 rows of 10 kB fit in 256 MiB");
        // A row larger than the cap goes alone rather than nowhere.
        let sizes = [(3, 1_000), (2, 1)];
        let commits = plan_commits(&sizes, 100, 10);
        check(&sizes, &commits, 100, 10);
        assert_eq!(commits.len(), 4);
    }

    #[test]
    fn nothing_to_commit_is_no_commit() {
        assert!(plan_commits(&[], 10, 10).is_empty());
        let sizes = [(0, 5), (2, 5), (0, 5)];
        let commits = plan_commits(&sizes, 10, 100);
        check(&sizes, &commits, 10, 100);
        assert_eq!(commits.len(), 1);
    }
}
