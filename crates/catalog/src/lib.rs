//! The catalog: the metadata of every versioned object (feature groups and
//! their commit history, feature views, training datasets, pipeline runs, models, data-quality records) behind the [`Catalog`] trait, on SQLite
//! (embedded default) or PostgreSQL (shared by many processes).
//!
//! This crate owns the catalog schema, its SQL, the factory that picks a
//! backend by URL, and the conformance suite every backend must pass. It must
//! not touch feature data: it records which offline commits exist, never
//! their rows.

#[cfg(feature = "conformance")]
pub mod conformance;
mod error;
mod factory;
mod quality;
mod records;
mod runs;
mod sql;

pub use error::{Error, Result};
pub use factory::open_catalog;
pub use quality::{QualityKind, QualityQuery, QualityRecord};
pub use records::{
    Catalog, CatalogChange, CatalogRef, CommitOperation, CommitRecord, FeatureGroupRecord,
    FeatureViewRecord, ModelRecord, ModelVersion, PlaceFiles, TrainingDatasetRecord, Versioned,
};
pub use runs::{RunProgress, RunRecord, RunStatus};
pub use sql::SqlCatalog;
