use std::path::PathBuf;

use sluice_types::ErrorKind;

/// Why a feature-store operation failed: a backend's own error, passed
/// through, or a rule of this crate (projects, plans, input files, spines,
/// training datasets) that the request broke.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A definition, name or `sluice.toml` that does not parse or check, input
    /// that does not fit its columns' names and types, or a failed Arrow
    /// operation on the rows.
    #[error(transparent)]
    Definition(#[from] sluice_types::Error),

    /// The catalog failed or refused (an unknown name, version or alias among them).
    #[error(transparent)]
    Catalog(#[from] sluice_catalog::Error),

    /// The offline store failed or refused.
    #[error(transparent)]
    Offline(#[from] sluice_offline::Error),

    /// The online store failed or refused, or another process holds it.
    #[error(transparent)]
    Online(#[from] sluice_online::Error),

    /// A write to a group with `validation = "strict"` failed an
    /// expectation; nothing was written and the report is recorded.
    #[error("feature group '{feature_group}' rejected the write (validation = strict): {report}")]
    Rejected {
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// What failed, with counts and the first offending values.
        report: Box<sluice_quality::ValidationReport>,
    },

    /// No `[[monitor]]` of that name is defined.
    #[error("no monitor '{name}' is defined (monitors: {known})")]
    UnknownMonitor {
        /// The name asked for.
        name: String,
        /// The monitors defined, comma-separated.
        known: String,
    },

    /// A monitor that cannot run as defined: a feature that is not a
    /// column, a time window on an untimed group.
    #[error("monitor '{monitor}': {message}")]
    InvalidMonitor {
        /// The monitor's name.
        monitor: String,
        /// What is wrong.
        message: String,
    },

    /// Statistics asked for that were never kept.
    #[error("{subject}: {message}")]
    NoStatistics {
        /// `feature group 'NAME:VERSION'` or `feature view 'NAME:VERSION'`.
        subject: String,
        /// Which commit or range, and why.
        message: String,
    },

    /// An expectation could not be judged on the rows given.
    #[error(transparent)]
    Quality(#[from] sluice_quality::Error),

    /// The directory opened as a project has no `sluice.toml`.
    #[error(
        "{dir} is not a Sluice project (no sluice.toml); run `sluice init` there or pass --project"
    )]
    NotAProject {
        /// The directory given.
        dir: PathBuf,
    },

    /// `init` found a `sluice.toml` already there and left it alone.
    #[error("{path} already exists; not overwriting it")]
    AlreadyInitialised {
        /// The existing `sluice.toml`.
        path: PathBuf,
    },

    /// A definition differs from its registered version in a field that
    /// changes what is stored or meant; only a new version may change it.
    /// Raised by `apply` and by `ensure_feature_group`.
    #[error("{kind} '{name}' changed incompatibly ({fields}); bump the version to change it")]
    IncompatibleChange {
        /// `feature group` or `feature view`.
        kind: &'static str,
        /// The definition as `NAME:VERSION`.
        name: String,
        /// The fields that differ, comma-separated.
        fields: String,
    },

    /// A feature-view definition fails its checks against the groups it
    /// joins, or its on-demand features do not compile; found by `plan`.
    #[error("{file}: feature view '{feature_view}': {message}")]
    InvalidFeatureView {
        /// The definition file it is in.
        file: PathBuf,
        /// The view as `NAME:VERSION`.
        feature_view: String,
        /// The check it failed.
        message: String,
    },

    /// An online lookup of a group whose definition has `online = false`.
    #[error("feature group '{feature_group}' is not online (online = false in its definition)")]
    NotOnline {
        /// The group as `NAME:VERSION`.
        feature_group: String,
    },

    /// An input file (to ingest, or a spine) is not there.
    #[error("{path}: no such file")]
    FileNotFound {
        /// The path given.
        path: PathBuf,
    },

    /// An input file's extension is not one of the formats read.
    #[error(
        "{path}: cannot tell the format from the extension; use .csv, .parquet, .ndjson or .jsonl"
    )]
    UnknownFormat {
        /// The path given.
        path: PathBuf,
    },

    /// An input file or a stored training-dataset file could not be
    /// opened or parsed, or a CSV header names a column twice.
    #[error("{path}: {message}")]
    Read {
        /// The file being read.
        path: PathBuf,
        /// What went wrong, with the line or row near it when known.
        message: String,
    },

    /// Ingest could not write its private staging file: the local disk's
    /// fault, not the input's.
    #[error("staging {path}: {message}")]
    Staging {
        /// The staging directory or file.
        path: PathBuf,
        /// What the file system or the Parquet writer said.
        message: String,
    },

    /// A spine or its request cannot be joined to the view: the view has no
    /// spine group where one is needed, a key column or request-time value
    /// is missing, a group has no data yet, a split is unknown, or the
    /// point-in-time join refused its inputs.
    #[error("feature view '{feature_view}': {message}")]
    InvalidSpine {
        /// The view as `NAME:VERSION`.
        feature_view: String,
        /// What is missing or wrong.
        message: String,
    },

    /// A dataset without rows trains nothing; registering one would only
    /// hide what selected it (a range in the future, a spine of other keys).
    #[error("feature view '{feature_view}': {selection} selected no rows{hint}; no training dataset was registered")]
    NoTrainingRows {
        /// The view as `NAME:VERSION`.
        feature_view: String,
        /// Where the spine rows came from and the time range asked for.
        selection: String,
        /// Why the range alone selects nothing, when it does (a start in the
        /// future, an end not after the start); empty otherwise.
        hint: String,
    },

    /// A view's on-demand features failed to compile or to compute.
    #[error(transparent)]
    OnDemand(Box<sluice_transforms::Error>),

    /// Rebuilding a training dataset from the commits it recorded gave rows
    /// (or found a kept spine) that differ from the record's count or hash.
    #[error("{what} is not reproducible: recorded {recorded}, rebuilt {rebuilt}")]
    NotReproducible {
        /// The dataset split, or the spine file kept with it, that differs.
        what: String,
        /// What the record says: its hash, and the row count for a split.
        recorded: String,
        /// The same for the rebuilt rows.
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
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// The time asked for.
        requested: chrono::DateTime<chrono::Utc>,
        /// The offline version of the group's first commit.
        first_commit: u64,
        /// When the catalog recorded that commit.
        first_committed_at: chrono::DateTime<chrono::Utc>,
    },

    /// Key values given as text do not form a batch: no columns, or
    /// columns with different numbers of values.
    #[error("invalid key '{text}': {reason}")]
    InvalidKey {
        /// The keys as given, `column=v1,v2` per column.
        text: String,
        /// Arrow's complaint.
        reason: String,
    },

    /// Spilling a join's feature tables to disk, once they exceed the
    /// join's memory budget, failed.
    #[error("feature view '{feature_view}': join: {source}")]
    Join {
        /// The view as `NAME:VERSION`.
        feature_view: String,
        /// The join's error.
        #[source]
        source: Box<sluice_pitjoin::Error>,
    },

    /// A read named a column the feature group does not have.
    #[error("feature group {feature_group} has no column '{column}'")]
    UnknownColumn {
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// The column asked for.
        column: String,
    },

    /// A SQL query that does not parse, names an unknown table or column,
    /// or would write.
    #[error("SQL: {message}")]
    Sql {
        /// The query as given.
        query: String,
        /// What is wrong with it.
        message: String,
    },

    /// A file or directory of the project could not be written: `init`'s
    /// files, a training dataset's, or a join's spill directory.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What the file system or the Parquet writer said.
        message: String,
    },
}

