//! Chooses the online-store backend by URL scheme.

use std::path::Path;
use std::sync::Arc;

use sluice_types::config::{local_path, split_url};

use crate::{EmbeddedOnlineStore, Error, OnlineStoreRef, Result};

/// Opens the online store named by `url`; relative paths are relative to `project_dir`.
pub fn open_online_store(url: &str, project_dir: &Path) -> Result<OnlineStoreRef> {
    let (scheme, location) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "embedded" => Ok(Arc::new(EmbeddedOnlineStore::open(&local_path(
            project_dir,
            location,
        ))?)),
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}
