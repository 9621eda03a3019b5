//! The join under a memory budget: feature tables too large to hold are
//! written to disk in buckets by key hash as they are read, and joined a few
//! buckets at a time. A key's rows all land in one bucket, and so do the
//! spine rows that probe it, so each bucket joins on its own; the answers are
//! put back in spine order at the end. Peak memory is then about the largest
//! group of buckets plus the spine and the output, not the feature tables.

use std::fs::File;
use std::hash::BuildHasher;
use std::io::{BufReader, BufWriter};
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{interleave, take_record_batch};
use arrow::datatypes::{DataType, Int64Type, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use foldhash::quality::FixedState;

use crate::index::key_rows;
use crate::join::point_in_time_join;
use crate::{Error, FeatureInput, JoinOptions, Result};

/// Buckets per table: enough that a group of them fits budgets well below
/// the table's size, few enough that every bucket file stays open cheaply.
pub const BUCKETS: usize = 64;

/// The same seed on both sides, so a key's spine rows and table rows meet.
const BUCKET_HASH: FixedState = FixedState::with_seed(0x5eed_5107);

/// The bucket of each row, from its key columns (rows with a null key get
/// bucket 0: they match nothing, wherever they go).
pub fn buckets_of(keys: &[ArrayRef]) -> Result<Vec<u16>> {
    let bucket = |hash: u64| ((hash >> 32) % BUCKETS as u64) as u16;
    if let [only] = keys {
        if only.data_type() == &DataType::Int64 {
            let values = only.as_primitive::<Int64Type>();
            return Ok(values
                .iter()
                .map(|v| v.map_or(0, |v| bucket(BUCKET_HASH.hash_one(v))))
                .collect());
        }
    }
    let (_, rows) = key_rows(keys)?;
    Ok((0..rows.num_rows())
        .map(|i| bucket(BUCKET_HASH.hash_one(rows.row(i).as_ref())))
        .collect())
}

/// Row numbers per bucket, in row order.
fn rows_per_bucket(buckets: &[u16]) -> Vec<Vec<u32>> {
    let mut rows = vec![Vec::new(); BUCKETS];
    for (row, bucket) in buckets.iter().enumerate() {
        rows[*bucket as usize].push(row as u32);
    }
    rows
}

/// One feature table on disk, one Arrow IPC stream per bucket.
pub struct SpilledTable {
    name: String,
    keys: Vec<String>,
    schema: SchemaRef,
    dir: tempfile::TempDir,
    writers: Vec<Option<StreamWriter<BufWriter<File>>>>,
    /// In-memory size of each bucket's rows, to plan the groups.
    bytes: Vec<usize>,
}

impl SpilledTable {
    /// A table named `name` (for errors) whose rows have `schema`, bucketed on
    /// `keys`; its files go in a fresh directory under `under`, removed on drop.
    pub fn create(
        name: &str,
        keys: &[String],
        schema: SchemaRef,
        under: &std::path::Path,
    ) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("join-spill-")
            .tempdir_in(under)
            .map_err(|source| Error::Spill {
                path: under.to_path_buf(),
                source,
            })?;
        Ok(Self {
            name: name.to_string(),
            keys: keys.to_vec(),
            schema,
            dir,
            writers: (0..BUCKETS).map(|_| None).collect(),
            bytes: vec![0; BUCKETS],
        })
    }

    fn bucket_path(&self, bucket: usize) -> PathBuf {
        self.dir.path().join(format!("bucket-{bucket:02}.arrows"))
    }

    /// Writes `batch`'s rows to their buckets.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let keys: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|k| {
                batch
                    .column_by_name(k)
                    .cloned()
                    .ok_or_else(|| Error::MissingColumn {
                        side: self.name.clone(),
                        column: k.clone(),
                    })
            })
            .collect::<Result<_>>()?;
        let batch = batch.clone().with_schema(self.schema.clone())?;
        for (bucket, rows) in rows_per_bucket(&buckets_of(&keys)?).into_iter().enumerate() {
            if rows.is_empty() {
                continue;
            }
            let part = take_record_batch(&batch, &UInt32Array::from(rows))?;
            self.bytes[bucket] += part.get_array_memory_size();
            let path = self.bucket_path(bucket);
            let spill_error = |source| Error::Spill {
                path: path.clone(),
                source,
            };
            if self.writers[bucket].is_none() {
                let file = File::create(&path).map_err(spill_error)?;
                self.writers[bucket] =
                    Some(StreamWriter::try_new(BufWriter::new(file), &self.schema)?);
            }
            self.writers[bucket]
                .as_mut()
                .expect("opened above")
                .write(&part)?;
        }
        Ok(())
    }

    /// Finishes every bucket file.
    fn finish(&mut self) -> Result<()> {
        for writer in self.writers.iter_mut().flatten() {
            writer.finish()?;
        }
        Ok(())
    }

    /// The rows of the given buckets (at least one batch, possibly empty).
    fn read(&self, buckets: &[usize]) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        for &bucket in buckets {
            if self.writers[bucket].is_none() {
                continue;
            }
            let path = self.bucket_path(bucket);
            let file = File::open(&path).map_err(|source| Error::Spill {
                path: path.clone(),
                source,
            })?;
            for batch in StreamReader::try_new(BufReader::new(file), None)? {
                batches.push(batch?);
            }
        }
        if batches.is_empty() {
            batches.push(RecordBatch::new_empty(self.schema.clone()));
        }
        Ok(batches)
    }

    /// Consecutive buckets grouped so that each group's rows fit `budget`
    /// (a bucket larger than the budget is a group of its own).
    fn groups(&self, budget: usize) -> Vec<Vec<usize>> {
        let mut groups: Vec<Vec<usize>> = Vec::new();
        let mut size = 0;
        for bucket in 0..BUCKETS {
            match groups.last_mut() {
                Some(group) if size + self.bytes[bucket] <= budget => group.push(bucket),
                _ => {
                    groups.push(vec![bucket]);
                    size = 0;
                }
            }
            size += self.bytes[bucket];
        }
        groups
    }
}