impl Error {
    /// What kind of failure this is: a wrapped error keeps its own kind;
    /// staging, writing and an unreproducible dataset are internal; the
    /// rest are the caller's to fix.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Definition(e) => e.kind(),
            Error::Catalog(e) => e.kind(),
            Error::Offline(e) => e.kind(),
            Error::Online(e) => e.kind(),
            Error::OnDemand(e) => e.kind(),
            Error::Quality(e) => e.kind(),
            Error::Rejected { .. } => ErrorKind::InvalidInput,
            Error::NoStatistics { .. } | Error::UnknownMonitor { .. } => ErrorKind::NotFound,
            Error::InvalidMonitor { .. } => ErrorKind::InvalidInput,
            Error::NotAProject { .. } | Error::FileNotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyInitialised { .. } => ErrorKind::AlreadyExists,
            Error::IncompatibleChange { .. } => ErrorKind::Conflict,
            Error::InvalidFeatureView { .. }
            | Error::NotOnline { .. }
            | Error::UnknownFormat { .. }
            | Error::Read { .. }
            | Error::InvalidSpine { .. }
            | Error::NoTrainingRows { .. }
            | Error::BeforeFirstCommit { .. }
            | Error::InvalidKey { .. }
            | Error::Sql { .. }
            | Error::UnknownColumn { .. } => ErrorKind::InvalidInput,
            Error::Join { source, .. } => source.kind(),
            Error::Staging { .. } | Error::Write { .. } | Error::NotReproducible { .. } => {
                ErrorKind::Internal
            }
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

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
