//! `quickstart`: the whole loop on the embedded stores, in one command — a
//! feature pipeline of window aggregations, a feature view and a training
//! dataset, two models trained and the better one aliased, batch inference
//! over the last day, and the online server answering over HTTP — checking
//! its own results as it goes (online and batch predictions must agree).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use chrono::{DateTime, Utc};
use sluice_datagen::fraud::{fraud_data, FraudOptions};
use sluice_datagen::{write_batches, FileFormat};
use sluice_featurestore::{FeatureStore, NoProgress, TrainingDataOptions};
use sluice_pipelines::{
    predict, run_pipeline, train, PredictInput, PredictOptions, RunOptions, TrainOptions,
};
use sluice_types::config::ServerConfig;
use sluice_types::{NameRef, Split};

use crate::output::{user_error, write_batch};
use crate::progress::Bar;

/// Marks a directory as made by the quickstart, so that `--force` may replace it.
const MARKER: &str = ".sluice/quickstart";
/// The fraud example's definitions: one file, shared with `examples/fraud/`.
const DEFINITIONS: &str = include_str!("../../../../examples/fraud/features/fraud.toml");
const DAYS: i64 = 60;
/// Days at the end held out as the test split.
const TEST_DAYS: i64 = 14;
/// One-card HTTP predictions timed against the in-process server.
const REQUESTS: usize = 500;
/// Cards in the one HTTP request checked against batch inference.
const COMPARED_CARDS: i64 = 200;

pub struct QuickstartOptions<'a> {
    pub dir: &'a Path,
    pub transactions: usize,
    pub cards: i64,
    pub force: bool,
}

/// Step timings for the summary.
struct Steps(Vec<(String, Duration)>);

impl Steps {
    fn done(&mut self, step: &str, started: Instant) {
        let elapsed = started.elapsed();
        println!("   ({:.1} s)", elapsed.as_secs_f64());
        self.0.push((step.to_string(), elapsed));
    }
}

