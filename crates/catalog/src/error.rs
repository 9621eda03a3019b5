use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("catalog backend '{scheme}' is not available (known: sqlite, postgres)")]
    UnknownScheme { scheme: String },

    #[error("catalog URL '{url}' has no scheme; expected e.g. sqlite://.sluice/catalog.db")]
    BadUrl { url: String },

    #[error("{kind} '{name}' is not registered{}", known_hint(.known))]
    NotFound {
        kind: &'static str,
        name: String,
        known: Vec<String>,
    },

    #[error("{kind} '{name}' has no version {version} (versions: {})", list(.available))]
    VersionNotFound {
        kind: &'static str,
        name: String,
        version: u32,
        available: Vec<u32>,
    },

    #[error("{kind} '{name}' version {version} is already registered with another definition")]
    AlreadyExists {
        kind: &'static str,
        name: String,
        version: u32,
    },

    #[error("{kind} '{name}' version {version} was not recorded: {message}")]
    NotPlaced {
        kind: &'static str,
        name: String,
        version: u32,
        message: String,
    },

    /// An alias is typed and printed as part of `NAME@ALIAS` references
    /// (commands, definitions, pipeline runs), so it follows the rules of
    /// every other name: no spaces, separators or markup.
    #[error("model '{model}': alias: {source}")]
    InvalidAlias {
        model: String,
        #[source]
        source: Box<sluice_types::Error>,
    },

    #[error("catalog entry for '{name}' is unreadable: {message}")]
    Corrupt { name: String, message: String },

    #[error("cannot open the catalog {path}: {message}")]
    Open { path: PathBuf, message: String },

    #[error("catalog {operation}: {source}")]
    Database {
        operation: &'static str,
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
    /// True when the caller asked for something that does not exist or conflicts, rather than the catalog failing.
    pub fn is_user_error(&self) -> bool {
        !matches!(
            self,
            Error::Database { .. } | Error::Corrupt { .. } | Error::NotPlaced { .. }
        )
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn db(operation: &'static str) -> impl Fn(sqlx::Error) -> Error {
    move |source| Error::Database { operation, source }
}
