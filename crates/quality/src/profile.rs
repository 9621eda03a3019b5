//! Statistics of a set of rows, one profile per column, computed as the
//! batches stream past (the ingest's one pass) and kept with sketches that
//! merge, so that commits' statistics combine over a time range.
//!
//! Exact: count, nulls, min, max, mean, standard deviation (population).
//! Approximate: quantiles (a t-digest of at most [`DIGEST_SIZE`] centroids;
//! see [`QUANTILE_RANK_ERROR`]), the histogram (built from the digest's
//! centroids), distinct values (HyperLogLog, see [`DISTINCT_STANDARD_ERROR`])
//! and, past [`TRACKED_VALUES`] distinct texts, top values.

use std::collections::HashMap;
use std::hash::BuildHasher;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type, SchemaRef};
use datafusion_functions_aggregate_common::tdigest::{Centroid, TDigest};
use serde::{Deserialize, Serialize};

use crate::distinct::DistinctSketch;
pub use crate::distinct::DISTINCT_STANDARD_ERROR;
use crate::moments::{for_each_present, Moments};
use crate::{Error, Result};

/// Centroids a column's digest keeps.
pub const DIGEST_SIZE: usize = 200;
/// The rank error the quantiles are tested against (as a fraction of the
/// rows): a t-digest of 200 centroids stays well inside it away from the
/// median and closest to exact at the tails.
pub const QUANTILE_RANK_ERROR: f64 = 0.01;
/// The quantiles every numeric profile reports.
pub const QUANTILES: [f64; 7] = [0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99];
/// Bins of the histogram, equal widths between min and max.
pub const HISTOGRAM_BINS: usize = 20;
/// Distinct texts counted exactly; values first seen after this many are
/// left out of the counts (`top_values_exact` turns false).
pub const TRACKED_VALUES: usize = 10_000;
/// Top values reported per text or bool column.
const TOP_VALUES: usize = 10;
/// Top values kept in the mergeable state.
const TOP_VALUES_KEPT: usize = 100;

/// The statistics of a set of rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statistics {
    /// Rows described.
    pub rows: u64,
    /// One profile per column, in schema order.
    pub columns: Vec<ColumnProfile>,
}

/// The figures of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnProfile {
    /// The column.
    pub column: String,
    /// `numeric` (integers, floats, timestamps as microseconds, dates as
    /// days), `text` or `bool`.
    pub kind: ProfileKind,
    /// The column's Arrow type, which says how to read numeric figures
    /// (`Timestamp(µs, "UTC")`: microseconds since the epoch).
    pub data_type: String,
    /// Non-null values.
    pub count: u64,
    /// Null values.
    pub nulls: u64,
    /// Smallest value (numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Largest value (numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Mean (numeric; NaN values left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
    /// Population standard deviation (numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stddev: Option<f64>,
    /// Approximate quantiles (numeric).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quantiles: Vec<Quantile>,
    /// An approximate histogram (numeric).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
    /// Approximate distinct non-null values.
    pub distinct: u64,
    /// The most frequent values, most frequent first (text and bool).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top_values: Vec<TopValue>,
    /// Whether `top_values` counts are exact.
    #[serde(default)]
    pub top_values_exact: bool,
    /// What merging with another commit's profile needs.
    pub state: ColumnState,
}

/// How a column is described.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProfileKind {
    /// Figures, quantiles and a histogram.
    Numeric,
    /// Top values.
    Text,
    /// Top values (`true`, `false`).
    Bool,
}

/// One quantile.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// The fraction, 0 to 1.
    pub q: f64,
    /// The value at it.
    pub value: f64,
}

/// Counts per equal-width bin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Histogram {
    /// Bin edges, one more than the counts.
    pub edges: Vec<f64>,
    /// Values per bin (approximate).
    pub counts: Vec<u64>,
}

/// A value and how often it occurs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopValue {
    /// The value as text.
    pub value: String,
    /// Occurrences.
    pub count: u64,
}

/// The mergeable state behind a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnState {
    moments: Moments,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    max: Option<f64>,
    /// (mean, weight) of each centroid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    centroids: Vec<(f64, f64)>,
    distinct: DistinctSketch,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    top: Vec<TopValue>,
    #[serde(default)]
    top_exact: bool,
}

/// Builds [`Statistics`] from batches as they pass.
pub struct Profiler {
    schema: SchemaRef,
    columns: Vec<ColumnAccumulator>,
    rows: u64,
}

