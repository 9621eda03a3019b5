//! One evaluation of every aggregate for one event, shared by batch and
//! streaming: the same function over the same values in the same order,
//! so both give bit-identical floats.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{Field, Schema, SchemaRef};
use foldhash::fast::FixedState;
use sluice_types::aggregation::{Aggregate, AggregateFunction, WindowAggregationSpec};
use sluice_types::ColumnSpec;

use crate::event_columns::{column, first_null, EventColumns, InputColumns};
use crate::{Error, Result};

const MICROS_PER_SECOND: f64 = 1_000_000.0;

#[derive(Debug, Clone, Copy)]
enum Output {
    Count,
    NonNull(usize),
    Sum(usize),
    Mean(usize),
    Min(usize),
    Max(usize),
    Stddev(usize),
    Last(usize),
    Distinct(usize),
    TimeSinceLast,
}

/// A window aggregation ready to run: inputs mapped to slots, windows sorted.
#[derive(Debug, Clone)]
pub struct CompiledAggregation {
    pub(crate) keys: Vec<String>,
    pub(crate) event_time: String,
    pub(crate) allowed_lateness: Option<i64>,
    pub(crate) numeric_columns: Vec<String>,
    pub(crate) distinct_columns: Vec<String>,
    aggregates: Vec<Aggregate>,
    outputs: Vec<Output>,
    /// Distinct window lengths, shortest first.
    windows: Vec<i64>,
    /// For each window, the outputs that read it.
    by_window: Vec<Vec<usize>>,
    unwindowed: Vec<usize>,
}

impl CompiledAggregation {
    /// Expands and checks `spec` and plans its evaluation.
    pub fn new(spec: &WindowAggregationSpec) -> Result<Self> {
        let aggregates = spec.aggregates().map_err(Error::InvalidSpec)?;
        let mut numeric_columns: Vec<String> = Vec::new();
        let mut distinct_columns: Vec<String> = Vec::new();
        let slot =
            |columns: &mut Vec<String>, name: &str| match columns.iter().position(|c| c == name) {
                Some(i) => i,
                None => {
                    columns.push(name.to_string());
                    columns.len() - 1
                }
            };
        let mut windows: Vec<i64> = aggregates.iter().filter_map(|a| a.window_micros).collect();
        windows.sort_unstable();
        windows.dedup();
        let mut by_window = vec![Vec::new(); windows.len()];
        let mut unwindowed = Vec::new();
        let mut outputs = Vec::with_capacity(aggregates.len());
        for (index, aggregate) in aggregates.iter().enumerate() {
            let column = aggregate.column.as_deref();
            let output = match (aggregate.function, column) {
                (AggregateFunction::Count, None) => Output::Count,
                (AggregateFunction::TimeSinceLast, _) => Output::TimeSinceLast,
                (AggregateFunction::CountDistinct, Some(c)) => {
                    Output::Distinct(slot(&mut distinct_columns, c))
                }
                (function, Some(c)) => {
                    let s = slot(&mut numeric_columns, c);
                    match function {
                        AggregateFunction::Count => Output::NonNull(s),
                        AggregateFunction::Sum => Output::Sum(s),
                        AggregateFunction::Mean => Output::Mean(s),
                        AggregateFunction::Min => Output::Min(s),
                        AggregateFunction::Max => Output::Max(s),
                        AggregateFunction::Stddev => Output::Stddev(s),
                        _ => Output::Last(s),
                    }
                }
                (function, None) => {
                    return Err(Error::InvalidSpec(format!("{function} needs a column")))
                }
            };
            outputs.push(output);
            match aggregate.window_micros {
                Some(w) => by_window[windows.binary_search(&w).expect("collected")].push(index),
                None => unwindowed.push(index),
            }
        }
        Ok(Self {
            keys: spec.keys.clone(),
            event_time: spec.event_time.clone(),
            allowed_lateness: spec.allowed_lateness.as_ref().map(|l| l.as_micros()),
            numeric_columns,
            distinct_columns,
            aggregates,
            outputs,
            windows,
            by_window,
            unwindowed,
        })
    }

    /// The expanded aggregates, in output-column order.
    pub fn aggregates(&self) -> &[Aggregate] {
        &self.aggregates
    }

    /// The longest window: events older than this behind every future event can be forgotten.
    pub(crate) fn longest_window(&self) -> i64 {
        self.windows.last().copied().unwrap_or(0)
    }

    /// Whether any output reads the time of the key's previous event.
    pub(crate) fn needs_previous(&self) -> bool {
        !self.unwindowed.is_empty()
    }

    /// The schema of the aggregate columns (after the keys and event time).
    pub(crate) fn output_fields(&self) -> Vec<Field> {
        self.aggregates
            .iter()
            .map(|a| {
                let nullable = !matches!(
                    a.function,
                    AggregateFunction::Count | AggregateFunction::CountDistinct
                );
                Field::new(&a.name, a.function.output_type().arrow_type(), nullable)
            })
            .collect()
    }

