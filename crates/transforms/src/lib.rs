//! Feature transformations over Arrow batches: declarative window
//! aggregations per key, executed two ways with identical results: over a
//! whole history at once (batch) and incrementally, event by event, with
//! bounded state (streaming).
//!
//! This crate owns the arithmetic of features. It must not read or write
//! stores, catalogs or message brokers: pipelines hand it batches and take
//! batches back (see `sluice-pipelines`).

mod batch_aggregate;
mod error;
mod evaluator;
mod event_columns;
mod stream_aggregate;

pub use batch_aggregate::aggregate_batch;
pub use error::{Error, Result};
pub use evaluator::CompiledAggregation;
pub use stream_aggregate::{StreamAggregator, StreamOutput};
