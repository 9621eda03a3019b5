/// Why an offline-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store URL names a backend other than `file` or `s3`.
    #[error("offline store backend '{scheme}' is not available (known: file, s3)")]
    UnknownScheme {
        /// The scheme as the URL gives it.
        scheme: String,
    },

    /// The store URL cannot be used: no scheme, no bucket, or a local folder
    /// that cannot be created.
    #[error("offline store URL '{url}' is not usable: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A scan asked for a state the history does not hold: a version past
    /// the newest commit, a time Delta cannot travel to, or any state but
    /// the latest of a feature group never written.
    #[error("feature group {feature_group}: {requested} is not readable: {message}")]
    NoSuchState {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The state asked for, in words (`commit 3`, `the state as of …`).
        requested: String,
        /// Why it cannot be read.
        message: String,
    },

    /// A scan asked for a column the feature group does not declare.
    #[error("feature group {feature_group} has no column '{column}'")]
    UnknownColumn {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The column asked for.
        column: String,
    },

    /// Another writer's commit took the version this one was to take.
    #[error("feature group {feature_group}: another write committed first; this {operation} wrote nothing, retry it")]
    Conflict {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The write that lost: `merge`, `append`, `delete`, ….
        operation: &'static str,
    },

    /// Delta Lake failed to open, write, commit or checkpoint a table.
    #[error("feature group {feature_group}: offline {operation} failed: {source}")]
    Delta {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The step that failed: `open`, `merge`, `time travel`, ….
        operation: &'static str,
        /// Delta Lake's error.
        #[source]
        source: Box<deltalake::DeltaTableError>,
    },

    /// DataFusion failed to read staged files or to scan a table.
    #[error("feature group {feature_group}: offline {operation} failed: {source}")]
    Query {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The step that failed: `scan`, `read of staged rows`, ….
        operation: &'static str,
        /// DataFusion's error.
        #[source]
        source: Box<deltalake::datafusion::error::DataFusionError>,
    },

    /// Rows given to `append` cannot be brought to the feature group's
    /// schema: a column is missing or its values do not cast.
    #[error(
        "feature group {feature_group}: the rows to {operation} do not fit its schema: {source}"
    )]
    Rows {
        /// The feature group, `NAME:VERSION`.
        feature_group: String,
        /// The write the rows were for.
        operation: &'static str,
        /// Arrow's error.
        #[source]
        source: arrow::error::ArrowError,
    },

    /// A file beside the tables could not be written or read.
    #[error("offline store file {location}: {operation} failed: {message}")]
    File {
        /// Where the file is, as
        /// [`OfflineStore::file_location`](crate::OfflineStore::file_location)
        /// shows it.
        location: String,
        /// `read` or `write`.
        operation: &'static str,
        /// What the object store reported.
        message: String,
    },

    /// A batch scanned, or keys to delete, could not be cast, projected or
    /// turned into a predicate.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// How a caller should treat the error: a bad URL is its input, an
    /// unreadable state is not found, a lost commit race a conflict (a retry
    /// can win it), anything else a fault of the store.
    pub fn kind(&self) -> sluice_types::ErrorKind {
        use sluice_types::ErrorKind;
        match self {
            Error::UnknownScheme { .. } | Error::BadUrl { .. } => ErrorKind::InvalidInput,
            // A version or time never written.
            Error::NoSuchState { .. } => ErrorKind::NotFound,
            // Lost a race with another writer; a retry can win it.
            Error::Conflict { .. } => ErrorKind::Conflict,
            _ => ErrorKind::Internal,
        }
    }
}

/// An offline-store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
