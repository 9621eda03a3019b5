//! Chooses the online-store backend by URL scheme.

use std::path::Path;
use std::sync::Arc;

use sluice_types::config::{local_path, split_url};

use crate::{EmbeddedOnlineStore, Error, OnlineStoreRef, RedisOnlineStore, Result};

/// The key prefix when a Redis URL names none.
pub const DEFAULT_REDIS_PREFIX: &str = "sluice";

/// Checks that `url` names a known backend, without connecting to it.
pub fn check_online_url(url: &str) -> Result<()> {
    let (scheme, _) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "embedded" | "redis" | "rediss" => Ok(()),
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}

/// Opens the online store named by `url`; relative paths are relative to `project_dir`.
///
/// `embedded://DIR` is a redb file in DIR. `redis://HOST:PORT/DB?prefix=NAME`
/// stores every key under `NAME:` (default `sluice`), so projects can share a server.
pub async fn open_online_store(url: &str, project_dir: &Path) -> Result<OnlineStoreRef> {
    let (scheme, location) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "embedded" => Ok(Arc::new(EmbeddedOnlineStore::open(&local_path(
            project_dir,
            location,
        ))?)),
        "redis" | "rediss" => {
            let mut parsed = url::Url::parse(url).map_err(|_| Error::BadUrl {
                url: url.to_string(),
            })?;
            let prefix = parsed
                .query_pairs()
                .find(|(k, _)| k == "prefix")
                .map_or(DEFAULT_REDIS_PREFIX.to_string(), |(_, v)| v.into_owned());
            let others: Vec<(String, String)> = parsed
                .query_pairs()
                .filter(|(k, _)| k != "prefix")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            parsed.set_query(None);
            if !others.is_empty() {
                parsed.query_pairs_mut().extend_pairs(others);
            }
            Ok(Arc::new(
                RedisOnlineStore::connect(parsed.as_str(), &prefix).await?,
            ))
        }
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}
