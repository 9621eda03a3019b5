//! Training end to end on the embedded stores: a view with transformations,
//! a training dataset, logistic regression and GBDT registered with metrics,
//! and artefacts that refuse to load when tampered with.

use arrow::array::{Array, AsArray, BooleanArray};
use arrow::datatypes::{Float64Type, Int64Type};
use sluice_featurestore::{FeatureStore, FeatureView, NoProgress, TrainingDataOptions};
use sluice_pipelines::{load_artefact, train, TrainOptions};
use sluice_testkit::fixtures::{Fraud, T0};
use sluice_testkit::primitive;
use sluice_types::{NameRef, Split};

/// 4,000 cards, fraud likely for large amounts at "online" merchants:
/// learnable, noisy; training dataset 1 split random:0.75:1.
fn fraud() -> Fraud {
    Fraud::rows(4_000)
        .seed(5)
        .ingested()
        .with_training_data("random:0.75:1")
}

async fn project() -> (tempfile::TempDir, FeatureStore) {
    fraud().build().await
}

async fn fraud_view(store: &FeatureStore) -> FeatureView<'_> {
    store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap()
}

/// Why training with `options` was refused.
async fn refusal(store: &FeatureStore, options: &TrainOptions) -> String {
    train(store, options, &NoProgress)
        .await
        .unwrap_err()
        .to_string()
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

    let record = store
        .registry()
        .model(&"fraud:1".parse().unwrap())
        .await
        .unwrap();
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
    let view = fraud_view(&store).await;
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
    let err = refusal(&store, &options("random_forest")).await;
    assert!(
        err.contains("'random_forest'") && err.contains("gbdt_classifier"),
        "{err}"
    );
    let mut bad = options("logistic_regression");
    bad.params.insert("alpha".into(), "1".into());
    let err = refusal(&store, &bad).await;
    assert!(err.contains("'alpha'") && err.contains("l2"), "{err}");
    let mut bad = options("logistic_regression");
    bad.training_dataset = 9;
    let err = refusal(&store, &bad).await;
    assert!(err.contains('9'), "{err}");
    assert!(
        store.registry().models().await.unwrap().is_empty(),
        "nothing registered"
    );
}

#[tokio::test]
async fn training_data_from_a_spine_file_keeps_its_rows_and_recreates() {
    let (dir, store) = project().await;
    let view = fraud_view(&store).await;
    // The oracle: each card's amount, from the dataset built on the spine group.
    let mut amount_of = std::collections::HashMap::new();
    for split in ["train", "test"] {
        let rows = view.read_training_data(1, split).await.unwrap();
        let cards = primitive::<Int64Type>(&rows, "card_id");
        let amounts = primitive::<Float64Type>(&rows, "amount");
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
    let got_cards = primitive::<Int64Type>(&rows, "card_id");
    let labels = rows.column_by_name("is_fraud").unwrap().as_boolean();
    let amounts = primitive::<Float64Type>(&rows, "amount");
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
    let newer = fraud().activity_rows(&[
        (0, T0 + 2_000_000, 0.5, "fuel"),
        (13, T0 + 2_000_000, 0.5, "fuel"),
    ]);
    sluice_testkit::fixtures::ingest(&store, "activity", newer).await;
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
    let before = store.registry().training_datasets().await.unwrap().len();
    let err = view
        .create_training_data_from_spine(&path, &options)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is_fraud"), "{err}");
    assert_eq!(
        store.registry().training_datasets().await.unwrap().len(),
        before
    );
}

/// The two ways a create can stop half way: its files moved but the record
/// not committed (a crash), and its files not movable (an error). Neither
/// leaves a record without files, and the next create repairs the first.
#[tokio::test]
async fn an_interrupted_training_dataset_create_leaves_no_record_without_files() {
    let (dir, store) = project().await;
    let view = fraud_view(&store).await;
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
    let listed = store.registry().training_datasets().await.unwrap();
    assert_eq!(listed.iter().map(|r| r.version).max(), Some(2));

    std::fs::remove_file(&blocked).unwrap();
    let (version, _) = view.create_training_data(&options).await.unwrap();
    assert_eq!(version, 3);
    assert_eq!(view.read_training_data(3, "train").await.unwrap(), first);
}
