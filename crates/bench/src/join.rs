//! `bench join`: the point-in-time join over Parquet files, timed from file
//! to joined batch in memory. `bench/pit_join.py` runs DuckDB's ASOF JOIN on
//! the same files beside it and prints the ratio.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde::Serialize;
use sluice_pitjoin::{point_in_time_join, FeatureInput, JoinOptions};

use crate::args::JoinBenchArgs;
use crate::print_report;

#[derive(Debug, Serialize)]
struct Report {
    spine_rows: usize,
    feature_rows: Vec<usize>,
    read_s: f64,
    join_s: f64,
    total_s: f64,
    /// Per joined float64 column: (name, non-null count, sum), to compare answers with the anchor.
    checksums: Vec<(String, usize, f64)>,
}

/// Reads a Parquet file into batches, its row groups split across the cores.
pub(crate) fn read(path: &Path) -> Result<Vec<RecordBatch>> {
    let open = || -> Result<ParquetRecordBatchReaderBuilder<std::fs::File>> {
        let file =
            std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        Ok(ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(1 << 20))
    };
    let builder = open()?;
    let schema = builder.schema().clone();
    let groups = builder.metadata().num_row_groups();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(groups.max(1));
    let parts: Vec<Result<Vec<RecordBatch>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let range: Vec<usize> =
                    (groups * t / threads..groups * (t + 1) / threads).collect();
                scope.spawn(move || -> Result<Vec<RecordBatch>> {
                    let reader = open()?.with_row_groups(range).build()?;
                    Ok(reader.collect::<Result<Vec<_>, _>>()?)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("reader thread panicked"))
            .collect()
    });
    let mut batches = Vec::new();
    for part in parts {
        batches.extend(part?);
    }
    if batches.is_empty() {
        batches.push(RecordBatch::new_empty(schema));
    }
    Ok(batches)
}

pub fn run(args: &JoinBenchArgs) -> Result<()> {
    let started = Instant::now();
    let spine = read(&args.spine)?;
    let spine = arrow::compute::concat_batches(&spine[0].schema(), &spine)?;
    let tables = args
        .features
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>>>()?;
    let read_s = started.elapsed().as_secs_f64();
    let names: Vec<String> = args
        .features
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let inputs: Vec<FeatureInput> = tables
        .iter()
        .zip(&names)
        .map(|(table, name)| FeatureInput {
            name,
            batches: table,
            spine_keys: vec![args.key.clone()],
            keys: vec![args.key.clone()],
            event_time: args.time.clone(),
            write_order: None,
            features: table[0]
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().clone())
                .filter(|n| *n != args.key && *n != args.time)
                .collect(),
            ttl_micros: None,
        })
        .collect();
    let join_started = Instant::now();
    let joined = point_in_time_join(&spine, &args.time, &inputs, &JoinOptions::default())?;
    let join_s = join_started.elapsed().as_secs_f64();
    let checksums = joined
        .schema()
        .fields()
        .iter()
        .enumerate()
        .skip(spine.num_columns())
        .filter(|(_, f)| f.data_type() == &arrow::datatypes::DataType::Float64)
        .map(|(i, f)| {
            let values = joined.column(i).as_primitive::<Float64Type>();
            let sum: f64 = values.iter().flatten().sum();
            (f.name().clone(), values.len() - values.null_count(), sum)
        })
        .collect();
    let report = Report {
        spine_rows: spine.num_rows(),
        feature_rows: tables
            .iter()
            .map(|t| t.iter().map(RecordBatch::num_rows).sum())
            .collect(),
        read_s,
        join_s,
        total_s: started.elapsed().as_secs_f64(),
        checksums,
    };
    print_report(args.json.json, &report, |r| {
        format!(
            "point-in-time join: {} spine rows x {:?} feature rows: read {:.2}s, join {:.2}s, total {:.2}s",
            r.spine_rows, r.feature_rows, r.read_s, r.join_s, r.total_s
        )
    })
}
