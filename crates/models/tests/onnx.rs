//! Imported ONNX models against onnxruntime's answers for the same rows,
//! both made by `scripts/onnx_fixtures.py` and committed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Float64Array, RecordBatch};
use sluice_models::{Estimator, Matrix, ModelArtefact, OnnxModel, Preprocessor, ARTEFACT_FORMAT};

const FEATURES: [&str; 4] = ["f0", "f1", "f2", "f3"];

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/onnx")
        .join(name)
}

/// The scored rows' features and onnxruntime's probability per model.
fn scored() -> (Vec<[f64; 4]>, BTreeMap<String, Vec<f64>>) {
    let text = std::fs::read_to_string(fixture("scored.csv")).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let mut rows = Vec::new();
    let mut expected: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in lines {
        let cells: Vec<&str> = line.split(',').collect();
        let value = |name: &str| -> f64 {
            let at = header.iter().position(|h| *h == name).unwrap();
            cells[at].parse().unwrap()
        };
        rows.push(FEATURES.map(value));
        for model in ["logistic", "forest"] {
            let column = format!("{model}_probability");
            expected
                .entry(model.into())
                .or_default()
                .push(value(&column));
        }
    }
    (rows, expected)
}

fn load(name: &str) -> OnnxModel {
    let bytes = std::fs::read(fixture(&format!("{name}.onnx"))).unwrap();
    OnnxModel::load(bytes, None, name).unwrap()
}

#[test]
fn imported_models_match_onnxruntime() {
    let (rows, expected) = scored();
    let x = Matrix {
        values: rows.iter().flatten().copied().collect(),
        width: 4,
    };
    for model in ["logistic", "forest"] {
        let onnx = load(model);
        assert_eq!((onnx.width(), onnx.output()), (4, "probabilities"));
        let got = onnx.predict(&x).unwrap();
        assert_eq!(got.len(), rows.len());
        for (row, (got, want)) in got.iter().zip(&expected[model]).enumerate() {
            assert!(
                (got - want).abs() <= 1e-5,
                "{model}, row {row}: {got} vs onnxruntime's {want}"
            );
        }
        // Not a constant: the fixture's rows get different answers.
        assert!(got.iter().any(|p| (p - got[0]).abs() > 0.1), "{model}");
    }
}

#[test]
fn an_imported_model_round_trips_through_its_artefact() {
    let (rows, expected) = scored();
    let columns: Vec<(&str, Arc<dyn arrow::array::Array>)> = FEATURES
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Float64Array = rows.iter().map(|r| Some(r[i])).collect();
            (*name, Arc::new(values) as _)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(columns).unwrap();
    let features: Vec<String> = FEATURES.iter().map(|f| f.to_string()).collect();
    let artefact = ModelArtefact {
        format: ARTEFACT_FORMAT,
        algorithm: "onnx".into(),
        label: "label".into(),
        preprocessor: Preprocessor::fit(&batch, &features, &BTreeMap::new()).unwrap(),
        estimator: Estimator::Onnx(load("logistic")),
    };
    let bytes = artefact.to_bytes();
    let loaded = ModelArtefact::from_bytes(&bytes, &ModelArtefact::hash(&bytes), "test").unwrap();
    assert_eq!(loaded, artefact);
    let got = loaded.predict(&batch).unwrap();
    for (got, want) in got.iter().zip(&expected["logistic"]) {
        assert!((got - want).abs() <= 1e-5, "{got} vs {want}");
    }
}

#[test]
fn unusable_models_are_refused_with_the_reason() {
    let err = OnnxModel::load(b"not onnx".to_vec(), None, "junk.onnx")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("junk.onnx") && err.contains("not a readable ONNX model"),
        "{err}"
    );

    let bytes = std::fs::read(fixture("forest.onnx")).unwrap();
    let err = OnnxModel::load(bytes.clone(), Some("score"), "forest.onnx")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("no output 'score'") && err.contains("probabilities"),
        "{err}"
    );
    // `label` is the class as an integer, not a score.
    let err = OnnxModel::load(bytes, Some("label"), "forest.onnx")
        .unwrap_err()
        .to_string();
    assert!(err.contains("output 'label' has type"), "{err}");

    let narrow = Matrix {
        values: vec![0.0; 6],
        width: 3,
    };
    let err = load("logistic").predict(&narrow).unwrap_err().to_string();
    assert!(err.contains("takes 4 features, the rows have 3"), "{err}");
}
