//! Monolithic pipelines on the embedded stores: a chain of two feature
//! pipelines, a training pipeline and a batch-inference pipeline run as one
//! program from definition files; each step is a recorded run; a failing
//! step stops the chain, is named, and leaves earlier outputs intact.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use arrow::array::{Array, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use sluice_featurestore::RunStatus;
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_pipelines::{
    predict, run_any_pipeline, PredictInput, PredictOptions, RunOptions, RunOutcome,
};
use sluice_testkit::fixtures::{columns_toml, Fraud, T0};
use sluice_testkit::{latest_batch, primitive};

/// The pipelines over the fraud scenario's groups, ending in the chain
/// `daily`: both feature pipelines read the same files (transactions with
/// their labels).
fn pipelines() -> String {
    let source = columns_toml(&[
        ("card_id", "int64"),
        ("ts", "timestamp"),
        ("amount", "float64"),
        ("merchant", "string"),
        ("is_fraud", "bool"),
    ]);
    let feature_pipeline = |name: &str, sql: &str| {
        format!(
            r#"
[[pipeline]]
name = "{name}"
kind = "feature"
sink = "{name}:1"
transform = {{ sql = "{sql}" }}
[pipeline.source]
type = "files"
path = "data/transactions*.csv"
{source}"#
        )
    };
    let activity = feature_pipeline(
        "activity",
        "SELECT card_id, ts, amount, merchant FROM source",
    );
    let labels = feature_pipeline(
        "labels",
        "SELECT card_id, ts + INTERVAL '1 second' AS ts, is_fraud FROM source",
    );
    format!(
        r#"{activity}{labels}
[[pipeline]]
name = "train"
kind = "training"
feature_view = "fraud:1"
split = "random:0.75:3"
algorithm = "gbdt_classifier"
params = {{ rounds = 30, learning_rate = 0.2, max_depth = 3 }}
model = "fraud"
alias = "production"

[[pipeline]]
name = "score"
kind = "batch_inference"
model = "fraud@production"
start = 2026-01-02T00:00:00Z
sink = "fraud_predictions"
out = "out/predictions.parquet"

[[pipeline]]
name = "daily"
kind = "chain"
steps = ["activity", "labels", "train", "score"]
"#
    )
}

const SCORE_FROM: i64 = T0 + 86_400_000_000;
const ROWS: i64 = 3_000;

/// The groups and view of the fraud scenario, fed by the pipelines from files.
fn fraud() -> Fraud {
    Fraud::rows(ROWS)
        .seed(11)
        .risk_elsewhere(0.1)
        .online()
        .with_definitions(&pipelines())
}

/// One transaction a minute over 300 cards; fraud likely for large online amounts.
/// Returns the project and how many label rows fall at or after `SCORE_FROM`.
async fn project() -> (tempfile::TempDir, FeatureStore, usize) {
    let fraud = fraud();
    let (dir, store) = fraud.build().await;
    let mut csv = String::from("card_id,ts,amount,merchant,is_fraud\n");
    let mut scored = 0;
    for (i, transaction) in (0..).zip(fraud.transactions()) {
        let ts = T0 + i * 60_000_000;
        let time = chrono::DateTime::from_timestamp_micros(ts)
            .unwrap()
            .to_rfc3339();
        let amount = transaction.amount;
        writeln!(
            csv,
            "{},{time},{amount:.2},{},{}",
            i % 300,
            transaction.merchant,
            transaction.is_fraud
        )
        .unwrap();
        scored += usize::from(ts + 1_000_000 >= SCORE_FROM);
    }
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/transactions-1.csv"), csv).unwrap();
    (dir, store, scored)
}

