use thiserror::Error;

/// Errors raised while computing features.
#[derive(Debug, Error)]
pub enum Error {
    #[error("invalid aggregation: {0}")]
    InvalidSpec(String),

    #[error("aggregation input has no column '{column}'")]
    MissingColumn { column: String },

    #[error("aggregation input column '{column}' has type {found}; expected {expected}")]
    WrongType {
        column: String,
        found: String,
        expected: String,
    },

    #[error("row {row}: column '{column}' is null, but it is {role}")]
    NullValue {
        row: usize,
        column: String,
        role: &'static str,
    },

    #[error("feature view {view}: on-demand feature '{feature}': {message}")]
    OnDemand {
        view: String,
        feature: String,
        message: String,
    },

    #[error("cannot restore streaming state: {0}")]
    Checkpoint(String),

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    #[error(transparent)]
    Join(#[from] sluice_pitjoin::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
