//! Column statistics on seeded rows against a brute-force oracle: exact
//! figures equal, quantiles within the stated rank error, distinct counts
//! within three standard errors; and statistics of parts merged equal to
//! the statistics of the whole.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_quality::{
    ProfileKind, Profiler, Statistics, DISTINCT_STANDARD_ERROR, QUANTILES, QUANTILE_RANK_ERROR,
};

const ROWS: usize = 60_000;

struct Data {
    x: Vec<Option<f64>>,
    n: Vec<i64>,
    tag: Vec<Option<String>>,
}

fn data(seed: u64) -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Data {
        // Skewed: squares of uniforms, some nulls.
        x: (0..ROWS)
            .map(|_| {
                (rng.random_range(0..50) != 0).then(|| rng.random_range(0.0..100.0f64).powi(2))
            })
            .collect(),
        n: (0..ROWS).map(|_| rng.random_range(0..20_000)).collect(),
        tag: (0..ROWS)
            .map(|_| {
                let r: f64 = rng.random();
                (r > 0.02).then(|| format!("t{}", (r * r * 30.0) as u32))
            })
            .collect(),
    }
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("x", DataType::Float64, true),
        Field::new("n", DataType::Int64, false),
        Field::new("tag", DataType::Utf8, true),
    ]))
}

fn profile(data: &Data, range: std::ops::Range<usize>) -> Statistics {
    let mut profiler = Profiler::new(&schema());
    for start in range.clone().step_by(4_096) {
        let end = (start + 4_096).min(range.end);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Float64Array::from(data.x[start..end].to_vec())),
            Arc::new(Int64Array::from(data.n[start..end].to_vec())),
            Arc::new(StringArray::from(data.tag[start..end].to_vec())),
        ];
        profiler
            .add(&RecordBatch::try_new(schema(), columns).unwrap())
            .unwrap();
    }
    profiler.finish()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * b.abs().max(1.0)
}

/// Checks a numeric column's figures against its values.
fn check_numeric(statistics: &Statistics, column: &str, values: &[Option<f64>]) {
    let profile = statistics.column(column).unwrap();
    assert_eq!(profile.kind, ProfileKind::Numeric);
    let mut present: Vec<f64> = values.iter().flatten().copied().collect();
    present.sort_by(f64::total_cmp);
    let n = present.len() as f64;
    let mean = present.iter().sum::<f64>() / n;
    let stddev = (present.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n).sqrt();
    assert_eq!(profile.count, present.len() as u64);
    assert_eq!(profile.nulls, (values.len() - present.len()) as u64);
    assert_eq!(profile.min, Some(present[0]));
    assert_eq!(profile.max, Some(present[present.len() - 1]));
    assert!(close(profile.mean.unwrap(), mean), "{column} mean");
    assert!(close(profile.stddev.unwrap(), stddev), "{column} stddev");

    assert_eq!(profile.quantiles.len(), QUANTILES.len());
    for quantile in &profile.quantiles {
        // The rank of the reported value among the sorted values.
        let below = present.partition_point(|&v| v < quantile.value) as f64;
        let upto = present.partition_point(|&v| v <= quantile.value) as f64;
        let target = quantile.q * n;
        let error = if target < below {
            below - target
        } else if target > upto {
            target - upto
        } else {
            0.0
        } / n;
        assert!(
            error <= QUANTILE_RANK_ERROR,
            "{column} q{}: value {} is {error} off in rank",
            quantile.q,
            quantile.value
        );
    }
    let histogram = profile.histogram.as_ref().unwrap();
    assert_eq!(histogram.edges.len(), histogram.counts.len() + 1);
    let total: u64 = histogram.counts.iter().sum();
    assert!(total.abs_diff(present.len() as u64) <= histogram.counts.len() as u64);

    let distinct = present
        .iter()
        .map(|v| v.to_bits())
        .collect::<HashSet<_>>()
        .len() as f64;
    let estimate = profile.distinct as f64;
    assert!(
        (estimate - distinct).abs() <= 3.0 * DISTINCT_STANDARD_ERROR * distinct,
        "{column}: {estimate} distinct estimated, {distinct} exact"
    );
}

fn check_text(statistics: &Statistics, values: &[Option<String>]) {
    let profile = statistics.column("tag").unwrap();
    assert_eq!(profile.kind, ProfileKind::Text);
    let mut counts: HashMap<&str, u64> = HashMap::new();
    for v in values.iter().flatten() {
        *counts.entry(v.as_str()).or_default() += 1;
    }
    let mut top: Vec<(&str, u64)> = counts.iter().map(|(v, c)| (*v, *c)).collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    top.truncate(10);
    let reported: Vec<(&str, u64)> = profile
        .top_values
        .iter()
        .map(|t| (t.value.as_str(), t.count))
        .collect();
    assert_eq!(reported, top);
    assert!(profile.top_values_exact);
    assert_eq!(
        profile.nulls,
        values.iter().filter(|v| v.is_none()).count() as u64
    );
    assert_eq!(profile.distinct, counts.len() as u64);
    assert!(profile.mean.is_none() && profile.quantiles.is_empty());
}

#[test]
fn figures_equal_the_oracle_and_sketches_stay_within_their_error() {
    let data = data(1);
    let statistics = profile(&data, 0..ROWS);
    assert_eq!(statistics.rows, ROWS as u64);
    check_numeric(&statistics, "x", &data.x);
    let n: Vec<Option<f64>> = data.n.iter().map(|&v| Some(v as f64)).collect();
    check_numeric(&statistics, "n", &n);
    check_text(&statistics, &data.tag);
}

#[test]
fn merged_parts_describe_the_whole() {
    let data = data(2);
    let parts = [
        profile(&data, 0..10_000),
        profile(&data, 10_000..45_000),
        profile(&data, 45_000..ROWS),
    ];
    // Through JSON, as the catalog keeps them.
    let parts: Vec<Statistics> = parts
        .iter()
        .map(|p| serde_json::from_str(&serde_json::to_string(p).unwrap()).unwrap())
        .collect();
    let merged = Statistics::merge(&parts).unwrap();
    assert_eq!(merged.rows, ROWS as u64);
    check_numeric(&merged, "x", &data.x);
    let n: Vec<Option<f64>> = data.n.iter().map(|&v| Some(v as f64)).collect();
    check_numeric(&merged, "n", &n);
    check_text(&merged, &data.tag);
}
