//! Chooses the offline-store backend by URL scheme.

use std::path::Path;
use std::sync::Arc;

use sluice_types::config::{local_path, split_url};
use url::Url;

use crate::{DeltaOfflineStore, Error, OfflineStoreRef, Result};

/// Opens the offline store named by `url`; relative paths are relative to `project_dir`.
pub fn open_offline_store(url: &str, project_dir: &Path) -> Result<OfflineStoreRef> {
    let bad = |reason: &str| Error::BadUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let (scheme, location) = split_url(url)
        .ok_or_else(|| bad("it has no scheme; expected e.g. file://.sluice/offline"))?;
    match scheme {
        "file" => {
            let root = local_path(project_dir, location);
            std::fs::create_dir_all(&root).map_err(|e| bad(&e.to_string()))?;
            let root = root.canonicalize().map_err(|e| bad(&e.to_string()))?;
            let root =
                Url::from_directory_path(&root).map_err(|_| bad("the path is not absolute"))?;
            Ok(Arc::new(DeltaOfflineStore::new(root)))
        }
        "s3" => {
            let mut root = Url::parse(url).map_err(|e| bad(&e.to_string()))?;
            if root.host_str().is_none_or(str::is_empty) {
                return Err(bad("it names no bucket; expected s3://bucket/prefix"));
            }
            // Query parameters are object-store settings, e.g.
            // ?aws_endpoint=http://127.0.0.1:9000&aws_allow_http=true.
            let options = root
                .query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            root.set_query(None);
            if !root.path().ends_with('/') {
                let path = format!("{}/", root.path());
                root.set_path(&path);
            }
            Ok(Arc::new(DeltaOfflineStore::with_storage_options(
                root, options,
            )))
        }
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}
