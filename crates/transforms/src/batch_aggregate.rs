//! Window aggregations over a whole history at once: group by key, order
//! each group by (event time, arrival), then evaluate every event with its
//! group's earlier events, key groups split across threads.

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take;
use sluice_pitjoin::{KeyIds, SortedGroups};

use crate::evaluator::CompiledAggregation;
use crate::event_columns::{column, EventColumns, InputColumns};
use crate::Result;

/// Computes the aggregation for every row of `input`: one output row per
/// input row, ordered by key, then event time, then input order. Input
/// order is the arrival order that breaks ties between equal event times.
pub fn aggregate_batch(
    plan: &CompiledAggregation,
    input: &RecordBatch,
    threads: usize,
) -> Result<RecordBatch> {
    let schema = plan.output_schema(&input.schema())?;
    let (keys, columns) = plan.read_input(input)?;
    let (ids, row_ids) = KeyIds::build(&keys, threads)?;
    let groups = SortedGroups::build(&row_ids, ids.len(), &columns.times, None, threads);
    let events = gather(&columns, &groups);
    let values = evaluate_groups(plan, &events, &groups.starts, threads);

    let order = UInt32Array::from(groups.order.clone());
    let mut out: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for key in &keys {
        out.push(take(key.as_ref(), &order, None)?);
    }
    out.push(take(
        column(input, &plan.event_time)?.as_ref(),
        &order,
        None,
    )?);
    out.extend(plan.build_columns(values));
    Ok(RecordBatch::try_new(schema, out)?)
}

/// The input's values in sorted order, contiguous per key.
fn gather(columns: &InputColumns, groups: &SortedGroups) -> EventColumns {
    let rows = || groups.order.iter().map(|r| *r as usize);
    EventColumns {
        times: groups.times.clone(),
        numeric: columns
            .numeric
            .iter()
            .map(|values| rows().map(|r| values.value(r)).collect())
            .collect(),
        numeric_valid: columns
            .numeric
            .iter()
            .map(|values| rows().map(|r| values.is_valid(r)).collect())
            .collect(),
        distinct: columns
            .distinct
            .iter()
            .map(|hashes| rows().map(|r| hashes[r]).collect())
            .collect(),
    }
}

/// Evaluates every event, returning one value vector per aggregate in sorted order.
fn evaluate_groups(
    plan: &CompiledAggregation,
    events: &EventColumns,
    starts: &[u32],
    threads: usize,
) -> Vec<Vec<Option<f64>>> {
    let total = events.len();
    let group_count = starts.len() - 1;
    let threads = threads.max(1).min(group_count.max(1));
    // Pieces of whole key groups with about equal row counts.
    let mut bounds = vec![0usize];
    let mut group = 0;
    for t in 1..threads {
        let target = total * t / threads;
        while group < group_count && (starts[group + 1] as usize) <= target {
            group += 1;
        }
        bounds.push(group);
    }
    bounds.push(group_count);
    bounds.dedup();

    let pieces: Vec<Vec<Vec<Option<f64>>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = bounds
            .windows(2)
            .map(|w| {
                let (first, last) = (w[0], w[1]);
                scope.spawn(move || evaluate_piece(plan, events, &starts[first..=last]))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("aggregation thread panicked"))
            .collect()
    });
    let mut values: Vec<Vec<Option<f64>>> = (0..plan.aggregates().len())
        .map(|_| Vec::with_capacity(total))
        .collect();
    for piece in pieces {
        for (all, part) in values.iter_mut().zip(piece) {
            all.extend(part);
        }
    }
    values
}

fn evaluate_piece(
    plan: &CompiledAggregation,
    events: &EventColumns,
    starts: &[u32],
) -> Vec<Vec<Option<f64>>> {
    let (first, last) = (starts[0] as usize, starts[starts.len() - 1] as usize);
    let width = plan.aggregates().len();
    let mut values: Vec<Vec<Option<f64>>> = (0..width)
        .map(|_| Vec::with_capacity(last - first))
        .collect();
    let mut scratch = plan.new_scratch();
    let mut row = vec![None; width];
    for bounds in starts.windows(2) {
        let (start, end) = (bounds[0] as usize, bounds[1] as usize);
        for at in start..end {
            plan.evaluate(events, start, at, None, &mut scratch, &mut row);
            for (column, value) in values.iter_mut().zip(&row) {
                column.push(*value);
            }
        }
    }
    values
}
