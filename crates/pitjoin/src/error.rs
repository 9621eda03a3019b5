#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{side}: no batches given; pass at least one, possibly empty")]
    NoChunks { side: String },

    #[error("join spill file {path}: {source}")]
    Spill {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{side}: no column '{column}'")]
    MissingColumn { side: String, column: String },

    #[error("key column '{spine}' of the spine is {spine_type} but '{feature}' of {side} is {feature_type}")]
    KeyTypeMismatch {
        side: String,
        spine: String,
        spine_type: String,
        feature: String,
        feature_type: String,
    },

    #[error(
        "{side}: the spine joins on {spine} key column(s) but the feature table names {feature}"
    )]
    KeyCountMismatch {
        side: String,
        spine: usize,
        feature: usize,
    },

    #[error("{side}: column '{column}' must be a timestamp, found {found}")]
    NotATimestamp {
        side: String,
        column: String,
        found: String,
    },

    #[error("{side}: write-order column '{column}' must be an integer, found {found}")]
    BadWriteOrder {
        side: String,
        column: String,
        found: String,
    },

    #[error("output column '{column}' would appear twice; rename or select it once")]
    DuplicateOutput { column: String },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
