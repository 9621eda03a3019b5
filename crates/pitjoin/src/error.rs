/// Why a join could not be made: inputs that do not fit together, or a
/// failing spill disk.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A feature input came with no batches at all, so its schema is unknown.
    #[error("{side}: no batches given; pass at least one, possibly empty")]
    NoChunks {
        /// The input's name.
        side: String,
    },

    /// A spill directory or bucket file could not be created or opened: the
    /// disk's fault, not the input's.
    #[error("join spill file {path}: {source}")]
    Spill {
        /// The directory or file.
        path: std::path::PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A key, time, write-order or feature column named in a
    /// [`FeatureInput`](crate::FeatureInput) is not in the batches given.
    #[error("{side}: no column '{column}'")]
    MissingColumn {
        /// `spine`, or the feature input's name.
        side: String,
        /// The column looked for.
        column: String,
    },

    /// A spine key column and the feature-table key column it is matched
    /// with have different Arrow types; keys are compared exactly, never cast.
    #[error("key column '{spine}' of the spine is {spine_type} but '{feature}' of {side} is {feature_type}")]
    KeyTypeMismatch {
        /// The feature input's name.
        side: String,
        /// The spine's key column.
        spine: String,
        /// Its Arrow type.
        spine_type: String,
        /// The feature table's key column.
        feature: String,
        /// Its Arrow type.
        feature_type: String,
    },

    /// An input's `spine_keys` and `keys` name different numbers of columns.
    #[error(
        "{side}: the spine joins on {spine} key column(s) but the feature table names {feature}"
    )]
    KeyCountMismatch {
        /// The feature input's name.
        side: String,
        /// How many spine key columns it names.
        spine: usize,
        /// How many feature-table key columns it names.
        feature: usize,
    },

    /// The spine's time column or an input's event-time column is not an
    /// Arrow timestamp.
    #[error("{side}: column '{column}' must be a timestamp, found {found}")]
    NotATimestamp {
        /// `spine`, or the feature input's name.
        side: String,
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
    },

    /// An input's write-order column is not of an integer type.
    #[error("{side}: write-order column '{column}' must be an integer, found {found}")]
    BadWriteOrder {
        /// The feature input's name.
        side: String,
        /// The column.
        column: String,
        /// Its Arrow type.
        found: String,
    },

    /// Two inputs, or the spine and an input, bring a column of the same name.
    #[error("output column '{column}' would appear twice; rename or select it once")]
    DuplicateOutput {
        /// The name that would appear twice.
        column: String,
    },

    /// Arrow failed while casting, gathering or reading and writing spill files.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// What kind of failure this is: a spill failure is internal, everything
    /// else is in the input.
    pub fn kind(&self) -> sluice_types::ErrorKind {
        match self {
            // The disk under the spill directory failed, not the inputs.
            Error::Spill { .. } => sluice_types::ErrorKind::Internal,
            _ => sluice_types::ErrorKind::InvalidInput,
        }
    }
}

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
