//! Training end to end on the embedded stores: a view with transformations,
//! a training dataset, logistic regression and GBDT registered with metrics,
//! and artefacts that refuse to load when tampered with.

use std::sync::Arc;

use arrow::array::{Array, AsArray};
use arrow::array::{
    BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use rand::{Rng, SeedableRng};
use sluice_featurestore::{FeatureStore, NoProgress, TrainingDataOptions};
use sluice_pipelines::{load_artefact, train, TrainOptions};
use sluice_types::{NameRef, Split};

const DEFINITIONS: &str = r#"
[[feature_group]]
name = "labels"
version = 1
primary_key = ["card_id"]
event_time = "ts"
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "is_fraud", type = "bool" },
]

[[feature_group]]
name = "activity"
version = 1
primary_key = ["card_id"]
event_time = "ts"
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount", type = "float64" },
  { name = "merchant", type = "string" },
]

[[feature_view]]
name = "fraud"
version = 1
spine = "labels:1"
labels = ["is_fraud"]
joins = [{ feature_group = "activity:1", on = ["card_id"], select = ["amount", "merchant"] }]
transforms = { amount = "standard_scaler", merchant = "one_hot_encoder" }
"#;

const T0: i64 = 1_767_225_600_000_000;

fn utc(values: Vec<i64>) -> Arc<TimestampMicrosecondArray> {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

/// Fraud is likely for large amounts at "online" merchants: learnable, noisy.
async fn project() -> (tempfile::TempDir, FeatureStore) {
    let dir = tempfile::tempdir().unwrap();
    FeatureStore::init(dir.path()).unwrap();
    std::fs::write(dir.path().join("features/example.toml"), DEFINITIONS).unwrap();
    let store = FeatureStore::open(dir.path()).await.unwrap();
    store.apply(&store.plan().await.unwrap()).await.unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
    let n = 4_000i64;
    let merchants = ["grocery", "fuel", "online", "travel"];
    let mut amounts = Vec::new();
    let mut chosen = Vec::new();
    let mut fraud = Vec::new();
    for _ in 0..n {
        let amount: f64 = rng.random_range(1.0..1_000.0);
        let merchant = merchants[rng.random_range(0..4)];
        let risk = (amount / 1_000.0) * if merchant == "online" { 0.9 } else { 0.2 };
        fraud.push(rng.random_range(0.0..1.0) < risk);
        amounts.push(amount);
        chosen.push(merchant);
    }
    let cards: Vec<i64> = (0..n).collect();
    let activity = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("amount", DataType::Float64, false),
            Field::new("merchant", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(cards.clone())),
            utc(vec![T0; n as usize]),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(StringArray::from(chosen)),
        ],
    )
    .unwrap();
    let labels = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("is_fraud", DataType::Boolean, false),
        ])),
        vec![
            Arc::new(Int64Array::from(cards)),
            utc(vec![T0 + 1_000_000; n as usize]),
            Arc::new(BooleanArray::from(fraud)),
        ],
    )
    .unwrap();
    for (group, batch) in [("activity", activity), ("labels", labels)] {
        store
            .feature_group(&NameRef::parse(group).unwrap())
            .await
            .unwrap()
            .ingest_batches([batch], "test", &NoProgress)
            .await
            .unwrap();
    }
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    let options = TrainingDataOptions {
        start: None,
        end: None,
        split: Split::parse("random:0.75:1").unwrap(),
    };
    view.create_training_data(&options).await.unwrap();
    (dir, store)
}

fn options(algorithm: &str) -> TrainOptions {
    TrainOptions {
        feature_view: NameRef::parse("fraud").unwrap(),
        training_dataset: 1,
        algorithm: algorithm.to_string(),
        params: Default::default(),
        model: "fraud".into(),
        description: "test".into(),
    }
}

