//! The catalog trait and the records it keeps.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_types::{FeatureGroupSpec, FeatureViewSpec, ModelSpec, TrainingDatasetSpec};

use crate::quality::{QualityQuery, QualityRecord};
use crate::runs::{RunProgress, RunRecord};
use crate::Result;

/// A registered definition and when it was registered.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Versioned<T> {
    /// The definition, as registered or as `apply` last updated it.
    pub spec: T,
    /// When this version was first registered; updates keep it.
    pub created_at: DateTime<Utc>,
}

/// A registered feature-group version.
pub type FeatureGroupRecord = Versioned<FeatureGroupSpec>;
/// A registered feature-view version.
pub type FeatureViewRecord = Versioned<FeatureViewSpec>;

/// A training dataset: version `version` of its feature view's datasets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrainingDatasetRecord {
    /// Numbered from 1 within its feature-view version.
    pub version: u32,
    /// What was materialised, from which view and commits, into which files.
    pub spec: TrainingDatasetSpec,
    /// When it was recorded.
    pub created_at: DateTime<Utc>,
}

/// A registered model version, with the aliases that point at it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelRecord {
    /// Numbered from 1 per model name.
    pub version: u32,
    /// The aliases pointing at this version, ordered by alias.
    pub aliases: Vec<String>,
    /// The model's definition; serialised as fields of the record itself.
    #[serde(flatten)]
    pub spec: ModelSpec,
    /// When this version was registered.
    pub created_at: DateTime<Utc>,
}

/// A model version and its aliases, without its spec: what a server polls
/// for alias changes, cheap enough to ask for every second.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelVersion {
    /// The model's name.
    pub name: String,
    /// Numbered from 1 per model name.
    pub version: u32,
    /// The aliases pointing at this version, ordered by alias.
    pub aliases: Vec<String>,
}

