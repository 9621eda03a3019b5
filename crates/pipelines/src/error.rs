use std::path::PathBuf;

use sluice_types::ErrorKind;
use thiserror::Error;

/// Errors raised while checking or running a pipeline; each names the pipeline.
#[derive(Debug, Error)]
pub enum Error {
    /// No pipeline of that name is defined under `features/`.
    #[error("pipeline '{name}' is not defined under features/ (defined: {known})")]
    UnknownPipeline {
        /// The name asked for.
        name: String,
        /// The defined pipelines' names, comma-separated, or `none`.
        known: String,
    },

    /// A pipeline's definition does not fit what it reads or writes (its
    /// SQL's output, its aggregations, its sink), or a job was given what it
    /// cannot use: an unknown algorithm or parameter, unusable labels,
    /// inputs a model fails on, a missing prediction log, a chain as a step.
    #[error("pipeline '{pipeline}': {message}")]
    Invalid {
        /// The pipeline, or the job when there is none (`train MODEL`,
        /// `import MODEL`, `predict MODEL:VERSION`, `skew-check MODEL:VERSION`).
        pipeline: String,
        /// What is wrong.
        message: String,
    },

    /// The pipeline's SQL does not parse or plan against the source's
    /// columns, or failed while running.
    #[error("pipeline '{pipeline}': SQL: {message}")]
    Sql {
        /// The pipeline's name.
        pipeline: String,
        /// DataFusion's message, on one line.
        message: String,
    },

    /// Reading a batch source failed: a files path that is not a valid
    /// glob or matches no file, or a PostgreSQL connection, query or
    /// returned value that failed.
    #[error("pipeline '{pipeline}': source: {message}")]
    Source {
        /// The pipeline's name.
        pipeline: String,
        /// What failed.
        message: String,
    },

    /// The NATS server could not be reached, or its stream, consumer,
    /// message delivery or acknowledgement failed.
    #[error("pipeline '{pipeline}': NATS: {message}")]
    Nats {
        /// The pipeline's name.
        pipeline: String,
        /// The NATS client's message, with what was being done.
        message: String,
    },

    /// A streaming run's background offline commit panicked or was cancelled.
    #[error("pipeline '{pipeline}': the background offline commit did not finish: {message}")]
    CommitTask {
        /// The pipeline's name.
        pipeline: String,
        /// Why the task ended.
        message: String,
    },

    /// Another process runs this streaming pipeline: it holds the pipeline's lock.
    #[error("pipeline '{pipeline}' is already running (lock {path})")]
    AlreadyRunning {
        /// The pipeline's name.
        pipeline: String,
        /// The lock file.
        path: PathBuf,
    },

    /// A step of a chain failed; the steps before it stay done and recorded.
    #[error("chain '{chain}' stopped at step {position} of {steps}, '{step}': {source}")]
    ChainStep {
        /// The chain's name.
        chain: String,
        /// The failed step's pipeline.
        step: String,
        /// The failed step's position, from 1.
        position: usize,
        /// How many steps the chain has.
        steps: usize,
        /// The step's error.
        #[source]
        source: Box<Error>,
    },

    /// A registered model's artefact is in neither the models folder nor
    /// the project's older local one.
    #[error("model artefact {location} is missing")]
    MissingArtefact {
        /// Where it should be, in the models folder.
        location: String,
    },

    /// A local file could not be read or written: a streaming pipeline's
    /// checkpoint, dead letters or lock, an ONNX file to import, a
    /// predictions file, an artefact in the older local folder.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system said; invalid data for a checkpoint that does not decode.
        #[source]
        source: std::io::Error,
    },

    /// A window aggregation could not be compiled, run, checkpointed or restored.
    #[error("pipeline '{pipeline}': {source}")]
    Transform {
        /// The pipeline's name.
        pipeline: String,
        /// The aggregation's error.
        #[source]
        source: Box<sluice_transforms::Error>,
    },

    /// The feature store failed or refused: definitions, catalog, stores, input files.
    #[error(transparent)]
    Store(#[from] sluice_featurestore::Error),

    /// Fitting, scoring or loading a model failed.
    #[error(transparent)]
    Model(#[from] sluice_models::Error),

    /// A name, reference or input value is invalid.
    #[error(transparent)]
    Types(#[from] sluice_types::Error),

    /// An Arrow operation on batches failed.
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

    /// What kind of failure this is: a wrapped error or a chain step's keeps
    /// its own kind; an unknown pipeline is not found, a bad definition or SQL
    /// the caller's, a running pipeline a conflict, NATS unavailable, the rest internal.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownPipeline { .. } => ErrorKind::NotFound,
            Error::Invalid { .. } | Error::Sql { .. } => ErrorKind::InvalidInput,
            Error::AlreadyRunning { .. } => ErrorKind::Conflict,
            Error::Transform { source, .. } => source.kind(),
            Error::Types(e) => e.kind(),
            Error::Model(e) => e.kind(),
            Error::ChainStep { source, .. } => source.kind(),
            Error::Store(e) => e.kind(),
            Error::Nats { .. } => ErrorKind::Unavailable,
            Error::Source { .. }
            | Error::CommitTask { .. }
            | Error::MissingArtefact { .. }
            | Error::Io { .. }
            | Error::Arrow(_) => ErrorKind::Internal,
        }
    }
}

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
