//! `sluice bench aggregate`: batch window aggregations over a Parquet file,
//! timed in process; `bench/window_agg.py` runs DuckDB's window functions on
//! the same file and compares answers and times.

use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{DataType, Float64Type, Int64Type};
use serde::Serialize;
use sluice_transforms::{aggregate_batch, CompiledAggregation};
use sluice_types::aggregation::WindowAggregationSpec;

use crate::args::AggregateBenchArgs;
use crate::join::read;
use crate::print_report;

#[derive(Serialize)]
struct Report {
    events: usize,
    aggregates: usize,
    read_s: f64,
    aggregate_s: f64,
    events_per_s: f64,
    /// Per output column: (name, non-null count, sum), to compare with the anchor.
    checksums: Vec<(String, usize, f64)>,
}

pub fn run(args: &AggregateBenchArgs) -> Result<()> {
    let started = Instant::now();
    let batches = read(&args.input)?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .context("the input file has no rows")?;
    let input = concat_batches(&schema, &batches)?;
    let read_s = started.elapsed().as_secs_f64();

    let windows: Vec<String> = args
        .windows
        .split(',')
        .map(|w| format!("\"{}\"", w.trim()))
        .collect();
    let spec: WindowAggregationSpec = toml::from_str(&format!(
        "keys = [\"{}\"]\nevent_time = \"{}\"\nfeatures = [{{ column = \"{}\", functions = [\"count\", \"sum\", \"mean\", \"max\"], windows = [{}] }}]",
        args.key,
        args.time,
        args.column,
        windows.join(", ")
    ))
    .context("bad --windows")?;
    let plan = CompiledAggregation::new(&spec)?;
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let timer = Instant::now();
    let output = aggregate_batch(&plan, &input, threads)?;
    let aggregate_s = timer.elapsed().as_secs_f64();

    let checksums = plan
        .aggregates()
        .iter()
        .map(|a| {
            let column = output.column_by_name(&a.name).expect("aggregate column");
            let sum: f64 = match column.data_type() {
                DataType::Int64 => column
                    .as_primitive::<Int64Type>()
                    .iter()
                    .flatten()
                    .map(|v| v as f64)
                    .sum(),
                _ => column.as_primitive::<Float64Type>().iter().flatten().sum(),
            };
            (a.name.clone(), column.len() - column.null_count(), sum)
        })
        .collect();
    let report = Report {
        events: input.num_rows(),
        aggregates: plan.aggregates().len(),
        read_s,
        aggregate_s,
        events_per_s: input.num_rows() as f64 / aggregate_s,
        checksums,
    };
    print_report(args.json.json, &report, |r| {
        format!(
            "{} events, {} aggregates: {:.2} s ({:.0} events/s); read {:.2} s",
            r.events, r.aggregates, r.aggregate_s, r.events_per_s, r.read_s
        )
    })
}