pub async fn run(options: &QuickstartOptions<'_>) -> Result<()> {
    let dir = options.dir;
    ensure!(
        options.transactions >= 10_000 && options.cards >= 100,
        user_error("--transactions must be at least 10000 and --cards at least 100")
    );
    let total = Instant::now();
    let mut steps = Steps(Vec::new());
    prepare(dir, options.force)?;

    let started = Instant::now();
    println!(
        "1. project {}: definitions, then generated data",
        dir.display()
    );
    FeatureStore::init(dir)?;
    std::fs::write(
        dir.join(MARKER),
        "created by `sluice quickstart`; safe to delete\n",
    )?;
    std::fs::remove_file(dir.join("features/example.toml")).ok();
    std::fs::write(dir.join("features/fraud.toml"), DEFINITIONS)?;
    let store = FeatureStore::open(dir).await?;
    store.apply(&store.plan().await?).await?;
    // The data ends an hour ago, so that "as of now" sees all of it.
    let end = Utc::now().timestamp_micros() - 3_600_000_000;
    let folder = dir.join("data");
    let data = write_fraud_data(&folder, options.transactions, options.cards, end)?;
    let frauds = data
        .transactions
        .column_by_name("is_fraud")
        .context("is_fraud")?
        .as_boolean()
        .true_count();
    println!(
        "   {} transactions over {DAYS} days for {} cards ({frauds} fraud, {:.2}%), features/fraud.toml applied",
        data.transactions.num_rows(),
        options.cards,
        100.0 * frauds as f64 / data.transactions.num_rows() as f64
    );
    steps.done("generate + apply", started);

    let started = Instant::now();
    println!("2. feature pipelines: window aggregations, labels, card profiles");
    let mut rows_out = Vec::new();
    for pipeline in ["card_activity", "fraud_labels"] {
        let summary = run_pipeline(&store, pipeline, &RunOptions::default(), &Bar::new()).await?;
        println!(
            "   run {} of {pipeline}: {} rows in, {} rows out to {}",
            summary.run_id, summary.rows_in, summary.rows_out, summary.sink
        );
        rows_out.push((summary.sink.clone(), summary.rows_out));
    }
    let profile = store
        .feature_group(&NameRef::parse("card_profile:1")?)
        .await?
        .ingest_files(&[folder.join("cards.csv")], &Bar::new())
        .await?;
    println!(
        "   ingested data/cards.csv into card_profile:1 ({} rows)",
        profile.rows
    );
    rows_out.push(("card_profile:1".into(), profile.rows));
    steps.done("feature pipelines", started);

    let started = Instant::now();
    let train_end = DateTime::from_timestamp_micros(end - TEST_DAYS * 86_400_000_000)
        .context("train end")?
        .to_rfc3339();
    let view = store.feature_view(&NameRef::parse("fraud:1")?).await?;
    let (td, record) = view
        .create_training_data(&TrainingDataOptions {
            start: None,
            end: None,
            split: Split::parse(&format!("time:{train_end}")).map_err(anyhow::Error::msg)?,
        })
        .await?;
    let split_rows: Vec<String> = record
        .splits
        .iter()
        .map(|s| format!("{} {}", s.name, s.rows))
        .collect();
    println!(
        "3. training dataset {td} of feature view fraud:1 (time split at {train_end}): {}\n   features: {} joined, request value amount, on-demand amount_to_mean_7d and hour_of_day",
        split_rows.join(", "),
        view.resolved().joined_columns().len()
    );
    steps.done("training dataset", started);

    let started = Instant::now();
    println!("4. training");
    let mut trained = Vec::new();
    for (algorithm, params) in [
        ("logistic_regression", vec![]),
        (
            "gbdt_classifier",
            vec![
                ("rounds", "80"),
                ("learning_rate", "0.15"),
                ("max_depth", "5"),
            ],
        ),
    ] {
        let report = train(
            &store,
            &TrainOptions {
                feature_view: NameRef::parse("fraud:1")?,
                training_dataset: td,
                algorithm: algorithm.into(),
                params: params
                    .into_iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                model: "fraud".into(),
                description: format!("quickstart {algorithm}"),
            },
            &Bar::new(),
        )
        .await?;
        println!(
            "   fraud:{} {algorithm:<20} test ROC AUC {:.4}  log loss {:.4}  ({} train rows)",
            report.version,
            report.metrics["roc_auc"],
            report.metrics["log_loss"],
            report.train_rows
        );
        trained.push(report);
    }
    let best = trained
        .iter()
        .max_by(|a, b| a.metrics["roc_auc"].total_cmp(&b.metrics["roc_auc"]))
        .context("two models trained")?;
    store
        .registry()
        .set_alias("fraud", "production", best.version)
        .await?;
    println!(
        "   fraud@production -> version {} ({})",
        best.version, best.algorithm
    );
    steps.done("training", started);

    let started = Instant::now();
    let last_day = DateTime::from_timestamp_micros(end - 86_400_000_000).context("last day")?;
    let (report, predictions) = predict(
        &store,
        &PredictOptions {
            model: "fraud@production".into(),
            input: PredictInput::Range {
                start: Some(last_day),
                end: None,
            },
            to_feature_group: Some("fraud_predictions".into()),
        },
        &Bar::new(),
    )
    .await?;
    let out = dir.join("predictions.parquet");
    write_batch(&predictions, &out).await?;
    println!(
        "5. batch inference over the last day: {} predictions -> feature group {} and {}",
        report.rows,
        report.feature_group.clone().unwrap_or_default(),
        out.display()
    );
    steps.done("batch inference", started);

    let started = Instant::now();
    let store = Arc::new(store);
    let online = serve_and_compare(&store, options.cards).await?;
    // What the server logged, counted in the log itself: one row per card predicted.
    let log = format!("fraud_log:{}", best.version);
    let logged = store
        .feature_group(&NameRef::parse(&log)?)
        .await?
        .count_rows()
        .await?;
    println!(
        "6. online server on {}: {} HTTP requests\n   {REQUESTS} one-card predictions timed: p50 {:.0} us, p99 {:.0} us\n   1 request for {} cards checked against batch inference: online = batch for {} cards (max difference {:.1e})",
        online.addr,
        REQUESTS + 1,
        online.p50_us,
        online.p99_us,
        online.compared,
        online.compared,
        online.max_difference,
    );
    steps.done("online serving", started);

    println!();
    println!("Summary ({:.1} s in all)", total.elapsed().as_secs_f64());
    for (group, rows) in &rows_out {
        println!("  feature group {group:<18} {rows:>9} rows");
    }
    println!(
        "  feature view  fraud:1            training dataset {td}: {}",
        split_rows.join(", ")
    );
    for t in &trained {
        println!(
            "  model         fraud:{} {:<20} ROC AUC {:.4}{}",
            t.version,
            t.algorithm,
            t.metrics["roc_auc"],
            if t.version == best.version {
                "  @production"
            } else {
                ""
            }
        );
    }
    println!(
        "  predictions   fraud_predictions:1 ({} rows), {}",
        report.rows,
        out.display()
    );
    println!(
        "  prediction log {log:<18} {logged:>9} rows ({REQUESTS} one-card requests + 1 request for {} cards)",
        online.compared
    );
    for (step, elapsed) in &steps.0 {
        println!("  {step:<20} {:>6.1} s", elapsed.as_secs_f64());
    }
    let project = dir.display();
    println!();
    println!("Explore:");
    println!("  sluice --project {project} list feature-groups");
    println!("  sluice --project {project} list runs");
    println!("  sluice --project {project} models list");
    println!("  sluice --project {project} serve --port 8080");
    println!("  curl -s localhost:8080/v2/models/fraud/infer -d '{{\"inputs\":[{{\"name\":\"card_id\",\"shape\":[1],\"datatype\":\"INT64\",\"data\":[7]}},{{\"name\":\"amount\",\"shape\":[1],\"datatype\":\"FP64\",\"data\":[250.0]}}]}}'");
    println!("  sluice --project {project} run daily_scoring");
    println!("  sluice --project {project} skew-check fraud@production");
    Ok(())
}

