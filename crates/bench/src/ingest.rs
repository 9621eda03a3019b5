//! `ingest`: ingest and online-lookup throughput, each beside an anchor measured
//! in the same process on the same data.
//!
//! Anchors: for ingest, reading the same Parquet file and writing it once more
//! as Parquet (the I/O floor of any ingest), plus Feast's figure recorded in
//! the product brief (kept outside this repository); for lookups, a brute-force in-memory hash map over the same rows
//! (the floor of any key-value lookup).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use arrow::array::{Int64Array, RecordBatch};
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sluice_datagen::{transactions, write_transactions, FileFormat, TransactionsOptions};
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_types::NameRef;

use crate::args::BenchArgs;
use crate::print_json;

/// Feast materialisation on a 2-core machine here: 1M rows in 8.8 s (from the product brief).
const FEAST_ROWS_PER_SECOND: f64 = 1_000_000.0 / 8.8;

#[derive(Debug, Serialize)]
struct Report {
    rows: usize,
    ingest_rows_per_s: f64,
    ingest_stage_ms: u64,
    ingest_offline_ms: u64,
    ingest_online_ms: u64,
    reingest_rows_per_s: f64,
    anchor_parquet_copy_rows_per_s: f64,
    ingest_vs_parquet_copy: f64,
    ingest_vs_feast: f64,
    lookups: usize,
    lookups_per_s: f64,
    lookup_p50_us: f64,
    lookup_p99_us: f64,
    batch100_p99_us: f64,
    anchor_hashmap_lookups_per_s: f64,
    lookups_vs_hashmap: f64,
}

/// A new project for a benchmark: in `dir` when given, else inside `temp`.
pub(crate) fn bench_project(dir: Option<&Path>, temp: &tempfile::TempDir) -> Result<PathBuf> {
    let dir = dir.map_or_else(|| temp.path().join("bench"), Path::to_path_buf);
    std::fs::create_dir_all(&dir)?;
    FeatureStore::init(&dir)?;
    Ok(dir)
}

