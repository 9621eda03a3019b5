use std::path::PathBuf;

/// Errors raised while parsing definitions and configuration or checking input data.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name breaks the identifier rules, or a `NAME:VERSION` reference
    /// has a version that is not a positive integer.
    #[error("invalid name '{name}': {reason}")]
    InvalidName {
        /// The text as given (the whole reference when its version is bad).
        name: String,
        /// Which rule it breaks.
        reason: String,
    },

    /// A TTL that is not a human duration ("30d", "12h") or is zero.
    #[error("invalid duration '{value}': {reason}")]
    InvalidDuration {
        /// The text as given.
        value: String,
        /// The parser's complaint, or that a TTL must be longer than zero.
        reason: String,
    },

    /// A definition or configuration file, or the definitions folder,
    /// could not be read; its kind is not found when it is not there.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file or folder that was being read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },

    /// A definition file or `sluice.toml` is not valid TOML or does not
    /// fit the expected shape (an unknown key, a wrongly typed value).
    #[error("{path}: {message}")]
    Malformed {
        /// The file that failed to parse.
        path: PathBuf,
        /// The TOML parser's message, folded onto one line.
        message: String,
    },

    /// A feature-group definition parsed but failed its checks (for
    /// example a primary key that is not one of its columns).
    #[error("{file}: feature group '{feature_group}': {message}")]
    InvalidFeatureGroup {
        /// The definition file it is in.
        file: PathBuf,
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// The check it failed.
        message: String,
    },

    /// A pipeline definition failed its own checks, or is a chain whose
    /// steps are undefined, chains themselves or streaming pipelines.
    #[error("{file}: pipeline '{pipeline}': {message}")]
    InvalidPipeline {
        /// The definition file it is in.
        file: PathBuf,
        /// The pipeline's name.
        pipeline: String,
        /// The check it failed.
        message: String,
    },

    /// A monitor definition fails its own checks.
    #[error("{file}: monitor '{monitor}': {message}")]
    InvalidMonitor {
        /// The definition file it is in.
        file: PathBuf,
        /// The monitor's name.
        monitor: String,
        /// The check it failed.
        message: String,
    },

    /// Two monitors share a name.
    #[error("monitor '{name}' is defined twice: in {first} and {second}")]
    DuplicateMonitor {
        /// The shared name.
        name: String,
        /// The file of the definition read first.
        first: PathBuf,
        /// The file of the second definition.
        second: PathBuf,
    },

    /// Two pipelines share a name (pipelines are not versioned).
    #[error("pipeline '{name}' is defined twice: in {first} and {second}")]
    DuplicatePipeline {
        /// The shared name.
        name: String,
        /// The file of the definition read first.
        first: PathBuf,
        /// The file of the second definition.
        second: PathBuf,
    },

    /// Two feature groups, or two feature views, share a name and version.
    #[error("'{name}' version {version} is defined twice: in {first} and {second}")]
    DuplicateDefinition {
        /// The shared name.
        name: String,
        /// The shared version.
        version: u32,
        /// The file of the definition read first.
        first: PathBuf,
        /// The file of the second definition (possibly the same file).
        second: PathBuf,
    },

    /// Input lacks a column of the feature group (or, for key lookups and
    /// deletes, a primary-key column).
    #[error("{source_name}: missing column '{column}' (expected columns: {expected})")]
    MissingColumn {
        /// What the input is called in messages, such as its file name.
        source_name: String,
        /// The first expected column not found.
        column: String,
        /// Every expected column, comma-separated.
        expected: String,
    },

    /// Input has a column the feature group (or its primary key, for key
    /// lookups and deletes) does not define.
    #[error("{source_name}: unknown column '{column}' (expected columns: {expected})")]
    UnknownColumn {
        /// What the input is called in messages, such as its file name.
        source_name: String,
        /// The first column not defined.
        column: String,
        /// Every expected column, comma-separated.
        expected: String,
    },

    /// A typed input column (Parquet, say) whose Arrow type cannot be
    /// converted losslessly to the column's declared type.
    #[error("{source_name}: column '{column}' has type {found}, expected {expected}")]
    WrongType {
        /// What the input is called in messages, such as its file name.
        source_name: String,
        /// The column's name.
        column: String,
        /// The declared column type, as written in definitions.
        expected: String,
        /// The input's Arrow type.
        found: String,
    },

    /// A null in a primary-key, event-time or non-nullable column (in text
    /// input an empty field is null for every type but string).
    #[error("{source_name}: {position}: column '{column}' is null but {why}")]
    NullValue {
        /// What the input is called in messages, such as its file name.
        source_name: String,
        /// The column's name.
        column: String,
        /// Where the first null is: `line N` in text files, `row N` otherwise.
        position: String,
        /// Why the column may not be null.
        why: String,
    },

    /// A value that does not parse as its column's type, is out of range,
    /// would lose precision as a microsecond timestamp, or is a non-finite
    /// float in a column that does not allow NaN.
    #[error("{source_name}: {position}: column '{column}': cannot read '{value}' as {expected}")]
    BadValue {
        /// What the input is called in messages, such as its file name.
        source_name: String,
        /// The column's name.
        column: String,
        /// Where the value is: `line N` in text files, `row N` otherwise.
        position: String,
        /// The offending value as written.
        value: String,
        /// What a value of the column must be.
        expected: String,
    },

    /// Arrow failed to cast or assemble a batch.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// Every failure here is in what the caller gave: a definition, a
    /// setting, a file or a value (a file that is not there is not found).
    pub fn kind(&self) -> crate::ErrorKind {
        match self {
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                crate::ErrorKind::NotFound
            }
            _ => crate::ErrorKind::InvalidInput,
        }
    }
}

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
