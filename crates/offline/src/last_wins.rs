//! Repeated row identities in rows held in memory: the last one wins, as
//! the staged path's `DISTINCT ON` decides for files.

use std::collections::HashMap;

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::row::{RowConverter, SortField};
use sluice_types::FeatureGroupSpec;

use crate::predicates::row_identity;

/// `batch` without the earlier rows of any (primary key, event time) it
/// repeats, in input order otherwise; the batch itself when nothing repeats.
pub fn last_per_identity(
    fg: &FeatureGroupSpec,
    batch: RecordBatch,
) -> arrow::error::Result<RecordBatch> {
    let columns = row_identity(fg)
        .into_iter()
        .map(|name| {
            batch
                .column_by_name(name)
                .cloned()
                .ok_or_else(|| arrow::error::ArrowError::SchemaError(format!("no column '{name}'")))
        })
        .collect::<arrow::error::Result<Vec<_>>>()?;
    let converter = RowConverter::new(
        columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let rows = converter.convert_columns(&columns)?;
    let mut last: HashMap<&[u8], u32> = HashMap::with_capacity(rows.num_rows());
    for (index, row) in rows.iter().enumerate() {
        last.insert(row.data(), index as u32);
    }
    if last.len() == batch.num_rows() {
        return Ok(batch);
    }
    let kept: UInt32Array = rows
        .iter()
        .enumerate()
        .filter(|(index, row)| last[row.data()] == *index as u32)
        .map(|(index, _)| index as u32)
        .collect();
    take_record_batch(&batch, &kept)
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;
    use arrow::datatypes::{Float64Type, Int64Type};

    use super::*;
    use crate::conformance::{batch, fg};

    fn rows(batch: &RecordBatch) -> Vec<(i64, f64)> {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let xs = batch.column(2).as_primitive::<Float64Type>();
        (0..batch.num_rows())
            .map(|i| (ids.value(i), xs.value(i)))
            .collect()
    }

    /// Against a brute-force reference: a row is kept when no later row has its identity.
    #[test]
    fn keeps_the_last_row_of_each_identity_in_input_order() {
        let input: Vec<(i64, i64, f64)> = (0..200)
            .map(|i| ((i * 7) % 13, (i * 3) % 4, i as f64))
            .collect();
        let expected: Vec<(i64, f64)> = input
            .iter()
            .enumerate()
            .filter(|(i, r)| !input[i + 1..].iter().any(|s| (s.0, s.1) == (r.0, r.1)))
            .map(|(_, r)| (r.0, r.2))
            .collect();
        let kept = last_per_identity(&fg(), batch(&input)).unwrap();
        assert_eq!(rows(&kept), expected);
        assert!(kept.num_rows() < input.len());
    }

    #[test]
    fn a_batch_without_repeats_is_unchanged() {
        let input = [(1, 1, 1.0), (1, 2, 2.0), (2, 1, 3.0)];
        let kept = last_per_identity(&fg(), batch(&input)).unwrap();
        assert_eq!(rows(&kept), [(1, 1.0), (1, 2.0), (2, 3.0)]);
    }
}
