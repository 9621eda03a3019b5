//! Importing ONNX models end to end: registered against a training dataset,
//! scored as a model trained here would be, and refused (with nothing
//! registered) when it does not fit the feature view. The models and
//! onnxruntime's answers come from `scripts/onnx_fixtures.py`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::Int64Type;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::{import_onnx, load_artefact, ImportOptions};
use sluice_testkit::fixtures::{
    create_training_data, feature_group_toml, ingest, utc, Project, T0,
};
use sluice_testkit::primitive;
use sluice_types::NameRef;

/// `outcomes` (the labels) and `measurements` (four features) by `id`, and
/// two views of them: `points` with every feature, `narrow` without `f3`.
fn definitions() -> String {
    let view = |name: &str, features: &str| {
        format!(
            r#"[[feature_view]]
name = "{name}"
version = 1
spine = "outcomes:1"
labels = ["label"]
joins = [{{ feature_group = "measurements:1", on = ["id"], select = [{features}] }}]
"#
        )
    };
    let key_and_time = [("id", "int64"), ("ts", "timestamp")];
    let features = ["f0", "f1", "f2", "f3"].map(|f| (f, "float64"));
    [
        feature_group_toml(
            "outcomes",
            &[&key_and_time[..], &[("label", "int64")]].concat(),
        ),
        feature_group_toml("measurements", &[&key_and_time[..], &features].concat()),
        view("points", r#""f0", "f1", "f2", "f3""#),
        view("narrow", r#""f0", "f1", "f2""#),
    ]
    .join("\n")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../models/tests/fixtures/onnx")
        .join(name)
}

struct Scored {
    columns: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Scored {
    fn read() -> Self {
        let text = std::fs::read_to_string(fixture("scored.csv")).unwrap();
        let mut lines = text.lines();
        let columns = lines.next().unwrap().split(',').map(String::from).collect();
        let rows = lines
            .map(|l| l.split(',').map(String::from).collect())
            .collect();
        Scored { columns, rows }
    }

    fn column<T: std::str::FromStr>(&self, name: &str) -> Vec<T>
    where
        T::Err: std::fmt::Debug,
    {
        let at = self.columns.iter().position(|c| c == name).unwrap();
        self.rows.iter().map(|r| r[at].parse().unwrap()).collect()
    }
}

async fn project(scored: &Scored) -> (tempfile::TempDir, FeatureStore) {
    let (dir, store) = Project::new()
        .with_file("features/points.toml", &definitions())
        .applied()
        .await;
    let ids: Vec<i64> = scored.column("id");
    let at = |offset: i64| utc(vec![T0 + offset; ids.len()]);
    let mut measurements: Vec<(&str, Arc<dyn arrow::array::Array>)> = vec![
        ("id", Arc::new(Int64Array::from(ids.clone()))),
        ("ts", at(0)),
    ];
    for f in ["f0", "f1", "f2", "f3"] {
        measurements.push((f, Arc::new(Float64Array::from(scored.column::<f64>(f)))));
    }
    let outcomes: Vec<(&str, Arc<dyn arrow::array::Array>)> = vec![
        ("id", Arc::new(Int64Array::from(ids.clone()))),
        ("ts", at(1_000_000)),
        (
            "label",
            Arc::new(Int64Array::from(scored.column::<i64>("label"))),
        ),
    ];
    for (group, columns) in [("measurements", measurements), ("outcomes", outcomes)] {
        ingest(&store, group, RecordBatch::try_from_iter(columns).unwrap()).await;
    }
    for view in ["points", "narrow"] {
        create_training_data(&store, view, "random:0.5:3").await;
    }
    (dir, store)
}

fn options(model: &str, file: &str, view: &str) -> ImportOptions {
    ImportOptions {
        model: model.into(),
        onnx: fixture(file),
        feature_view: NameRef::parse(view).unwrap(),
        training_dataset: 1,
        output: None,
        description: "from scikit-learn".into(),
    }
}

#[tokio::test]
async fn imported_models_predict_what_onnxruntime_predicted() {
    let scored = Scored::read();
    let (_dir, store) = project(&scored).await;
    let view = store
        .feature_view(&NameRef::parse("points").unwrap())
        .await
        .unwrap();
    let ids: Vec<i64> = scored.column("id");
    for model in ["logistic", "forest"] {
        let report = import_onnx(&store, &options(model, &format!("{model}.onnx"), "points"))
            .await
            .unwrap();
        assert_eq!(report.version, 1);
        assert_eq!(report.features, ["f0", "f1", "f2", "f3"]);
        assert!(report.metrics["roc_auc"] > 0.6, "{:?}", report.metrics);

        let record = store
            .registry()
            .model(&model.parse().unwrap())
            .await
            .unwrap();
        assert_eq!(record.spec.algorithm, "onnx");
        assert_eq!(record.spec.lineage.run_id, Some(report.run_id));
        assert_eq!(record.spec.outputs[0].name, "label_probability");
        let artefact = load_artefact(&store, &record.spec).await.unwrap();

        // Every row of the dataset, through the registered artefact, against onnxruntime.
        let expected: HashMap<i64, f64> = ids
            .iter()
            .copied()
            .zip(scored.column::<f64>(&format!("{model}_probability")))
            .collect();
        let mut checked = 0;
        for split in ["train", "test"] {
            let rows = view.read_training_data(1, split).await.unwrap();
            let predictions = artefact.predict(&rows).unwrap();
            let row_ids = primitive::<Int64Type>(&rows, "id");
            for (id, got) in row_ids.values().iter().zip(predictions) {
                let want = expected[id];
                assert!(
                    (got - want).abs() <= 1e-5,
                    "{model}, id {id}: {got} vs {want}"
                );
                checked += 1;
            }
        }
        assert_eq!(checked, ids.len());
    }
}

#[tokio::test]
async fn models_that_do_not_fit_the_view_are_refused_and_nothing_is_registered() {
    let scored = Scored::read();
    let (dir, store) = project(&scored).await;

    let err = import_onnx(&store, &options("wide", "logistic.onnx", "narrow"))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("takes 4 features")
            && err.contains("narrow:1 gives 3")
            && err.contains("f0, f1, f2"),
        "{err}"
    );

    let missing = import_onnx(&store, &options("gone", "nowhere.onnx", "points"))
        .await
        .unwrap_err()
        .to_string();
    assert!(missing.contains("nowhere.onnx"), "{missing}");

    let junk = dir.path().join("junk.onnx");
    std::fs::write(&junk, b"\x08\x07 not a model").unwrap();
    let mut bad = options("junk", "logistic.onnx", "points");
    bad.onnx = junk;
    let err = import_onnx(&store, &bad).await.unwrap_err().to_string();
    assert!(err.contains("junk.onnx") && err.contains("ONNX"), "{err}");

    let mut no_such_output = options("logistic", "logistic.onnx", "points");
    no_such_output.output = Some("scores".into());
    let err = import_onnx(&store, &no_such_output)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no output 'scores'"), "{err}");

    let mut unknown_td = options("logistic", "logistic.onnx", "points");
    unknown_td.training_dataset = 7;
    let err = import_onnx(&store, &unknown_td)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no version 7"), "{err}");

    assert!(
        store.registry().models().await.unwrap().is_empty(),
        "nothing registered"
    );
}