fn read_parquet(path: &Path) -> RecordBatch {
    let file = std::fs::File::open(path).unwrap();
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

/// (card, time) -> prediction.
fn by_key(batch: &RecordBatch) -> BTreeMap<(i64, i64), f64> {
    let cards = primitive::<Int64Type>(batch, "card_id");
    let times = primitive::<TimestampMicrosecondType>(batch, "ts");
    let predictions = primitive::<Float64Type>(batch, "prediction");
    (0..batch.num_rows())
        .map(|i| ((cards.value(i), times.value(i)), predictions.value(i)))
        .collect()
}

#[tokio::test]
async fn a_chain_runs_features_training_and_batch_inference_as_one_program() {
    let (dir, store, scored) = project().await;
    let outcome = run_any_pipeline(&store, "daily", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    let RunOutcome::Chain(chain) = &outcome else {
        panic!("a chain outcome: {outcome:?}");
    };
    let step_runs: Vec<u64> = chain.steps.iter().map(RunOutcome::run_id).collect();
    assert_eq!(step_runs.len(), 4);

    // Each step is its own succeeded run; the chain's run lists them.
    for (step, run_id) in ["activity", "labels", "train", "score"]
        .iter()
        .zip(&step_runs)
    {
        let runs = store.registry().runs(Some(step)).await.unwrap();
        assert_eq!(runs.len(), 1, "{step}");
        assert_eq!(runs[0].id, *run_id, "{step}");
        assert_eq!(runs[0].progress.status, RunStatus::Succeeded, "{step}");
    }
    let chain_runs = store.registry().runs(Some("daily")).await.unwrap();
    assert_eq!(chain_runs[0].progress.status, RunStatus::Succeeded);
    assert_eq!(
        chain_runs[0].progress.state["step_runs"],
        serde_json::json!(step_runs)
    );

    // The training step made a training dataset, registered the model with
    // its run in the lineage, and moved the alias.
    let RunOutcome::Training(training) = &chain.steps[2] else {
        panic!("step 3 trains");
    };
    assert!(training.created_training_dataset);
    let model = store
        .registry()
        .model(&"fraud@production".parse().unwrap())
        .await
        .unwrap();
    assert_eq!(model.version, training.report.version);
    assert_eq!(model.spec.lineage.run_id, Some(step_runs[2]));
    assert_eq!(
        model.spec.lineage.training_dataset,
        training.report.training_dataset
    );
    assert!(
        model.spec.metrics["roc_auc"] > 0.7,
        "the data is learnable: {:?}",
        model.spec.metrics
    );

    // Batch inference wrote the same predictions to the file and the group,
    // one per label row in range, equal to a direct `predict` of that model.
    let file = read_parquet(&dir.path().join("out/predictions.parquet"));
    let group = latest_batch(&store, "fraud_predictions:1").await;
    assert_eq!(file.num_rows(), scored);
    assert_eq!(by_key(&file), by_key(&group));
    let (_, direct) = predict(
        &store,
        &PredictOptions {
            model: format!("fraud:{}", model.version),
            input: PredictInput::Range {
                start: chrono::DateTime::from_timestamp_micros(SCORE_FROM),
                end: None,
            },
            to_feature_group: None,
        },
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(by_key(&file), by_key(&direct));
    let versions = primitive::<Int64Type>(&file, "model_version");
    assert_eq!(versions.null_count(), 0);
    assert!(versions
        .values()
        .iter()
        .all(|v| *v == i64::from(model.version)));
}

/// Runs `pipeline` once `from` reads `to` in the definitions; why it failed.
async fn run_changed(
    dir: &tempfile::TempDir,
    store: &FeatureStore,
    pipeline: &str,
    from: &str,
    to: &str,
) -> sluice_pipelines::Error {
    let changed = fraud().definitions().replace(from, to);
    std::fs::write(dir.path().join("features/fraud.toml"), changed).unwrap();
    run_any_pipeline(store, pipeline, &RunOptions::default(), &NoProgress)
        .await
        .unwrap_err()
}

#[tokio::test]
async fn a_failing_step_stops_the_chain_and_is_named() {
    let (dir, store, _) = project().await;
    run_any_pipeline(&store, "daily", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    let before = read_parquet(&dir.path().join("out/predictions.parquet"));
    let group_before = latest_batch(&store, "fraud_predictions:1").await.num_rows();

    // A bad hyperparameter: the third step fails, the fourth never starts.
    let err = run_changed(&dir, &store, "daily", "rounds = 30,", "rounds = \"many\",").await;
    let message = err.to_string();
    assert!(
        message.contains("chain 'daily' stopped at step 3 of 4, 'train'")
            && message.contains("rounds"),
        "{message}"
    );
    assert!(err.kind().is_caller_fault());
    let chain_runs = store.registry().runs(Some("daily")).await.unwrap();
    let failed = chain_runs.iter().max_by_key(|r| r.id).unwrap();
    assert_eq!(failed.progress.status, RunStatus::Failed);
    assert!(failed
        .progress
        .error
        .as_deref()
        .unwrap()
        .contains("'train'"));
    assert_eq!(
        failed.progress.state["step_runs"].as_array().unwrap().len(),
        2
    );
    let train_runs = store.registry().runs(Some("train")).await.unwrap();
    assert_eq!(train_runs.len(), 2);
    assert_eq!(
        train_runs
            .iter()
            .max_by_key(|r| r.id)
            .unwrap()
            .progress
            .status,
        RunStatus::Failed
    );
    assert_eq!(store.registry().runs(Some("score")).await.unwrap().len(), 1);
    assert_eq!(store.registry().models().await.unwrap().len(), 1);

    // A batch-inference run whose model cannot be resolved fails without
    // touching the file or the group of the last good run.
    let err = run_changed(
        &dir,
        &store,
        "score",
        "model = \"fraud@production\"",
        "model = \"fraud@nope\"",
    )
    .await;
    assert!(err.to_string().contains("nope"), "{err}");
    let after = read_parquet(&dir.path().join("out/predictions.parquet"));
    assert_eq!(by_key(&before), by_key(&after));
    assert_eq!(
        latest_batch(&store, "fraud_predictions:1").await.num_rows(),
        group_before
    );
}
