//! The values aggregations read, one contiguous column per input, so batch
//! and streaming evaluate the very same layout.

use std::hash::BuildHasher;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, Int64Type, TimeUnit, TimestampMicrosecondType};
use foldhash::fast::FixedState;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A fixed seed so that hashes of distinct-counted values are the same in
/// every process: streaming state is checkpointed with them.
const DISTINCT_SEED: u64 = 0x5c1c_e000_0000_0001;

/// Events in (event time, arrival) order: times, numeric inputs as f64 with
/// validity, and hashes of the values counted distinct.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct EventColumns {
    pub times: Vec<i64>,
    pub numeric: Vec<Vec<f64>>,
    pub numeric_valid: Vec<Vec<bool>>,
    pub distinct: Vec<Vec<Option<u64>>>,
}

impl EventColumns {
    pub fn with_slots(numeric: usize, distinct: usize) -> Self {
        Self {
            times: Vec::new(),
            numeric: vec![Vec::new(); numeric],
            numeric_valid: vec![Vec::new(); numeric],
            distinct: vec![Vec::new(); distinct],
        }
    }

    pub fn len(&self) -> usize {
        self.times.len()
    }

    /// Inserts row `row` of `input` at position `at`.
    pub fn insert(&mut self, at: usize, time: i64, input: &InputColumns, row: usize) {
        self.times.insert(at, time);
        for (slot, values) in input.numeric.iter().enumerate() {
            self.numeric[slot].insert(at, values.value(row));
            self.numeric_valid[slot].insert(at, values.is_valid(row));
        }
        for (slot, hashes) in input.distinct.iter().enumerate() {
            self.distinct[slot].insert(at, hashes[row]);
        }
    }

    /// Drops the first `count` events.
    pub fn drop_front(&mut self, count: usize) {
        self.times.drain(..count);
        for values in &mut self.numeric {
            values.drain(..count);
        }
        for valid in &mut self.numeric_valid {
            valid.drain(..count);
        }
        for hashes in &mut self.distinct {
            hashes.drain(..count);
        }
    }
}

/// The columns of one input batch that aggregations read, converted once.
pub(crate) struct InputColumns {
    pub times: Vec<i64>,
    pub numeric: Vec<arrow::array::Float64Array>,
    pub distinct: Vec<Vec<Option<u64>>>,
}

impl InputColumns {
    pub fn read(
        batch: &RecordBatch,
        event_time: &str,
        numeric: &[String],
        distinct: &[String],
    ) -> Result<Self> {
        let time_column = column(batch, event_time)?;
        if !matches!(
            time_column.data_type(),
            DataType::Timestamp(TimeUnit::Microsecond, _)
        ) {
            return Err(Error::WrongType {
                column: event_time.to_string(),
                found: time_column.data_type().to_string(),
                expected: "timestamp (microseconds)".into(),
            });
        }
        if let Some(row) = first_null(time_column) {
            return Err(Error::NullValue {
                row: row + 1,
                column: event_time.to_string(),
                role: "the event time",
            });
        }
        let times = time_column
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec();
        let numeric = numeric
            .iter()
            .map(|name| {
                let array = column(batch, name)?;
                let as_f64 = cast(array, &DataType::Float64).map_err(|_| Error::WrongType {
                    column: name.clone(),
                    found: array.data_type().to_string(),
                    expected: "a number".into(),
                })?;
                Ok(as_f64.as_primitive::<Float64Type>().clone())
            })
            .collect::<Result<Vec<_>>>()?;
        let distinct = distinct
            .iter()
            .map(|name| column(batch, name).map(distinct_hashes))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self {
            times,
            numeric,
            distinct,
        })
    }
}

pub(crate) fn column<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::MissingColumn {
            column: name.to_string(),
        })
}

pub(crate) fn first_null(array: &dyn Array) -> Option<usize> {
    (array.null_count() > 0)
        .then(|| (0..array.len()).find(|i| array.is_null(*i)))
        .flatten()
}

/// Integers and timestamps count by value; everything else by a 64-bit hash
/// of its canonical text, where a collision (odds about 2^-64 per pair) would
/// undercount by one.
fn distinct_hashes(array: &ArrayRef) -> Vec<Option<u64>> {
    let by_value = match array.data_type() {
        DataType::Int64 => Some(array.as_primitive::<Int64Type>().clone()),
        DataType::Int32 | DataType::Timestamp(_, _) | DataType::Date32 => {
            cast(array, &DataType::Int64)
                .ok()
                .map(|a| a.as_primitive::<Int64Type>().clone())
        }
        _ => None,
    };
    if let Some(values) = by_value {
        return values.iter().map(|v| v.map(|v| v as u64)).collect();
    }
    let hasher = FixedState::with_seed(DISTINCT_SEED);
    match cast(array, &DataType::Utf8) {
        Ok(text) => text
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(|s| hasher.hash_one(s)))
            .collect(),
        Err(_) => vec![None; array.len()],
    }
}
