//! Every expectation kind on seeded rows, split into several batches: each
//! passes where it should and fails where it should, with the failing rows
//! counted exactly as a brute-force pass over the same rows counts them.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_quality::{ValidationReport, Validator};
use sluice_types::coerce::Position;
use sluice_types::{
    ColumnSpec, ColumnType, Expectation, FeatureGroupSpec, SetValue, ValidationPolicy,
};

const ROWS: usize = 5_000;
const BATCH: usize = 700;

/// The rows, column by column: `id` (unique but for planted repeats),
/// `amount` (nullable), `category` (nullable).
struct Rows {
    id: Vec<i64>,
    amount: Vec<Option<f64>>,
    category: Vec<Option<String>>,
}

fn rows(seed: u64) -> Rows {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let categories = ["grocery", "online", "travel", "Online", "other-1"];
    let mut id: Vec<i64> = (0..ROWS as i64).collect();
    for _ in 0..7 {
        let i = rng.random_range(1..ROWS);
        id[i] = id[rng.random_range(0..i)];
    }
    Rows {
        id,
        amount: (0..ROWS)
            .map(|_| (rng.random_range(0..100) >= 3).then(|| rng.random_range(-50.0..1000.0)))
            .collect(),
        category: (0..ROWS)
            .map(|_| {
                (rng.random_range(0..100) >= 1)
                    .then(|| categories[rng.random_range(0..categories.len())].to_string())
            })
            .collect(),
    }
}

fn spec(expectations: Vec<Expectation>) -> FeatureGroupSpec {
    let mut spec = FeatureGroupSpec::keyed_by_all(
        "tx",
        1,
        vec![
            ColumnSpec::new("id", ColumnType::Int64),
            ColumnSpec::new("amount", ColumnType::Float64).nullable(),
            ColumnSpec::new("category", ColumnType::String).nullable(),
        ],
    );
    spec.primary_key = vec!["id".into()];
    spec.validation = ValidationPolicy::Strict;
    spec.expectations = expectations;
    spec.validate().expect("a valid definition");
    spec
}

fn judge(rows: &Rows, expectation: Expectation) -> ValidationReport {
    let spec = spec(vec![expectation]);
    let mut validator = Validator::new(&spec).unwrap();
    assert!(validator.is_enforced());
    for start in (0..ROWS).step_by(BATCH) {
        let end = (start + BATCH).min(ROWS);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(rows.id[start..end].to_vec())),
            Arc::new(Float64Array::from(rows.amount[start..end].to_vec())),
            Arc::new(StringArray::from(rows.category[start..end].to_vec())),
        ];
        let batch = RecordBatch::try_new(spec.arrow_schema(), columns).unwrap();
        validator
            .check(&batch, "input.csv", Position::Line(start + 2))
            .unwrap();
    }
    validator.finish()
}

/// Judges `expectation` and checks the verdict, the failing-row count and
/// (for row expectations) that the first example is the first failing row.
fn expect(rows: &Rows, expectation: Expectation, failing: &[usize], success: bool) {
    let report = judge(rows, expectation.clone());
    let outcome = &report.expectations[0];
    assert_eq!(report.rows, ROWS as u64);
    assert_eq!(outcome.success, success, "{expectation}: {outcome}");
    assert_eq!(report.success, success);
    assert_eq!(
        outcome.failed_rows,
        failing.len() as u64,
        "{expectation}: {outcome}"
    );
    if let Some(&first) = failing.first() {
        assert_eq!(
            outcome.examples[0].at,
            format!("input.csv line {}", first + 2),
            "{expectation}"
        );
        assert_eq!(outcome.examples.len(), failing.len().min(5));
    }
}

fn indices(mut test: impl FnMut(usize) -> bool) -> Vec<usize> {
    (0..ROWS).filter(|&i| test(i)).collect()
}

#[test]
fn row_expectations_count_failing_rows_exactly() {
    let rows = rows(7);
    let amount = |column: &str| column.to_string();
    let nulls = indices(|i| rows.amount[i].is_none());
    assert!(!nulls.is_empty());
    expect(
        &rows,
        Expectation::NotNull {
            column: amount("amount"),
        },
        &nulls,
        false,
    );
    expect(
        &rows,
        Expectation::NotNull {
            column: amount("id"),
        },
        &[],
        true,
    );

    let outside = indices(|i| rows.amount[i].is_some_and(|v| !(0.0..=900.0).contains(&v)));
    expect(
        &rows,
        Expectation::Between {
            column: amount("amount"),
            min: Some(0.0),
            max: Some(900.0),
        },
        &outside,
        false,
    );
    expect(
        &rows,
        Expectation::Between {
            column: amount("amount"),
            min: Some(-50.0),
            max: None,
        },
        &[],
        true,
    );

    let allowed = ["grocery", "online", "travel"];
    let not_in = indices(|i| {
        rows.category[i]
            .as_deref()
            .is_some_and(|c| !allowed.contains(&c))
    });
    let set = |values: &[&str]| {
        values
            .iter()
            .map(|v| SetValue::Text(v.to_string()))
            .collect()
    };
    expect(
        &rows,
        Expectation::InSet {
            column: amount("category"),
            values: set(&allowed),
        },
        &not_in,
        false,
    );
    expect(
        &rows,
        Expectation::InSet {
            column: amount("category"),
            values: set(&["grocery", "online", "travel", "Online", "other-1"]),
        },
        &[],
        true,
    );
    let small_ids = indices(|i| rows.id[i] > 2);
    expect(
        &rows,
        Expectation::InSet {
            column: amount("id"),
            values: vec![SetValue::Int(0), SetValue::Int(1), SetValue::Int(2)],
        },
        &small_ids,
        false,
    );

    let lowercase = indices(|i| {
        rows.category[i]
            .as_deref()
            .is_some_and(|c| !c.chars().all(|ch| ch.is_ascii_lowercase()))
    });
    expect(
        &rows,
        Expectation::Regex {
            column: amount("category"),
            pattern: "^[a-z]+$".into(),
        },
        &lowercase,
        false,
    );
}

