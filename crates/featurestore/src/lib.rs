//! The feature store: the Rust API that ties the catalog, the offline store
//! and the online store together into projects and feature-group handles.
//!
//! This crate owns the operations users call (init, apply, ingest, read,
//! lookup, delete, show) and their ordering guarantees across stores. It
//! talks to backends only through their traits, opened by URL from the
//! project's `sluice.toml`; it must not know which backend it has, and it
//! holds no CLI or HTTP concerns.

mod dataset_content;
mod dataset_files;
mod dataset_statistics;
mod error;
mod feature_group;
mod feature_view;
mod ingest;
mod join_tables;
mod monitor;
mod plan;
mod progress;
mod project;
mod quality;
mod registry;
mod resolved_view;
mod selection;
mod sources;
mod sql;
mod staging;
mod training_data;

pub use dataset_statistics::SplitStatistics;
pub use error::{Error, Result};
pub use feature_group::{FeatureGroup, FeatureGroupInfo};
pub use feature_view::{FeatureView, OnlineVectors, AS_OF_COLUMN};
pub use ingest::IngestMetrics;
pub use monitor::MonitorRun;
pub use plan::{Plan, PlanAction, PlanItem};
pub use progress::{NoProgress, Progress};
pub use project::{FeatureStore, InitReport};
pub use quality::{CommitStatistics, RecordedReport, StatisticsOf, Verdict};
pub use registry::Registry;
pub use resolved_view::ResolvedView;
pub use selection::Selection;
/// What the catalog fails with, inside [`Error::Catalog`].
pub use sluice_catalog::Error as CatalogError;
pub use sluice_catalog::{
    CommitOperation, CommitRecord, ModelRecord, ModelVersion, RunProgress, RunRecord, RunStatus,
    TrainingDatasetRecord,
};
pub use sluice_offline::{parquet_encodings, BatchStream, ReadAt};
pub use sluice_online::{LookupStatus, OnlineRead, WriteMetrics};
pub use sluice_quality::{
    ColumnProfile, ExpectationOutcome, FeatureDrift, Metric, Offending, ProfileKind, Statistics,
    ValidationReport,
};
pub use sources::FileSource;
pub use sql::{SqlAnswer, SqlTable};
pub use training_data::TrainingDataOptions;
