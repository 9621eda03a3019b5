//! `sluice.toml`: the project's settings, layered as defaults ← file ← environment.

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The name of the settings file at a project's root.
pub const CONFIG_FILE: &str = "sluice.toml";

/// Where each backend lives, as URLs; relative paths are relative to the project directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Where definitions and commits are registered: `sqlite://` or
    /// `postgres://`.
    pub catalog: String,
    /// Where the full history lives as Delta Lake tables: `file://` or `s3://`.
    pub offline: String,
    /// Where the newest row per key lives: `embedded://`, `redis://` or
    /// `redis+cluster://` (and their TLS forms).
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

/// The whole of `sluice.toml`; every section and setting may be left out for its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectConfig {
    /// `[storage]`: the backend URLs.
    pub storage: StorageConfig,
    /// `[server]`: the online server.
    pub server: ServerConfig,
    /// `[join]`: the point-in-time join.
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
    /// The TCP port `sluice serve` listens on unless told another (default 8080).
    pub port: u16,
    /// The TCP port of Arrow Flight and Flight SQL (default 8815); 0 turns them off.
    pub flight_port: u16,
    /// Models served besides every model with an alias (`NAME` = latest, or `NAME:VERSION`).
    pub models: Vec<String>,
    /// Prediction rows (one per predicted key) waiting to be logged; a
    /// request whose rows do not fit is dropped from the log (and counted),
    /// never waited for. Rows, not requests: a request of 1,000 keys takes
    /// 1,000, so the memory the log holds does not grow with request size.
    pub log_queue: usize,
    /// How often logged predictions are committed to their log feature group.
    pub log_flush: String,
    /// How often aliases and newly registered models are picked up.
    pub refresh: String,
    /// None configured: every route is open (the server says so at start-up).
    pub api_keys: Vec<ApiKeyConfig>,
    /// Threads that serve requests; unset: one per core.
    pub workers: Option<NonZeroUsize>,
    /// Run the serving threads at this real-time priority (Linux SCHED_RR);
    /// unset: the normal scheduler, as every other process.
    pub realtime_priority: Option<RealtimePriority>,
    /// Data requests (vectors, inference, push) served at once; beyond it a
    /// request is answered 503 with `Retry-After` at once instead of
    /// queueing. Unset: [`IN_FLIGHT_PER_WORKER`] per worker thread.
    pub max_in_flight: Option<NonZeroUsize>,
    /// Keys (or pushed rows) one request may carry; more is a 400.
    pub max_keys_per_request: usize,
}

/// Data requests in flight per worker thread when `max_in_flight` is unset.
/// 32 connections saturate two workers in `bench serve` (22k requests/s at
/// 1.45 ms mean latency, all of it queueing); 32 per worker is twice that,
/// room for requests waiting on a remote online store, while a request
/// admitted behind a full limit waits at most ~3 ms for small requests.
/// Beyond it a request would only queue behind the others: at 512
/// connections the p99 was 1.8 s.
pub const IN_FLIGHT_PER_WORKER: usize = 32;

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            port: 8080,
            flight_port: 8815,
            models: Vec::new(),
            log_queue: 100_000,
            log_flush: "1s".into(),
            refresh: "1s".into(),
            api_keys: Vec::new(),
            workers: None,
            realtime_priority: None,
            max_in_flight: None,
            max_keys_per_request: 10_000,
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

    /// Data requests served at once: `max_in_flight`, else
    /// [`IN_FLIGHT_PER_WORKER`] for each of `workers` (at least one).
    pub fn max_in_flight(&self, workers: usize) -> usize {
        self.max_in_flight
            .map_or(workers.max(1) * IN_FLIGHT_PER_WORKER, NonZeroUsize::get)
    }
}

/// A real-time scheduling priority, 1 (lowest) to 99. Threads at any of
/// them run ahead of every thread of the normal scheduler on their core,
/// the kernel's own worker threads included, which is what keeps a serving
/// thread from waiting milliseconds behind one (BENCHMARKS.md, `bench serve`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct RealtimePriority(u8);