#[test]
fn unique_counts_every_repeat() {
    let rows = rows(11);
    let mut seen = HashSet::new();
    let repeats = indices(|i| !seen.insert(rows.id[i]));
    assert!(!repeats.is_empty());
    expect(
        &rows,
        Expectation::Unique {
            column: "id".into(),
        },
        &repeats,
        false,
    );
}

#[test]
fn batch_expectations_judge_the_figure_over_all_rows() {
    let rows = rows(3);
    let present: Vec<f64> = rows.amount.iter().flatten().copied().collect();
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let stddev = (present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    let null_fraction = (ROWS as f64 - n) / ROWS as f64;
    let distinct = rows.category.iter().flatten().collect::<HashSet<_>>().len() as u64;

    let cases = [
        (
            Expectation::MeanBetween {
                column: "amount".into(),
                min: Some(mean - 1e-6),
                max: Some(mean + 1e-6),
            },
            true,
            mean,
        ),
        (
            Expectation::MeanBetween {
                column: "amount".into(),
                min: Some(mean + 1.0),
                max: None,
            },
            false,
            mean,
        ),
        (
            Expectation::StddevBetween {
                column: "amount".into(),
                min: None,
                max: Some(stddev - 1.0),
            },
            false,
            stddev,
        ),
        (
            Expectation::StddevBetween {
                column: "amount".into(),
                min: Some(stddev - 1e-6),
                max: Some(stddev + 1e-6),
            },
            true,
            stddev,
        ),
        (
            Expectation::NullFractionAtMost {
                column: "amount".into(),
                value: null_fraction,
            },
            true,
            null_fraction,
        ),
        (
            Expectation::NullFractionAtMost {
                column: "amount".into(),
                value: null_fraction * 0.9,
            },
            false,
            null_fraction,
        ),
        (
            Expectation::RowCountBetween {
                min: Some(ROWS as u64),
                max: Some(ROWS as u64),
            },
            true,
            ROWS as f64,
        ),
        (
            Expectation::RowCountBetween {
                min: Some(ROWS as u64 + 1),
                max: None,
            },
            false,
            ROWS as f64,
        ),
        (
            Expectation::DistinctCountBetween {
                column: "category".into(),
                min: Some(distinct),
                max: Some(distinct),
            },
            true,
            distinct as f64,
        ),
        (
            Expectation::DistinctCountBetween {
                column: "category".into(),
                min: None,
                max: Some(distinct - 1),
            },
            false,
            distinct as f64,
        ),
    ];
    for (expectation, success, figure) in cases {
        let report = judge(&rows, expectation.clone());
        let outcome = &report.expectations[0];
        assert_eq!(outcome.success, success, "{expectation}: {outcome}");
        let observed = outcome
            .observed
            .expect("a batch expectation reports its figure");
        assert!(
            (observed - figure).abs() <= 1e-9 * figure.abs().max(1.0),
            "{expectation}: observed {observed}, oracle {figure}"
        );
        assert_eq!(outcome.failed_rows, 0);
    }
}

#[test]
fn off_enforces_nothing_but_a_dry_run_still_judges() {
    let mut spec = spec(vec![Expectation::NotNull {
        column: "amount".into(),
    }]);
    spec.validation = ValidationPolicy::Off;
    let validator = Validator::new(&spec).unwrap();
    assert!(!validator.is_enforced());
    assert_eq!(validator.finish().expectations.len(), 1);
}

#[test]
fn the_report_names_values_and_where_they_were() {
    let rows = rows(5);
    let report = judge(
        &rows,
        Expectation::Between {
            column: "amount".into(),
            min: Some(0.0),
            max: Some(10.0),
        },
    );
    let text = report.to_string();
    assert!(
        text.starts_with("1 of 1 expectations failed over 5000 rows:"),
        "{text}"
    );
    assert!(text.contains("between on 'amount' [0, 10]"), "{text}");
    let first = &report.expectations[0].examples[0];
    let line: usize = first
        .at
        .trim_start_matches("input.csv line ")
        .parse()
        .unwrap();
    let value = rows.amount[line - 2].unwrap();
    assert_eq!(first.value.parse::<f64>().unwrap(), value);
}