#[tokio::test]
async fn trains_registers_and_guards_artefacts() {
    let (dir, store) = project().await;
    let logistic = train(&store, &options("logistic_regression"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(logistic.version, 1);
    assert!(logistic.metrics["roc_auc"] > 0.75, "{:?}", logistic.metrics);
    let gbdt = train(&store, &options("gbdt_classifier"), &NoProgress)
        .await
        .unwrap();
    assert_eq!(gbdt.version, 2);
    assert!(gbdt.metrics["roc_auc"] > 0.75, "{:?}", gbdt.metrics);
    assert!(gbdt.rounds.unwrap() >= 1);

    let record = store.catalog().model("fraud", Some(1)).await.unwrap();
    assert_eq!(record.spec.lineage.feature_view, "fraud");
    assert_eq!(record.spec.lineage.training_dataset, 1);
    let inputs: Vec<&str> = record.spec.inputs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        inputs,
        [
            "amount",
            "merchant=fuel",
            "merchant=grocery",
            "merchant=online",
            "merchant=travel"
        ]
    );

    // The artefact predicts what training evaluated: same metrics from a fresh load.
    let artefact = load_artefact(&store, &record.spec).await.unwrap();
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    let test = view.read_training_data(1, "test").await.unwrap();
    let predictions = artefact.predict(&test).unwrap();
    let labels: Vec<bool> = test
        .column_by_name("is_fraud")
        .unwrap()
        .as_any()
        .downcast_ref::<BooleanArray>()
        .unwrap()
        .iter()
        .map(Option::unwrap)
        .collect();
    let again = sluice_models::classification_metrics(&predictions, &labels, 0.5).unwrap();
    assert_eq!(again.roc_auc, logistic.metrics["roc_auc"]);

    // Tampering is refused at load time, never a wrong prediction.
    // Beside the offline tables (the project's default offline store is .sluice/offline).
    let path = dir
        .path()
        .join(".sluice/offline/.models")
        .join(&record.spec.artefact);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen("\"mean\"", "\"mean\" ", 1)).unwrap();
    let err = load_artefact(&store, &record.spec)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("unusable") && err.contains("hash"), "{err}");
    std::fs::remove_file(&path).unwrap();
    let err = load_artefact(&store, &record.spec)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&record.spec.artefact), "{err}");
}

#[tokio::test]
async fn bad_training_requests_are_named() {
    let (_dir, store) = project().await;
    let err = train(&store, &options("random_forest"), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'random_forest'") && err.contains("gbdt_classifier"),
        "{err}"
    );
    let mut bad = options("logistic_regression");
    bad.params.insert("alpha".into(), "1".into());
    let err = train(&store, &bad, &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("'alpha'") && err.contains("l2"), "{err}");
    let mut bad = options("logistic_regression");
    bad.training_dataset = 9;
    let err = train(&store, &bad, &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains('9'), "{err}");
    assert!(
        store.catalog().models().await.unwrap().is_empty(),
        "nothing registered"
    );
}