impl RealtimePriority {
    /// The highest priority Linux allows.
    pub const MAX: u8 = 99;

    /// The priority as a number, 1 to 99.
    pub fn get(self) -> u8 {
        self.0
    }

    /// The next priority up, or this one at the top.
    pub fn one_above(self) -> Self {
        Self(self.0.saturating_add(1).min(Self::MAX))
    }
}

impl TryFrom<u8> for RealtimePriority {
    type Error = String;

    fn try_from(priority: u8) -> std::result::Result<Self, String> {
        if (1..=Self::MAX).contains(&priority) {
            Ok(Self(priority))
        } else {
            Err(format!(
                "a real-time priority is 1 to {}, not {priority}",
                Self::MAX
            ))
        }
    }
}

impl From<RealtimePriority> for u8 {
    fn from(priority: RealtimePriority) -> u8 {
        priority.0
    }
}

impl std::str::FromStr for RealtimePriority {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, String> {
        let priority: u8 = text
            .trim()
            .parse()
            .map_err(|_| format!("a real-time priority is 1 to {}, not '{text}'", Self::MAX))?;
        Self::try_from(priority)
    }
}

impl std::fmt::Display for RealtimePriority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One API key: given inline (`key`) or, better, read from an environment variable (`key_env`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiKeyConfig {
    /// The key itself; give this or `key_env`, not both.
    pub key: Option<String>,
    /// The environment variable that holds the key, read when the server starts.
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

    /// Parses settings text without the environment overrides; `path` only labels errors.
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
    fn in_flight_requests_default_per_worker_and_refuse_zero() {
        let config = ProjectConfig::default();
        assert_eq!(config.server.max_in_flight(2), 2 * IN_FLIGHT_PER_WORKER);
        assert_eq!(config.server.max_in_flight(0), IN_FLIGHT_PER_WORKER);
        assert_eq!(config.server.max_keys_per_request, 10_000);
        let set = ProjectConfig::parse(
            "[server]\nmax_in_flight = 5\nmax_keys_per_request = 100\n",
            Path::new("s.toml"),
        )
        .unwrap();
        assert_eq!(set.server.max_in_flight(2), 5);
        assert_eq!(set.server.max_keys_per_request, 100);
        let err =
            ProjectConfig::parse("[server]\nmax_in_flight = 0\n", Path::new("s.toml")).unwrap_err();
        assert!(err.to_string().contains("max_in_flight"), "{err}");
    }

    #[test]
    fn realtime_priority_is_unset_by_default_and_refused_outside_1_to_99() {
        assert_eq!(ProjectConfig::default().server.realtime_priority, None);
        let set = ProjectConfig::parse("[server]\nrealtime_priority = 99\n", Path::new("s.toml"))
            .unwrap();
        assert_eq!(
            set.server.realtime_priority.map(RealtimePriority::get),
            Some(99)
        );
        for wrong in ["0", "100", "-1", "\"high\""] {
            let err = ProjectConfig::parse(
                &format!("[server]\nrealtime_priority = {wrong}\n"),
                Path::new("s.toml"),
            )
            .unwrap_err();
            assert!(
                err.to_string().contains("realtime_priority"),
                "{wrong}: {err}"
            );
        }
        assert_eq!("7".parse::<RealtimePriority>().map(u8::from), Ok(7));
        let top = RealtimePriority::try_from(RealtimePriority::MAX).unwrap();
        assert_eq!(top.one_above(), top);
        assert_eq!(
            "1".parse::<RealtimePriority>().unwrap().one_above().get(),
            2
        );
        let err = "0".parse::<RealtimePriority>().unwrap_err();
        assert!(err.contains("1 to 99, not 0"), "{err}");
        assert!("x".parse::<RealtimePriority>().is_err());
    }

    #[test]
    fn environment_overrides_file() {
        let mut config = ProjectConfig::default();
        config.apply_env(|key| (key == "SLUICE_ONLINE").then(|| "redis://h:6379/0".to_string()));
        assert_eq!(config.storage.online, "redis://h:6379/0");
        assert_eq!(config.storage.catalog, StorageConfig::default().catalog);
    }
}
