use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Definition(#[from] sluice_types::Error),

    #[error(transparent)]
    Catalog(#[from] sluice_catalog::Error),

    #[error(transparent)]
    Offline(#[from] sluice_offline::Error),

    #[error(transparent)]
    Online(#[from] sluice_online::Error),

    #[error(
        "{dir} is not a Sluice project (no sluice.toml); run `sluice init` there or pass --project"
    )]
    NotAProject { dir: PathBuf },

    #[error("{path} already exists; not overwriting it")]
    AlreadyInitialised { path: PathBuf },

    #[error("{kind} '{name}' changed incompatibly ({fields}); bump the version to change it")]
    IncompatibleChange {
        kind: &'static str,
        name: String,
        fields: String,
    },

    #[error("{file}: feature view '{feature_view}': {message}")]
    InvalidFeatureView {
        file: PathBuf,
        feature_view: String,
        message: String,
    },

    #[error("feature group '{feature_group}' is not online (online = false in its definition)")]
    NotOnline { feature_group: String },

    #[error("{path}: no such file")]
    FileNotFound { path: PathBuf },

    #[error(
        "{path}: cannot tell the format from the extension; use .csv, .parquet, .ndjson or .jsonl"
    )]
    UnknownFormat { path: PathBuf },

    #[error("{path}: {message}")]
    Read { path: PathBuf, message: String },

    #[error("staging {path}: {message}")]
    Staging { path: PathBuf, message: String },

    #[error("feature view '{feature_view}': {message}")]
    InvalidSpine {
        feature_view: String,
        message: String,
    },

    /// A dataset without rows trains nothing; registering one would only
    /// hide what selected it (a range in the future, a spine of other keys).
    #[error("feature view '{feature_view}': {selection} selected no rows{hint}; no training dataset was registered")]
    NoTrainingRows {
        feature_view: String,
        selection: String,
        hint: String,
    },

    #[error(transparent)]
    OnDemand(Box<sluice_transforms::Error>),

    #[error("{what} is not reproducible: recorded {recorded}, rebuilt {rebuilt}")]
    NotReproducible {
        what: String,
        recorded: String,
        rebuilt: String,
    },

    /// Before its first commit a feature group had no state: an empty answer
    /// would look like a group without rows, so the time is refused instead.
    #[error(
        "feature group {feature_group}: nothing was committed at or before {}; its first commit ({first_commit}) was made at {}",
        rfc3339(.requested),
        rfc3339(.first_committed_at)
    )]
    BeforeFirstCommit {
        feature_group: String,
        requested: chrono::DateTime<chrono::Utc>,
        first_commit: u64,
        first_committed_at: chrono::DateTime<chrono::Utc>,
    },

    #[error("invalid key '{text}': {reason}")]
    InvalidKey { text: String, reason: String },

    #[error("feature view '{feature_view}': join: {source}")]
    Join {
        feature_view: String,
        #[source]
        source: Box<sluice_pitjoin::Error>,
    },

    #[error("cannot write {path}: {message}")]
    Write { path: PathBuf, message: String },
}

impl Error {
    /// True for errors the user can fix (bad input, unknown names); false when a backend failed.
    pub fn is_user_error(&self) -> bool {
        match self {
            Error::Catalog(e) => e.is_user_error(),
            Error::Offline(e) => e.is_user_error(),
            Error::Online(e) => matches!(
                e,
                sluice_online::Error::UnknownScheme { .. }
                    | sluice_online::Error::BadUrl { .. }
                    | sluice_online::Error::Held { .. }
            ),
            Error::Staging { .. } | Error::Write { .. } | Error::NotReproducible { .. } => false,
            _ => true,
        }
    }
}

impl From<sluice_transforms::Error> for Error {
    fn from(e: sluice_transforms::Error) -> Self {
        Error::OnDemand(Box::new(e))
    }
}

/// A time as users write it: RFC 3339 in UTC, with only the fraction it has.
fn rfc3339(time: &chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
