//! `quickstart`: the end-to-end demo on the embedded stores, checking its own results as it goes.

use std::path::Path;

use anyhow::{ensure, Context, Result};
use arrow::array::{Array, Float64Array, RecordBatch};
use chrono::Utc;
use futures::TryStreamExt;
use sluice_datagen::{
    transactions, transactions_schema, write_batches, write_transactions, FileFormat,
    TransactionsOptions,
};
use sluice_featurestore::{FeatureGroup, FeatureStore, ReadAt};
use sluice_types::NameRef;

use crate::output::user_error;
use crate::progress::Bar;

/// Marks a directory as made by the quickstart, so that a re-run may replace it.
const MARKER: &str = ".sluice/quickstart";
const CORRECTIONS: usize = 500;
const LATE_EVENTS: usize = 500;

pub async fn run(dir: &Path, rows: usize) -> Result<()> {
    ensure!(
        rows >= CORRECTIONS,
        user_error(format!("--rows must be at least {CORRECTIONS}"))
    );
    prepare(dir)?;
    FeatureStore::init(dir)?;
    let marker = dir.join(MARKER);
    std::fs::create_dir_all(marker.parent().context("marker has a parent")?)
        .and_then(|()| std::fs::write(&marker, "created by `sluice quickstart`; safe to delete\n"))
        .with_context(|| format!("cannot write {}", marker.display()))?;
    let store = FeatureStore::open(dir).await?;
    println!(
        "1. created project {} (sluice.toml, features/example.toml)",
        dir.display()
    );

    let plan = store.plan().await?;
    store.apply(&plan).await?;
    let fg = store
        .feature_group(&NameRef::parse("transactions")?)
        .await?;
    println!(
        "2. registered feature group {} from features/example.toml",
        fg.label()
    );

    let data = dir.join("data");
    std::fs::create_dir_all(&data).with_context(|| format!("cannot create {}", data.display()))?;
    let options = TransactionsOptions::new(rows).ending_at(Utc::now().timestamp_micros());
    let parquet = data.join("transactions.parquet");
    write_transactions(&parquet, FileFormat::Parquet, options)?;
    let corrections = data.join("corrections.csv");
    write_corrections(&corrections, options)?;
    println!(
        "3. generated {rows} transactions ({} keys, out of order) and {} corrections",
        options.keys,
        CORRECTIONS + LATE_EVENTS
    );

    let first = fg
        .ingest_files(std::slice::from_ref(&parquet), &Bar::new())
        .await?;
    let seconds = (first.stage_ms + first.offline_ms + first.online_ms) as f64 / 1000.0;
    println!(
        "4. ingested {} rows in {seconds:.2}s ({:.0} rows/s): offline commit {}, {} keys online",
        first.rows,
        first.rows as f64 / seconds.max(1e-9),
        first.offline_version,
        count_distinct_keys(&fg).await?
    );

    let second = fg
        .ingest_files(std::slice::from_ref(&corrections), &Bar::new())
        .await?;
    println!(
        "5. ingested corrections.csv: {} rows replaced, {} late rows inserted; {} rows older than their key's newest event left the online values alone",
        second.offline_rows_updated, second.offline_rows_inserted, second.online_rows_older
    );

    let now_rows = count(&fg, ReadAt::Latest).await?;
    let then_rows = count(&fg, ReadAt::Version(first.offline_version)).await?;
    ensure!(
        now_rows == rows + LATE_EVENTS,
        "expected {} rows after corrections, read {now_rows}",
        rows + LATE_EVENTS
    );
    ensure!(
        then_rows == rows,
        "expected {rows} rows at commit {}, read {then_rows}",
        first.offline_version
    );
    println!(
        "6. read back: {now_rows} rows now, {then_rows} rows at commit {} (time travel)",
        first.offline_version
    );

    let keys = fg.keys_from_text(&[(
        "account_id".into(),
        vec!["0".into(), "1".into(), "-1".into()],
    )])?;
    let read = fg.lookup(&keys).await?;
    println!("7. online lookup (newest row per key):");
    let amounts = read
        .rows
        .column_by_name("amount")
        .context("amount column")?;
    let amounts = amounts
        .as_any()
        .downcast_ref::<Float64Array>()
        .context("amount is float64")?;
    for (row, status) in read.status.iter().enumerate() {
        let amount = if amounts.is_valid(row) {
            format!("amount {:.2}", amounts.value(row))
        } else {
            String::new()
        };
        println!("   account_id {:>3}  {status:<8} {amount}", [0, 1, -1][row]);
    }
    println!();
    println!("Try: sluice --project {0} show transactions", dir.display());
    println!(
        "     sluice --project {0} lookup transactions account_id=7 --json",
        dir.display()
    );
    println!(
        "     sluice --project {0} read transactions --commit 0 --limit 5",
        dir.display()
    );
    Ok(())
}

fn prepare(dir: &Path) -> Result<()> {
    if dir.join(MARKER).exists() {
        std::fs::remove_dir_all(dir).with_context(|| {
            format!("cannot clear the previous quickstart in {}", dir.display())
        })?;
        println!("replacing the previous quickstart in {}", dir.display());
    } else if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        return Err(user_error(format!(
            "{} exists and was not made by the quickstart; pass --dir with a new directory",
            dir.display()
        )));
    }
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// Re-sends of existing (key, event time) rows with new amounts, plus late events older than anything ingested.
fn write_corrections(path: &Path, options: TransactionsOptions) -> Result<()> {
    let first = transactions(options)
        .next()
        .context("generated data is empty")?;
    let resent = first.slice(0, CORRECTIONS);
    let doubled: Float64Array = resent
        .column(2)
        .as_any()
        .downcast_ref::<Float64Array>()
        .context("amount is float64")?
        .iter()
        .map(|v| v.map(|a| a * 2.0))
        .collect();
    let mut columns = resent.columns().to_vec();
    columns[2] = std::sync::Arc::new(doubled);
    let resent = RecordBatch::try_new(transactions_schema(), columns)?;
    let late_options = TransactionsOptions {
        rows: LATE_EVENTS,
        start_micros: options.start_micros - 10 * 86_400_000_000,
        seed: options.seed + 1,
        ..options
    };
    let late = transactions(late_options);
    write_batches(
        path,
        FileFormat::Csv,
        &transactions_schema(),
        std::iter::once(resent).chain(late),
    )?;
    Ok(())
}

async fn count(fg: &FeatureGroup<'_>, at: ReadAt) -> Result<usize> {
    let batches: Vec<RecordBatch> = fg.read(at, None).await?.try_collect().await?;
    Ok(batches.iter().map(RecordBatch::num_rows).sum())
}

async fn count_distinct_keys(fg: &FeatureGroup<'_>) -> Result<usize> {
    let batches: Vec<RecordBatch> = fg.read(ReadAt::Latest, None).await?.try_collect().await?;
    let mut keys = std::collections::HashSet::new();
    for batch in &batches {
        let ids = batch
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Int64Array>()
            .context("account_id is int64")?;
        keys.extend(ids.values().iter().copied());
    }
    Ok(keys.len())
}