struct ColumnAccumulator {
    name: String,
    kind: ProfileKind,
    data_type: String,
    count: u64,
    nulls: u64,
    min: Option<f64>,
    max: Option<f64>,
    moments: Moments,
    digest: TDigest,
    distinct: DistinctSketch,
    values: HashMap<String, u64>,
    capped: bool,
}

impl Profiler {
    /// A profiler of rows of `schema`.
    pub fn new(schema: &SchemaRef) -> Self {
        let columns = schema
            .fields()
            .iter()
            .map(|field| ColumnAccumulator {
                name: field.name().clone(),
                kind: match field.data_type() {
                    DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => ProfileKind::Text,
                    DataType::Boolean => ProfileKind::Bool,
                    _ => ProfileKind::Numeric,
                },
                data_type: field.data_type().to_string(),
                count: 0,
                nulls: 0,
                min: None,
                max: None,
                moments: Moments::default(),
                digest: TDigest::new(DIGEST_SIZE),
                distinct: DistinctSketch::default(),
                values: HashMap::new(),
                capped: false,
            })
            .collect();
        Self {
            schema: schema.clone(),
            columns,
            rows: 0,
        }
    }

    /// Takes in one batch of rows of the profiler's schema.
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        for (column, field) in self.columns.iter_mut().zip(self.schema.fields()) {
            let array = batch
                .column_by_name(field.name())
                .ok_or_else(|| Error::MissingColumn {
                    column: field.name().clone(),
                })?;
            column.add(array)?;
        }
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    /// The statistics of every row added.
    pub fn finish(self) -> Statistics {
        Statistics {
            rows: self.rows,
            columns: self
                .columns
                .into_iter()
                .map(ColumnAccumulator::finish)
                .collect(),
        }
    }
}

impl ColumnAccumulator {
    fn add(&mut self, array: &ArrayRef) -> Result<()> {
        let nulls = array.null_count() as u64;
        self.nulls += nulls;
        self.count += array.len() as u64 - nulls;
        let hasher = DistinctSketch::hasher();
        match self.kind {
            ProfileKind::Numeric => {
                let values = match array.data_type() {
                    DataType::Float64 => array.clone(),
                    DataType::Timestamp(_, _) => {
                        let plain = cast(array, &DataType::Int64).map_err(|e| self.arrow(e))?;
                        cast(&plain, &DataType::Float64).map_err(|e| self.arrow(e))?
                    }
                    DataType::Date32 => {
                        let plain = cast(array, &DataType::Int32).map_err(|e| self.arrow(e))?;
                        cast(&plain, &DataType::Float64).map_err(|e| self.arrow(e))?
                    }
                    _ => cast(array, &DataType::Float64).map_err(|e| self.arrow(e))?,
                };
                let values = values.as_primitive::<Float64Type>();
                self.moments.add(values);
                let mut present = Vec::with_capacity(values.len() - values.null_count());
                for_each_present(values, |v| present.push(v));
                for &v in &present {
                    // -0.0 and 0.0 are one value.
                    self.distinct.add_hash(hasher.hash_one((v + 0.0).to_bits()));
                }
                if present.len() < values.len() - values.null_count() {
                    // NaN is a value too.
                    self.distinct.add_hash(hasher.hash_one(f64::NAN.to_bits()));
                }
                if let Some(&first) = present.first() {
                    let (lo, hi) = present
                        .iter()
                        .fold((first, first), |(lo, hi), &v| (lo.min(v), hi.max(v)));
                    self.min = Some(self.min.map_or(lo, |m| m.min(lo)));
                    self.max = Some(self.max.map_or(hi, |m| m.max(hi)));
                    sort_floats(&mut present);
                    let batch = TDigest::new(DIGEST_SIZE).merge_sorted_f64(&present);
                    self.digest = TDigest::merge_digests([&self.digest, &batch]);
                }
            }
            ProfileKind::Text => {
                let text = cast(array, &DataType::Utf8).map_err(|e| self.arrow(e))?;
                for value in text.as_string::<i32>().iter().flatten() {
                    self.distinct.add_hash(hasher.hash_one(value));
                    self.count_value(value);
                }
            }
            ProfileKind::Bool => {
                for value in array.as_boolean().iter().flatten() {
                    self.distinct.add_hash(hasher.hash_one(value));
                    self.count_value(if value { "true" } else { "false" });
                }
            }
        }
        Ok(())
    }

