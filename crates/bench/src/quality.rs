//! `quality`: what data quality costs an ingest. The same Parquet file is
//! ingested into an empty group twice per round: once as the plain group
//! (`statistics = false`, no expectations) and once with statistics and ten
//! expectations under `validation = "strict"` (all of which hold, so both
//! write the same rows). The anchor is the plain ingest in the same process.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Result};
use chrono::Utc;
use serde::Serialize;
use sluice_datagen::{write_transactions, FileFormat, TransactionsOptions};
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_types::definitions::EXAMPLE_DEFINITIONS;
use sluice_types::NameRef;

use crate::args::QualityBenchArgs;
use crate::print_report;

/// Ten expectations over the generated columns, as (column, kind, the
/// rest of the expectation in TOML); the generator's ranges make every one hold.
const EXPECTATIONS: [(&str, &str, &str); 10] = [
    ("amount", "between", "min = 0\nmax = 1000"),
    ("f1", "between", "min = 0\nmax = 1000"),
    ("quantity", "between", "min = 1\nmax = 9"),
    (
        "category",
        "in_set",
        r#"values = ["grocery", "travel", "fuel", "online", "restaurant", "pharmacy", "electronics"]"#,
    ),
    ("category", "regex", r#"pattern = "^[a-z]+$""#),
    ("category", "null_fraction_at_most", "value = 0.1"),
    ("f2", "not_null", ""),
    ("amount", "mean_between", "min = 400\nmax = 600"),
    ("f3", "stddev_between", "min = 250\nmax = 330"),
    (
        "merchant_id",
        "distinct_count_between",
        "min = 1\nmax = 5000",
    ),
];

/// The strict policy and [`EXPECTATIONS`], to follow the example group's definition.
fn expectations() -> String {
    let mut text = String::from("validation = \"strict\"\n");
    for (column, kind, rest) in EXPECTATIONS {
        text.push_str(&format!(
            "\n[[feature_group.expectation]]\ncolumn = \"{column}\"\nkind = \"{kind}\"\n{rest}\n"
        ));
    }
    text
}

#[derive(Debug, Serialize)]
struct Report {
    rows: usize,
    rounds: u64,
    plain_s: f64,
    checked_s: f64,
    plain_rows_per_s: f64,
    checked_rows_per_s: f64,
    checked_vs_plain: f64,
}

pub async fn run(args: &QualityBenchArgs) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let data = temp.path().join("bench.parquet");
    let options = TransactionsOptions::new(args.rows).ending_at(Utc::now().timestamp_micros());
    write_transactions(&data, FileFormat::Parquet, options)?;
    eprintln!(
        "bench: {} rows of 13 columns in {}",
        args.rows,
        data.display()
    );
    let plain = format!("{EXAMPLE_DEFINITIONS}\nstatistics = false\n");
    let checked = format!("{EXAMPLE_DEFINITIONS}\n{}", expectations());
    let (mut plain_times, mut checked_times) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        // Alternate which goes first, so that neither always meets a warm page cache.
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for with_checks in order {
            let definitions = if with_checks { &checked } else { &plain };
            let dir = temp.path().join(format!("round{round}-{with_checks}"));
            let seconds = ingest_once(&dir, definitions, &data, with_checks).await?;
            if with_checks {
                checked_times.push(seconds);
            } else {
                plain_times.push(seconds);
            }
            std::fs::remove_dir_all(&dir)?;
        }
    }
    let (plain_s, checked_s) = (median(&mut plain_times), median(&mut checked_times));
    let report = Report {
        rows: args.rows,
        rounds: args.rounds,
        plain_s,
        checked_s,
        plain_rows_per_s: args.rows as f64 / plain_s,
        checked_rows_per_s: args.rows as f64 / checked_s,
        checked_vs_plain: checked_s / plain_s,
    };
    print_report(args.json.json, &report, |r| {
        format!(
            "ingest of {} rows (median of {}): plain {:.2} s ({:.0} rows/s), with statistics and ten expectations {:.2} s ({:.0} rows/s): {:.3}x the plain time",
            r.rows, r.rounds, r.plain_s, r.plain_rows_per_s, r.checked_s, r.checked_rows_per_s, r.checked_vs_plain
        )
    })
}

async fn ingest_once(dir: &Path, definitions: &str, data: &Path, with_checks: bool) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    FeatureStore::init(dir)?;
    std::fs::write(dir.join("features/example.toml"), definitions)?;
    let store = FeatureStore::open(dir).await?;
    store.apply(&store.plan().await?).await?;
    let fg = store
        .feature_group(&NameRef::parse("transactions")?)
        .await?;
    let started = Instant::now();
    let metrics = fg.ingest_files(&[data.to_path_buf()], &NoProgress).await?;
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        metrics.validation.as_ref().is_some_and(|r| r.success) == with_checks,
        "the checked group's expectations must all hold (and the plain group has none)"
    );
    Ok(seconds)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
