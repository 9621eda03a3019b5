//! Drift metrics between a reference sample of a feature and a detection
//! sample: PSI, the two-sample Kolmogorov–Smirnov statistic, the
//! Jensen–Shannon distance, the change of the null rate and the shift of
//! the mean in reference standard deviations.
//!
//! Numeric features are binned at the reference's quantiles (`bins` equal
//! shares, NumPy's default linear interpolation; a value goes to the bin of
//! the number of edges at or below it, as `searchsorted(side="right")`).
//! Categorical features (text, bool) use one bin per value seen in either
//! sample. PSI floors each share at [`PSI_FLOOR`] so empty bins stay finite.

use std::collections::BTreeMap;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Float64Type};
use serde::{Deserialize, Serialize};
use sluice_types::Thresholds;

use crate::{Error, Result};

/// The smallest share PSI uses for a bin.
pub const PSI_FLOOR: f64 = 1e-6;

/// One feature's values from one window.
#[derive(Debug, Clone)]
pub struct Sample {
    values: Values,
    rows: u64,
    nulls: u64,
}

#[derive(Debug, Clone)]
enum Values {
    /// Sorted, NaN left out.
    Numeric(Vec<f64>),
    Categorical(BTreeMap<String, u64>),
}

/// The metrics of one feature between two windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDrift {
    /// The column compared.
    pub feature: String,
    /// Rows in the reference window.
    pub reference_rows: u64,
    /// Rows in the detection window.
    pub detection_rows: u64,
    /// Each metric, with its threshold.
    pub metrics: Vec<Metric>,
    /// Whether any metric crossed its threshold.
    pub drifted: bool,
}

/// One metric's value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metric {
    /// `psi`, `ks`, `js`, `null_rate_change` or `mean_shift`.
    pub metric: String,
    /// Its value; `None` when it cannot be computed (a mean shift against
    /// a reference without spread).
    pub value: Option<f64>,
    /// The threshold it is held to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threshold: Option<f64>,
    /// Whether the value exceeds the threshold.
    pub crossed: bool,
}

impl Sample {
    /// The values of one column, from the batches' arrays.
    pub fn from_arrays(column: &str, arrays: &[ArrayRef]) -> Result<Self> {
        let arrow = |source| Error::Arrow {
            column: column.to_string(),
            source,
        };
        let rows = arrays.iter().map(|a| a.len() as u64).sum();
        let nulls = arrays.iter().map(|a| a.null_count() as u64).sum();
        let categorical = arrays.first().is_some_and(|a| {
            matches!(
                a.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
            )
        });
        let values = if categorical {
            let mut counts = BTreeMap::new();
            for array in arrays {
                let text = cast(array, &DataType::Utf8).map_err(arrow)?;
                for value in text.as_string::<i32>().iter().flatten() {
                    *counts.entry(value.to_string()).or_default() += 1;
                }
            }
            Values::Categorical(counts)
        } else {
            let mut values = Vec::new();
            for array in arrays {
                let plain = match array.data_type() {
                    DataType::Timestamp(_, _) => cast(array, &DataType::Int64).map_err(arrow)?,
                    DataType::Date32 => cast(array, &DataType::Int32).map_err(arrow)?,
                    _ => array.clone(),
                };
                let numbers = cast(&plain, &DataType::Float64).map_err(arrow)?;
                values.extend(
                    numbers
                        .as_primitive::<Float64Type>()
                        .iter()
                        .flatten()
                        .filter(|v| !v.is_nan()),
                );
            }
            values.sort_by(f64::total_cmp);
            Values::Numeric(values)
        };
        Ok(Self {
            values,
            rows,
            nulls,
        })
    }

    /// Rows, null or not.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    fn present(&self) -> usize {
        match &self.values {
            Values::Numeric(v) => v.len(),
            Values::Categorical(c) => c.values().sum::<u64>() as usize,
        }
    }

    fn null_rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.nulls as f64 / self.rows as f64
        }
    }
}

