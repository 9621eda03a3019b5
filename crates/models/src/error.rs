use thiserror::Error;

/// Errors raised while fitting or applying transformations or scoring models.
#[derive(Debug, Error)]
pub enum Error {
    #[error("unknown transformation '{name}' (known: {known})")]
    UnknownTransform { name: String, known: String },

    #[error("column '{column}': {transform} needs {expected}, but the column has type {found}")]
    WrongType {
        column: String,
        transform: String,
        expected: &'static str,
        found: String,
    },

    #[error("column '{column}': {transform} cannot be fitted: {reason}")]
    CannotFit {
        column: String,
        transform: String,
        reason: String,
    },

    #[error("no column '{column}' among the model's inputs")]
    MissingColumn { column: String },

    #[error("column '{column}' has missing values, which this model cannot take; add impute_mean or impute_constant:VALUE in the view's transforms")]
    MissingValues { column: String },

    #[error("model artefact {origin} is unusable: {reason}")]
    CorruptArtefact { origin: String, reason: String },

    #[error("ONNX model {origin} cannot be used: {reason}")]
    UnusableOnnx { origin: String, reason: String },

    #[error("metrics need predictions and labels of the same length ({predictions} vs {labels})")]
    LengthMismatch { predictions: usize, labels: usize },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