struct Online {
    addr: SocketAddr,
    p50_us: f64,
    p99_us: f64,
    compared: usize,
    max_difference: f64,
}

/// Starts the server in-process, times [`REQUESTS`] one-card predictions over
/// HTTP, and checks one request for [`COMPARED_CARDS`] cards against batch
/// inference as of now. The server logs every card of both.
async fn serve_and_compare(store: &Arc<FeatureStore>, cards: i64) -> Result<Online> {
    let server = sluice_server::start(
        store.clone(),
        ServerConfig::default(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    )
    .await?;
    let addr = server.addr;
    let url = format!("http://{addr}/v2/models/fraud/infer");
    let client = reqwest::Client::new();
    // A request carries the card and the transaction's amount (a request-time value).
    let amount = |card: i64| 12.5 + (card % 97) as f64 * 4.0;
    let body = |ids: &[i64]| {
        let amounts: Vec<f64> = ids.iter().map(|card| amount(*card)).collect();
        serde_json::json!({ "inputs": [
            { "name": "card_id", "shape": [ids.len()], "datatype": "INT64", "data": ids },
            { "name": "amount", "shape": [ids.len()], "datatype": "FP64", "data": amounts },
        ] })
        .to_string()
    };
    let mut samples = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        let card = (i as i64 * 7_919) % cards;
        let started = Instant::now();
        let response = client.post(&url).body(body(&[card])).send().await?;
        ensure!(
            response.status().is_success(),
            "the server answered {}",
            response.status()
        );
        response.bytes().await?;
        samples.push(started.elapsed());
    }
    let (p50, p99) = percentiles(&mut samples);

    let ids: Vec<i64> = (0..cards.min(COMPARED_CARDS)).collect();
    let answer: serde_json::Value = client
        .post(&url)
        .body(body(&ids))
        .send()
        .await?
        .json()
        .await?;
    let served: Vec<f64> = answer["outputs"][0]["data"]
        .as_array()
        .context("predictions in the answer")?
        .iter()
        .map(|v| v.as_f64().unwrap_or(f64::NAN))
        .collect();
    let (_, batch) = predict(
        store,
        &PredictOptions {
            model: "fraud@production".into(),
            input: PredictInput::AsOf {
                at: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                keys: vec![
                    ("card_id".into(), ids.iter().map(i64::to_string).collect()),
                    (
                        "amount".into(),
                        ids.iter().map(|card| amount(*card).to_string()).collect(),
                    ),
                ],
            },
            to_feature_group: None,
        },
        &NoProgress,
    )
    .await?;
    let offline = batch
        .column_by_name("prediction")
        .context("prediction column")?
        .as_primitive::<Float64Type>();
    let max_difference = served
        .iter()
        .zip(offline.values())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    ensure!(
        served.len() == ids.len() && max_difference <= 1e-9,
        "online and batch predictions differ by {max_difference} (skew)"
    );
    server.stop().await?;
    Ok(Online {
        addr,
        p50_us: p50.as_secs_f64() * 1e6,
        p99_us: p99.as_secs_f64() * 1e6,
        compared: ids.len(),
        max_difference,
    })
}

/// Generates the fraud data set ending at `end` into `folder`:
/// `transactions.parquet` and `cards.csv`.
pub fn write_fraud_data(
    folder: &Path,
    transactions: usize,
    cards: i64,
    end: i64,
) -> Result<sluice_datagen::fraud::FraudData> {
    let data = fraud_data(FraudOptions {
        transactions,
        cards,
        days: DAYS,
        end_micros: end,
        seed: 42,
    });
    std::fs::create_dir_all(folder)
        .with_context(|| format!("cannot create {}", folder.display()))?;
    write_batches(
        &folder.join("transactions.parquet"),
        FileFormat::Parquet,
        &data.transactions.schema(),
        std::iter::once(data.transactions.clone()),
    )?;
    write_batches(
        &folder.join("cards.csv"),
        FileFormat::Csv,
        &data.cards.schema(),
        std::iter::once(data.cards.clone()),
    )?;
    Ok(data)
}

fn prepare(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        if !dir.join(MARKER).exists() {
            return Err(user_error(format!(
                "{} exists and was not made by the quickstart; pass --dir with a new directory",
                dir.display()
            )));
        }
        if !force {
            return Err(user_error(format!(
                "{} holds an earlier quickstart; pass --force to replace it, or --dir for another folder",
                dir.display()
            )));
        }
        std::fs::remove_dir_all(dir).with_context(|| {
            format!("cannot clear the previous quickstart in {}", dir.display())
        })?;
        println!("replacing the previous quickstart in {}", dir.display());
    }
    std::fs::create_dir_all(dir.join(".sluice"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(())
}

/// The median and 99th percentile of `samples` (sorted in place).
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    (at(0.50), at(0.99))
}
