//! The join itself: validate, index each feature table, probe with the spine
//! in parallel, gather the selected feature columns.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::{cast, concat, interleave};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit};

use crate::index::{KeyIds, SortedGroups};
use crate::{Error, Result};

/// One feature table to join onto the spine.
#[derive(Debug, Clone)]
pub struct FeatureInput<'a> {
    /// Names the table in error messages (e.g. `card_activity:1`).
    pub name: &'a str,
    /// The table's rows, in chunks sharing one schema (at least one chunk, possibly empty).
    /// Chunks are gathered from in place; only key and time columns are copied.
    pub batches: &'a [RecordBatch],
    /// The spine's key columns for this table.
    pub spine_keys: Vec<String>,
    /// The table's key columns, matched position by position with `spine_keys`.
    pub keys: Vec<String>,
    /// The table's event-time column, an Arrow timestamp; rows with a null time never qualify.
    pub event_time: String,
    /// A column that orders writes (larger = later); without it, later rows are later writes.
    pub write_order: Option<String>,
    /// The columns to bring onto the spine, in output order.
    pub features: Vec<String>,
    /// Rows older than the spine time minus this many microseconds do not qualify.
    pub ttl_micros: Option<i64>,
}

/// How a join runs.
#[derive(Debug, Clone)]
pub struct JoinOptions {
    /// Threads to index and probe with; by default one per available core.
    pub threads: usize,
}

