//! A project: a directory with `sluice.toml` and `features/`, and the backends it names.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sluice_catalog::{open_catalog, CatalogRef, FeatureGroupRecord, FeatureViewRecord};
use sluice_offline::{open_offline_store, OfflineStoreRef};
use sluice_online::{check_online_url, open_online_store, OnlineStoreRef};
use sluice_types::config::{default_config_text, CONFIG_FILE};
use sluice_types::definitions::{DEFINITIONS_DIR, EXAMPLE_DEFINITIONS};
use sluice_types::{Definitions, NameRef, ProjectConfig};

use crate::feature_group::FeatureGroup;
use crate::{Error, Result};

/// Where project-private working files (staging, the embedded stores by default) live.
pub const WORK_DIR: &str = ".sluice";

/// What `init` wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct InitReport {
    /// The project directory.
    pub dir: PathBuf,
    /// The files written: `sluice.toml`, and the example definitions unless
    /// a file of that name was already there.
    pub files: Vec<PathBuf>,
}

/// An open project and its backends. Cloning is cheap and shares the
/// backends (the online store too, once opened), so a clone can be moved
/// into a background task.
#[derive(Clone)]
pub struct FeatureStore {
    dir: PathBuf,
    pub(crate) catalog: CatalogRef,
    pub(crate) offline: OfflineStoreRef,
    /// Opened on first use: the embedded store admits one process at a time,
    /// and commands that never touch it (listing, reading, runs) should not wait for it.
    online: Arc<tokio::sync::OnceCell<OnlineStoreRef>>,
    online_url: String,
    /// Bytes of feature rows a join holds in memory before spilling.
    pub(crate) join_budget: usize,
}

impl FeatureStore {
    /// Creates `dir` (if needed) with `sluice.toml` and a commented example
    /// under `features/`. Refuses to overwrite an existing `sluice.toml`.
    pub fn init(dir: &Path) -> Result<InitReport> {
        let config = dir.join(CONFIG_FILE);
        if config.exists() {
            return Err(Error::AlreadyInitialised { path: config });
        }
        let write = |path: &Path, text: &str| {
            std::fs::write(path, text).map_err(|e| Error::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            })
        };
        let features = dir.join(DEFINITIONS_DIR);
        std::fs::create_dir_all(&features).map_err(|e| Error::Write {
            path: features.clone(),
            message: e.to_string(),
        })?;
        write(&config, &default_config_text())?;
        let mut files = vec![config];
        let example = features.join("example.toml");
        if !example.exists() {
            write(&example, EXAMPLE_DEFINITIONS)?;
            files.push(example);
        }
        Ok(InitReport {
            dir: dir.to_path_buf(),
            files,
        })
    }

    /// Opens the project in `dir`, connecting to the backends its config names.
    pub async fn open(dir: &Path) -> Result<Self> {
        if !dir.join(CONFIG_FILE).exists() {
            return Err(Error::NotAProject {
                dir: dir.to_path_buf(),
            });
        }
        let config = ProjectConfig::load(dir)?;
        let storage = &config.storage;
        let offline = open_offline_store(&storage.offline, dir)?;
        check_online_url(&storage.online)?;
        let catalog = open_catalog(&storage.catalog, dir).await?;
        Ok(Self {
            dir: dir.to_path_buf(),
            catalog,
            offline,
            online: Arc::new(tokio::sync::OnceCell::new()),
            online_url: storage.online.clone(),
            join_budget: config.join.memory_budget_mb.saturating_mul(1 << 20),
        })
    }

    /// Sets how many bytes of feature rows a join holds before spilling
    /// (`[join] memory_budget_mb` in `sluice.toml` sets it on open).
    pub fn set_join_budget(&mut self, bytes: usize) {
        self.join_budget = bytes;
    }

    /// The online store, opened on first use.
    pub(crate) async fn online(&self) -> Result<&OnlineStoreRef> {
        self.online
            .get_or_try_init(|| async { open_online_store(&self.online_url, &self.dir).await })
            .await
            .map_err(Into::into)
    }

    /// Opens the online store now rather than at first use: a server takes
    /// the embedded store (one process at a time) when it starts, so that a
    /// write from another process is refused whole from then on, and a
    /// server that cannot have the store fails at start, not at its first request.
    pub async fn open_online(&self) -> Result<()> {
        self.online().await.map(|_| ())
    }

    /// The project directory, which holds `sluice.toml`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The project's private working folder (`.sluice`).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join(WORK_DIR)
    }

    /// Stores an immutable, content-named file (a model artefact) beside
    /// the offline tables, so every process that reads the tables reads it
    /// too (the object store in production).
    pub async fn put_file(&self, path: &str, bytes: Vec<u8>) -> Result<()> {
        Ok(self.offline.put_file(path, bytes).await?)
    }

    /// A file stored by `put_file`, or `None`.
    pub async fn get_file(&self, path: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.offline.get_file(path).await?)
    }

    /// Where a stored file lives, for messages.
    pub fn file_location(&self, path: &str) -> String {
        self.offline.file_location(path)
    }

    /// The project's definition files, parsed and checked.
    pub fn definitions(&self) -> Result<Definitions> {
        Ok(Definitions::load(&self.dir)?)
    }

    /// A handle on a registered feature group (`NAME[:VERSION]`, latest when no version).
    pub async fn feature_group(&self, name: &NameRef) -> Result<FeatureGroup<'_>> {
        let record = self.catalog.feature_group(&name.name, name.version).await?;
        Ok(FeatureGroup::new(
            self,
            Arc::new(record.spec),
            record.created_at,
        ))
    }

    /// Every registered version of every feature view.
    pub async fn feature_views(&self) -> Result<Vec<FeatureViewRecord>> {
        Ok(self.catalog.feature_views().await?)
    }

    /// Every registered version of every feature group.
    pub async fn feature_groups(&self) -> Result<Vec<FeatureGroupRecord>> {
        Ok(self.catalog.feature_groups().await?)
    }
}