    fn count_value(&mut self, value: &str) {
        if let Some(count) = self.values.get_mut(value) {
            *count += 1;
        } else if self.values.len() < TRACKED_VALUES {
            self.values.insert(value.to_string(), 1);
        } else {
            self.capped = true;
        }
    }

    fn arrow(&self, source: arrow::error::ArrowError) -> Error {
        Error::Arrow {
            column: self.name.clone(),
            source,
        }
    }

    fn finish(self) -> ColumnProfile {
        let mut top: Vec<TopValue> = self
            .values
            .into_iter()
            .map(|(value, count)| TopValue { value, count })
            .collect();
        sort_top(&mut top);
        top.truncate(TOP_VALUES_KEPT);
        let state = ColumnState {
            moments: self.moments,
            min: self.min,
            max: self.max,
            centroids: self
                .digest
                .centroids()
                .iter()
                .map(|c| (c.mean(), c.weight()))
                .collect(),
            distinct: self.distinct,
            top,
            top_exact: !self.capped,
        };
        state.describe(self.name, self.kind, self.data_type, self.count, self.nulls)
    }
}

/// Sorts non-NaN floats ascending (as `total_cmp`) by a least-significant-
/// digit radix sort of their order-preserving bit patterns: a few linear
/// passes instead of a comparison sort, the profiler's largest cost.
fn sort_floats(values: &mut [f64]) {
    // Flipping the sign bit of positives and every bit of negatives makes
    // the unsigned order of the bits the numeric order.
    let mut keys: Vec<u64> = values
        .iter()
        .map(|v| {
            let bits = v.to_bits();
            if bits >> 63 == 1 {
                !bits
            } else {
                bits | 1 << 63
            }
        })
        .collect();
    let mut spare = vec![0u64; keys.len()];
    for shift in (0..64).step_by(8) {
        let mut counts = [0usize; 256];
        for key in &keys {
            counts[((key >> shift) & 0xff) as usize] += 1;
        }
        // A digit every key shares moves nothing.
        if counts.contains(&keys.len()) {
            continue;
        }
        let mut offset = 0;
        for count in counts.iter_mut() {
            let here = *count;
            *count = offset;
            offset += here;
        }
        for &key in &keys {
            let digit = ((key >> shift) & 0xff) as usize;
            spare[counts[digit]] = key;
            counts[digit] += 1;
        }
        std::mem::swap(&mut keys, &mut spare);
    }
    for (value, key) in values.iter_mut().zip(keys) {
        let bits = if key >> 63 == 1 {
            key & !(1 << 63)
        } else {
            !key
        };
        *value = f64::from_bits(bits);
    }
}

fn sort_top(top: &mut [TopValue]) {
    top.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.value.cmp(&b.value)));
}

impl ColumnState {
    fn digest(&self) -> TDigest {
        let parts: Vec<TDigest> = self
            .centroids
            .iter()
            .map(|&(mean, weight)| {
                TDigest::new_with_centroid(DIGEST_SIZE, Centroid::new(mean, weight))
            })
            .collect();
        TDigest::merge_digests(&parts)
    }

    fn describe(
        self,
        column: String,
        kind: ProfileKind,
        data_type: String,
        count: u64,
        nulls: u64,
    ) -> ColumnProfile {
        let numeric = kind == ProfileKind::Numeric;
        let digest = self.digest();
        let quantiles = if numeric && digest.count() > 0.0 {
            QUANTILES
                .iter()
                .map(|&q| Quantile {
                    q,
                    // The digest's interpolation can step past the extremes it was given.
                    value: digest
                        .estimate_quantile(q)
                        .clamp(self.min.unwrap_or(f64::MIN), self.max.unwrap_or(f64::MAX)),
                })
                .collect()
        } else {
            Vec::new()
        };
        let histogram = match (numeric, self.min, self.max) {
            (true, Some(min), Some(max)) => Some(histogram(&self.centroids, min, max)),
            _ => None,
        };
        let mut top_values = self.top.clone();
        top_values.truncate(TOP_VALUES);
        ColumnProfile {
            column,
            kind,
            data_type,
            count,
            nulls,
            min: self.min.filter(|_| numeric),
            max: self.max.filter(|_| numeric),
            mean: self.moments.mean().filter(|_| numeric),
            stddev: self.moments.stddev().filter(|_| numeric),
            quantiles,
            histogram,
            distinct: self.distinct.estimate().min(count),
            top_values,
            top_values_exact: self.top_exact && !numeric,
            state: self,
        }
    }
}