/// As [`point_in_time_join`], where the rows of input `i` are in `spilled[i]`
/// (its `batches` are not read) rather than in memory; each input is joined
/// one group of buckets at a time, each group at most `budget` bytes of
/// feature rows (more only when a single bucket is larger).
pub fn point_in_time_join_spilled(
    spine: &RecordBatch,
    spine_time: &str,
    inputs: &[FeatureInput],
    spilled: &mut [SpilledTable],
    budget: usize,
    options: &JoinOptions,
) -> Result<RecordBatch> {
    assert_eq!(inputs.len(), spilled.len(), "one spilled table per input");
    let mut fields: Vec<Arc<arrow::datatypes::Field>> =
        spine.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = spine.columns().to_vec();
    for (input, table) in inputs.iter().zip(spilled.iter_mut()) {
        table.finish()?;
        let (input_fields, input_columns) =
            join_one_spilled(spine, spine_time, input, table, budget, options)?;
        fields.extend(input_fields);
        columns.extend(input_columns);
    }
    let mut seen = std::collections::HashSet::new();
    for field in &fields {
        if !seen.insert(field.name().clone()) {
            return Err(Error::DuplicateOutput {
                column: field.name().clone(),
            });
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// One input's feature columns for every spine row, in spine order.
fn join_one_spilled(
    spine: &RecordBatch,
    spine_time: &str,
    input: &FeatureInput,
    table: &SpilledTable,
    budget: usize,
    options: &JoinOptions,
) -> Result<(Vec<Arc<arrow::datatypes::Field>>, Vec<ArrayRef>)> {
    // The spine reduced to what this input's probe reads: its keys and time.
    let mut probe_columns: Vec<String> = input.spine_keys.clone();
    if !probe_columns.iter().any(|c| c == spine_time) {
        probe_columns.push(spine_time.to_string());
    }
    let indices = probe_columns
        .iter()
        .map(|c| {
            spine
                .schema()
                .index_of(c)
                .map_err(|_| Error::MissingColumn {
                    side: "spine".into(),
                    column: c.clone(),
                })
        })
        .collect::<Result<Vec<_>>>()?;
    let probe = spine.project(&indices)?;
    let key_columns: Vec<ArrayRef> = input
        .spine_keys
        .iter()
        .map(|k| probe.column_by_name(k).cloned().expect("projected above"))
        .collect();
    let spine_rows = rows_per_bucket(&buckets_of(&key_columns)?);

    let mut parts: Vec<RecordBatch> = Vec::new();
    // For each spine row: (part, row within the part).
    let mut place: Vec<(usize, usize)> = vec![(0, 0); spine.num_rows()];
    for group in table.groups(budget) {
        let rows: Vec<u32> = {
            let mut rows: Vec<u32> = group
                .iter()
                .flat_map(|b| spine_rows[*b].iter().copied())
                .collect();
            rows.sort_unstable();
            rows
        };
        if rows.is_empty() {
            continue;
        }
        let batches = table.read(&group)?;
        let spine_part = take_record_batch(&probe, &UInt32Array::from(rows.clone()))?;
        let part_input = FeatureInput {
            batches: &batches,
            ..input.clone()
        };
        let joined = point_in_time_join(&spine_part, spine_time, &[part_input], options)?;
        let features =
            joined.project(&(probe.num_columns()..joined.num_columns()).collect::<Vec<_>>())?;
        for (at, row) in rows.iter().enumerate() {
            place[*row as usize] = (parts.len(), at);
        }
        parts.push(features);
    }
    if parts.is_empty() {
        // No spine rows: the empty join still gives the feature columns' types.
        let empty = [RecordBatch::new_empty(table.schema.clone())];
        let part_input = FeatureInput {
            batches: &empty,
            ..input.clone()
        };
        let joined = point_in_time_join(&probe.slice(0, 0), spine_time, &[part_input], options)?;
        parts.push(
            joined.project(&(probe.num_columns()..joined.num_columns()).collect::<Vec<_>>())?,
        );
    }
    let schema = parts[0].schema();
    let mut columns = Vec::with_capacity(schema.fields().len());
    for column in 0..schema.fields().len() {
        let arrays: Vec<&dyn Array> = parts.iter().map(|p| p.column(column).as_ref()).collect();
        columns.push(interleave(&arrays, &place)?);
    }
    Ok((schema.fields().iter().cloned().collect(), columns))
}
