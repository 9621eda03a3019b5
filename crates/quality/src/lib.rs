//! Data quality: expectations checked against a write's rows, the report
//! they produce, statistics of a column (with mergeable sketches), and the
//! drift metrics that compare two sets of statistics or samples.
//!
//! This crate owns the arithmetic of data quality over Arrow batches. It must
//! not touch storage or the catalog: the feature store feeds it the batches
//! it writes and keeps the reports and statistics it returns.

mod distinct;
mod drift;
mod error;
mod moments;
mod profile;
mod report;
mod validator;

pub use distinct::DistinctSketch;
pub use drift::{compare, FeatureDrift, Metric, Sample, PSI_FLOOR};
pub use error::{Error, Result};
pub use moments::Moments;
pub use profile::{
    ColumnProfile, ColumnState, Histogram, ProfileKind, Profiler, Quantile, Statistics, TopValue,
    DISTINCT_STANDARD_ERROR, HISTOGRAM_BINS, QUANTILES, QUANTILE_RANK_ERROR,
};
pub use report::{ExpectationOutcome, Offending, ValidationReport};
pub use validator::Validator;
