//! Expectations through the store: a strict group's failing write leaves
//! both stores and the catalog as they were, a warning group's commits, and
//! every verdict is kept with its commit (or as a rejection).

use std::sync::Arc;

use arrow::array::{Array, Float64Array, Int64Array, RecordBatch};
use sluice_datagen::{transactions, TransactionsOptions};
use sluice_featurestore::{Error, FeatureGroup, FeatureStore, NoProgress, Verdict};
use sluice_testkit::fixtures::Project;
use sluice_types::definitions::EXAMPLE_DEFINITIONS;
use sluice_types::NameRef;

/// The example's `transactions` group with a policy and three expectations.
fn definitions(policy: &str) -> String {
    format!(
        r#"{EXAMPLE_DEFINITIONS}
validation = "{policy}"

[[feature_group.expectation]]
column = "amount"
kind = "between"
min = 0
max = 1000

[[feature_group.expectation]]
column = "quantity"
kind = "mean_between"
min = 1
max = 9

[[feature_group.expectation]]
kind = "row_count_between"
min = 1
"#
    )
}

async fn project(policy: &str) -> (tempfile::TempDir, FeatureStore) {
    Project::new()
        .without_example()
        .with_file("features/tx.toml", &definitions(policy))
        .applied()
        .await
}

async fn group(store: &FeatureStore) -> FeatureGroup<'_> {
    store
        .feature_group(&NameRef::parse("transactions").unwrap())
        .await
        .unwrap()
}

fn rows(seed: u64) -> RecordBatch {
    let now = chrono::Utc::now().timestamp_micros();
    let options = TransactionsOptions::new(2_000)
        .with_keys(300)
        .ending_at(now - seed as i64 * 10_000_000_000);
    transactions(TransactionsOptions {
        batch_size: 2_000,
        seed,
        ..options
    })
    .next()
    .unwrap()
}

/// `batch` with the amounts of `rows` set to -1.
fn with_negative_amounts(batch: &RecordBatch, rows: &[usize]) -> RecordBatch {
    let index = batch.schema().index_of("amount").unwrap();
    let amounts = batch
        .column(index)
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap();
    let changed: Float64Array = (0..batch.num_rows())
        .map(|i| {
            Some(if rows.contains(&i) {
                -1.0
            } else {
                amounts.value(i)
            })
        })
        .collect();
    let mut columns = batch.columns().to_vec();
    columns[index] = Arc::new(changed);
    RecordBatch::try_new(batch.schema(), columns).unwrap()
}

/// What a write must not change: commits, offline rows and one key's online row.
async fn state(fg: &FeatureGroup<'_>, key: i64) -> (usize, u64, String) {
    let commits = fg.describe().await.unwrap().commits.len();
    let rows = fg.count_rows().await.unwrap();
    let keys = RecordBatch::try_new(
        fg.spec().key_schema(),
        vec![Arc::new(Int64Array::from(vec![key]))],
    )
    .unwrap();
    let online = fg.lookup(&keys).await.unwrap();
    let shown = arrow::util::pretty::pretty_format_batches(&[online.rows])
        .unwrap()
        .to_string();
    (commits, rows, shown)
}

#[tokio::test]
async fn a_strict_group_rejects_a_failing_write_and_writes_nothing() {
    let (_dir, store) = project("strict").await;
    let fg = group(&store).await;
    let good = fg
        .ingest_batches(vec![rows(1)], "first", &NoProgress)
        .await
        .unwrap();
    let passed = good.validation.expect("a report");
    assert!(passed.success);
    assert_eq!(passed.expectations.len(), 3);

    let key = rows(2)
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    let before = state(&fg, key).await;
    let bad = with_negative_amounts(&rows(2), &[4, 9, 1_500]);
    let err = fg
        .ingest_batches(vec![bad], "second", &NoProgress)
        .await
        .unwrap_err();
    let Error::Rejected { report, .. } = &err else {
        panic!("expected a rejection, got {err}");
    };
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].failed_rows, 3);
    let at: Vec<&str> = failed[0].examples.iter().map(|e| e.at.as_str()).collect();
    assert_eq!(at, ["second row 5", "second row 10", "second row 1501"]);
    let message = err.to_string();
    assert!(
        message.starts_with("feature group 'transactions:1' rejected the write (validation = strict): 1 of 3 expectations failed over 2000 rows"),
        "{message}"
    );
    assert_eq!(err.kind(), sluice_types::ErrorKind::InvalidInput);
    assert_eq!(state(&fg, key).await, before);

    let reports = fg.validation_reports(10).await.unwrap();
    let verdicts: Vec<(Verdict, Option<u64>, &str)> = reports
        .iter()
        .map(|r| (r.verdict, r.offline_version, r.source.as_str()))
        .collect();
    assert_eq!(
        verdicts,
        [
            (Verdict::Rejected, None, "second"),
            (Verdict::Passed, Some(good.offline_version), "first"),
        ]
    );
    assert_eq!(&reports[0].report, report.as_ref());
}

#[tokio::test]
async fn a_warning_group_writes_and_keeps_the_report_with_the_commit() {
    let (_dir, store) = project("warn").await;
    let fg = group(&store).await;
    let bad = with_negative_amounts(&rows(3), &[0]);
    let metrics = fg
        .ingest_batches(vec![bad], "pushed", &NoProgress)
        .await
        .unwrap();
    assert!(metrics.committed);
    assert_eq!(fg.count_rows().await.unwrap(), 2_000);
    let report = metrics.validation.expect("a report");
    assert!(!report.success);
    let reports = fg.validation_reports(10).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].verdict, Verdict::Warned);
    assert_eq!(reports[0].offline_version, Some(metrics.offline_version));
    assert_eq!(reports[0].report, report);
}