/// Compares `detection` with `reference`; either without a value is an error.
pub fn compare(
    feature: &str,
    reference: &Sample,
    detection: &Sample,
    bins: usize,
    thresholds: &Thresholds,
) -> Result<FeatureDrift> {
    for (window, sample) in [("reference", reference), ("detection", detection)] {
        if sample.present() == 0 {
            return Err(Error::NoValues {
                column: feature.to_string(),
                window,
            });
        }
    }
    let mut values: Vec<(&str, Option<f64>)> = Vec::new();
    match (&reference.values, &detection.values) {
        (Values::Numeric(r), Values::Numeric(d)) => {
            let edges = quantile_edges(r, bins);
            let (pr, pd) = (
                shares(&bin_counts(r, &edges)),
                shares(&bin_counts(d, &edges)),
            );
            values.push(("psi", Some(psi(&pr, &pd))));
            values.push(("ks", Some(ks_statistic(r, d))));
            values.push(("js", Some(jensen_shannon(&pr, &pd))));
            values.push((
                "null_rate_change",
                Some((detection.null_rate() - reference.null_rate()).abs()),
            ));
            let (mean_r, std_r) = mean_std(r);
            let (mean_d, _) = mean_std(d);
            let shift = (mean_d - mean_r).abs();
            values.push((
                "mean_shift",
                if std_r > 0.0 {
                    Some(shift / std_r)
                } else if shift == 0.0 {
                    Some(0.0)
                } else {
                    None
                },
            ));
        }
        (Values::Categorical(r), Values::Categorical(d)) => {
            let keys: std::collections::BTreeSet<&String> = r.keys().chain(d.keys()).collect();
            let count = |m: &BTreeMap<String, u64>| -> Vec<u64> {
                keys.iter()
                    .map(|k| m.get(*k).copied().unwrap_or(0))
                    .collect()
            };
            let (pr, pd) = (shares(&count(r)), shares(&count(d)));
            values.push(("psi", Some(psi(&pr, &pd))));
            values.push(("js", Some(jensen_shannon(&pr, &pd))));
            values.push((
                "null_rate_change",
                Some((detection.null_rate() - reference.null_rate()).abs()),
            ));
        }
        _ => {
            return Err(Error::Definition {
                expectation: format!("drift of '{feature}'"),
                message: "the reference and detection columns have different types".into(),
            })
        }
    }
    let metrics: Vec<Metric> = values
        .into_iter()
        .map(|(metric, value)| {
            let threshold = thresholds.of(metric);
            Metric {
                metric: metric.to_string(),
                value,
                threshold,
                crossed: matches!((value, threshold), (Some(v), Some(t)) if v > t),
            }
        })
        .collect();
    Ok(FeatureDrift {
        feature: feature.to_string(),
        reference_rows: reference.rows,
        detection_rows: detection.rows,
        drifted: metrics.iter().any(|m| m.crossed),
        metrics,
    })
}

/// The `bins - 1` inner edges at the quantiles i/bins of sorted values
/// (linear interpolation between closest ranks, NumPy's default).
fn quantile_edges(sorted: &[f64], bins: usize) -> Vec<f64> {
    let last = (sorted.len() - 1) as f64;
    (1..bins)
        .map(|i| {
            let position = last * i as f64 / bins as f64;
            let below = position.floor() as usize;
            let above = position.ceil() as usize;
            let fraction = position - below as f64;
            sorted[below] + (sorted[above] - sorted[below]) * fraction
        })
        .collect()
}

fn bin_counts(sorted: &[f64], edges: &[f64]) -> Vec<u64> {
    let mut counts = vec![0u64; edges.len() + 1];
    for &v in sorted {
        counts[edges.partition_point(|&e| e <= v)] += 1;
    }
    counts
}

fn shares(counts: &[u64]) -> Vec<f64> {
    let total: u64 = counts.iter().sum();
    counts.iter().map(|&c| c as f64 / total as f64).collect()
}

fn psi(reference: &[f64], detection: &[f64]) -> f64 {
    reference
        .iter()
        .zip(detection)
        .map(|(&r, &d)| {
            let (r, d) = (r.max(PSI_FLOOR), d.max(PSI_FLOOR));
            (d - r) * (d / r).ln()
        })
        .sum()
}

/// SciPy's `jensenshannon(p, q)`: the square root of the mean of the two
/// Kullback–Leibler divergences from the midpoint, natural log.
fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let relative = |a: f64, m: f64| if a > 0.0 { a * (a / m).ln() } else { 0.0 };
    let divergence: f64 = p
        .iter()
        .zip(q)
        .map(|(&a, &b)| {
            let m = (a + b) / 2.0;
            relative(a, m) + relative(b, m)
        })
        .sum();
    (divergence / 2.0).max(0.0).sqrt()
}