/// Gives a fieldless enum `as_str`, `parse` and `Display` from one list of
/// variants and the words the catalog stores for them, so that the word
/// written and the word read back cannot drift apart.
macro_rules! stored_as_words {
    ($enum:ident { $($variant:ident => $word:literal),+ $(,)? }) => {
        impl $enum {
            pub(crate) fn as_str(self) -> &'static str {
                match self {
                    $($enum::$variant => $word,)+
                }
            }

            pub(crate) fn parse(text: &str) -> Option<Self> {
                match text {
                    $($word => Some($enum::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $enum {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use stored_as_words;

/// The kind of write an offline commit made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CommitOperation {
    /// Rows upserted: new ones inserted, ones with a stored (primary key,
    /// event time) replacing it.
    Ingest,
    /// Rows added without looking at stored ones (prediction logs).
    Append,
    /// Every row of the given primary keys removed.
    Delete,
}

stored_as_words!(CommitOperation {
    Ingest => "ingest",
    Append => "append",
    Delete => "delete",
});

/// One offline commit of a feature group, as the catalog remembers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CommitRecord {
    /// The Delta table version the commit produced.
    pub offline_version: u64,
    /// What kind of write it was.
    pub operation: CommitOperation,
    /// Rows inserted or replaced (ingest) or removed (delete).
    pub rows: u64,
    /// When the commit was made.
    pub committed_at: DateTime<Utc>,
    /// The input files, or the deleted keys, as text.
    pub source: String,
}

/// A change `sluice apply` makes.
#[derive(Debug, Clone)]
pub enum CatalogChange {
    /// Register a feature-group version; fails with
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists) when that version
    /// is registered already.
    CreateFeatureGroup(FeatureGroupSpec),
    /// Replace fields that do not change what is stored (description, TTL).
    UpdateFeatureGroup(FeatureGroupSpec),
    /// Register a feature-view version; fails with
    /// [`Error::AlreadyExists`](crate::Error::AlreadyExists) when that version
    /// is registered already.
    CreateFeatureView(FeatureViewSpec),
    /// Replace fields that do not change what the view means (description).
    UpdateFeatureView(FeatureViewSpec),
}

/// Moves a new training dataset's files under the version it was given;
/// the error says what could not be moved where.
pub type PlaceFiles<'a> = &'a (dyn Fn(u32) -> std::result::Result<(), String> + Send + Sync);

/// Where metadata lives. Every method is atomic; `apply` is one transaction.
#[async_trait]
pub trait Catalog: Send + Sync {
    /// Every version of every feature group, ordered by name then version.
    async fn feature_groups(&self) -> Result<Vec<FeatureGroupRecord>>;

    /// One version, or the latest when `version` is `None`. Unknown names and
    /// versions are errors that list what exists.
    async fn feature_group(&self, name: &str, version: Option<u32>) -> Result<FeatureGroupRecord>;

    /// Every version of every feature view, ordered by name then version.
    async fn feature_views(&self) -> Result<Vec<FeatureViewRecord>>;

    /// One feature-view version, or the latest when `version` is `None`.
    async fn feature_view(&self, name: &str, version: Option<u32>) -> Result<FeatureViewRecord>;

    /// Records a training dataset as the next version for its feature view
    /// and returns that version. `place` runs with the version once it is
    /// claimed but before the record is visible, to move the dataset's files
    /// into place: the record appears only if it succeeds, so a crash or a
    /// failed move never leaves a record without its files.
    async fn create_training_dataset(
        &self,
        spec: &TrainingDatasetSpec,
        place: PlaceFiles<'_>,
    ) -> Result<u32>;

    /// One training dataset of a feature-view version; an unknown version lists the known ones.
    async fn training_dataset(
        &self,
        feature_view: &str,
        view_version: u32,
        version: u32,
    ) -> Result<TrainingDatasetRecord>;

    /// Every training dataset, ordered by feature view, its version, then dataset version.
    async fn training_datasets(&self) -> Result<Vec<TrainingDatasetRecord>>;

    /// Applies all changes in one transaction: all of them or none.
    async fn apply(&self, changes: &[CatalogChange]) -> Result<()>;

    /// Appends to a feature group's commit history.
    async fn record_commit(&self, name: &str, version: u32, commit: &CommitRecord) -> Result<()>;

    /// A feature group's commit history, oldest first.
    async fn commits(&self, name: &str, version: u32) -> Result<Vec<CommitRecord>>;

    /// Records the start of a pipeline run; returns its id (ascending across all pipelines).
    async fn start_run(&self, pipeline: &str, sink: &str) -> Result<u64>;

    /// Records a run's progress; a final status also sets its end time.
    async fn update_run(&self, id: u64, progress: &RunProgress) -> Result<()>;

    /// Runs, newest first; only `pipeline`'s when given.
    async fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>>;

    /// Registers a new version of `spec.name` (numbered from 1); returns it.
    async fn register_model(&self, spec: &ModelSpec) -> Result<u32>;

    /// Every model version, by name then version, with its aliases.
    async fn models(&self) -> Result<Vec<ModelRecord>>;

    /// Every model version, by name then version, with its aliases but not
    /// its spec (no spec is parsed).
    async fn model_versions(&self) -> Result<Vec<ModelVersion>>;

    /// One version, or the latest.
    async fn model(&self, name: &str, version: Option<u32>) -> Result<ModelRecord>;

    /// The version `alias` points at.
    async fn model_by_alias(&self, name: &str, alias: &str) -> Result<ModelRecord>;

    /// Points `alias` at an existing version (moving it if it pointed
    /// elsewhere) and returns the version it pointed at before, read in the
    /// same transaction, so that what is reported as replaced is what was.
    /// An alias must be a valid name (see `validate_name`).
    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>>;

    /// Keeps a data-quality record (its `id` is ignored) and returns the id
    /// it was given, ascending across all records.
    async fn record_quality(&self, record: &QualityRecord) -> Result<u64>;

    /// Quality records matching `query`, newest first.
    async fn quality_records(&self, query: &QualityQuery<'_>) -> Result<Vec<QualityRecord>>;
}

/// A catalog shared by the tasks of a process, as [`open_catalog`](crate::open_catalog) returns it.
pub type CatalogRef = Arc<dyn Catalog>;
