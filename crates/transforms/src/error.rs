use thiserror::Error;

/// Errors raised while computing features.
#[derive(Debug, Error)]
pub enum Error {
    /// The window aggregation's definition is inconsistent, or does not fit
    /// the input columns it is checked against; the text says how.
    #[error("invalid aggregation: {0}")]
    InvalidSpec(String),

    /// An input batch lacks a key, event-time or aggregated column.
    #[error("aggregation input has no column '{column}'")]
    MissingColumn {
        /// The column looked for.
        column: String,
    },

    /// The event time is not a microsecond timestamp, or an aggregated
    /// column cannot be read as a number.
    #[error("aggregation input column '{column}' has type {found}; expected {expected}")]
    WrongType {
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
        /// What it must be.
        expected: String,
    },

    /// A key or event-time value of the input is null.
    #[error("row {row}: column '{column}' is null, but it is {role}")]
    NullValue {
        /// The first such row of the batch, counted from 1.
        row: usize,
        /// The column.
        column: String,
        /// What the column is for: an aggregation key, or the event time.
        role: &'static str,
    },

    /// An on-demand expression does not plan against the view's columns, its
    /// result does not fit the declared type, or it failed on a batch.
    #[error("feature view {view}: on-demand feature '{feature}': {message}")]
    OnDemand {
        /// The feature view the features belong to.
        view: String,
        /// The feature; empty when the failure is in the shared input rather
        /// than in one expression.
        feature: String,
        /// What went wrong, first line only.
        message: String,
    },

    /// Streaming state could not be encoded, or the saved bytes do not
    /// decode: a checkpoint from another aggregation or a damaged one.
    #[error("cannot restore streaming state: {0}")]
    Checkpoint(String),

    /// Arrow failed while casting, gathering or assembling a batch.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),

    /// Grouping the rows by key failed (the index is shared with the join).
    #[error(transparent)]
    Join(#[from] sluice_pitjoin::Error),
}

impl Error {
    /// What kind of failure this is: the join's own kind, else invalid input.
    pub fn kind(&self) -> sluice_types::ErrorKind {
        match self {
            Error::Join(e) => e.kind(),
            // Aggregations and on-demand features fail on their definitions or rows.
            _ => sluice_types::ErrorKind::InvalidInput,
        }
    }
}

/// A result whose error defaults to this crate's [`Error`](enum@Error).
pub type Result<T, E = Error> = std::result::Result<T, E>;
