//! Reducing a write batch to its newest row per key before it reaches a
//! backend: the same rule the stores apply (greater or equal event time wins,
//! so among equal times the later row), done once in memory so that each key
//! costs one store operation, issued in key order for B-tree locality.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use arrow::array::{RecordBatch, TimestampMicrosecondArray};
use sluice_types::FeatureGroupSpec;

use crate::codec::{self, ColumnView, NO_EVENT_TIME};
use crate::Result;

/// One row to apply: its encoded key, its row index in the batch and its event time.
pub struct Candidate {
    pub key: Vec<u8>,
    pub row: usize,
    pub event_time: i64,
}

/// The batch's candidates sorted by encoded key, plus how many rows were superseded within the batch.
pub fn newest_per_key(fg: &FeatureGroupSpec, rows: &RecordBatch) -> Result<(Vec<Candidate>, u64)> {
    let keys: Vec<ColumnView> = codec::views(fg, rows, fg.primary_key.iter().map(String::as_str))?;
    let times = fg
        .event_time
        .as_deref()
        .and_then(|ts| rows.column_by_name(ts))
        .and_then(|a| a.as_any().downcast_ref::<TimestampMicrosecondArray>());
    let mut best: HashMap<Vec<u8>, (usize, i64)> = HashMap::with_capacity(rows.num_rows());
    let mut superseded = 0;
    for row in 0..rows.num_rows() {
        let event_time = times.map_or(NO_EVENT_TIME, |t| t.value(row));
        let mut key = Vec::with_capacity(16);
        codec::encode_values(&keys, row, &mut key);
        match best.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert((row, event_time));
            }
            Entry::Occupied(mut slot) => {
                superseded += 1;
                if event_time >= slot.get().1 {
                    slot.insert((row, event_time));
                }
            }
        }
    }
    let mut candidates: Vec<Candidate> = best
        .into_iter()
        .map(|(key, (row, event_time))| Candidate {
            key,
            row,
            event_time,
        })
        .collect();
    candidates.sort_unstable_by(|a, b| a.key.cmp(&b.key));
    Ok((candidates, superseded))
}
