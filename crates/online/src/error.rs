use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("online store backend '{scheme}' is not available (known: embedded, redis, rediss, redis+cluster, rediss+cluster)")]
    UnknownScheme { scheme: String },

    #[error("online store URL '{url}' has no scheme; expected e.g. embedded://.sluice/online")]
    BadUrl { url: String },

    #[error("online store URL '{url}': a Redis Cluster has only database 0")]
    ClusterDatabase { url: String },

    #[error("cannot open online store at {path}: {message}")]
    Open { path: PathBuf, message: String },

    /// The embedded store admits one process; a running `sluice serve` is the usual holder.
    #[error("the online store at {path} is held by another process (a `sluice serve` on this project?); nothing was written. Stop that process, or go through the server, which takes writes at POST /v1/feature-groups/NAME/VERSION/rows")]
    Held { path: PathBuf },

    #[error("online store, feature group {feature_group}: {message}")]
    Storage {
        feature_group: String,
        message: String,
    },

    #[error("online store, feature group {feature_group}: stored row for a key is unreadable: {message}")]
    Corrupt {
        feature_group: String,
        message: String,
    },

    #[error(
        "online store, feature group {feature_group}: column '{column}' is missing from the batch"
    )]
    MissingColumn {
        feature_group: String,
        column: String,
    },

    #[error("arrow error: {0}")]
    Arrow(#[from] arrow::error::ArrowError),
}

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
