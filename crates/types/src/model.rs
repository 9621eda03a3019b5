//! Registered models: what the model registry records about each version.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One input or output column of a model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelColumn {
    /// The column's name: a transformed feature for inputs; for the output,
    /// `LABEL_probability` (classifiers) or `LABEL_prediction` (regressors).
    pub name: String,
    /// The column type as written in definitions (`float64`); `type` in JSON.
    #[serde(rename = "type")]
    pub column_type: String,
}

/// Where a model came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelLineage {
    /// The feature view whose training dataset the model learnt from.
    pub feature_view: String,
    /// That view's version.
    pub feature_view_version: u32,
    /// The training dataset's number within the view version.
    pub training_dataset: u32,
    /// The catalog run (`sluice list runs`) that trained or imported it, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<u64>,
}

/// A model version as the registry records it. The artefact itself is a
/// file whose blake3 hash is recorded here and checked on every load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    /// The model's name; the registry numbers its versions.
    pub name: String,
    /// How it was made: `logistic_regression`, `gbdt_classifier` and the other
    /// built-in algorithms, or `onnx` for an imported model.
    pub algorithm: String,
    /// The parameters it was trained with, as given (`l2` = `0.5`); for an
    /// import, the ONNX file's name and the output used.
    pub params: BTreeMap<String, String>,
    /// An undefined metric (NaN, such as ROC AUC on a test split that holds
    /// one class) is recorded as JSON `null` and reads back as NaN.
    #[serde(with = "metric_values")]
    pub metrics: BTreeMap<String, f64>,
    /// Feature names and types after transformations, in the model's input order.
    pub inputs: Vec<ModelColumn>,
    /// What it predicts, one column per output.
    pub outputs: Vec<ModelColumn>,
    /// The data it was trained on and the run that made it.
    pub lineage: ModelLineage,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Relative to the project's model directory.
    pub artefact: String,
    /// The artefact's blake3 hash in hex; a file that does not match is refused at load.
    pub artefact_hash: String,
}

/// JSON has no NaN: serde_json writes one as `null`, and a plain `f64`
/// refuses `null` on the way back, which left a registered model unreadable.
mod metric_values {
    use super::*;

    pub fn serialize<S: Serializer>(
        metrics: &BTreeMap<String, f64>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_map(
            metrics
                .iter()
                .map(|(name, value)| (name, value.is_finite().then_some(*value))),
        )
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        let metrics = BTreeMap::<String, Option<f64>>::deserialize(d)?;
        Ok(metrics
            .into_iter()
            .map(|(name, value)| (name, value.unwrap_or(f64::NAN)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_undefined_metric_is_null_in_json_and_nan_when_read_back() {
        let spec = ModelSpec {
            name: "fraud".into(),
            algorithm: "gbdt".into(),
            params: BTreeMap::new(),
            metrics: BTreeMap::from([("roc_auc".into(), f64::NAN), ("log_loss".into(), 0.25)]),
            inputs: vec![],
            outputs: vec![],
            lineage: ModelLineage {
                feature_view: "fraud".into(),
                feature_view_version: 1,
                training_dataset: 1,
                run_id: None,
            },
            description: String::new(),
            artefact: "fraud/1.json".into(),
            artefact_hash: "00".into(),
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json["metrics"],
            serde_json::json!({ "log_loss": 0.25, "roc_auc": null })
        );
        let back: ModelSpec = serde_json::from_value(json).unwrap();
        assert!(back.metrics["roc_auc"].is_nan());
        assert_eq!(back.metrics["log_loss"], 0.25);
    }
}
