#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("offline store backend '{scheme}' is not available (known: file, s3)")]
    UnknownScheme { scheme: String },

    #[error("offline store URL '{url}' is not usable: {reason}")]
    BadUrl { url: String, reason: String },

    #[error("feature group {feature_group}: {requested} is not readable: {message}")]
    NoSuchState {
        feature_group: String,
        requested: String,
        message: String,
    },

    #[error("feature group {feature_group} has no column '{column}'")]
    UnknownColumn {
        feature_group: String,
        column: String,
    },

    /// Another writer's commit took the version this one was to take.
    #[error("feature group {feature_group}: another write committed first; this {operation} wrote nothing, retry it")]
    Conflict {
        feature_group: String,
        operation: &'static str,
    },

    #[error("feature group {feature_group}: offline {operation} failed: {source}")]
    Delta {
        feature_group: String,
        operation: &'static str,
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    #[error("feature group {feature_group}: offline {operation} failed: {source}")]
    Query {
        feature_group: String,
        operation: &'static str,
        #[source]
        source: Box<deltalake::datafusion::error::DataFusionError>,
    },

    #[error(
        "feature group {feature_group}: the rows to {operation} do not fit its schema: {source}"
    )]
    Rows {
        feature_group: String,
        operation: &'static str,
        #[source]
        source: arrow::error::ArrowError,
    },

    #[error("offline store file {location}: {operation} failed: {message}")]
    File {
        location: String,
        operation: &'static str,
        message: String,
    },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// True when the caller asked for something that cannot exist (a bad URL,
    /// a version never written), or lost a race it can retry.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Error::UnknownScheme { .. }
                | Error::BadUrl { .. }
                | Error::NoSuchState { .. }
                | Error::Conflict { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
