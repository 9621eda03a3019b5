use sluice_types::ErrorKind;

/// A failure while judging or describing rows.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A column an expectation or statistic names is not in the batch.
    #[error("no column '{column}' in the rows given")]
    MissingColumn {
        /// The column looked for.
        column: String,
    },
    /// An Arrow kernel failed on a column.
    #[error("column '{column}': {source}")]
    Arrow {
        /// The column being read.
        column: String,
        /// What Arrow said.
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A drift window holds no value of a compared column.
    #[error("column '{column}': the {window} window has no values")]
    NoValues {
        /// The column compared.
        column: String,
        /// `reference` or `detection`.
        window: &'static str,
    },
    /// An expectation that `FeatureGroupSpec::validate` should have refused.
    #[error("expectation {expectation}: {message}")]
    Definition {
        /// The expectation, as `kind on 'column'`.
        expectation: String,
        /// What is wrong with it.
        message: String,
    },
}

impl Error {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::MissingColumn { .. } | Error::Definition { .. } | Error::NoValues { .. } => {
                ErrorKind::InvalidInput
            }
            Error::Arrow { .. } => ErrorKind::Internal,
        }
    }
}

/// The result of this crate's operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;
