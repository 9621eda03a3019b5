use std::path::PathBuf;

/// Why an online-store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The online-store URL names a backend this build does not know.
    #[error("online store backend '{scheme}' is not available (known: embedded, redis, rediss, redis+cluster, rediss+cluster)")]
    UnknownScheme {
        /// The scheme, before `://`.
        scheme: String,
    },

    /// The online-store URL has no `scheme://`, or does not parse as a URL.
    #[error("online store URL '{url}' has no scheme; expected e.g. embedded://.sluice/online")]
    BadUrl {
        /// The URL as given.
        url: String,
    },

    /// A `redis+cluster://` URL names a database other than 0.
    #[error("online store URL '{url}': a Redis Cluster has only database 0")]
    ClusterDatabase {
        /// The URL as given.
        url: String,
    },

    /// The store could not be opened or connected to (the embedded store's
    /// directory or file, a Redis server or cluster), or an embedded flush
    /// failed to commit.
    #[error("cannot open online store at {path}: {message}")]
    Open {
        /// The embedded store's directory or file, or the Redis URL.
        path: PathBuf,
        /// What the file system, redb or Redis said.
        message: String,
    },

    /// The embedded store admits one process; a running `sluice serve` is the usual holder.
    #[error("the online store at {path} is held by another process (a `sluice serve` on this project?); nothing was written. Stop that process, or go through the server, which takes writes at POST /v1/feature-groups/NAME/VERSION/rows")]
    Held {
        /// The embedded store's file.
        path: PathBuf,
    },

    /// The backend failed a read, write or delete of the group (a redb
    /// transaction, a Redis command), or a batch column has the wrong Arrow
    /// type for the group's definition.
    #[error("online store, feature group {feature_group}: {message}")]
    Storage {
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// The backend's error, or the column and its types.
        message: String,
    },

    /// A stored row does not decode as a row of the group's definition:
    /// truncated, or written for other columns.
    #[error("online store, feature group {feature_group}: stored row for a key is unreadable: {message}")]
    Corrupt {
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// What is wrong with the bytes.
        message: String,
    },

    /// A batch handed to the store lacks a column of the group (a key column,
    /// for reads and deletes).
    #[error(
        "online store, feature group {feature_group}: column '{column}' is missing from the batch"
    )]
    MissingColumn {
        /// The group as `NAME:VERSION`.
        feature_group: String,
        /// The column not found.
        column: String,
    },

    /// Arrow failed while building the answer to a read.
    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

impl Error {
    /// What kind of failure this is: a bad URL is the caller's, a store held by
    /// another process a conflict, the rest internal.
    pub fn kind(&self) -> sluice_types::ErrorKind {
        use sluice_types::ErrorKind;
        match self {
            Error::UnknownScheme { .. } | Error::BadUrl { .. } | Error::ClusterDatabase { .. } => {
                ErrorKind::InvalidInput
            }
            Error::Held { .. } => ErrorKind::Conflict,
            Error::Open { .. }
            | Error::Storage { .. }
            | Error::Corrupt { .. }
            | Error::MissingColumn { .. }
            | Error::Arrow(_) => ErrorKind::Internal,
        }
    }
}

/// A result whose error defaults to this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Wraps a backend's own error as a storage error of the feature group.
pub(crate) fn storage_error<E: std::fmt::Display>(
    fg: &sluice_types::FeatureGroupSpec,
) -> impl Fn(E) -> Error + '_ {
    move |e| Error::Storage {
        feature_group: crate::codec::fg_label(fg),
        message: e.to_string(),
    }
}
