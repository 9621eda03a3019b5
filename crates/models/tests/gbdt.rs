//! Gradient-boosted trees: one round against a brute-force best split, and
//! learning a non-linear rule that a linear model cannot.

use sluice_models::{
    classification_metrics, fit_gbdt, fit_logistic, GbdtParams, Matrix, Objective,
};

/// A small deterministic generator, so the test needs no RNG crate.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn one_round_of_depth_one_is_the_best_split_by_brute_force() {
    let mut rng = Lcg(1);
    let n = 60;
    let x = Matrix {
        values: (0..n * 2).map(|_| (rng.next() * 20.0).round()).collect(),
        width: 2,
    };
    let y: Vec<f64> = (0..n)
        .map(|i| if x.values[i * 2 + 1] > 8.0 { 5.0 } else { 1.0 } + rng.next())
        .collect();
    let params = GbdtParams {
        rounds: 1,
        learning_rate: 1.0,
        max_depth: 1,
        min_samples_leaf: 1,
        l2: 0.0,
        max_bins: 255,
        early_stopping_rounds: 1,
    };
    let model = fit_gbdt(&x, &y, None, Objective::Squared, &params, &mut |_, _| {}).unwrap();
    let sse = |pred: &[f64]| {
        pred.iter()
            .zip(&y)
            .map(|(p, t)| (p - t).powi(2))
            .sum::<f64>()
    };
    let got = sse(&model.predict(&x));

    // Every feature and threshold; each side predicts its mean.
    let mut best = f64::INFINITY;
    for feature in 0..2 {
        for t in 0..=20 {
            let left: Vec<usize> = (0..n)
                .filter(|i| x.values[i * 2 + feature] <= t as f64)
                .collect();
            let right: Vec<usize> = (0..n)
                .filter(|i| x.values[i * 2 + feature] > t as f64)
                .collect();
            if left.is_empty() || right.is_empty() {
                continue;
            }
            let mean = |rows: &[usize]| rows.iter().map(|i| y[*i]).sum::<f64>() / rows.len() as f64;
            let (ml, mr) = (mean(&left), mean(&right));
            let pred: Vec<f64> = (0..n)
                .map(|i| {
                    if x.values[i * 2 + feature] <= t as f64 {
                        ml
                    } else {
                        mr
                    }
                })
                .collect();
            best = best.min(sse(&pred));
        }
    }
    assert!(
        (got - best).abs() < 1e-9 * best,
        "gbdt {got} vs brute force {best}"
    );
}

fn xor_data(rng: &mut Lcg, n: usize) -> (Matrix, Vec<f64>) {
    let values: Vec<f64> = (0..n * 3).map(|_| rng.next() * 2.0 - 1.0).collect();
    let y = (0..n)
        .map(|i| {
            let (a, b) = (values[i * 3], values[i * 3 + 1]);
            let positive = (a > 0.0) != (b > 0.0);
            // 5% label noise.
            if (rng.next() < 0.05) != positive {
                1.0
            } else {
                0.0
            }
        })
        .collect();
    (Matrix { values, width: 3 }, y)
}

#[test]
fn learns_what_a_linear_model_cannot_and_stops_early() {
    let mut rng = Lcg(7);
    let (train_x, train_y) = xor_data(&mut rng, 3_000);
    let (valid_x, valid_y) = xor_data(&mut rng, 1_000);
    let (test_x, test_y) = xor_data(&mut rng, 1_000);
    let labels: Vec<bool> = test_y.iter().map(|y| *y == 1.0).collect();

    let params = GbdtParams {
        rounds: 500,
        learning_rate: 0.3,
        ..GbdtParams::default()
    };
    let mut rounds_seen = 0;
    let model = fit_gbdt(
        &train_x,
        &train_y,
        Some((&valid_x, &valid_y)),
        Objective::Logistic,
        &params,
        &mut |round, loss| {
            assert!(loss.is_some());
            rounds_seen = round;
        },
    )
    .unwrap();
    assert!(rounds_seen < 500, "early stopping never triggered");
    assert!(model.rounds < rounds_seen, "the best round is kept");
    let gbdt = classification_metrics(&model.predict(&test_x), &labels, 0.5).unwrap();
    let linear = fit_logistic(&train_x, &train_y, 1.0, 100).unwrap();
    let logistic = classification_metrics(&linear.probabilities(&test_x), &labels, 0.5).unwrap();
    assert!(gbdt.roc_auc > 0.9, "gbdt AUC {}", gbdt.roc_auc);
    assert!(logistic.roc_auc < 0.6, "logistic AUC {}", logistic.roc_auc);

    // Deterministic: the same data gives the same model.
    let again = fit_gbdt(
        &train_x,
        &train_y,
        Some((&valid_x, &valid_y)),
        Objective::Logistic,
        &params,
        &mut |_, _| {},
    )
    .unwrap();
    assert_eq!(again, model);
}
