//! Evaluation metrics of trained models, on the test split.

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Clipping of probabilities in the log loss, as scikit-learn does for float64.
const LOG_LOSS_EPSILON: f64 = 1e-15;

/// A classifier's scores on the test split; see [`classification_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// Area under the ROC curve; NaN when the labels hold one class.
    pub roc_auc: f64,
    /// Mean log loss, probabilities clipped to [1e-15, 1 - 1e-15].
    pub log_loss: f64,
    /// Share of rows classified right at the threshold.
    pub accuracy: f64,
    /// True positives over predicted positives; 0 when nothing is predicted positive.
    pub precision: f64,
    /// True positives over actual positives; 0 when there are none.
    pub recall: f64,
    /// Harmonic mean of precision and recall; 0 when both are 0.
    pub f1: f64,
}

/// A regressor's scores on the test split; see [`regression_metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// Root mean squared error, in the label's unit.
    pub rmse: f64,
    /// Mean absolute error, in the label's unit.
    pub mae: f64,
    /// Coefficient of determination; NaN when the labels are constant.
    pub r2: f64,
}

fn same_length(predictions: usize, labels: usize) -> Result<()> {
    if predictions != labels || labels == 0 {
        return Err(Error::LengthMismatch {
            predictions,
            labels,
        });
    }
    Ok(())
}

/// Metrics of predicted probabilities of the positive class against 0/1
/// labels; predictions at or above `threshold` count as positive. ROC AUC is
/// the Mann-Whitney statistic with tied scores sharing their average rank
/// (NaN when the labels hold one class only); precision and recall are 0
/// when undefined.
pub fn classification_metrics(
    probabilities: &[f64],
    labels: &[bool],
    threshold: f64,
) -> Result<ClassificationMetrics> {
    same_length(probabilities.len(), labels.len())?;
    let n = labels.len() as f64;
    let log_loss = probabilities
        .iter()
        .zip(labels)
        .map(|(p, y)| {
            let p = p.clamp(LOG_LOSS_EPSILON, 1.0 - LOG_LOSS_EPSILON);
            if *y {
                -p.ln()
            } else {
                -(1.0 - p).ln()
            }
        })
        .sum::<f64>()
        / n;
    let (mut tp, mut fp, mut tn, mut fn_) = (0.0, 0.0, 0.0, 0.0);
    for (p, y) in probabilities.iter().zip(labels) {
        match (*p >= threshold, *y) {
            (true, true) => tp += 1.0,
            (true, false) => fp += 1.0,
            (false, false) => tn += 1.0,
            (false, true) => fn_ += 1.0,
        }
    }
    let ratio = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    let precision = ratio(tp, tp + fp);
    let recall = ratio(tp, tp + fn_);
    Ok(ClassificationMetrics {
        roc_auc: roc_auc(probabilities, labels),
        log_loss,
        accuracy: (tp + tn) / n,
        precision,
        recall,
        f1: ratio(2.0 * precision * recall, precision + recall),
    })
}

fn roc_auc(scores: &[f64], labels: &[bool]) -> f64 {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let mut positive_rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        // Ranks i+1 ..= j+1 share their average.
        let rank = (i + j) as f64 / 2.0 + 1.0;
        positive_rank_sum += rank * order[i..=j].iter().filter(|k| labels[**k]).count() as f64;
        i = j + 1;
    }
    let positives = labels.iter().filter(|y| **y).count() as f64;
    let negatives = labels.len() as f64 - positives;
    if positives == 0.0 || negatives == 0.0 {
        return f64::NAN;
    }
    (positive_rank_sum - positives * (positives + 1.0) / 2.0) / (positives * negatives)
}

/// RMSE, MAE and R² (1 - residual / total sum of squares; NaN for constant labels).
pub fn regression_metrics(predictions: &[f64], labels: &[f64]) -> Result<RegressionMetrics> {
    same_length(predictions.len(), labels.len())?;
    let n = labels.len() as f64;
    let mean = labels.iter().sum::<f64>() / n;
    let residual: f64 = predictions
        .iter()
        .zip(labels)
        .map(|(p, y)| (p - y).powi(2))
        .sum();
    let total: f64 = labels.iter().map(|y| (y - mean).powi(2)).sum();
    Ok(RegressionMetrics {
        rmse: (residual / n).sqrt(),
        mae: predictions
            .iter()
            .zip(labels)
            .map(|(p, y)| (p - y).abs())
            .sum::<f64>()
            / n,
        r2: if total == 0.0 {
            f64::NAN
        } else {
            1.0 - residual / total
        },
    })
}