    /// The full output schema given the input's key and time fields.
    pub(crate) fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let mut fields = Vec::with_capacity(self.keys.len() + 1 + self.aggregates.len());
        for name in self.keys.iter().chain(std::iter::once(&self.event_time)) {
            let field = input
                .field_with_name(name)
                .map_err(|_| Error::MissingColumn {
                    column: name.clone(),
                })?;
            fields.push(field.clone().with_nullable(false));
        }
        fields.extend(self.output_fields());
        Ok(Arc::new(Schema::new(fields)))
    }

    /// The columns this aggregation produces, for checks against a sink.
    pub fn output_columns(
        spec: &WindowAggregationSpec,
        input: &[ColumnSpec],
    ) -> Result<Vec<ColumnSpec>> {
        spec.output_columns(input).map_err(Error::InvalidSpec)
    }

    /// The key columns (never null) and the values aggregations read, from one input batch.
    pub(crate) fn read_input(&self, batch: &RecordBatch) -> Result<(Vec<ArrayRef>, InputColumns)> {
        let keys = self
            .keys
            .iter()
            .map(|name| {
                let array = column(batch, name)?;
                if let Some(row) = first_null(array.as_ref()) {
                    return Err(Error::NullValue {
                        row: row + 1,
                        column: name.clone(),
                        role: "an aggregation key",
                    });
                }
                Ok(array.clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let columns = InputColumns::read(
            batch,
            &self.event_time,
            &self.numeric_columns,
            &self.distinct_columns,
        )?;
        Ok((keys, columns))
    }

    pub(crate) fn new_scratch(&self) -> Scratch {
        Scratch {
            accumulators: vec![Accumulator::default(); self.numeric_columns.len()],
            sets: (0..self.distinct_columns.len())
                .map(|_| HashSet::with_hasher(FixedState::default()))
                .collect(),
        }
    }

    /// Computes every aggregate for event `at` of one key's events
    /// `events[start..]`, where `previous` is the time of the key's event
    /// just before `start`, if any. Writes one value per aggregate to `row`
    /// (counts as exact integers in f64).
    pub(crate) fn evaluate(
        &self,
        events: &EventColumns,
        start: usize,
        at: usize,
        previous: Option<i64>,
        scratch: &mut Scratch,
        row: &mut [Option<f64>],
    ) {
        let now = events.times[at];
        for acc in &mut scratch.accumulators {
            *acc = Accumulator::default();
        }
        for set in &mut scratch.sets {
            set.clear();
        }
        let mut count = 0u64;
        // Walk back from the event, newest first; windows are nested, so each
        // shorter window's value is read off the walk before it goes further.
        let mut next = at + 1;
        for (window, outputs) in self.windows.iter().zip(&self.by_window) {
            let after = now - window;
            while next > start && events.times[next - 1] > after {
                next -= 1;
                count += 1;
                for (slot, acc) in scratch.accumulators.iter_mut().enumerate() {
                    if events.numeric_valid[slot][next] {
                        acc.add(events.numeric[slot][next]);
                    }
                }
                for (slot, set) in scratch.sets.iter_mut().enumerate() {
                    if let Some(hash) = events.distinct[slot][next] {
                        set.insert(hash);
                    }
                }
            }
            for &index in outputs {
                row[index] = self.value(self.outputs[index], count, scratch);
            }
        }
        for &index in &self.unwindowed {
            let before = if at > start {
                Some(events.times[at - 1])
            } else {
                previous
            };
            row[index] = before.map(|b| (now - b) as f64 / MICROS_PER_SECOND);
        }
    }

    fn value(&self, output: Output, count: u64, scratch: &Scratch) -> Option<f64> {
        let acc = |slot: usize| &scratch.accumulators[slot];
        match output {
            Output::Count => Some(count as f64),
            Output::NonNull(s) => Some(acc(s).n as f64),
            Output::Distinct(s) => Some(scratch.sets[s].len() as f64),
            Output::Sum(s) => (acc(s).n > 0).then_some(acc(s).sum),
            Output::Mean(s) => (acc(s).n > 0).then(|| acc(s).sum / acc(s).n as f64),
            Output::Min(s) => (acc(s).n > 0).then_some(acc(s).min),
            Output::Max(s) => (acc(s).n > 0).then_some(acc(s).max),
            Output::Stddev(s) => {
                (acc(s).n > 1).then(|| (acc(s).m2 / (acc(s).n - 1) as f64).max(0.0).sqrt())
            }
            Output::Last(s) => acc(s).newest,
            Output::TimeSinceLast => None,
        }
    }

    /// Turns per-aggregate values into Arrow columns of the declared types.
    pub(crate) fn build_columns(&self, values: Vec<Vec<Option<f64>>>) -> Vec<ArrayRef> {
        self.aggregates
            .iter()
            .zip(values)
            .map(|(aggregate, values)| -> ArrayRef {
                match aggregate.function {
                    AggregateFunction::Count | AggregateFunction::CountDistinct => {
                        Arc::new(Int64Array::from_iter_values(
                            values.iter().map(|v| v.unwrap_or(0.0) as i64),
                        ))
                    }
                    _ => Arc::new(Float64Array::from(values)),
                }
            })
            .collect()
    }
}

/// Reusable per-thread buffers for `evaluate`.
pub(crate) struct Scratch {
    accumulators: Vec<Accumulator>,
    sets: Vec<HashSet<u64, FixedState>>,
}

/// Running statistics of one column over the walk (Welford for the variance).
#[derive(Debug, Clone, Copy)]
struct Accumulator {
    n: u64,
    sum: f64,
    mean: f64,
    m2: f64,
    min: f64,
    max: f64,
    newest: Option<f64>,
}

impl Default for Accumulator {
    fn default() -> Self {
        Self {
            n: 0,
            sum: 0.0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            newest: None,
        }
    }
}

impl Accumulator {
    fn add(&mut self, value: f64) {
        self.n += 1;
        self.sum += value;
        let delta = value - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if self.newest.is_none() {
            self.newest = Some(value);
        }
    }
}
