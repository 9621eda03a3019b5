//! The model registry and the record of runs: the one way other layers
//! reach models, aliases, training-dataset records and pipeline runs. The
//! catalog behind it stays private to this crate, so every registry rule
//! (how `NAME@ALIAS` resolves, what a run records) is written once, here.

use sluice_catalog::{
    CatalogRef, ModelRecord, ModelVersion, RunProgress, RunRecord, TrainingDatasetRecord,
};
use sluice_types::{ModelRef, ModelSelector, ModelSpec};

use crate::{FeatureStore, Result};

/// The registry of a project: models and their versions and aliases,
/// training-dataset records, and pipeline runs. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    catalog: CatalogRef,
}

impl FeatureStore {
    /// The project's registry, sharing this store's catalog.
    pub fn registry(&self) -> Registry {
        Registry {
            catalog: self.catalog.clone(),
        }
    }
}

impl Registry {
    /// The model version `reference` picks: the latest, a version, or the
    /// one an alias points at.
    pub async fn model(&self, reference: &ModelRef) -> Result<ModelRecord> {
        Ok(match &reference.selector {
            ModelSelector::Latest => self.catalog.model(&reference.name, None).await?,
            ModelSelector::Version(v) => self.catalog.model(&reference.name, Some(*v)).await?,
            ModelSelector::Alias(alias) => {
                self.catalog.model_by_alias(&reference.name, alias).await?
            }
        })
    }

    /// Every model version, with its lineage, metrics and aliases.
    pub async fn models(&self) -> Result<Vec<ModelRecord>> {
        Ok(self.catalog.models().await?)
    }

    /// Every model version's name, number and aliases, without the specs.
    pub async fn model_versions(&self) -> Result<Vec<ModelVersion>> {
        Ok(self.catalog.model_versions().await?)
    }

    /// Registers the next version of `spec.name`; returns its number.
    pub async fn register_model(&self, spec: &ModelSpec) -> Result<u32> {
        Ok(self.catalog.register_model(spec).await?)
    }

    /// Points `alias` at `version` of `model`; returns the version it
    /// pointed at before, if any.
    pub async fn set_alias(&self, model: &str, alias: &str, version: u32) -> Result<Option<u32>> {
        Ok(self.catalog.set_alias(model, alias, version).await?)
    }

    /// Every training dataset of every view, ordered by feature view, its
    /// version, then dataset version.
    pub async fn training_datasets(&self) -> Result<Vec<TrainingDatasetRecord>> {
        Ok(self.catalog.training_datasets().await?)
    }

    /// Training dataset `version` of feature view `view:view_version`.
    pub async fn training_dataset(
        &self,
        view: &str,
        view_version: u32,
        version: u32,
    ) -> Result<TrainingDatasetRecord> {
        Ok(self
            .catalog
            .training_dataset(view, view_version, version)
            .await?)
    }

    /// Records that a run of `pipeline` writing to `sink` has started; the
    /// returned id is what `update_run` takes.
    pub async fn start_run(&self, pipeline: &str, sink: &str) -> Result<u64> {
        Ok(self.catalog.start_run(pipeline, sink).await?)
    }

    /// Records run `id`'s progress; a final status also sets its end time.
    pub async fn update_run(&self, id: u64, progress: &RunProgress) -> Result<()> {
        Ok(self.catalog.update_run(id, progress).await?)
    }

    /// Runs, newest first; of one pipeline when `pipeline` is given.
    pub async fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>> {
        Ok(self.catalog.runs(pipeline).await?)
    }
}
