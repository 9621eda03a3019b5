//! Window aggregations event by event: per key, the events still inside the
//! longest window (plus the allowed lateness) in (event time, arrival)
//! order. An event that arrives out of order is slotted into place and the
//! later events whose windows it enters are emitted again, so that after
//! every push the newest row per (key, event time) equals the batch result.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, TimestampMicrosecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::row::{RowConverter, SortField};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use crate::evaluator::CompiledAggregation;
use crate::event_columns::{column, EventColumns};
use crate::{Error, Result};

/// Allowed lateness when the definition gives none.
pub const DEFAULT_ALLOWED_LATENESS_MICROS: i64 = 60 * 1_000_000;

/// Events pushed between sweeps that forget idle keys' expired events.
const SWEEP_EVERY: u64 = 100_000;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct KeyState {
    events: EventColumns,
    /// The time of the newest event already forgotten: the "previous event"
    /// of the oldest one kept.
    previous: Option<i64>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    keys: HashMap<Vec<u8>, KeyState, FixedState>,
    max_time: Option<i64>,
    late: u64,
    since_sweep: u64,
}

/// What one push produced.
#[derive(Debug)]
pub struct StreamOutput {
    /// Output rows in emission order; a (key, event time) can appear more
    /// than once, and the last one is current.
    pub rows: RecordBatch,
    /// Input rows older than the newest event time minus the allowed
    /// lateness: not applied.
    pub late_rows: Vec<usize>,
}

/// Incremental window aggregation with bounded per-key state.
pub struct StreamAggregator {
    plan: CompiledAggregation,
    lateness: i64,
    converter: Option<RowConverter>,
    state: State,
}

impl StreamAggregator {
    /// An aggregator with no events yet; the allowed lateness is the plan's,
    /// else one minute.
    pub fn new(plan: CompiledAggregation) -> Self {
        let lateness = plan
            .allowed_lateness
            .unwrap_or(DEFAULT_ALLOWED_LATENESS_MICROS);
        Self {
            plan,
            lateness,
            converter: None,
            state: State::default(),
        }
    }

    /// Restores the state a `checkpoint` saved.
    pub fn restore(plan: CompiledAggregation, bytes: &[u8]) -> Result<Self> {
        let state: State =
            postcard::from_bytes(bytes).map_err(|e| Error::Checkpoint(e.to_string()))?;
        let mut aggregator = Self::new(plan);
        aggregator.state = state;
        Ok(aggregator)
    }

    /// The whole state, to be written with the offline commit it matches.
    pub fn checkpoint(&self) -> Result<Vec<u8>> {
        postcard::to_stdvec(&self.state).map_err(|e| Error::Checkpoint(e.to_string()))
    }

    /// Keys held in the state.
    pub fn keys(&self) -> usize {
        self.state.keys.len()
    }

    /// Events held across all keys; expired ones are forgotten when their key
    /// next sees an event, and by a sweep every 100,000 events.
    pub fn buffered_events(&self) -> usize {
        self.state.keys.values().map(|k| k.events.len()).sum()
    }

    /// Events refused as late since the state began (checkpoints carry the count).
    pub fn late_events(&self) -> u64 {
        self.state.late
    }

    /// Output schema for an input of `input` schema.
    pub fn output_schema(&self, input: &arrow::datatypes::Schema) -> Result<SchemaRef> {
        self.plan.output_schema(input)
    }

    /// Applies `batch`'s events in row order.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<StreamOutput> {
        let schema = self.plan.output_schema(&batch.schema())?;
        let (keys, columns) = self.plan.read_input(batch)?;
        if self.converter.is_none() {
            let fields = keys
                .iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect();
            self.converter = Some(RowConverter::new(fields)?);
        }
        let rows = self
            .converter
            .as_ref()
            .expect("set above")
            .convert_columns(&keys)?;

        let longest = self.plan.longest_window();
        let width = self.plan.aggregates().len();
        let mut scratch = self.plan.new_scratch();
        let mut row = vec![None; width];
        let mut emitted_rows: Vec<u32> = Vec::new();
        let mut emitted_times: Vec<i64> = Vec::new();
        let mut values: Vec<Vec<Option<f64>>> = vec![Vec::new(); width];
        let mut late_rows = Vec::new();
        let empty = || {
            EventColumns::with_slots(
                self.plan.numeric_columns.len(),
                self.plan.distinct_columns.len(),
            )
        };
        for (index, &time) in columns.times.iter().enumerate() {
            let state = &mut self.state;
            if state.max_time.is_some_and(|max| time < max - self.lateness) {
                state.late += 1;
                late_rows.push(index);
                continue;
            }
            let max_time = state.max_time.map_or(time, |m| m.max(time));
            state.max_time = Some(max_time);
            let key = state
                .keys
                .entry(rows.row(index).as_ref().to_vec())
                .or_insert_with(|| KeyState {
                    events: empty(),
                    previous: None,
                });
            let at = key.events.times.partition_point(|t| *t <= time);
            key.events.insert(at, time, &columns, index);
            for q in at..key.events.len() {
                let q_time = key.events.times[q];
                // Past the inserted event's reach, but never in the middle of
                // a tie: the last of tied events is the row that is kept.
                let tie = q > at && q_time == key.events.times[q - 1];
                if q > at + 1 && q_time - longest >= time && !tie {
                    break;
                }
                self.plan
                    .evaluate(&key.events, 0, q, key.previous, &mut scratch, &mut row);
                emitted_rows.push(index as u32);
                emitted_times.push(q_time);
                for (column, value) in values.iter_mut().zip(&row) {
                    column.push(*value);
                }
            }
            forget_expired(key, max_time - self.lateness - longest);
        }
        self.state.since_sweep += columns.times.len() as u64;
        if self.state.since_sweep >= SWEEP_EVERY {
            self.sweep();
        }

        let order = UInt32Array::from(emitted_rows);
        let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
        for key in &keys {
            out.push(take(key.as_ref(), &order, None)?);
        }
        let time_type = column(batch, &self.plan.event_time)?.data_type().clone();
        out.push(timestamps(emitted_times, time_type));
        out.extend(self.plan.build_columns(values));
        Ok(StreamOutput {
            rows: RecordBatch::try_new(schema, out)?,
            late_rows,
        })
    }

    /// Forgets expired events of every key, and keys with nothing left to remember.
    fn sweep(&mut self) {
        self.state.since_sweep = 0;
        let Some(max_time) = self.state.max_time else {
            return;
        };
        let horizon = max_time - self.lateness - self.plan.longest_window();
        let keeps_previous = self.plan.needs_previous();
        self.state.keys.retain(|_, key| {
            forget_expired(key, horizon);
            keeps_previous || key.events.len() > 0
        });
    }
}

/// Drops events at or before `horizon`: no event that is not late can have
/// them in a window.
fn forget_expired(key: &mut KeyState, horizon: i64) {
    let expired = key.events.times.partition_point(|t| *t <= horizon);
    if expired > 0 {
        key.previous = Some(key.events.times[expired - 1]);
        key.events.drop_front(expired);
    }
}

fn timestamps(values: Vec<i64>, data_type: DataType) -> ArrayRef {
    let array = TimestampMicrosecondArray::from(values);
    match data_type {
        DataType::Timestamp(_, zone) => Arc::new(array.with_timezone_opt(zone)),
        _ => Arc::new(array),
    }
}
