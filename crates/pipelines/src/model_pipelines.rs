//! Running `kind = "training"` and `kind = "batch_inference"` pipelines: the
//! same training and prediction code as `sluice train` and `sluice predict`,
//! recorded under the pipeline's name.

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Instant;

use arrow::array::RecordBatch;
use chrono::Utc;
use serde::Serialize;
use sluice_featurestore::{FeatureStore, Progress, TrainingDataOptions};
use sluice_types::{BatchInferencePipelineSpec, Split, TrainingPipelineSpec};

use crate::inference::{append_predictions, compute_predictions, resolve_model, ServingModel};
use crate::run_log::RunLog;
use crate::training::{start_training_run, train_in_run};
use crate::{Error, PredictInput, PredictReport, Result, TrainOptions, TrainReport};

/// What one run of a training pipeline did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingRun {
    /// The pipeline's name.
    pub pipeline: String,
    /// The training: the model version registered and how it scored.
    #[serde(flatten)]
    pub report: TrainReport,
    /// True when this run created the training dataset it trained on.
    pub created_training_dataset: bool,
    /// The alias the run pointed at the new version, when the pipeline names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// What one run of a batch-inference pipeline did.
#[derive(Debug, Clone, Serialize)]
pub struct BatchInferenceRun {
    /// The pipeline's name.
    pub pipeline: String,
    /// The predictions made and where they were appended.
    #[serde(flatten)]
    pub report: PredictReport,
    /// The file the predictions were written to (Parquet for a `.parquet`
    /// name, else CSV), resolved against the project directory; `None`
    /// when the pipeline names none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub out: Option<PathBuf>,
}

pub(crate) async fn run_training(
    store: &FeatureStore,
    spec: &TrainingPipelineSpec,
    progress: &dyn Progress,
) -> Result<TrainingRun> {
    let mut options = TrainOptions {
        feature_view: spec.feature_view(),
        training_dataset: spec.training_dataset.unwrap_or(0),
        algorithm: spec.algorithm.clone(),
        params: spec.param_texts(),
        model: spec.model.clone(),
        description: if spec.description.is_empty() {
            format!("trained by pipeline {}", spec.name)
        } else {
            spec.description.clone()
        },
    };
    let mut run = start_training_run(store, &spec.name, &options).await?;
    let result = async {
        if let Some(split) = &spec.split {
            progress.phase("creating training data", None);
            let view = store.feature_view(&options.feature_view).await?;
            let (td, _) = view
                .create_training_data(&TrainingDataOptions {
                    start: spec.start,
                    end: spec.end,
                    split: Split::parse(split).expect("validated"),
                })
                .await?;
            options.training_dataset = td;
        }
        let report = train_in_run(store, &options, progress, &mut run).await?;
        if let Some(alias) = &spec.alias {
            store
                .registry()
                .set_alias(&spec.model, alias, report.version)
                .await?;
        }
        Ok(report)
    }
    .await;
    Ok(TrainingRun {
        pipeline: spec.name.clone(),
        report: run.finish(result).await?,
        created_training_dataset: spec.split.is_some(),
        alias: spec.alias.clone(),
    })
}

pub(crate) async fn run_batch_inference(
    store: &FeatureStore,
    spec: &BatchInferencePipelineSpec,
    progress: &dyn Progress,
) -> Result<BatchInferenceRun> {
    let sink = spec.sink.as_deref().or(spec.out.as_deref()).unwrap_or("");
    let mut run = RunLog::start(store, &spec.name, sink).await?;
    let out = spec.out.as_ref().map(|out| store.dir().join(out));
    let result = async {
        let started = Instant::now();
        let model = ServingModel::load(store, resolve_model(store, &spec.model).await?).await?;
        let (start, end) = spec.range(Utc::now());
        let input = PredictInput::Range { start, end };
        let predictions = compute_predictions(store, &model, &input, progress, &mut run).await?;
        // The file is written aside and renamed last, so that a failed run
        // leaves the previous file as it was.
        let staged = match &out {
            Some(path) => Some(stage_file(&spec.name, path, &predictions)?),
            None => None,
        };
        let feature_group = match &spec.sink {
            Some(target) => {
                match append_predictions(store, &model, &predictions, target, &mut run).await {
                    Ok(label) => Some(label),
                    Err(e) => {
                        if let Some(staged) = &staged {
                            std::fs::remove_file(staged).ok();
                        }
                        return Err(e);
                    }
                }
            }
            None => None,
        };
        if let (Some(staged), Some(path)) = (staged, &out) {
            std::fs::rename(&staged, path).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        Ok(PredictReport::of_run(
            &model,
            &predictions,
            feature_group,
            &run,
            started,
        ))
    }
    .await;
    Ok(BatchInferenceRun {
        pipeline: spec.name.clone(),
        report: run.finish(result).await?,
        out,
    })
}

/// Writes `predictions` next to `path` under a temporary name; returns that name.
fn stage_file(pipeline: &str, path: &Path, predictions: &RecordBatch) -> Result<PathBuf> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let staged = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let file = File::create(&staged).map_err(io(&staged))?;
    let written = if name.ends_with(".parquet") {
        let properties = sluice_featurestore::parquet_encodings(&predictions.schema()).build();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, predictions.schema(), Some(properties))
                .map_err(|e| file_error(pipeline, path, e))?;
        writer
            .write(predictions)
            .map_err(|e| file_error(pipeline, path, e))?;
        writer
            .close()
            .map(|_| ())
            .map_err(|e| file_error(pipeline, path, e))
    } else {
        let mut writer = arrow::csv::WriterBuilder::new()
            .with_header(true)
            .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
            .build(BufWriter::new(file));
        writer
            .write(predictions)
            .map_err(|e| file_error(pipeline, path, e))
    };
    if let Err(e) = written {
        std::fs::remove_file(&staged).ok();
        return Err(e);
    }
    Ok(staged)
}

fn file_error(pipeline: &str, path: &Path, error: impl std::fmt::Display) -> Error {
    Error::Invalid {
        pipeline: pipeline.to_string(),
        message: format!("writing {}: {error}", path.display()),
    }
}
