//! A local-disk object store whose writes are on disk when they return.
//!
//! object_store's `LocalFileSystem` writes a file (to a temporary name, then
//! renamed into place) without `fsync`, so after an acknowledged Delta commit
//! a power loss or kernel crash could lose the data files, or keep a log
//! entry that points at data files that never reached the disk. This store
//! syncs every file it puts, copies or renames into place, and the folders
//! that name it, before the write is reported done. Delta commits on local
//! disk go through it: [`register`] makes it deltalake's store for `file://`.

use std::fmt;
use std::future::Future;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Once};

use async_trait::async_trait;
use deltalake::logstore::{
    object_store_factories, ObjectStoreFactory, ObjectStoreRef, StorageConfig,
};
use futures::stream::BoxStream;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, UploadPart,
};
use url::Url;

const STORE: &str = "SyncedLocalFileSystem";

/// Makes [`SyncedLocalFileSystem`] the store deltalake opens for `file://`
/// URLs, in this process, once.
pub(crate) fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        object_store_factories().insert(
            Url::parse("file://").expect("a valid URL"),
            Arc::new(SyncedFactory),
        );
    });
}

struct SyncedFactory;

impl ObjectStoreFactory for SyncedFactory {
    fn parse_url_opts(
        &self,
        url: &Url,
        _config: &StorageConfig,
    ) -> deltalake::DeltaResult<(ObjectStoreRef, Path)> {
        let (_, path) = object_store::parse_url(url)?;
        Ok((Arc::new(SyncedLocalFileSystem::default()), path))
    }
}

#[derive(Debug, Default)]
pub(crate) struct SyncedLocalFileSystem {
    inner: LocalFileSystem,
}

impl fmt::Display for SyncedLocalFileSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE}({})", self.inner)
    }
}

fn io_error(path: &FsPath, error: std::io::Error) -> object_store::Error {
    object_store::Error::Generic {
        store: STORE,
        source: format!("cannot sync {}: {error}", path.display()).into(),
    }
}

/// Syncs `file`, the folder that holds it and that folder's own folder (a
/// table's first commit creates its `_delta_log` folder as well).
async fn sync_file(file: PathBuf) -> object_store::Result<()> {
    tokio::task::spawn_blocking(move || {
        let sync = |path: &FsPath| {
            std::fs::File::open(path)
                .and_then(|f| f.sync_all())
                .map_err(|e| io_error(path, e))
        };
        sync(&file)?;
        let mut folder = file.parent();
        for _ in 0..2 {
            let Some(dir) = folder else { break };
            sync(dir)?;
            folder = dir.parent();
        }
        Ok(())
    })
    .await
    .map_err(|e| object_store::Error::Generic {
        store: STORE,
        source: Box::new(e),
    })?
}

impl SyncedLocalFileSystem {
    /// Waits for `write`, then syncs the file it left at `location`: every
    /// write path returns only once its file is on disk.
    async fn synced<T>(
        &self,
        location: &Path,
        write: impl Future<Output = object_store::Result<T>>,
    ) -> object_store::Result<T> {
        let result = write.await?;
        sync_file(self.inner.path_to_filesystem(location)?).await?;
        Ok(result)
    }
}

#[async_trait]
impl ObjectStore for SyncedLocalFileSystem {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.synced(location, self.inner.put_opts(location, payload, opts))
            .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let inner = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(SyncedUpload {
            inner,
            file: self.inner.path_to_filesystem(location)?,
        }))
    }

    async fn get_opts(
        &self,
        location: &Path,
        options: GetOptions,
    ) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    async fn get_ranges(
        &self,
        location: &Path,
        ranges: &[std::ops::Range<u64>],
    ) -> object_store::Result<Vec<bytes::Bytes>> {
        self.inner.get_ranges(location, ranges).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list_with_offset(prefix, offset)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: CopyOptions,
    ) -> object_store::Result<()> {
        self.synced(to, self.inner.copy_opts(from, to, options))
            .await
    }

    async fn rename_opts(
        &self,
        from: &Path,
        to: &Path,
        options: RenameOptions,
    ) -> object_store::Result<()> {
        self.synced(to, self.inner.rename_opts(from, to, options))
            .await
    }
}

#[derive(Debug)]
struct SyncedUpload {
    inner: Box<dyn MultipartUpload>,
    file: PathBuf,
}

#[async_trait]
impl MultipartUpload for SyncedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.inner.complete().await?;
        sync_file(self.file.clone()).await?;
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        self.inner.abort().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use object_store::ObjectStoreExt;

    #[tokio::test]
    async fn writes_land_whole_through_every_write_path() {
        let dir = tempfile::tempdir().unwrap();
        let store = SyncedLocalFileSystem::default();
        let at = |name: &str| Path::from_absolute_path(dir.path().join(name)).unwrap();
        store
            .put(&at("a/b/one"), b"one".to_vec().into())
            .await
            .unwrap();
        let mut upload = store.put_multipart(&at("a/two")).await.unwrap();
        upload.put_part(b"tw".to_vec().into()).await.unwrap();
        upload.put_part(b"o".to_vec().into()).await.unwrap();
        upload.complete().await.unwrap();
        store.copy(&at("a/two"), &at("a/three")).await.unwrap();
        store
            .rename_if_not_exists(&at("a/three"), &at("c/four"))
            .await
            .unwrap();
        for (name, text) in [("a/b/one", "one"), ("a/two", "two"), ("c/four", "two")] {
            assert_eq!(
                std::fs::read_to_string(dir.path().join(name)).unwrap(),
                text
            );
        }
        assert!(!dir.path().join("a/three").exists());
    }

    #[tokio::test]
    async fn registered_for_file_urls() {
        register();
        let dir = tempfile::tempdir().unwrap();
        let url = Url::from_directory_path(dir.path()).unwrap();
        let factory = object_store_factories()
            .get(&Url::parse("file://").unwrap())
            .map(|entry| entry.value().clone())
            .unwrap();
        let (store, _) = factory
            .parse_url_opts(&url, &StorageConfig::default())
            .unwrap();
        assert!(store.to_string().starts_with(STORE), "{store}");
    }
}
