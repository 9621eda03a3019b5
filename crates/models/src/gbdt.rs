//! Gradient-boosted trees for classification (log loss) and regression
//! (squared error): features binned at training-set quantiles, trees grown
//! depth-wise on gradient/hessian histograms with second-order gains, and
//! early stopping on a validation set. Deterministic: no sampling.

use serde::{Deserialize, Serialize};

use crate::linear::Matrix;
use crate::{Error, Result};

/// The loss the trees minimise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Labels 0/1; predictions are probabilities.
    Logistic,
    /// Squared error; predictions are values.
    Squared,
}

/// Training parameters; the defaults are those of `sluice train`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GbdtParams {
    /// Trees to grow at most.
    pub rounds: usize,
    /// Shrinkage of each tree's leaf values.
    pub learning_rate: f64,
    /// Depth of each tree at most (a stump is depth 1).
    pub max_depth: usize,
    /// Training rows every leaf must hold at least.
    pub min_samples_leaf: usize,
    /// L2 on leaf values.
    pub l2: f64,
    /// Value bins per feature at most, cut at training-set quantiles and
    /// clamped to 2–255; missing values get a bin of their own.
    pub max_bins: usize,
    /// Stop when the validation loss has not improved for this many rounds.
    pub early_stopping_rounds: usize,
}

