//! `sluice.toml`: the project's settings, layered as defaults ← file ← environment.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

pub const CONFIG_FILE: &str = "sluice.toml";

/// Where each backend lives, as URLs; relative paths are relative to the project directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub catalog: String,
    pub offline: String,
    pub online: String,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            catalog: "sqlite://.sluice/catalog.db".into(),
            offline: "file://.sluice/offline".into(),
            online: "embedded://.sluice/online".into(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    pub storage: StorageConfig,
    pub server: ServerConfig,
    pub join: JoinConfig,
}

/// `[join]`: how the point-in-time join uses memory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct JoinConfig {
    /// Feature rows held in memory for one join, in MiB; larger feature
    /// tables are spilled to disk by key hash and joined in parts.
    pub memory_budget_mb: usize,
}

impl Default for JoinConfig {
    fn default() -> Self {
        Self {
            memory_budget_mb: 4096,
        }
    }
}

/// `[server]`: what `sluice serve` serves and who may call it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub port: u16,
    /// Models served besides every model with an alias (`NAME` = latest, or `NAME:VERSION`).
    pub models: Vec<String>,
    /// Predictions waiting to be logged; beyond this they are dropped (and counted), never waited for.
    pub log_queue: usize,
    /// How often logged predictions are committed to their log feature group.
    pub log_flush: String,
    /// How often aliases and newly registered models are picked up.
    pub refresh: String,
    /// None configured: every route is open (the server says so at start-up).
    pub api_keys: Vec<ApiKeyConfig>,
    /// Threads that serve requests; unset: one per core.
    pub workers: Option<NonZeroUsize>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            models: Vec::new(),
            log_queue: 10_000,
            log_flush: "1s".into(),
            refresh: "1s".into(),
            api_keys: Vec::new(),
            workers: None,
        }
    }
}

impl ServerConfig {
    /// The server's worker threads: `workers`, else one per core. More
    /// workers than cores cut the 20k/s tail on one VM and not on another
    /// (BENCHMARKS.md, `bench serve`), so the default stays tokio's own.
    pub fn worker_threads(&self, cores: usize) -> usize {
        self.workers.map_or(cores.max(1), NonZeroUsize::get)
    }
}

/// One API key: given inline (`key`) or, better, read from an environment variable (`key_env`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    pub key: Option<String>,
    pub key_env: Option<String>,
    /// `read` (feature vectors, predictions) and/or `write` (pushing rows).
    pub scopes: Vec<String>,
}

impl ProjectConfig {
    /// Reads `DIR/sluice.toml`, then lets `SLUICE_CATALOG`, `SLUICE_OFFLINE`
    /// and `SLUICE_ONLINE` override its storage URLs.
    pub fn load(project_dir: &Path) -> Result<Self> {
        let path = project_dir.join(CONFIG_FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let mut config = Self::parse(&text, &path)?;
        config.apply_env(|key| std::env::var(key).ok());
        Ok(config)
    }

    pub fn parse(text: &str, path: &Path) -> Result<Self> {
        toml::from_str(text).map_err(|e| Error::Malformed {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })
    }

    fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        let storage = &mut self.storage;
        for (key, slot) in [
            ("SLUICE_CATALOG", &mut storage.catalog),
            ("SLUICE_OFFLINE", &mut storage.offline),
            ("SLUICE_ONLINE", &mut storage.online),
        ] {
            if let Some(value) = var(key) {
                *slot = value;
            }
        }
    }
}

/// The text `sluice init` writes: the embedded defaults, with the production alternatives beside them.
pub fn default_config_text() -> String {
    let defaults = StorageConfig::default();
    format!(
        "# Sluice project settings. Definitions live in features/*.toml.\n\
         [storage]\n\
         catalog = \"{}\"   # or postgres://user@host/db\n\
         offline = \"{}\"        # Delta Lake tables; or s3://bucket/prefix\n\
         online  = \"{}\"     # embedded key-value store; or redis://host:6379/0\n",
        defaults.catalog, defaults.offline, defaults.online
    )
}

/// Splits a backend URL into its scheme and the location after `scheme://`.
pub fn split_url(url: &str) -> Option<(&str, &str)> {
    url.split_once("://")
}

/// Resolves the location part of a local backend URL against the project directory.
pub fn local_path(project_dir: &Path, location: &str) -> PathBuf {
    let path = Path::new(location);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        project_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_text_parses_to_defaults() {
        let config =
            ProjectConfig::parse(&default_config_text(), Path::new("sluice.toml")).unwrap();
        assert_eq!(config, ProjectConfig::default());
    }

    #[test]
    fn malformed_file_names_path() {
        let err = ProjectConfig::parse("[storage\n", Path::new("p/sluice.toml")).unwrap_err();
        assert!(err.to_string().starts_with("p/sluice.toml:"), "{err}");
        let err =
            ProjectConfig::parse("[storage]\ncatalgo = \"x\"\n", Path::new("s.toml")).unwrap_err();
        assert!(err.to_string().contains("catalgo"), "{err}");
    }

    #[test]
    fn server_workers_default_to_the_cores_and_refuse_zero() {
        let config = ProjectConfig::default();
        assert_eq!(config.server.worker_threads(2), 2);
        assert_eq!(
            config.server.worker_threads(0),
            1,
            "no core count is one core"
        );
        let set = ProjectConfig::parse("[server]\nworkers = 3\n", Path::new("s.toml")).unwrap();
        assert_eq!(set.server.worker_threads(2), 3);
        let err = ProjectConfig::parse("[server]\nworkers = 0\n", Path::new("s.toml")).unwrap_err();
        assert!(err.to_string().contains("workers"), "{err}");
    }

    #[test]
    fn environment_overrides_file() {
        let mut config = ProjectConfig::default();
        config.apply_env(|key| (key == "SLUICE_ONLINE").then(|| "redis://h:6379/0".to_string()));
        assert_eq!(config.storage.online, "redis://h:6379/0");
        assert_eq!(config.storage.catalog, StorageConfig::default().catalog);
    }
}
