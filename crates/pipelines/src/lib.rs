//! Feature pipelines: a source (files, a PostgreSQL query, a NATS JetStream
//! subject), an optional SQL transform (DataFusion) and window aggregations,
//! written to a sink feature group, with every run recorded in the catalog.
//!
//! This crate owns running pipelines: reading sources, remembering where the
//! last run stopped, streaming micro-batches, checkpoints and dead letters.
//! It computes nothing itself (`sluice-transforms` does) and reaches the
//! stores only through `sluice-featurestore`, never a backend directly.

mod batch_run;
mod check;
mod dead_letter;
mod error;
mod file_source;
mod json_messages;
mod postgres_source;
mod run_log;
mod sql_transform;
mod stream_run;

pub use batch_run::{run_pipeline, RunOptions, RunSummary};
pub use check::{check_pipelines, PipelineCheck};
pub use error::{Error, Result};
pub use stream_run::Freshness;
