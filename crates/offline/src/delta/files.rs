//! Files that are not tables (model artefacts), stored under the store's
//! root beside the tables.

use deltalake::DeltaTableError;
use object_store::ObjectStoreExt;

use super::DeltaOfflineStore;
use crate::{Error, Result};

impl DeltaOfflineStore {
    /// The store's root as an object store, for files that are not tables.
    fn files(&self) -> std::result::Result<deltalake::logstore::ObjectStoreRef, DeltaTableError> {
        deltalake::logstore::store_for(&self.root, self.storage_options.iter())
    }

    fn file_error<'a>(
        &'a self,
        path: &'a str,
        operation: &'static str,
    ) -> impl Fn(String) -> Error + 'a {
        move |message| Error::File {
            location: location(self, path),
            operation,
            message,
        }
    }
}

pub(super) async fn put(store: &DeltaOfflineStore, path: &str, bytes: Vec<u8>) -> Result<()> {
    let fail = store.file_error(path, "write");
    let objects = store.files().map_err(|e| fail(e.to_string()))?;
    let location = object_store::path::Path::parse(path).map_err(|e| fail(e.to_string()))?;
    let create = object_store::PutOptions {
        mode: object_store::PutMode::Create,
        ..Default::default()
    };
    match objects.put_opts(&location, bytes.into(), create).await {
        Ok(_) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(fail(e.to_string())),
    }
}

pub(super) async fn get(store: &DeltaOfflineStore, path: &str) -> Result<Option<Vec<u8>>> {
    let fail = store.file_error(path, "read");
    let objects = store.files().map_err(|e| fail(e.to_string()))?;
    let location = object_store::path::Path::parse(path).map_err(|e| fail(e.to_string()))?;
    match objects.get(&location).await {
        Ok(found) => Ok(Some(
            found
                .bytes()
                .await
                .map_err(|e| fail(e.to_string()))?
                .to_vec(),
        )),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(fail(e.to_string())),
    }
}

pub(super) fn location(store: &DeltaOfflineStore, path: &str) -> String {
    let mut shown = store.root.clone();
    shown.set_query(None);
    format!("{shown}{path}")
}