/// The largest distance between the two empirical distribution functions.
fn ks_statistic(a: &[f64], b: &[f64]) -> f64 {
    let (n, m) = (a.len() as f64, b.len() as f64);
    let (mut i, mut j, mut d) = (0, 0, 0.0f64);
    while i < a.len() && j < b.len() {
        let x = a[i].min(b[j]);
        while i < a.len() && a[i] <= x {
            i += 1;
        }
        while j < b.len() && b[j] <= x {
            j += 1;
        }
        d = d.max((i as f64 / n - j as f64 / m).abs());
    }
    d
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    (mean, variance.sqrt())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, StringArray};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn normal(rng: &mut ChaCha8Rng, n: usize, mean: f64) -> ArrayRef {
        // Box–Muller.
        let values: Vec<f64> = (0..n)
            .map(|_| {
                let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
                mean + (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
            })
            .collect();
        Arc::new(Float64Array::from(values))
    }

    fn thresholds() -> Thresholds {
        Thresholds {
            psi: Some(0.2),
            ks: Some(0.1),
            js: Some(0.1),
            null_rate_change: Some(0.05),
            mean_shift: Some(0.25),
        }
    }

    #[test]
    fn a_shifted_distribution_is_flagged_and_an_unshifted_one_is_not() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let reference = Sample::from_arrays("x", &[normal(&mut rng, 20_000, 0.0)]).unwrap();
        let same = Sample::from_arrays("x", &[normal(&mut rng, 20_000, 0.0)]).unwrap();
        let shifted = Sample::from_arrays("x", &[normal(&mut rng, 20_000, 0.5)]).unwrap();
        let calm = compare("x", &reference, &same, 10, &thresholds()).unwrap();
        assert!(!calm.drifted, "{calm:?}");
        let drift = compare("x", &reference, &shifted, 10, &thresholds()).unwrap();
        assert!(drift.drifted);
        let crossed: Vec<&str> = drift
            .metrics
            .iter()
            .filter(|m| m.crossed)
            .map(|m| m.metric.as_str())
            .collect();
        assert_eq!(crossed, ["psi", "ks", "js", "mean_shift"]);
    }

    #[test]
    fn ks_and_psi_match_hand_counts() {
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [3.0, 4.0, 5.0, 6.0];
        assert_eq!(ks_statistic(&a, &b), 0.5);
        assert_eq!(ks_statistic(&a, &a), 0.0);
        // Edges at the reference's quartiles: 1.75, 2.5, 3.25.
        let edges = quantile_edges(&a, 4);
        assert_eq!(edges, [1.75, 2.5, 3.25]);
        assert_eq!(bin_counts(&b, &edges), [0, 0, 1, 3]);
        let (pr, pd) = (shares(&[1, 1, 1, 1]), shares(&[0, 0, 1, 3]));
        let expected = 2.0 * (PSI_FLOOR - 0.25) * (PSI_FLOOR / 0.25).ln()
            + 0.0
            + (0.75 - 0.25) * (3.0f64).ln();
        assert!((psi(&pr, &pd) - expected).abs() < 1e-12);
    }

    #[test]
    fn categories_compare_by_share_and_empty_windows_are_errors() {
        let text =
            |values: &[Option<&str>]| -> ArrayRef { Arc::new(StringArray::from(values.to_vec())) };
        let reference =
            Sample::from_arrays("c", &[text(&[Some("a"), Some("b"), None, Some("a")])]).unwrap();
        let detection =
            Sample::from_arrays("c", &[text(&[Some("b"), Some("b"), Some("c"), Some("b")])])
                .unwrap();
        let drift = compare("c", &reference, &detection, 10, &thresholds()).unwrap();
        let names: Vec<&str> = drift.metrics.iter().map(|m| m.metric.as_str()).collect();
        assert_eq!(names, ["psi", "js", "null_rate_change"]);
        assert_eq!(drift.metrics[2].value, Some(0.25));
        let empty = Sample::from_arrays("c", &[text(&[None])]).unwrap();
        let err = compare("c", &reference, &empty, 10, &thresholds()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "column 'c': the detection window has no values"
        );
    }
}
