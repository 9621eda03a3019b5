//! Pipelines. Feature pipelines: a source (files, a PostgreSQL query, a NATS
//! JetStream subject), an optional SQL transform (DataFusion) and window
//! aggregations, written to a sink feature group, with every run recorded in
//! the catalog. Training: a training dataset in, a registered model out.
//! Batch inference: a registered model over its feature view's batch data.
//! Chains: any of these in order, as one program.
//!
//! This crate owns running pipelines: reading sources, remembering where the
//! last run stopped, streaming micro-batches, checkpoints and dead letters.
//! It computes nothing itself (`sluice-transforms` does) and reaches the
//! stores only through `sluice-featurestore`, never a backend directly.

mod batch_run;
mod check;
mod dead_letter;
mod error;
mod file_source;
mod inference;
mod json_messages;
mod model_pipelines;
mod onnx_import;
mod postgres_source;
pub mod prediction_log;
mod run;
mod run_log;
mod skew;
mod sql_transform;
mod stream_run;
mod training;

pub use batch_run::{run_pipeline, RunOptions, RunSummary};
pub use check::{check_pipelines, PipelineCheck};
pub use error::{Error, Result};
pub use inference::{
    predict, resolve_model, PredictInput, PredictOptions, PredictReport, ServingModel,
    MODEL_COLUMN, MODEL_VERSION_COLUMN, PREDICTION_COLUMN,
};
pub use model_pipelines::{BatchInferenceRun, TrainingRun};
pub use onnx_import::{import_onnx, ImportOptions, ImportReport, ONNX_ALGORITHM};
pub use run::{run_any_pipeline, ChainRun, MonitorStep, RunOutcome};
pub use skew::{skew_check, GroupSkew, SkewExample, SkewReport};
pub use stream_run::Freshness;
pub use training::{load_artefact, train, TrainOptions, TrainReport, ALGORITHMS};
