use thiserror::Error;

/// Errors raised while fitting or applying transformations or scoring models.
#[derive(Debug, Error)]
pub enum Error {
    /// A feature view names a transformation this crate does not have, or
    /// `impute_constant:` with a value that is not a number.
    #[error("unknown transformation '{name}' (known: {known})")]
    UnknownTransform {
        /// The name as written.
        name: String,
        /// Every known name, comma-separated.
        known: String,
    },

    /// A column's Arrow type does not suit what is done with it: a number
    /// for scalers, imputers, `log1p` and untransformed inputs, text (or
    /// anything with a text form) for the encoders.
    #[error("column '{column}': {transform} needs {expected}, but the column has type {found}")]
    WrongType {
        /// The feature column.
        column: String,
        /// The transformation, or how the column is used.
        transform: String,
        /// What the column must hold.
        expected: &'static str,
        /// Its Arrow type.
        found: String,
    },

    /// Fitting failed on the training data: a transformation over a column
    /// with no finite value, or a linear model whose system has no unique
    /// solution without regularisation.
    #[error("column '{column}': {transform} cannot be fitted: {reason}")]
    CannotFit {
        /// The feature column (`features` for a whole linear model).
        column: String,
        /// The transformation or the algorithm.
        transform: String,
        /// Why, and what to change.
        reason: String,
    },

    /// Rows to fit on or to transform lack a feature column the model reads.
    #[error("no column '{column}' among the model's inputs")]
    MissingColumn {
        /// The feature column.
        column: String,
    },

    /// A transformed input holds nulls and the estimator (every one but
    /// GBDT) cannot take them.
    #[error("column '{column}' has missing values, which this model cannot take; add impute_mean or impute_constant:VALUE in the view's transforms")]
    MissingValues {
        /// The first transformed column with a null.
        column: String,
    },

    /// A stored artefact's bytes do not hash to what the registry recorded,
    /// are not an artefact's JSON, or are of another artefact format.
    #[error("model artefact {origin} is unusable: {reason}")]
    CorruptArtefact {
        /// Where the bytes came from, such as the artefact's path.
        origin: String,
        /// Which check failed.
        reason: String,
    },

    /// An ONNX model does not load, is not of the shape an imported model must
    /// have, or fails on rows given to it.
    #[error("ONNX model {origin} cannot be used: {reason}")]
    UnusableOnnx {
        /// The file it was imported from, or `artefact` / `model` once stored.
        origin: String,
        /// Which check or step failed.
        reason: String,
    },

    /// Predictions and labels, or training rows and labels, differ in
    /// number, or there are none.
    #[error("metrics need predictions and labels of the same length ({predictions} vs {labels})")]
    LengthMismatch {
        /// How many predictions (or training rows).
        predictions: usize,
        /// How many labels.
        labels: usize,
    },

    /// Arrow failed to cast a column to float64.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// A model fails on what it is given: its training data, its inputs, an
    /// imported artefact.
    pub fn kind(&self) -> sluice_types::ErrorKind {
        sluice_types::ErrorKind::InvalidInput
    }
}

/// A result whose error defaults to this crate's [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