#[tokio::test]
async fn files_are_judged_by_line_and_a_dry_run_writes_nothing() {
    let (dir, store) = project("off").await;
    let fg = group(&store).await;
    let path = dir.path().join("bad.csv");
    let bad = with_negative_amounts(&rows(4), &[2]);
    let mut writer = arrow::csv::Writer::new(std::fs::File::create(&path).unwrap());
    writer.write(&bad).unwrap();
    drop(writer);

    let report = fg.validate_files(std::slice::from_ref(&path)).unwrap();
    let failed: Vec<_> = report.failures().collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].failed_rows, 1);
    assert_eq!(
        failed[0].examples[0].at,
        format!("{} line 4", path.display())
    );
    assert_eq!(failed[0].examples[0].value, "-1.0");
    assert_eq!(fg.describe().await.unwrap().commits.len(), 0);

    // `off` judges nothing on ingest and keeps no report.
    let metrics = fg.ingest_files(&[path], &NoProgress).await.unwrap();
    assert!(metrics.committed);
    assert!(metrics.validation.is_none());
    assert!(fg.validation_reports(10).await.unwrap().is_empty());
}

#[tokio::test]
async fn expectations_change_in_place_and_bad_ones_are_refused_at_apply() {
    let (dir, store) = project("warn").await;
    std::fs::write(dir.path().join("features/tx.toml"), definitions("strict")).unwrap();
    let plan = store.plan().await.unwrap();
    store.apply(&plan).await.unwrap();
    let fg = group(&store).await;
    assert_eq!(fg.spec().version, 1);
    assert_eq!(fg.spec().validation, sluice_types::ValidationPolicy::Strict);

    let bad = definitions("strict").replace(
        "column = \"quantity\"\nkind = \"mean_between\"",
        "column = \"category\"\nkind = \"mean_between\"",
    );
    std::fs::write(dir.path().join("features/tx.toml"), bad).unwrap();
    let err = store.plan().await.unwrap_err().to_string();
    assert!(
        err.contains("expectation 2 (mean_between on 'category'): mean_between needs a numeric column, 'category' is string"),
        "{err}"
    );
}

const MONITORS: &str = r#"
[[monitor]]
name = "train_vs_activity"
feature_group = "activity:1"
feature_view = "fraud:1"
features = ["amount", "merchant"]
reference = { training_dataset = 1, split = "train" }
detection = { start = "2025-12-31T00:00:00Z", end = "2026-01-02T00:00:00Z" }
thresholds = { ks = 0.5 }

[[monitor]]
name = "misnamed"
feature_group = "activity:1"
features = ["amont"]
reference = { last = "7d" }
detection = { last = "1d" }
"#;

/// The largest gap between the two empirical distribution functions, by brute force.
fn ks_by_brute_force(a: &[f64], b: &[f64]) -> f64 {
    let cdf = |values: &[f64], x: f64| {
        values.iter().filter(|&&v| v <= x).count() as f64 / values.len() as f64
    };
    a.iter()
        .chain(b)
        .map(|&x| (cdf(a, x) - cdf(b, x)).abs())
        .fold(0.0, f64::max)
}

fn floats(batch: &RecordBatch, column: &str) -> Vec<f64> {
    batch
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<Float64Array>()
        .unwrap()
        .values()
        .to_vec()
}

#[tokio::test]
async fn monitors_compare_a_training_split_with_a_time_window_and_splits_keep_statistics() {
    let (_dir, store) = sluice_testkit::fixtures::Fraud::rows(600)
        .seed(3)
        .ingested()
        .with_training_data("random:0.75:1")
        .with_definitions(MONITORS)
        .build()
        .await;
    let view = store
        .feature_view(&NameRef::parse("fraud:1").unwrap())
        .await
        .unwrap();
    let train = view.read_training_data(1, "train").await.unwrap();

    let splits = view.training_data_statistics(1, None).await.unwrap();
    let names: Vec<&str> = splits.iter().map(|s| s.split.as_str()).collect();
    assert_eq!(names, ["train", "test"]);
    let amount = splits[0].statistics.column("amount").unwrap();
    let values = floats(&train, "amount");
    assert_eq!(splits[0].statistics.rows, train.num_rows() as u64);
    assert_eq!(amount.count, values.len() as u64);
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    assert!((amount.mean.unwrap() - mean).abs() <= 1e-9 * mean);
    assert_eq!(amount.min, values.iter().copied().reduce(f64::min));

    let run = store.run_monitor("train_vs_activity").await.unwrap();
    assert_eq!(run.feature_group, "activity:1");
    let activity = sluice_testkit::fixtures::Fraud::rows(600)
        .seed(3)
        .activity();
    let ks = ks_by_brute_force(&values, &floats(&activity, "amount"));
    let amount = &run.features[0];
    assert_eq!(amount.reference_rows, train.num_rows() as u64);
    assert_eq!(amount.detection_rows, 600);
    let reported = amount.metrics.iter().find(|m| m.metric == "ks").unwrap();
    assert!(
        (reported.value.unwrap() - ks).abs() < 1e-12,
        "{reported:?} vs {ks}"
    );
    assert!(!run.drifted, "the train split is drawn from the same rows");
    assert_eq!(
        store.monitor_runs("train_vs_activity", 5).await.unwrap()[0].id,
        run.id
    );

    let err = store.run_monitor("misnamed").await.unwrap_err().to_string();
    assert!(
        err.starts_with("monitor 'misnamed': feature 'amont' is not a column of activity:1"),
        "{err}"
    );
    let err = store.run_monitor("nope").await.unwrap_err().to_string();
    assert_eq!(
        err,
        "no monitor 'nope' is defined (monitors: misnamed, train_vs_activity)"
    );
}
