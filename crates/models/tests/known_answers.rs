//! Transformations and metrics against scikit-learn's answers on the same
//! inputs (`known_answers/known_answers.json`, made by `known_answers/make.py`).

use arrow::array::{Array, AsArray, Float64Array, StringArray};
use arrow::datatypes::Float64Type;
use serde_json::Value;
use sluice_models::{classification_metrics, regression_metrics, FittedTransform, TransformKind};

fn answers() -> Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/known_answers/known_answers.json"
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

fn strings(value: &Value) -> StringArray {
    StringArray::from_iter_values(
        value
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap()),
    )
}

fn assert_close(got: &[f64], expected: &[f64], what: &str) {
    assert_eq!(got.len(), expected.len(), "{what}");
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (g - e).abs() <= 1e-9 * (1.0 + e.abs()),
            "{what}[{i}]: {g} vs {e}"
        );
    }
}

fn applied(transform: &FittedTransform, input: &dyn Array) -> Vec<Vec<f64>> {
    transform
        .apply(input)
        .unwrap()
        .iter()
        .map(|c| c.as_primitive::<Float64Type>().values().to_vec())
        .collect()
}

#[test]
fn scalers_match_scikit_learn() {
    let answers = answers();
    let train = Float64Array::from(floats(&answers["train"]));
    let test = Float64Array::from(floats(&answers["test"]));
    for name in [
        "standard_scaler",
        "min_max_scaler",
        "robust_scaler",
        "log1p",
    ] {
        let fitted =
            FittedTransform::fit(&TransformKind::parse(name).unwrap(), "amount", &train).unwrap();
        // Applied as stored: what training writes is what serving reads.
        let stored: FittedTransform =
            serde_json::from_str(&serde_json::to_string(&fitted).unwrap()).unwrap();
        assert_close(&applied(&stored, &test)[0], &floats(&answers[name]), name);
    }
}

#[test]
fn encoders_match_scikit_learn_and_handle_unknown_categories() {
    let answers = answers();
    let train = strings(&answers["categories_train"]);
    let test = strings(&answers["categories_test"]);
    let label = FittedTransform::fit(&TransformKind::LabelEncoder, "merchant", &train).unwrap();
    assert_close(
        &applied(&label, &test)[0],
        &floats(&answers["label_encoder"]),
        "label_encoder",
    );

    let one_hot = FittedTransform::fit(&TransformKind::OneHotEncoder, "merchant", &train).unwrap();
    let names: Vec<String> = answers["one_hot_names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    assert_eq!(one_hot.output_names(), names);
    let columns = applied(&one_hot, &test);
    let rows = answers["one_hot_encoder"].as_array().unwrap();
    for (row, expected) in rows.iter().enumerate() {
        let got: Vec<f64> = columns.iter().map(|c| c[row]).collect();
        assert_close(&got, &floats(expected), &format!("one_hot row {row}"));
    }
}

#[test]
fn imputers_fill_nulls_with_the_training_mean_or_a_constant() {
    let train = Float64Array::from(vec![Some(1.0), None, Some(5.0)]);
    let test = Float64Array::from(vec![None, Some(2.0)]);
    let mean = FittedTransform::fit(&TransformKind::ImputeMean, "x", &train).unwrap();
    assert_eq!(applied(&mean, &test)[0], vec![3.0, 2.0]);
    let constant = FittedTransform::fit(
        &TransformKind::parse("impute_constant:-1").unwrap(),
        "x",
        &train,
    )
    .unwrap();
    assert_eq!(applied(&constant, &test)[0], vec![-1.0, 2.0]);
}

#[test]
fn bad_names_and_types_are_named() {
    let err = TransformKind::parse("z_score").unwrap_err().to_string();
    assert!(
        err.contains("'z_score'") && err.contains("standard_scaler"),
        "{err}"
    );
    let text = StringArray::from(vec!["a"]);
    let err = FittedTransform::fit(&TransformKind::StandardScaler, "merchant", &text)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("'merchant'") && err.contains("a number"),
        "{err}"
    );
}

#[test]
fn metrics_match_scikit_learn() {
    let answers = answers();
    let labels: Vec<bool> = answers["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_bool().unwrap())
        .collect();
    let scores = floats(&answers["scores"]);
    let m = classification_metrics(&scores, &labels, 0.5).unwrap();
    for (name, got) in [
        ("roc_auc", m.roc_auc),
        ("log_loss", m.log_loss),
        ("accuracy", m.accuracy),
        ("precision", m.precision),
        ("recall", m.recall),
        ("f1", m.f1),
    ] {
        assert_close(&[got], &[answers[name].as_f64().unwrap()], name);
    }
    let r = regression_metrics(&floats(&answers["pred"]), &floats(&answers["y"])).unwrap();
    for (name, got) in [("rmse", r.rmse), ("mae", r.mae), ("r2", r.r2)] {
        assert_close(&[got], &[answers[name].as_f64().unwrap()], name);
    }
    assert!(classification_metrics(&[0.5], &[true, false], 0.5).is_err());
}

fn design(answers: &Value) -> sluice_models::Matrix {
    let rows = answers["X"].as_array().unwrap();
    let width = rows[0].as_array().unwrap().len();
    sluice_models::Matrix {
        values: rows.iter().flat_map(floats).collect(),
        width,
    }
}

#[test]
fn ridge_and_logistic_regression_match_scikit_learn() {
    let answers = answers();
    let x = design(&answers);
    let ridge = sluice_models::fit_ridge(&x, &floats(&answers["y_regression"]), 2.0).unwrap();
    let mut expected = floats(&answers["ridge_weights"]);
    expected.push(answers["ridge_intercept"].as_f64().unwrap());
    let mut got = ridge.weights.clone();
    got.push(ridge.intercept);
    assert_close(&got, &expected, "ridge");

    let logistic =
        sluice_models::fit_logistic(&x, &floats(&answers["y_classification"]), 2.0, 100).unwrap();
    let mut expected = floats(&answers["logistic_weights"]);
    expected.push(answers["logistic_intercept"].as_f64().unwrap());
    let mut got = logistic.weights.clone();
    got.push(logistic.intercept);
    // scikit-learn's L-BFGS stops at its tolerance; Newton's method reaches the optimum.
    for (g, e) in got.iter().zip(&expected) {
        assert!((g - e).abs() < 1e-6, "logistic: {got:?} vs {expected:?}");
    }
}