#[tokio::test]
async fn training_data_from_a_spine_file_keeps_its_rows_and_recreates() {
    let (dir, store) = project().await;
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    // The oracle: each card's amount, from the dataset built on the spine group.
    let mut amount_of = std::collections::HashMap::new();
    for split in ["train", "test"] {
        let rows = view.read_training_data(1, split).await.unwrap();
        let cards = rows
            .column_by_name("card_id")
            .unwrap()
            .as_primitive::<Int64Type>();
        let amounts = rows
            .column_by_name("amount")
            .unwrap()
            .as_primitive::<Float64Type>();
        for i in 0..rows.num_rows() {
            amount_of.insert(cards.value(i), amounts.value(i));
        }
    }

    // Every 13th card at a later time with labels of our own, and a card the store lacks.
    let mut csv = String::from("card_id,ts,is_fraud\n");
    let spine_time = chrono::DateTime::from_timestamp_micros(T0 + 5_000_000).unwrap();
    let cards: Vec<i64> = (0..4_000).step_by(13).chain([999_999]).collect();
    for card in &cards {
        csv.push_str(&format!(
            "{card},{},{}\n",
            spine_time.to_rfc3339(),
            card % 2 == 0
        ));
    }
    let path = dir.path().join("spine.csv");
    std::fs::write(&path, csv).unwrap();
    let options = TrainingDataOptions {
        start: None,
        end: None,
        split: Split::None,
    };
    let (td, record) = view
        .create_training_data_from_spine(&path, &options)
        .await
        .unwrap();
    let kept = record.spine_file.as_ref().unwrap();
    assert_eq!(kept.rows, cards.len() as u64);
    assert!(
        !record.commits.contains_key("labels:1"),
        "{:?}",
        record.commits
    );

    let rows = view.read_training_data(td, "all").await.unwrap();
    assert_eq!(rows.num_rows(), cards.len());
    let got_cards = rows
        .column_by_name("card_id")
        .unwrap()
        .as_primitive::<Int64Type>();
    let labels = rows.column_by_name("is_fraud").unwrap().as_boolean();
    let amounts = rows
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    for i in 0..rows.num_rows() {
        let card = got_cards.value(i);
        assert_eq!(
            labels.value(i),
            card % 2 == 0,
            "the file's label for {card}"
        );
        match amount_of.get(&card) {
            Some(amount) => assert_eq!(amounts.value(i), *amount, "card {card}"),
            None => assert!(amounts.is_null(i), "card {card} is unknown to the store"),
        }
    }

    // Newer rows that a fresh join would see do not change a recreate.
    let newer = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                false,
            ),
            Field::new("amount", DataType::Float64, false),
            Field::new("merchant", DataType::Utf8, false),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![0, 13])),
            utc(vec![T0 + 2_000_000; 2]),
            Arc::new(Float64Array::from(vec![0.5, 0.5])),
            Arc::new(StringArray::from(vec!["fuel", "fuel"])),
        ],
    )
    .unwrap();
    store
        .feature_group(&NameRef::parse("activity").unwrap())
        .await
        .unwrap()
        .ingest_batches([newer], "test", &NoProgress)
        .await
        .unwrap();
    view.recreate_training_data(td).await.unwrap();

    // The kept spine is checked too.
    let kept_path = dir.path().join(view.dataset_dir(td)).join("spine.parquet");
    let all = std::fs::read(dir.path().join(view.dataset_dir(td)).join("all.parquet")).unwrap();
    std::fs::write(&kept_path, all).unwrap();
    let err = view
        .recreate_training_data(td)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("spine"), "{err}");

    // A file without the labels is refused by name; nothing is recorded.
    std::fs::write(&path, "card_id,ts\n1,2026-01-01T00:00:05Z\n").unwrap();
    let before = store.catalog().training_datasets().await.unwrap().len();
    let err = view
        .create_training_data_from_spine(&path, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is_fraud"), "{err}");
    assert_eq!(
        store.catalog().training_datasets().await.unwrap().len(),
        before
    );
}

/// The two ways a create can stop half way: its files moved but the record
/// not committed (a crash), and its files not movable (an error). Neither
/// leaves a record without files, and the next create repairs the first.
#[tokio::test]
async fn an_interrupted_training_dataset_create_leaves_no_record_without_files() {
    let (dir, store) = project().await;
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    let options = TrainingDataOptions {
        start: None,
        end: None,
        split: Split::parse("random:0.75:1").unwrap(),
    };
    // Datasets live at <root>/<view>_v<version>/td<N>; staging directories at <root>/tmp-*.
    let first_dir = dir.path().join(view.dataset_dir(1));
    let training_root = first_dir.parent().unwrap().parent().unwrap().to_path_buf();

    // A crash after the move: td2's directory is there, its record is not.
    let stale = dir.path().join(view.dataset_dir(2));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::write(stale.join("train.parquet"), "left by a killed process").unwrap();
    let (version, _) = view.create_training_data(&options).await.unwrap();
    assert_eq!(version, 2, "the stale directory held no version");
    let train = view.read_training_data(2, "train").await.unwrap();
    let first = view.read_training_data(1, "train").await.unwrap();
    assert_eq!(
        train, first,
        "the same data, read from the replaced directory"
    );

    // A move that fails: td3's place is taken by a file that cannot be replaced as a directory.
    let blocked = dir.path().join(view.dataset_dir(3));
    std::fs::write(&blocked, "not a directory").unwrap();
    let err = view
        .create_training_data(&options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("version 3 was not recorded") && err.contains("td3"),
        "{err}"
    );
    assert!(
        view.read_training_data(3, "train").await.is_err(),
        "no record"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&training_root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "staged files removed: {leftovers:?}");
    let listed = store.catalog().training_datasets().await.unwrap();
    assert_eq!(listed.iter().map(|r| r.version).max(), Some(2));

    std::fs::remove_file(&blocked).unwrap();
    let (version, _) = view.create_training_data(&options).await.unwrap();
    assert_eq!(version, 3);
    assert_eq!(view.read_training_data(3, "train").await.unwrap(), first);
}
