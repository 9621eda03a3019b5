//! Importing a model trained elsewhere: an ONNX file registered against a
//! feature view's training dataset, so that it is served, batch-scored and
//! monitored like a model trained here. The view's transforms are fitted on
//! the dataset's train split, as training does; the ONNX model must take
//! exactly the transformed features, in the view's order.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use sluice_featurestore::FeatureStore;
use sluice_models::{Estimator, ModelArtefact, OnnxModel, ARTEFACT_FORMAT};
use sluice_types::NameRef;

use crate::run_log::RunLog;
use crate::training::{
    fit_preprocessor, invalid_in, labels, score, single_label, train_and_test, Registration,
};
use crate::{Error, Result};

/// The algorithm name imported models are registered under.
pub const ONNX_ALGORITHM: &str = "onnx";

/// What [`import_onnx`] registers, and the training data it is checked against.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The name to register under; the model gets that name's next version.
    pub model: String,
    /// The ONNX file to import.
    pub onnx: PathBuf,
    /// The feature view whose features, after its transforms, the model takes.
    pub feature_view: NameRef,
    /// The view's training dataset: its `train` split fits the transforms,
    /// its `test` split scores the model.
    pub training_dataset: u32,
    /// The model output to read; by default `probabilities`, else its only output.
    pub output: Option<String>,
    /// Recorded with the model version.
    pub description: String,
}

/// What an import registered.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// The model's name.
    pub model: String,
    /// The version registered.
    pub version: u32,
    /// The catalog run it was recorded as (`import MODEL`).
    pub run_id: u64,
    /// The training dataset version the transforms were fitted on and the model scored on.
    pub training_dataset: u32,
    /// The model output that is read as the prediction.
    pub output: String,
    /// The transformed features, in the order the model takes them.
    pub features: Vec<String>,
    /// On the dataset's test split.
    pub metrics: BTreeMap<String, f64>,
    /// Rows of the test split.
    pub test_rows: usize,
    /// The artefact's path in the models folder (`MODEL/HASH.json`), as the
    /// model's record names it.
    pub artefact: String,
    /// Milliseconds from reading the file to registering the model.
    pub elapsed_ms: u64,
}

/// Checks and registers an ONNX model, recorded as the run `import MODEL`.
/// Nothing is registered unless every check passes.
pub async fn import_onnx(store: &FeatureStore, options: &ImportOptions) -> Result<ImportReport> {
    let mut run = RunLog::start(
        store,
        &format!("import {}", options.model),
        &format!("model {}", options.model),
    )
    .await?;
    let result = import_in_run(store, options, &mut run).await;
    run.finish(result).await
}

async fn import_in_run(
    store: &FeatureStore,
    options: &ImportOptions,
    run: &mut RunLog,
) -> Result<ImportReport> {
    let started = Instant::now();
    let model = options.model.as_str();
    let job = format!("import {model}");
    sluice_types::name::validate_name(model)?;
    let bytes = std::fs::read(&options.onnx).map_err(|source| Error::Io {
        path: options.onnx.clone(),
        source,
    })?;
    let origin = options.onnx.display().to_string();
    let onnx = OnnxModel::load(bytes, options.output.as_deref(), &origin)
        .map_err(|e| invalid_in(&job, e.to_string()))?;

    let view = store.feature_view(&options.feature_view).await?;
    let label = single_label(&job, &view)?;
    let (train_rows, test_rows) = train_and_test(&view, options.training_dataset).await?;
    let preprocessor = fit_preprocessor(&job, &view, &train_rows)?;
    let features = preprocessor.output_names();
    if onnx.width() != features.len() {
        return Err(invalid_in(
            &job,
            format!(
                "{origin} takes {} features, but feature view {} gives {} after its transforms: {}",
                onnx.width(),
                view.label(),
                features.len(),
                features.join(", ")
            ),
        ));
    }
    let classifier = onnx.is_classifier();
    let y_test = labels(&job, &test_rows, &label, classifier)?;
    let output = onnx.output().to_string();

    let built = ModelArtefact {
        format: ARTEFACT_FORMAT,
        algorithm: ONNX_ALGORITHM.into(),
        label,
        preprocessor,
        estimator: Estimator::Onnx(onnx),
    };
    // Scored as it will be loaded, from its stored bytes.
    let bytes = built.to_bytes();
    let artefact = ModelArtefact::from_bytes(&bytes, &ModelArtefact::hash(&bytes), "in memory")?;
    let predictions = artefact
        .predict(&test_rows)
        .map_err(|e| invalid_in(&job, e.to_string()))?;
    let metrics = score(classifier, &predictions, &y_test)?;

    let file_name = options
        .onnx
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let registration = Registration {
        model,
        algorithm: ONNX_ALGORITHM,
        params: BTreeMap::from([
            ("file".to_string(), file_name),
            ("output".to_string(), output.clone()),
        ]),
        metrics: metrics.clone(),
        view: &view,
        training_dataset: options.training_dataset,
        description: &options.description,
        classifier,
    };
    let (version, relative) = registration.register(store, &artefact, &bytes, run).await?;
    run.progress.rows_in = test_rows.num_rows() as u64;
    run.progress.state = serde_json::json!({ "model": model, "version": version });
    Ok(ImportReport {
        model: model.to_string(),
        version,
        run_id: run.id,
        training_dataset: options.training_dataset,
        output,
        features,
        metrics,
        test_rows: test_rows.num_rows(),
        artefact: relative,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
