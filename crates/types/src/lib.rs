//! Sluice's shared vocabulary: column types, feature-group definitions, names,
//! durations, project configuration, and the checks that turn raw input
//! batches into batches of a feature group's schema.
//!
//! This crate owns the *shape* of things and the rules every layer agrees on
//! (what a valid name is, how a timestamp string becomes UTC microseconds).
//! It must not touch storage: no catalog, no offline or online store, no I/O
//! beyond reading definition and configuration files.

pub mod aggregation;
pub mod coerce;
pub mod column;
pub mod config;
pub mod definitions;
pub mod duration;
mod error;
mod error_kind;
pub mod expectation;
pub mod feature_group;
pub mod feature_view;
pub mod model;
pub mod model_pipeline;
pub mod model_ref;
pub mod monitor;
pub mod name;
pub mod pipeline;
pub mod training_dataset;

pub use column::{ColumnSpec, ColumnType, TimestampFormat};
pub use config::{ApiKeyConfig, ProjectConfig, RealtimePriority, ServerConfig, StorageConfig};
pub use definitions::Definitions;
pub use duration::Ttl;
pub use error::{Error, Result};
pub use error_kind::ErrorKind;
pub use expectation::{Expectation, SetValue, ValidationPolicy};
pub use feature_group::FeatureGroupSpec;
pub use feature_view::{FeatureViewSpec, JoinKeys, JoinSpec, OnDemandSpec, REQUEST_TIME};
pub use model::{ModelColumn, ModelLineage, ModelSpec};
pub use model_pipeline::{BatchInferencePipelineSpec, ChainPipelineSpec, TrainingPipelineSpec};
pub use model_ref::{ModelRef, ModelSelector};
pub use monitor::{MonitorPipelineSpec, MonitorSpec, Thresholds, Window};
pub use name::NameRef;
pub use pipeline::{PipelineDefinition, PipelineKind, PipelineSpec, SourceSpec, SourceType};
pub use training_dataset::{ColumnStatistics, Split, SplitFile, TrainingDatasetSpec};
