//! Chooses the catalog backend by URL scheme.

use std::path::Path;
use std::sync::Arc;

use sluice_types::config::{local_path, split_url};

use crate::{CatalogRef, Error, Result, SqlCatalog};

/// Opens (creating if needed) the catalog named by `url`; relative SQLite
/// paths are relative to `project_dir`.
pub async fn open_catalog(url: &str, project_dir: &Path) -> Result<CatalogRef> {
    let (scheme, location) = split_url(url).ok_or_else(|| Error::BadUrl {
        url: url.to_string(),
    })?;
    match scheme {
        "sqlite" => Ok(Arc::new(
            SqlCatalog::open_sqlite(&local_path(project_dir, location)).await?,
        )),
        "postgres" | "postgresql" => Ok(Arc::new(SqlCatalog::open_postgres(url).await?)),
        other => Err(Error::UnknownScheme {
            scheme: other.to_string(),
        }),
    }
}