impl Default for GbdtParams {
    fn default() -> Self {
        Self {
            rounds: 200,
            learning_rate: 0.1,
            max_depth: 4,
            min_samples_leaf: 20,
            l2: 1.0,
            max_bins: 64,
            early_stopping_rounds: 20,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Node {
    /// Rows with `feature <= threshold` go left.
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
    Leaf(f64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn predict(&self, row: &[f64]) -> f64 {
        let mut at = 0;
        loop {
            match &self.nodes[at] {
                Node::Leaf(value) => return *value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => {
                    // Missing values (NaN) go right, past every threshold.
                    at = if row[*feature] <= *threshold {
                        *left
                    } else {
                        *right
                    };
                }
            }
        }
    }
}

/// A trained ensemble.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gbdt {
    /// Classifier (logistic) or regressor (squared).
    pub objective: Objective,
    base: f64,
    trees: Vec<Tree>,
    /// Rounds kept after early stopping.
    pub rounds: usize,
}

impl Gbdt {
    fn raw(&self, row: &[f64]) -> f64 {
        self.base + self.trees.iter().map(|t| t.predict(row)).sum::<f64>()
    }

    /// Probabilities (logistic) or values (squared error), one per row.
    pub fn predict(&self, x: &Matrix) -> Vec<f64> {
        (0..x.rows())
            .map(|i| {
                let raw = self.raw(&x.values[i * x.width..(i + 1) * x.width]);
                match self.objective {
                    Objective::Logistic => 1.0 / (1.0 + (-raw).exp()),
                    Objective::Squared => raw,
                }
            })
            .collect()
    }
}

/// Per feature: the bin thresholds (upper edges) and each row's bin.
struct Binned {
    thresholds: Vec<Vec<f64>>,
    bins: Vec<Vec<u8>>,
}

fn bin(x: &Matrix, max_bins: usize) -> Binned {
    let n = x.rows();
    let mut thresholds = Vec::with_capacity(x.width);
    let mut bins = Vec::with_capacity(x.width);
    for j in 0..x.width {
        let mut values: Vec<f64> = (0..n)
            .map(|i| x.values[i * x.width + j])
            .filter(|v| !v.is_nan())
            .collect();
        values.sort_by(f64::total_cmp);
        values.dedup();
        let edges: Vec<f64> = if values.len() <= max_bins {
            values
        } else {
            let mut e: Vec<f64> = (1..=max_bins)
                .map(|k| values[(k * values.len() / max_bins).min(values.len()) - 1])
                .collect();
            e.dedup();
            e
        };
        let column = (0..n)
            .map(|i| {
                let v = x.values[i * x.width + j];
                if v.is_nan() {
                    edges.len() as u8
                } else {
                    edges
                        .partition_point(|e| *e < v)
                        .min(edges.len().saturating_sub(1)) as u8
                }
            })
            .collect();
        thresholds.push(edges);
        bins.push(column);
    }
    Binned { thresholds, bins }
}

fn gradients(objective: Objective, raw: &[f64], y: &[f64]) -> (Vec<f64>, Vec<f64>) {
    match objective {
        Objective::Logistic => raw
            .iter()
            .zip(y)
            .map(|(r, y)| {
                let p = 1.0 / (1.0 + (-r).exp());
                (p - y, (p * (1.0 - p)).max(1e-16))
            })
            .unzip(),
        Objective::Squared => raw.iter().zip(y).map(|(r, y)| (r - y, 1.0)).unzip(),
    }
}

fn loss(objective: Objective, raw: &[f64], y: &[f64]) -> f64 {
    let total: f64 = match objective {
        Objective::Logistic => raw
            .iter()
            .zip(y)
            .map(|(r, y)| (1.0 + (-r).exp()).ln() + (1.0 - y) * r)
            .sum(),
        Objective::Squared => raw.iter().zip(y).map(|(r, y)| (r - y).powi(2)).sum(),
    };
    total / y.len() as f64
}

/// Trains on (`x`, `y`); with `validation`, stops early and keeps the best round.
/// `on_round` is called after each round with (round, validation loss).
pub fn fit_gbdt(
    x: &Matrix,
    y: &[f64],
    validation: Option<(&Matrix, &[f64])>,
    objective: Objective,
    params: &GbdtParams,
    on_round: &mut dyn FnMut(usize, Option<f64>),
) -> Result<Gbdt> {
    if x.rows() != y.len() || y.is_empty() {
        return Err(Error::LengthMismatch {
            predictions: x.rows(),
            labels: y.len(),
        });
    }
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    let base = match objective {
        Objective::Logistic => {
            let p = mean.clamp(1e-6, 1.0 - 1e-6);
            (p / (1.0 - p)).ln()
        }
        Objective::Squared => mean,
    };
    let binned = bin(x, params.max_bins.clamp(2, 255));
    let mut model = Gbdt {
        objective,
        base,
        trees: Vec::new(),
        rounds: 0,
    };
    let mut raw = vec![base; y.len()];
    let mut valid_raw = validation.map(|(v, _)| vec![base; v.rows()]);
    let (mut best_loss, mut best_rounds) = (f64::INFINITY, 0);
    for round in 0..params.rounds {
        let (g, h) = gradients(objective, &raw, y);
        let mut tree = Tree { nodes: Vec::new() };
        let rows: Vec<u32> = (0..y.len() as u32).collect();
        grow(&mut tree, &binned, &g, &h, rows, 0, params);
        for (i, r) in raw.iter_mut().enumerate() {
            *r += tree.predict(&x.values[i * x.width..(i + 1) * x.width]);
        }
        let mut valid_loss = None;
        if let (Some((vx, vy)), Some(vr)) = (validation, valid_raw.as_mut()) {
            for (i, r) in vr.iter_mut().enumerate() {
                *r += tree.predict(&vx.values[i * vx.width..(i + 1) * vx.width]);
            }
            valid_loss = Some(loss(objective, vr, vy));
        }
        model.trees.push(tree);
        on_round(round + 1, valid_loss);
        if let Some(l) = valid_loss {
            if l < best_loss - 1e-12 {
                (best_loss, best_rounds) = (l, round + 1);
            } else if round + 1 - best_rounds >= params.early_stopping_rounds {
                break;
            }
        }
    }
    if validation.is_some() {
        model.trees.truncate(best_rounds.max(1));
    }
    model.rounds = model.trees.len();
    Ok(model)
}

/// Adds the subtree for `rows` to `tree`; returns its node index.
fn grow(
    tree: &mut Tree,
    binned: &Binned,
    g: &[f64],
    h: &[f64],
    rows: Vec<u32>,
    depth: usize,
    params: &GbdtParams,
) -> usize {
    let (gs, hs): (f64, f64) = rows.iter().fold((0.0, 0.0), |(a, b), r| {
        (a + g[*r as usize], b + h[*r as usize])
    });
    let leaf = -gs / (hs + params.l2) * params.learning_rate;
    let index = tree.nodes.len();
    tree.nodes.push(Node::Leaf(leaf));
    if depth >= params.max_depth || rows.len() < 2 * params.min_samples_leaf {
        return index;
    }
    let parent_score = gs * gs / (hs + params.l2);
    let mut best: Option<(f64, usize, usize)> = None;
    for (feature, column) in binned.bins.iter().enumerate() {
        let edges = binned.thresholds[feature].len();
        if edges < 2 {
            continue;
        }
        let mut hist = vec![(0.0f64, 0.0f64, 0usize); edges + 1];
        for r in &rows {
            let slot = &mut hist[column[*r as usize] as usize];
            slot.0 += g[*r as usize];
            slot.1 += h[*r as usize];
            slot.2 += 1;
        }
        let (mut gl, mut hl, mut nl) = (0.0, 0.0, 0usize);
        for (b, (gb, hb, nb)) in hist.iter().enumerate().take(edges - 1) {
            gl += gb;
            hl += hb;
            nl += nb;
            let nr = rows.len() - nl;
            if nl < params.min_samples_leaf || nr < params.min_samples_leaf {
                continue;
            }
            let (gr, hr) = (gs - gl, hs - hl);
            let gain = gl * gl / (hl + params.l2) + gr * gr / (hr + params.l2) - parent_score;
            if gain > 1e-12 && best.is_none_or(|(best_gain, _, _)| gain > best_gain) {
                best = Some((gain, feature, b));
            }
        }
    }
    let Some((_, feature, b)) = best else {
        return index;
    };
    let column = &binned.bins[feature];
    let (left_rows, right_rows): (Vec<u32>, Vec<u32>) = rows
        .into_iter()
        .partition(|r| column[*r as usize] as usize <= b);
    let left = grow(tree, binned, g, h, left_rows, depth + 1, params);
    let right = grow(tree, binned, g, h, right_rows, depth + 1, params);
    tree.nodes[index] = Node::Split {
        feature,
        threshold: binned.thresholds[feature][b],
        left,
        right,
    };
    index
}
