//! Feature transformations over Arrow batches: declarative window
//! aggregations per key, executed two ways with identical results: over a
//! whole history at once (batch) and incrementally, event by event, with
//! bounded state (streaming). On-demand features: SQL expressions over a
//! row's request values and looked-up features, one evaluator for batch and
//! online.
//!
//! This crate owns the arithmetic of features. It must not read or write
//! stores, catalogs or message brokers: pipelines hand it batches and take
//! batches back (see `sluice-pipelines`).

mod batch_aggregate;
mod error;
mod evaluator;
mod event_columns;
mod on_demand;
mod stream_aggregate;

pub use batch_aggregate::aggregate_batch;
pub use error::{Error, Result};
pub use evaluator::CompiledAggregation;
pub use on_demand::OnDemandFeatures;
pub use stream_aggregate::{StreamAggregator, StreamOutput};
