//! A run's record in the catalog, kept current as the run goes.

use sluice_featurestore::{FeatureStore, Registry, RunProgress, RunStatus};

use crate::Result;

pub(crate) struct RunLog {
    registry: Registry,
    pub id: u64,
    pub progress: RunProgress,
}

impl RunLog {
    pub async fn start(store: &FeatureStore, pipeline: &str, sink: &str) -> Result<Self> {
        let registry = store.registry();
        let id = registry.start_run(pipeline, sink).await?;
        Ok(Self {
            registry,
            id,
            progress: RunProgress::running(),
        })
    }

    pub async fn save(&self) -> Result<()> {
        Ok(self.registry.update_run(self.id, &self.progress).await?)
    }

    pub async fn succeed(&mut self) -> Result<()> {
        self.progress.status = RunStatus::Succeeded;
        self.save().await
    }

    /// Records how `result` ended and passes it on.
    pub async fn finish<T>(&mut self, result: Result<T>) -> Result<T> {
        match result {
            Ok(value) => {
                self.succeed().await?;
                Ok(value)
            }
            Err(error) => {
                self.fail(&error).await;
                Err(error)
            }
        }
    }

    /// Records the failure; a catalog error here is secondary to `error`, so it is only logged.
    pub async fn fail(&mut self, error: &crate::Error) {
        self.progress.status = RunStatus::Failed;
        self.progress.error = Some(error.to_string());
        if let Err(e) = self.save().await {
            tracing::warn!(run = self.id, "could not record the run's failure: {e}");
        }
    }
}

/// The state left by earlier successful runs of `pipeline`, newest first.
pub(crate) async fn earlier_states(
    store: &FeatureStore,
    pipeline: &str,
) -> Result<Vec<serde_json::Value>> {
    Ok(store
        .registry()
        .runs(Some(pipeline))
        .await?
        .into_iter()
        .filter(|r| r.progress.status == RunStatus::Succeeded)
        .map(|r| r.progress.state)
        .collect())
}