pub async fn run(args: &BenchArgs) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = bench_project(args.dir.as_deref(), &temp)?;
    let store = FeatureStore::open(&dir).await?;
    store.apply(&store.plan().await?).await?;
    let fg = store
        .feature_group(&NameRef::parse("transactions")?)
        .await?;

    let options = TransactionsOptions::new(args.rows).ending_at(Utc::now().timestamp_micros());
    let data = dir.join("bench.parquet");
    write_transactions(&data, FileFormat::Parquet, options)?;
    eprintln!(
        "bench: {} rows of {} columns in {}",
        args.rows,
        13,
        data.display()
    );

    let anchor_rate = parquet_copy_rate(&data, &dir.join("copy.parquet"), args.rows)?;
    let started = Instant::now();
    let ingest = fg
        .ingest_files(std::slice::from_ref(&data), &NoProgress)
        .await?;
    let ingest_rate = args.rows as f64 / started.elapsed().as_secs_f64();
    let started = Instant::now();
    fg.ingest_files(std::slice::from_ref(&data), &NoProgress)
        .await?;
    let reingest_rate = args.rows as f64 / started.elapsed().as_secs_f64();

    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let probe: Vec<i64> = (0..args.lookups)
        .map(|_| rng.random_range(0..options.keys))
        .collect();
    let mut latencies = Vec::with_capacity(probe.len());
    let started = Instant::now();
    for key in &probe {
        let keys = RecordBatch::try_new(
            fg.spec().key_schema(),
            vec![std::sync::Arc::new(Int64Array::from(vec![*key]))],
        )?;
        let one = Instant::now();
        let read = fg.lookup(&keys).await?;
        latencies.push(one.elapsed());
        std::hint::black_box(read);
    }
    let lookup_rate = probe.len() as f64 / started.elapsed().as_secs_f64();
    let (p50, p99) = percentiles(&mut latencies);

    let mut batch_latencies = Vec::new();
    for chunk in probe.chunks(100).take(1_000) {
        let keys = RecordBatch::try_new(
            fg.spec().key_schema(),
            vec![std::sync::Arc::new(Int64Array::from(chunk.to_vec()))],
        )?;
        let one = Instant::now();
        std::hint::black_box(fg.lookup(&keys).await?);
        batch_latencies.push(one.elapsed());
    }
    let (_, batch_p99) = percentiles(&mut batch_latencies);

    let hashmap_rate = hashmap_lookup_rate(options, &probe);
    let report = Report {
        rows: args.rows,
        ingest_rows_per_s: ingest_rate,
        ingest_stage_ms: ingest.stage_ms,
        ingest_offline_ms: ingest.offline_ms,
        ingest_online_ms: ingest.online_ms,
        reingest_rows_per_s: reingest_rate,
        anchor_parquet_copy_rows_per_s: anchor_rate,
        ingest_vs_parquet_copy: ingest_rate / anchor_rate,
        ingest_vs_feast: ingest_rate / FEAST_ROWS_PER_SECOND,
        lookups: probe.len(),
        lookups_per_s: lookup_rate,
        lookup_p50_us: micros(p50),
        lookup_p99_us: micros(p99),
        batch100_p99_us: micros(batch_p99),
        anchor_hashmap_lookups_per_s: hashmap_rate,
        lookups_vs_hashmap: lookup_rate / hashmap_rate,
    };
    if args.json.json {
        return print_json(&report);
    }
    println!(
        "ingest {} rows (Parquet file -> offline Delta + online store)",
        report.rows
    );
    println!(
        "  sluice ingest        {:>12.0} rows/s  (stage {} ms, offline {} ms, online {} ms)",
        report.ingest_rows_per_s,
        report.ingest_stage_ms,
        report.ingest_offline_ms,
        report.ingest_online_ms
    );
    println!(
        "  re-ingest (upsert)   {:>12.0} rows/s  (every row replaces a stored one)",
        report.reingest_rows_per_s
    );
    println!(
        "  anchor parquet copy  {:>12.0} rows/s  ratio {:.2}x",
        report.anchor_parquet_copy_rows_per_s, report.ingest_vs_parquet_copy
    );
    println!(
        "  anchor Feast (rec.)  {:>12.0} rows/s  ratio {:.2}x",
        FEAST_ROWS_PER_SECOND, report.ingest_vs_feast
    );
    println!(
        "online lookups, in process, 1 key x {} columns",
        fg.spec().columns.len()
    );
    println!(
        "  sluice lookup        {:>12.0} lookups/s  p50 {:.1} us  p99 {:.1} us; 100 keys p99 {:.1} us",
        report.lookups_per_s, report.lookup_p50_us, report.lookup_p99_us, report.batch100_p99_us
    );
    println!(
        "  anchor hash map      {:>12.0} lookups/s  ratio {:.3}x",
        report.anchor_hashmap_lookups_per_s, report.lookups_vs_hashmap
    );
    Ok(())
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The median and 99th percentile of `samples` (sorted in place).
pub(crate) fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}

/// Reads the Parquet file and writes it again: the I/O floor of an ingest.
fn parquet_copy_rate(input: &Path, output: &PathBuf, rows: usize) -> Result<f64> {
    let started = Instant::now();
    let file = std::fs::File::open(input)?;
    let reader =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?.build()?;
    let mut writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    for batch in reader {
        let batch = batch?;
        if writer.is_none() {
            writer = Some(parquet::arrow::ArrowWriter::try_new(
                std::fs::File::create(output)?,
                batch.schema(),
                None,
            )?);
        }
        writer.as_mut().context("writer")?.write(&batch)?;
    }
    if let Some(writer) = writer {
        writer.close()?;
    }
    Ok(rows as f64 / started.elapsed().as_secs_f64())
}

/// Newest row per key in a hash map, then the same probes: the floor of a lookup.
fn hashmap_lookup_rate(options: TransactionsOptions, probe: &[i64]) -> f64 {
    let batches: Vec<RecordBatch> = transactions(options).collect();
    let mut newest: HashMap<i64, (i64, usize, usize)> = HashMap::new();
    for (b, batch) in batches.iter().enumerate() {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .expect("int64 key");
        let ts = batch
            .column(1)
            .as_any()
            .downcast_ref::<arrow::array::TimestampMicrosecondArray>()
            .expect("timestamp");
        for row in 0..batch.num_rows() {
            let entry = newest.entry(ids.value(row)).or_insert((i64::MIN, b, row));
            if ts.value(row) >= entry.0 {
                *entry = (ts.value(row), b, row);
            }
        }
    }
    let started = Instant::now();
    for key in probe {
        if let Some((_, b, row)) = newest.get(key) {
            std::hint::black_box(batches[*b].slice(*row, 1));
        }
    }
    probe.len() as f64 / started.elapsed().as_secs_f64()
}
