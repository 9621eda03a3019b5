//! Linear models: logistic regression and ridge (L2) linear regression,
//! solved exactly (Newton's method; the normal equations) so that a fit is
//! deterministic and equals scikit-learn's to solver precision.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Rows of features, row-major: `values[row * width + column]`.
#[derive(Debug, Clone)]
pub struct Matrix {
    /// Every value, `rows() * width` of them; NaN for missing.
    pub values: Vec<f64>,
    /// Columns per row.
    pub width: usize,
}

impl Matrix {
    /// Number of rows (0 when `width` is 0).
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }

    fn row(&self, i: usize) -> &[f64] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// Weights per feature and an intercept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearModel {
    /// One weight per input column, in the input order.
    pub weights: Vec<f64>,
    /// Added to every row's weighted sum.
    pub intercept: f64,
}

impl LinearModel {
    /// The weighted sum plus intercept per row: the prediction of a linear
    /// regression, the log-odds of a logistic one.
    pub fn decision(&self, x: &Matrix) -> Vec<f64> {
        (0..x.rows())
            .map(|i| dot(x.row(i), &self.weights) + self.intercept)
            .collect()
    }

    /// Probabilities of the positive class (for a logistic model).
    pub fn probabilities(&self, x: &Matrix) -> Vec<f64> {
        self.decision(x).into_iter().map(sigmoid).collect()
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn check(x: &Matrix, y: &[f64]) -> Result<()> {
    if x.rows() != y.len() || y.is_empty() {
        return Err(Error::LengthMismatch {
            predictions: x.rows(),
            labels: y.len(),
        });
    }
    Ok(())
}

/// Minimises Σ log-loss + l2/2 ‖w‖² (the intercept unpenalised): scikit-learn's
/// `LogisticRegression(C = 1 / l2)`. Labels are 0 or 1.
pub fn fit_logistic(x: &Matrix, y: &[f64], l2: f64, max_iterations: usize) -> Result<LinearModel> {
    check(x, y)?;
    let d = x.width + 1;
    let mut beta = vec![0.0; d];
    for _ in 0..max_iterations {
        let mut gradient = vec![0.0; d];
        let mut hessian = vec![0.0; d * d];
        let mut row = vec![0.0; d];
        for (i, label) in y.iter().enumerate() {
            row[..x.width].copy_from_slice(x.row(i));
            row[x.width] = 1.0;
            let p = sigmoid(dot(&row, &beta));
            let w = p * (1.0 - p);
            for a in 0..d {
                gradient[a] += (p - label) * row[a];
                for b in 0..=a {
                    hessian[a * d + b] += w * row[a] * row[b];
                }
            }
        }
        for a in 0..x.width {
            gradient[a] += l2 * beta[a];
            hessian[a * d + a] += l2;
        }
        let step = solve_symmetric(&mut hessian, &gradient, d).ok_or_else(|| Error::CannotFit {
            column: "features".into(),
            transform: "logistic regression".into(),
            reason: "the Hessian is singular (perfectly separable data needs l2 > 0)".into(),
        })?;
        let size: f64 = step.iter().map(|s| s * s).sum::<f64>().sqrt();
        for (b, s) in beta.iter_mut().zip(&step) {
            *b -= s;
        }
        if size < 1e-12 * (1.0 + beta.iter().map(|b| b * b).sum::<f64>().sqrt()) {
            break;
        }
    }
    Ok(LinearModel {
        intercept: beta[x.width],
        weights: beta[..x.width].to_vec(),
    })
}

/// Minimises ‖y − Xw − b‖² + l2 ‖w‖²: scikit-learn's `Ridge(alpha = l2)`.
pub fn fit_ridge(x: &Matrix, y: &[f64], l2: f64) -> Result<LinearModel> {
    check(x, y)?;
    let (n, d) = (x.rows() as f64, x.width);
    let means: Vec<f64> = (0..d)
        .map(|j| (0..x.rows()).map(|i| x.row(i)[j]).sum::<f64>() / n)
        .collect();
    let y_mean = y.iter().sum::<f64>() / n;
    let mut gram = vec![0.0; d * d];
    let mut moment = vec![0.0; d];
    for (i, label) in y.iter().enumerate() {
        let centred: Vec<f64> = x.row(i).iter().zip(&means).map(|(v, m)| v - m).collect();
        for a in 0..d {
            moment[a] += centred[a] * (label - y_mean);
            for b in 0..=a {
                gram[a * d + b] += centred[a] * centred[b];
            }
        }
    }
    for a in 0..d {
        gram[a * d + a] += l2;
    }
    let weights = solve_symmetric(&mut gram, &moment, d).ok_or_else(|| Error::CannotFit {
        column: "features".into(),
        transform: "linear regression".into(),
        reason: "the features are collinear; use l2 > 0".into(),
    })?;
    Ok(LinearModel {
        intercept: y_mean - dot(&means, &weights),
        weights,
    })
}

/// Solves A x = b for symmetric positive-definite A, given by its lower
/// triangle (row-major), by Cholesky; `None` when A is not positive definite.
fn solve_symmetric(a: &mut [f64], b: &[f64], d: usize) -> Option<Vec<f64>> {
    for j in 0..d {
        let mut diagonal = a[j * d + j];
        for k in 0..j {
            diagonal -= a[j * d + k] * a[j * d + k];
        }
        if diagonal <= 1e-300 {
            return None;
        }
        let l = diagonal.sqrt();
        a[j * d + j] = l;
        for i in j + 1..d {
            let mut value = a[i * d + j];
            for k in 0..j {
                value -= a[i * d + k] * a[j * d + k];
            }
            a[i * d + j] = value / l;
        }
    }
    let mut z = vec![0.0; d];
    for i in 0..d {
        let s: f64 = (0..i).map(|k| a[i * d + k] * z[k]).sum();
        z[i] = (b[i] - s) / a[i * d + i];
    }
    let mut x = vec![0.0; d];
    for i in (0..d).rev() {
        let s: f64 = (i + 1..d).map(|k| a[k * d + i] * x[k]).sum();
        x[i] = (z[i] - s) / a[i * d + i];
    }
    Some(x)
}
