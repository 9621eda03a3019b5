//! The catalog's SQL: one schema and one set of statements for SQLite and
//! PostgreSQL. This module holds [`SqlCatalog`], the helpers every table
//! shares, and the [`Catalog`] implementation, which hands each call to the
//! module of the objects it reads or writes.

mod commits;
mod definitions;
mod models;
mod open;
mod pipeline_runs;
mod quality;
mod schema;
mod training_datasets;

use std::future::Future;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::Serialize;
use sluice_types::{ModelSpec, TrainingDatasetSpec};
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{AnyPool, Row};

use crate::error::db;
use crate::quality::{QualityQuery, QualityRecord};
use crate::records::{
    Catalog, CatalogChange, CommitRecord, FeatureGroupRecord, FeatureViewRecord, ModelRecord,
    ModelVersion, PlaceFiles, TrainingDatasetRecord,
};
use crate::runs::{RunProgress, RunRecord};
use crate::{Error, Result};
use definitions::Kind;

/// The SQL dialects the catalog runs on; the statements are the same, only opening differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    Sqlite,
    Postgres,
}

/// The catalog on SQLite (embedded default) or PostgreSQL (shared), through
/// one code path: sqlx's `Any` driver and SQL both dialects accept.
pub struct SqlCatalog {
    pool: AnyPool,
    dialect: Dialect,
}

impl SqlCatalog {
    /// A transaction that will write. On SQLite it takes the write lock at
    /// `BEGIN IMMEDIATE`, waiting (busy_timeout) for another writer: a plain
    /// `BEGIN` reads first and must then upgrade to a writer, which SQLite
    /// refuses at once ("database is locked") while another connection holds
    /// the lock, so two writers failed instead of taking turns.
    async fn begin_write(
        &self,
    ) -> std::result::Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.pool.begin().await,
        }
    }

    /// Every row `query` returns, each turned into a record by `read`;
    /// `operation` names the step in a database error.
    async fn fetch_rows<T>(
        &self,
        query: Query<'_, sqlx::Any, AnyArguments>,
        operation: &'static str,
        read: impl Fn(&AnyRow) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = query.fetch_all(&self.pool).await.map_err(db(operation))?;
        rows.iter().map(read).collect()
    }
}

fn micros_to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

fn parse_spec<T: DeserializeOwned>(name: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt {
        name: name.to_string(),
        message: e.to_string(),
    })
}

fn spec_json<T: Serialize>(spec: &T) -> String {
    serde_json::to_string(spec).expect("a spec always serialises")
}

/// Runs `insert`, a statement that numbers its row MAX + 1 and returns that
/// number first, until it takes a number of its own: a concurrent insert
/// that took the same number makes it fail on the primary key, and the next
/// attempt reads the new MAX. Gives up after five such losses.
async fn insert_numbered<Insert, Inserted>(operation: &'static str, insert: Insert) -> Result<i64>
where
    Insert: Fn() -> Inserted,
    Inserted: Future<Output = std::result::Result<AnyRow, sqlx::Error>>,
{
    let mut attempts = 0;
    loop {
        match insert().await {
            Ok(row) => return Ok(row.get::<i64, _>(0)),
            Err(e) if attempts < 5 && is_unique_violation(&e) => attempts += 1,
            Err(e) => return Err(db(operation)(e)),
        }
    }
}

fn is_unique_violation(error: &sqlx::Error) -> bool {
    matches!(error, sqlx::Error::Database(e) if e.is_unique_violation())
}

#[async_trait]
impl Catalog for SqlCatalog {
    async fn feature_groups(&self) -> Result<Vec<FeatureGroupRecord>> {
        definitions::list(self, Kind::FeatureGroup).await
    }

    async fn feature_group(&self, name: &str, version: Option<u32>) -> Result<FeatureGroupRecord> {
        definitions::get(self, Kind::FeatureGroup, name, version).await
    }

    async fn feature_views(&self) -> Result<Vec<FeatureViewRecord>> {
        definitions::list(self, Kind::FeatureView).await
    }

    async fn feature_view(&self, name: &str, version: Option<u32>) -> Result<FeatureViewRecord> {
        definitions::get(self, Kind::FeatureView, name, version).await
    }

    async fn create_training_dataset(
        &self,
        spec: &TrainingDatasetSpec,
        place: PlaceFiles<'_>,
    ) -> Result<u32> {
        training_datasets::create(self, spec, place).await
    }

    async fn training_dataset(
        &self,
        feature_view: &str,
        view_version: u32,
        version: u32,
    ) -> Result<TrainingDatasetRecord> {
        training_datasets::get(self, feature_view, view_version, version).await
    }

    async fn training_datasets(&self) -> Result<Vec<TrainingDatasetRecord>> {
        training_datasets::list(self).await
    }

    async fn apply(&self, changes: &[CatalogChange]) -> Result<()> {
        definitions::apply(self, changes).await
    }

    async fn record_commit(&self, name: &str, version: u32, commit: &CommitRecord) -> Result<()> {
        commits::record(self, name, version, commit).await
    }

    async fn commits(&self, name: &str, version: u32) -> Result<Vec<CommitRecord>> {
        commits::list(self, name, version).await
    }

    async fn start_run(&self, pipeline: &str, sink: &str) -> Result<u64> {
        pipeline_runs::start(self, pipeline, sink).await
    }

    async fn update_run(&self, id: u64, progress: &RunProgress) -> Result<()> {
        pipeline_runs::update(self, id, progress).await
    }

    async fn runs(&self, pipeline: Option<&str>) -> Result<Vec<RunRecord>> {
        pipeline_runs::list(self, pipeline).await
    }

    async fn register_model(&self, spec: &ModelSpec) -> Result<u32> {
        models::register(self, spec).await
    }

    async fn models(&self) -> Result<Vec<ModelRecord>> {
        models::list(self).await
    }

    async fn model_versions(&self) -> Result<Vec<ModelVersion>> {
        models::versions(self).await
    }

    async fn model(&self, name: &str, version: Option<u32>) -> Result<ModelRecord> {
        models::get(self, name, version).await
    }

    async fn model_by_alias(&self, name: &str, alias: &str) -> Result<ModelRecord> {
        models::by_alias(self, name, alias).await
    }

    async fn record_quality(&self, record: &QualityRecord) -> Result<u64> {
        quality::record(self, record).await
    }

    async fn quality_records(&self, query: &QualityQuery<'_>) -> Result<Vec<QualityRecord>> {
        quality::list(self, query).await
    }

    async fn set_alias(&self, name: &str, alias: &str, version: u32) -> Result<Option<u32>> {
        models::set_alias(self, name, alias, version).await
    }
}
