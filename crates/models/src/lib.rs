//! Models: the model-dependent transformations (fitted on a training split,
//! applied unchanged in training, batch inference and online inference) and
//! the evaluation metrics of trained models.
//!
//! This crate owns the arithmetic that turns feature columns into a model's
//! input and scores predictions. It must not read stores or the catalog:
//! callers hand it Arrow columns and keep what it fits.

mod artefact;
mod error;
mod fitted;
mod gbdt;
mod linear;
mod metrics;
mod onnx;

pub use artefact::{Estimator, ModelArtefact, Preprocessor, Step, ARTEFACT_FORMAT};
pub use error::{Error, Result};
pub use fitted::{FittedTransform, TransformKind};
pub use gbdt::{fit_gbdt, Gbdt, GbdtParams, Objective};
pub use linear::{fit_logistic, fit_ridge, LinearModel, Matrix};
pub use metrics::{
    classification_metrics, regression_metrics, ClassificationMetrics, RegressionMetrics,
};
pub use onnx::{OnnxInputType, OnnxModel};
