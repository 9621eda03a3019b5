use std::path::PathBuf;

use sluice_types::ErrorKind;

/// Why a catalog operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The catalog URL names a backend other than SQLite or PostgreSQL.
    #[error("catalog backend '{scheme}' is not available (known: sqlite, postgres)")]
    UnknownScheme {
        /// The scheme as the URL gives it.
        scheme: String,
    },

    /// The catalog URL has no `scheme://`.
    #[error("catalog URL '{url}' has no scheme; expected e.g. sqlite://.sluice/catalog.db")]
    BadUrl {
        /// The URL as given.
        url: String,
    },

    /// Nothing of this kind has this name: also an unknown run id or model alias.
    #[error("{kind} '{name}' is not registered{}", known_hint(.known))]
    NotFound {
        /// What was looked up: `feature group`, `model alias`, `run`, ….
        kind: &'static str,
        /// The name asked for (`NAME@ALIAS` for an alias, the id for a run).
        name: String,
        /// The names that do exist, for the message; empty for runs and aliases.
        known: Vec<String>,
    },

    /// The name exists but not in the version asked for.
    #[error("{kind} '{name}' has no version {version} (versions: {})", list(.available))]
    VersionNotFound {
        /// What was looked up: `feature group`, `model`, ….
        kind: &'static str,
        /// Its name (`VIEW:VERSION` for a training dataset).
        name: String,
        /// The version asked for.
        version: u32,
        /// The versions that do exist, ascending.
        available: Vec<u32>,
    },

    /// `apply` would register a version that is registered already.
    #[error("{kind} '{name}' version {version} is already registered with another definition")]
    AlreadyExists {
        /// `feature group` or `feature view`.
        kind: &'static str,
        /// Its name.
        name: String,
        /// The version already registered.
        version: u32,
    },

    /// A new training dataset's files could not be moved under its version,
    /// so the dataset was not recorded and its version stays free.
    #[error("{kind} '{name}' version {version} was not recorded: {message}")]
    NotPlaced {
        /// What was being recorded.
        kind: &'static str,
        /// The feature view and its version, `VIEW:VERSION`.
        name: String,
        /// The dataset version the files were to take.
        version: u32,
        /// What the move reported.
        message: String,
    },

    /// An alias is typed and printed as part of `NAME@ALIAS` references
    /// (commands, definitions, pipeline runs), so it follows the rules of
    /// every other name: no spaces, separators or markup.
    #[error("model '{model}': alias: {source}")]
    InvalidAlias {
        /// The model whose alias was being set.
        model: String,
        /// Why the alias is not a valid name.
        #[source]
        source: Box<sluice_types::Error>,
    },

    /// A stored row cannot be read back: a spec that no longer parses, or an
    /// unknown run status or commit operation.
    #[error("catalog entry for '{name}' is unreadable: {message}")]
    Corrupt {
        /// What the row belongs to (`run ID` for a run).
        name: String,
        /// What could not be parsed.
        message: String,
    },

    /// The SQLite file or its folder cannot be created, or the file is not a
    /// (whole) SQLite database.
    #[error("cannot open the catalog {path}: {message}")]
    Open {
        /// The catalog file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },

    /// The database could not be reached or failed a statement.
    #[error("catalog {operation}: {source}")]
    Database {
        /// The catalog step that failed, e.g. `list runs`.
        operation: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

fn list(versions: &[u32]) -> String {
    versions
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn known_hint(known: &[String]) -> String {
    if known.is_empty() {
        " (none are registered; run `sluice apply`)".to_string()
    } else {
        format!(" (registered: {})", known.join(", "))
    }
}

impl Error {
    /// How a caller should treat the error: a database that cannot be
    /// reached is [`ErrorKind::Unavailable`] (worth a retry), a corrupt or
    /// failing catalog [`ErrorKind::Internal`], the rest the caller's input.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::UnknownScheme { .. }
            | Error::BadUrl { .. }
            | Error::InvalidAlias { .. }
            | Error::Open { .. } => ErrorKind::InvalidInput,
            Error::NotFound { .. } | Error::VersionNotFound { .. } => ErrorKind::NotFound,
            Error::AlreadyExists { .. } => ErrorKind::AlreadyExists,
            // A database that cannot be reached may be back for a retry.
            Error::Database {
                source: sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
                ..
            } => ErrorKind::Unavailable,
            Error::Database { .. } | Error::Corrupt { .. } | Error::NotPlaced { .. } => {
                ErrorKind::Internal
            }
        }
    }
}

/// A catalog result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |source| Error::Database { operation, source }
}
