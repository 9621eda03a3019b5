use std::path::PathBuf;

/// Errors raised while parsing definitions and configuration or checking input data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid name '{name}': {reason}")]
    InvalidName { name: String, reason: String },

    #[error("invalid duration '{value}': {reason}")]
    InvalidDuration { value: String, reason: String },

    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{path}: {message}")]
    Malformed { path: PathBuf, message: String },

    #[error("{file}: feature group '{feature_group}': {message}")]
    InvalidFeatureGroup {
        file: PathBuf,
        feature_group: String,
        message: String,
    },

    #[error("{file}: pipeline '{pipeline}': {message}")]
    InvalidPipeline {
        file: PathBuf,
        pipeline: String,
        message: String,
    },

    #[error("pipeline '{name}' is defined twice: in {first} and {second}")]
    DuplicatePipeline {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("'{name}' version {version} is defined twice: in {first} and {second}")]
    DuplicateDefinition {
        name: String,
        version: u32,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("{source_name}: missing column '{column}' (expected columns: {expected})")]
    MissingColumn {
        source_name: String,
        column: String,
        expected: String,
    },

    #[error("{source_name}: unknown column '{column}' (expected columns: {expected})")]
    UnknownColumn {
        source_name: String,
        column: String,
        expected: String,
    },

    #[error("{source_name}: column '{column}' has type {found}, expected {expected}")]
    WrongType {
        source_name: String,
        column: String,
        expected: String,
        found: String,
    },

    #[error("{source_name}: {position}: column '{column}' is null but {why}")]
    NullValue {
        source_name: String,
        column: String,
        position: String,
        why: String,
    },

    #[error("{source_name}: {position}: column '{column}': cannot read '{value}' as {expected}")]
    BadValue {
        source_name: String,
        column: String,
        position: String,
        value: String,
        expected: String,
    },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
