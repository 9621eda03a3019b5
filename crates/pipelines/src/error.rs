use std::path::PathBuf;

use thiserror::Error;

/// Errors raised while checking or running a pipeline; each names the pipeline.
#[derive(Debug, Error)]
pub enum Error {
    #[error("pipeline '{name}' is not defined under features/ (defined: {known})")]
    UnknownPipeline { name: String, known: String },

    #[error("pipeline '{pipeline}': {message}")]
    Invalid { pipeline: String, message: String },

    #[error("pipeline '{pipeline}': SQL: {message}")]
    Sql { pipeline: String, message: String },

    #[error("pipeline '{pipeline}': source: {message}")]
    Source { pipeline: String, message: String },

    #[error("pipeline '{pipeline}': NATS: {message}")]
    Nats { pipeline: String, message: String },

    #[error("pipeline '{pipeline}': the background offline commit did not finish: {message}")]
    CommitTask { pipeline: String, message: String },

    #[error("pipeline '{pipeline}' is already running (lock {path})")]
    AlreadyRunning { pipeline: String, path: PathBuf },

    #[error("chain '{chain}' stopped at step {position} of {steps}, '{step}': {source}")]
    ChainStep {
        chain: String,
        step: String,
        position: usize,
        steps: usize,
        #[source]
        source: Box<Error>,
    },

    #[error("model artefact {location} is missing")]
    MissingArtefact { location: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("pipeline '{pipeline}': {source}")]
    Transform {
        pipeline: String,
        #[source]
        source: Box<sluice_transforms::Error>,
    },

    #[error(transparent)]
    Store(#[from] sluice_featurestore::Error),

    #[error(transparent)]
    Model(#[from] sluice_models::Error),

    #[error(transparent)]
    Catalog(#[from] sluice_catalog::Error),

    #[error(transparent)]
    Types(#[from] sluice_types::Error),

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    pub(crate) fn transform(pipeline: impl Into<String>, source: sluice_transforms::Error) -> Self {
        Error::Transform {
            pipeline: pipeline.into(),
            source: Box::new(source),
        }
    }

    /// True when the user's definitions, data or request are at fault.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::UnknownPipeline { .. }
            | Error::Invalid { .. }
            | Error::Sql { .. }
            | Error::AlreadyRunning { .. }
            | Error::Transform { .. }
            | Error::Types(_)
            | Error::Model(_) => true,
            Error::ChainStep { source, .. } => source.is_user_error(),
            Error::Store(e) => e.is_user_error(),
            Error::Catalog(e) => e.is_user_error(),
            _ => false,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
