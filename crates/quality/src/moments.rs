//! Count, mean and sum of squared deviations of a column's values, added a
//! batch at a time and merged across batches or commits (Chan et al.), so
//! that the mean and standard deviation come out in one pass.

use arrow::array::{Array, Float64Array};
use serde::{Deserialize, Serialize};

/// The running moments of the non-null, non-NaN values seen.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Moments {
    /// Values seen.
    pub count: u64,
    /// Their mean.
    pub mean: f64,
    /// The sum of their squared deviations from the mean.
    pub m2: f64,
}

impl Moments {
    /// Adds the non-null, non-NaN values of `values`: their sum, then their
    /// squared deviations from the batch's mean (two passes, exact enough
    /// and cheaper than an update per value), merged into the running moments.
    pub fn add(&mut self, values: &Float64Array) {
        let (mut count, mut sum) = (0u64, 0.0);
        for_each_present(values, |v| {
            count += 1;
            sum += v;
        });
        if count == 0 {
            return;
        }
        let mean = sum / count as f64;
        let mut m2 = 0.0;
        for_each_present(values, |v| m2 += (v - mean) * (v - mean));
        self.merge(&Moments { count, mean, m2 });
    }

    /// Takes in the values `other` saw.
    pub fn merge(&mut self, other: &Moments) {
        if other.count == 0 {
            return;
        }
        let count = self.count + other.count;
        let delta = other.mean - self.mean;
        self.mean += delta * other.count as f64 / count as f64;
        self.m2 +=
            other.m2 + delta * delta * (self.count as f64 * other.count as f64) / count as f64;
        self.count = count;
    }

    /// The mean; `None` with no values.
    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then_some(self.mean)
    }

    /// The population standard deviation (divided by the count, as NumPy's
    /// default); `None` with no values.
    pub fn stddev(&self) -> Option<f64> {
        (self.count > 0).then(|| (self.m2 / self.count as f64).sqrt())
    }
}

/// Calls `f` with each non-null, non-NaN value, reading the values slice
/// directly when there are no nulls.
pub(crate) fn for_each_present(values: &Float64Array, mut f: impl FnMut(f64)) {
    if values.null_count() == 0 {
        values
            .values()
            .iter()
            .filter(|v| !v.is_nan())
            .for_each(|&v| f(v));
    } else {
        values.iter().flatten().filter(|v| !v.is_nan()).for_each(f);
    }
}
