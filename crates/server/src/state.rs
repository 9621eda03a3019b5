//! What the handlers share: the store, the models being served (reloaded
//! in the background so alias changes need no restart), resolved feature
//! views, metrics, the prediction log and the API keys.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use sluice_featurestore::{FeatureStore, ModelVersion, ResolvedView};
use sluice_pipelines::ServingModel;
use sluice_types::config::ServerConfig;
use sluice_types::{ModelRef, NameRef};
use tokio::sync::watch;

use crate::auth::ApiKeys;
use crate::limits::InFlight;
use crate::metrics::Metrics;
use crate::prediction_log::PredictionLog;
use crate::stopped_signal;
use crate::{Error, Result};

/// The alias `/v2/models/{name}` answers with when it is set.
pub const DEFAULT_ALIAS: &str = "production";

#[derive(Default)]
pub struct ModelTable {
    pub versions: BTreeMap<String, BTreeMap<u32, Arc<ServingModel>>>,
    /// Per name, the version served without `/versions/{v}`.
    pub default: BTreeMap<String, u32>,
}

impl ModelTable {
    /// The named model at `version`, or at its default version.
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<Arc<ServingModel>> {
        let versions = self.versions.get(name).ok_or_else(|| {
            Error::NotFound(format!(
                "model '{name}' is not served (served: {}); give it an alias or list it under [server] models",
                self.names()
            ))
        })?;
        let version = version.unwrap_or(self.default[name]);
        versions.get(&version).cloned().ok_or_else(|| {
            Error::NotFound(format!(
                "model '{name}' version {version} is not served (served versions: {})",
                versions
                    .keys()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
    }

    fn names(&self) -> String {
        if self.versions.is_empty() {
            return "none".into();
        }
        self.versions.keys().cloned().collect::<Vec<_>>().join(", ")
    }

    pub fn served(&self) -> impl Iterator<Item = &Arc<ServingModel>> {
        self.versions.values().flat_map(|v| v.values())
    }
}

pub struct AppState {
    pub store: Arc<FeatureStore>,
    pub config: ServerConfig,
    pub auth: ApiKeys,
    pub metrics: Metrics,
    pub log: PredictionLog,
    /// Data requests being served, at most `[server] max_in_flight`.
    pub in_flight: InFlight,
    models: RwLock<Arc<ModelTable>>,
    /// By name, then version: looked up by the path's `&str`, with no key built per request.
    views: RwLock<HashMap<String, HashMap<u32, Arc<ResolvedView>>>>,
}

impl AppState {
    pub async fn new(
        store: Arc<FeatureStore>,
        config: ServerConfig,
        auth: ApiKeys,
        log: PredictionLog,
    ) -> Result<Self> {
        store.open_online().await?;
        let table = load_models(&store, &config.models, &ModelTable::default(), true).await?;
        let metrics = Metrics::new(log.queue_gauges());
        // The runtime's worker threads are those that serve requests.
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let in_flight = InFlight::new(config.max_in_flight(workers));
        Ok(Self {
            store,
            config,
            auth,
            metrics,
            log,
            in_flight,
            models: RwLock::new(Arc::new(table)),
            views: RwLock::new(HashMap::new()),
        })
    }

    pub fn models(&self) -> Arc<ModelTable> {
        self.models.read().expect("model table lock").clone()
    }

    /// A feature view version, resolved on first use and kept.
    pub async fn view(&self, name: &str, version: u32) -> Result<Arc<ResolvedView>> {
        let cached = self
            .views
            .read()
            .expect("view cache lock")
            .get(name)
            .and_then(|versions| versions.get(&version))
            .cloned();
        if let Some(view) = cached {
            return Ok(view);
        }
        let resolved = self
            .store
            .feature_view(&NameRef {
                name: name.to_string(),
                version: Some(version),
            })
            .await?
            .resolved();
        let resolved = Arc::new(resolved);
        self.views
            .write()
            .expect("view cache lock")
            .entry(name.to_string())
            .or_default()
            .insert(version, resolved.clone());
        Ok(resolved)
    }

    /// What the server tells its operator at start-up.
    pub fn banner(&self, addr: SocketAddr) -> Vec<String> {
        let mut lines = vec![format!("sluice serve listening on http://{addr}")];
        let table = self.models();
        if table.versions.is_empty() {
            lines.push(
                "serving no models (give one an alias with `sluice models alias NAME@production V`); feature vectors are served".into(),
            );
        }
        for (name, versions) in &table.versions {
            lines.push(format!(
                "model {name}: versions {} (default {})",
                versions
                    .keys()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                table.default[name]
            ));
        }
        if self.auth.is_open() {
            lines.push(
                "WARNING: no API keys configured ([[server.api_keys]] in sluice.toml): every route is open to anyone who can reach this port".into(),
            );
        }
        lines
    }
}

/// Reloads the model table every `every`, so alias changes and new versions are served without a restart.
pub async fn refresh_loop(
    state: Arc<AppState>,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stopped_signal(&mut stopped) => return,
        }
        let previous = state.models();
        match load_models(&state.store, &state.config.models, &previous, false).await {
            Ok(table) => *state.models.write().expect("model table lock") = Arc::new(table),
            Err(e) => tracing::warn!("could not reload the served models: {e}"),
        }
    }
}

/// The models to serve: every version with an alias, and those the config
/// lists. Only the version list is read each time; loaded models are reused
/// from `previous` (artefacts are immutable) and a record is read only for a
/// version not loaded yet. At start-up (`strict`) a model that cannot be
/// loaded is an error; later it is logged and skipped.
async fn load_models(
    store: &FeatureStore,
    listed: &[String],
    previous: &ModelTable,
    strict: bool,
) -> Result<ModelTable> {
    let versions = store.registry().model_versions().await?;
    let mut wanted: Vec<&ModelVersion> =
        versions.iter().filter(|v| !v.aliases.is_empty()).collect();
    for text in listed {
        let name =
            NameRef::parse(text).map_err(|e| Error::Config(format!("server.models: {e}")))?;
        let chosen = versions
            .iter()
            .filter(|v| v.name == name.name && name.version.is_none_or(|n| n == v.version))
            .max_by_key(|v| v.version)
            .ok_or_else(|| {
                Error::Config(format!(
                    "server.models names '{text}', which is not registered"
                ))
            })?;
        wanted.push(chosen);
    }
    let mut table = ModelTable::default();
    for wanted in wanted {
        let name = &wanted.name;
        let reused = previous
            .versions
            .get(name)
            .and_then(|v| v.get(&wanted.version))
            .cloned();
        let model = match reused {
            Some(model) => model,
            None => match load_model(store, name, wanted.version).await {
                Ok(model) => Arc::new(model),
                Err(e) if strict => {
                    return Err(Error::Config(format!(
                        "model {name}:{} cannot be served: {e}",
                        wanted.version
                    )))
                }
                Err(e) => {
                    tracing::warn!("model {name}:{} cannot be served: {e}", wanted.version);
                    continue;
                }
            },
        };
        table
            .versions
            .entry(name.clone())
            .or_default()
            .insert(wanted.version, model);
        if wanted.aliases.iter().any(|a| a == DEFAULT_ALIAS) {
            table.default.insert(name.clone(), wanted.version);
        }
    }
    for (name, versions) in &table.versions {
        if !table.default.contains_key(name) {
            let latest = *versions
                .keys()
                .next_back()
                .expect("a served name has a version");
            table.default.insert(name.clone(), latest);
        }
    }
    Ok(table)
}

async fn load_model(store: &FeatureStore, name: &str, version: u32) -> Result<ServingModel> {
    let record = store
        .registry()
        .model(&ModelRef::version(name, version))
        .await?;
    Ok(ServingModel::load(store, record).await?)
}