/// Equal-width bins over [min, max]; each centroid's weight goes to the bin
/// its mean falls in.
fn histogram(centroids: &[(f64, f64)], min: f64, max: f64) -> Histogram {
    let bins = if max > min { HISTOGRAM_BINS } else { 1 };
    let width = (max - min) / bins as f64;
    // The last edge is the maximum itself, not min + bins * width rounded.
    let edges = (0..=bins)
        .map(|i| {
            if i == bins {
                max
            } else {
                min + width * i as f64
            }
        })
        .collect();
    let mut weights = vec![0.0; bins];
    for &(mean, weight) in centroids {
        let bin = if width > 0.0 {
            (((mean - min) / width) as usize).min(bins - 1)
        } else {
            0
        };
        weights[bin] += weight;
    }
    Histogram {
        edges,
        counts: weights.into_iter().map(|w| w.round() as u64).collect(),
    }
}

impl Statistics {
    /// The statistics of the rows of several sets (commits) together;
    /// columns are matched by name, in the first set's order.
    pub fn merge(parts: &[Statistics]) -> Option<Statistics> {
        let first = parts.first()?;
        let columns = first
            .columns
            .iter()
            .map(|column| {
                let same: Vec<&ColumnProfile> = parts
                    .iter()
                    .filter_map(|p| p.columns.iter().find(|c| c.column == column.column))
                    .collect();
                merge_column(&same)
            })
            .collect();
        Some(Statistics {
            rows: parts.iter().map(|p| p.rows).sum(),
            columns,
        })
    }

    /// The profile of `column`, if described.
    pub fn column(&self, column: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.column == column)
    }
}

fn merge_column(parts: &[&ColumnProfile]) -> ColumnProfile {
    let first = parts[0];
    let mut state = first.state.clone();
    let mut digests = vec![first.state.digest()];
    let mut counts: HashMap<String, u64> = HashMap::new();
    for part in parts {
        for top in &part.state.top {
            *counts.entry(top.value.clone()).or_default() += top.count;
        }
    }
    for part in &parts[1..] {
        let other = &part.state;
        state.moments.merge(&other.moments);
        state.min = min_of(state.min, other.min, f64::min);
        state.max = min_of(state.max, other.max, f64::max);
        state.distinct.merge(&other.distinct);
        // Values outside some part's kept top values make the sums a lower bound.
        state.top_exact &= other.top_exact && other.top.len() < TOP_VALUES_KEPT;
        digests.push(other.digest());
    }
    if parts.len() > 1 {
        state.top_exact &= first.state.top.len() < TOP_VALUES_KEPT;
    }
    state.centroids = TDigest::merge_digests(&digests)
        .centroids()
        .iter()
        .map(|c| (c.mean(), c.weight()))
        .collect();
    let mut top: Vec<TopValue> = counts
        .into_iter()
        .map(|(value, count)| TopValue { value, count })
        .collect();
    sort_top(&mut top);
    top.truncate(TOP_VALUES_KEPT);
    state.top = top;
    let count = parts.iter().map(|p| p.count).sum();
    let nulls = parts.iter().map(|p| p.nulls).sum();
    state.describe(
        first.column.clone(),
        first.kind,
        first.data_type.clone(),
        count,
        nulls,
    )
}

fn min_of(a: Option<f64>, b: Option<f64>, pick: fn(f64, f64) -> f64) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(pick(a, b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    #[test]
    fn the_radix_sort_orders_as_total_cmp() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let mut values: Vec<f64> = (0..5_000)
            .map(|i| match i % 5 {
                0 => rng.random_range(-1e9..1e9),
                1 => rng.random_range(-1.0..1.0),
                2 => (rng.random_range(0..10) as f64) - 5.0,
                3 => -0.0,
                _ => rng.random_range(0.0..1e-300),
            })
            .collect();
        values.extend([f64::INFINITY, f64::NEG_INFINITY, f64::MAX, f64::MIN, 0.0]);
        let mut expected = values.clone();
        expected.sort_by(f64::total_cmp);
        super::sort_floats(&mut values);
        let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&values), bits(&expected));
    }
}