impl Default for JoinOptions {
    fn default() -> Self {
        Self {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// Joins every input onto `spine` (on each input's `spine_keys`) as of `spine_time`; returns the spine's
/// columns followed by each input's features, one row per spine row, in order.
pub fn point_in_time_join(
    spine: &RecordBatch,
    spine_time: &str,
    inputs: &[FeatureInput],
    options: &JoinOptions,
) -> Result<RecordBatch> {
    let times = micros(column(spine, "spine", spine_time)?, "spine", spine_time)?;
    let spine_times: Vec<Option<i64>> = (0..times.len())
        .map(|i| times.is_valid(i).then(|| times.value(i)))
        .collect();

    let mut fields: Vec<Arc<Field>> = spine.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = spine.columns().to_vec();
    let mut seen: HashSet<String> = fields.iter().map(|f| f.name().clone()).collect();
    for input in inputs {
        let first = input.batches.first().ok_or_else(|| Error::NoChunks {
            side: input.name.to_string(),
        })?;
        let spine_keys: Vec<&str> = input.spine_keys.iter().map(String::as_str).collect();
        let spine_key_columns: Vec<ArrayRef> = spine_keys
            .iter()
            .map(|k| column(spine, "spine", k).cloned())
            .collect::<Result<_>>()?;
        let found = probe(
            input,
            &spine_keys,
            &spine_key_columns,
            &spine_times,
            options,
        )?;
        let positions = gather_positions(input.batches, &found);
        for feature in &input.features {
            if !seen.insert(feature.clone()) {
                return Err(Error::DuplicateOutput {
                    column: feature.clone(),
                });
            }
            let field = first
                .schema()
                .field_with_name(feature)
                .map_err(|_| Error::MissingColumn {
                    side: input.name.to_string(),
                    column: feature.clone(),
                })?
                .clone()
                .with_nullable(true);
            let mut chunks = chunks_of(input, feature)?;
            chunks.push(new_null_array(field.data_type(), 1));
            let refs: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
            columns.push(interleave(&refs, &positions)?);
            fields.push(Arc::new(field));
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// For each found row (a row number across all chunks), its (chunk, offset);
/// rows with nothing found point at the extra all-null chunk after the last.
fn gather_positions(batches: &[RecordBatch], found: &[Option<u32>]) -> Vec<(usize, usize)> {
    let mut starts = Vec::with_capacity(batches.len() + 1);
    let mut total = 0usize;
    for batch in batches {
        starts.push(total);
        total += batch.num_rows();
    }
    found
        .iter()
        .map(|row| match row {
            Some(row) => {
                let row = *row as usize;
                let chunk = starts.partition_point(|s| *s <= row) - 1;
                (chunk, row - starts[chunk])
            }
            None => (batches.len(), 0),
        })
        .collect()
}

/// One column of every chunk of an input.
fn chunks_of(input: &FeatureInput, name: &str) -> Result<Vec<ArrayRef>> {
    input
        .batches
        .iter()
        .map(|b| column(b, input.name, name).cloned())
        .collect()
}

/// One column of an input as a single array (for keys and times, which the index needs contiguous).
fn contiguous(input: &FeatureInput, name: &str) -> Result<ArrayRef> {
    let chunks = chunks_of(input, name)?;
    if let [only] = chunks.as_slice() {
        return Ok(only.clone());
    }
    let refs: Vec<&dyn Array> = chunks.iter().map(|c| c.as_ref()).collect();
    Ok(concat(&refs)?)
}

/// For each spine row, the row number (across chunks) of the qualifying row of `input`, if any.
fn probe(
    input: &FeatureInput,
    spine_keys: &[&str],
    spine_key_columns: &[ArrayRef],
    spine_times: &[Option<i64>],
    options: &JoinOptions,
) -> Result<Vec<Option<u32>>> {
    if input.keys.len() != spine_keys.len() {
        return Err(Error::KeyCountMismatch {
            side: input.name.to_string(),
            spine: spine_keys.len(),
            feature: input.keys.len(),
        });
    }
    let keys: Vec<ArrayRef> = input
        .keys
        .iter()
        .map(|k| contiguous(input, k))
        .collect::<Result<_>>()?;
    for ((spine_name, spine_column), (name, feature_column)) in spine_keys
        .iter()
        .zip(spine_key_columns)
        .zip(input.keys.iter().zip(&keys))
    {
        if spine_column.data_type() != feature_column.data_type() {
            return Err(Error::KeyTypeMismatch {
                side: input.name.to_string(),
                spine: spine_name.to_string(),
                spine_type: spine_column.data_type().to_string(),
                feature: name.clone(),
                feature_type: feature_column.data_type().to_string(),
            });
        }
    }
    let event_times = micros(
        &contiguous(input, &input.event_time)?,
        input.name,
        &input.event_time,
    )?;
    let times: &[i64] = event_times.values();
    let write_order = match &input.write_order {
        Some(name) => {
            let raw = contiguous(input, name)?;
            if !raw.data_type().is_integer() {
                return Err(Error::BadWriteOrder {
                    side: input.name.to_string(),
                    column: name.clone(),
                    found: raw.data_type().to_string(),
                });
            }
            Some(cast(&raw, &DataType::Int64)?)
        }
        None => None,
    };
    let write_order = write_order
        .as_ref()
        .map(|w| w.as_primitive::<Int64Type>().values().as_ref());

    let (ids, row_ids) = KeyIds::build(&keys, options.threads)?;
    // A row without an event time can never be "at or before" anything.
    let row_ids: Vec<Option<u32>> = row_ids
        .into_iter()
        .enumerate()
        .map(|(row, id)| id.filter(|_| event_times.is_valid(row)))
        .collect();
    let groups = SortedGroups::build(&row_ids, ids.len(), times, write_order, options.threads);
    let spine_ids = ids.probe(spine_key_columns)?;

    let threads = options.threads.max(1);
    let chunk = spine_ids.len().div_ceil(threads).max(1);
    let mut found: Vec<Option<u32>> = vec![None; spine_ids.len()];
    std::thread::scope(|scope| {
        for ((out, ids), spine_times) in found
            .chunks_mut(chunk)
            .zip(spine_ids.chunks(chunk))
            .zip(spine_times.chunks(chunk))
        {
            let groups = &groups;
            scope.spawn(move || {
                for ((slot, id), at) in out.iter_mut().zip(ids).zip(spine_times) {
                    let (Some(id), Some(at)) = (id, at) else {
                        continue;
                    };
                    *slot = groups
                        .as_of(*id, *at)
                        .filter(|(_, time)| {
                            input
                                .ttl_micros
                                .is_none_or(|ttl| *time >= at.saturating_sub(ttl))
                        })
                        .map(|(row, _)| row);
                }
            });
        }
    });
    Ok(found)
}

fn column<'b>(batch: &'b RecordBatch, side: &str, name: &str) -> Result<&'b ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::MissingColumn {
            side: side.to_string(),
            column: name.to_string(),
        })
}

/// A timestamp column as UTC microseconds.
fn micros(array: &ArrayRef, side: &str, name: &str) -> Result<arrow::array::Int64Array> {
    if !matches!(array.data_type(), DataType::Timestamp(_, _)) {
        return Err(Error::NotATimestamp {
            side: side.to_string(),
            column: name.to_string(),
            found: array.data_type().to_string(),
        });
    }
    let in_micros = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
    Ok(cast(&in_micros, &DataType::Int64)?
        .as_primitive::<Int64Type>()
        .clone())
}
