//! Count, mean and sum of squared deviations of a column's values, added a
//! batch at a time and merged across batches or commits (Chan et al.), so
//! that the mean and standard deviation come out in one pass.

use arrow::array::Float64Array;
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
    /// Adds the non-null, non-NaN values of `values`.
    pub fn add(&mut self, values: &Float64Array) {
        let mut batch = Moments::default();
        for v in values.iter().flatten().filter(|v| !v.is_nan()) {
            batch.count += 1;
            let delta = v - batch.mean;
            batch.mean += delta / batch.count as f64;
            batch.m2 += delta * (v - batch.mean);
        }
        self.merge(&batch);
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
