//! The point-in-time join against a brute-force reference: for every spine
//! row, scan every feature row. Random tables with repeated keys, tied event
//! times, gaps, TTLs, null keys and times, composite and string keys.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use proptest::prelude::*;
use sluice_pitjoin::{
    point_in_time_join, point_in_time_join_spilled, FeatureInput, JoinOptions, SpilledTable,
};

fn ts_type() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

/// (key, time, value) rows → a table with columns k, ts, v (name-suffixed).
fn table(rows: &[(Option<i64>, Option<i64>, f64)], value: &str) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new("ts", ts_type(), true),
        Field::new(value, DataType::Float64, false),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| r.1)
                    .collect::<TimestampMicrosecondArray>()
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        ],
    )
    .unwrap()
}

/// The brute-force answer: the last row (in table order) among those with the
/// greatest event time <= t, within the TTL.
fn reference(
    spine: &[(Option<i64>, Option<i64>, f64)],
    features: &[(Option<i64>, Option<i64>, f64)],
    ttl: Option<i64>,
) -> Vec<Option<f64>> {
    spine
        .iter()
        .map(|(key, at, _)| {
            let (Some(key), Some(at)) = (key, at) else {
                return None;
            };
            let mut best: Option<(i64, f64)> = None;
            for (k, ts, v) in features {
                let (Some(k), Some(ts)) = (k, ts) else {
                    continue;
                };
                if k != key || ts > at || ttl.is_some_and(|ttl| *ts < at - ttl) {
                    continue;
                }
                if best.is_none_or(|(best_ts, _)| *ts >= best_ts) {
                    best = Some((*ts, *v));
                }
            }
            best.map(|(_, v)| v)
        })
        .collect()
}

fn rows_strategy(n: usize) -> impl Strategy<Value = Vec<(Option<i64>, Option<i64>, f64)>> {
    prop::collection::vec(
        (
            prop::option::weighted(0.95, 0i64..12),
            prop::option::weighted(0.95, 0i64..40),
            -1000.0f64..1000.0,
        ),
        0..n,
    )
}

fn values(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Float64Type>();
    (0..column.len())
        .map(|i| column.is_valid(i).then(|| column.value(i)))
        .collect()
}

/// The same join with every input's rows spilled to disk and joined a group
/// of buckets at a time, each group at most `budget` bytes.
fn join_spilled(
    spine: &RecordBatch,
    time: &str,
    inputs: &[FeatureInput],
    budget: usize,
    threads: usize,
) -> RecordBatch {
    let dir = tempfile::tempdir().unwrap();
    let mut tables: Vec<SpilledTable> = inputs
        .iter()
        .map(|input| {
            let mut table = SpilledTable::create(
                input.name,
                &input.keys,
                input.batches[0].schema(),
                dir.path(),
            )
            .unwrap();
            for batch in input.batches {
                table.push(batch).unwrap();
            }
            table
        })
        .collect();
    point_in_time_join_spilled(
        spine,
        time,
        inputs,
        &mut tables,
        budget,
        &JoinOptions { threads },
    )
    .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn matches_brute_force(
        spine_rows in rows_strategy(60),
        a_rows in rows_strategy(120),
        b_rows in rows_strategy(80),
        ttl in prop::option::of(0i64..15),
        threads in 1usize..4,
    ) {
        check_against_reference(&spine_rows, &a_rows, &b_rows, ttl, |spine, inputs| {
            point_in_time_join(spine, "ts", inputs, &JoinOptions { threads }).unwrap()
        })?;
    }

    /// Spilled, with budgets from "one bucket per group" to "all in one group".
    #[test]
    fn spilled_matches_brute_force(
        spine_rows in rows_strategy(60),
        a_rows in rows_strategy(120),
        b_rows in rows_strategy(80),
        ttl in prop::option::of(0i64..15),
        budget in prop::sample::select(vec![0usize, 2_000, 20_000, usize::MAX]),
    ) {
        check_against_reference(&spine_rows, &a_rows, &b_rows, ttl, |spine, inputs| {
            join_spilled(spine, "ts", inputs, budget, 2)
        })?;
    }
}

/// Joins table a (in two chunks) and b (one chunk, with `ttl`) onto the
/// spine with `join`, and compares with the brute-force reference.
fn check_against_reference(
    spine_rows: &[(Option<i64>, Option<i64>, f64)],
    a_rows: &[(Option<i64>, Option<i64>, f64)],
    b_rows: &[(Option<i64>, Option<i64>, f64)],
    ttl: Option<i64>,
    join: impl Fn(&RecordBatch, &[FeatureInput]) -> RecordBatch,
) -> Result<(), TestCaseError> {
    let spine = table(spine_rows, "label");
    let split = a_rows.len() / 2;
    let a = [table(&a_rows[..split], "a"), table(&a_rows[split..], "a")];
    let b = [table(b_rows, "b")];
    let input = |name: &'static str, batches, ttl_micros| FeatureInput {
        name,
        batches,
        spine_keys: vec!["k".into()],
        keys: vec!["k".into()],
        event_time: "ts".into(),
        write_order: None,
        features: vec![name.into()],
        ttl_micros,
    };
    let joined = join(&spine, &[input("a", &a, None), input("b", &b, ttl)]);
    prop_assert_eq!(joined.num_rows(), spine_rows.len());
    prop_assert_eq!(
        values(&joined, "label"),
        spine_rows.iter().map(|r| Some(r.2)).collect::<Vec<_>>(),
        "spine order kept"
    );
    prop_assert_eq!(values(&joined, "a"), reference(spine_rows, a_rows, None));
    prop_assert_eq!(values(&joined, "b"), reference(spine_rows, b_rows, ttl));
    Ok(())
}

#[test]
fn write_order_breaks_ties_and_composite_string_keys_match_exactly() {
    let spine_schema = Arc::new(Schema::new(vec![
        Field::new("country", DataType::Utf8, false),
        Field::new("user", DataType::Int64, false),
        Field::new("at", ts_type(), false),
    ]));
    let spine = RecordBatch::try_new(
        spine_schema,
        vec![
            Arc::new(StringArray::from(vec!["de", "de", "fr", "d"])),
            Arc::new(Int64Array::from(vec![1, 1, 1, 1])),
            Arc::new(TimestampMicrosecondArray::from(vec![10, 5, 10, 10]).with_timezone("UTC")),
        ],
    )
    .unwrap();
    let feature_schema = Arc::new(Schema::new(vec![
        Field::new("c", DataType::Utf8, false),
        Field::new("u", DataType::Int64, false),
        Field::new("t", ts_type(), false),
        Field::new("written", DataType::UInt64, false),
        Field::new("x", DataType::Utf8, true),
    ]));
    let features = RecordBatch::try_new(
        feature_schema,
        vec![
            Arc::new(StringArray::from(vec!["de", "de", "de", "fr"])),
            Arc::new(Int64Array::from(vec![1, 1, 1, 2])),
            Arc::new(TimestampMicrosecondArray::from(vec![7, 7, 3, 1]).with_timezone("UTC")),
            Arc::new(arrow::array::UInt64Array::from(vec![9, 2, 1, 1])),
            Arc::new(StringArray::from(vec![
                Some("newest write"),
                Some("older write"),
                Some("early"),
                Some("other user"),
            ])),
        ],
    )
    .unwrap();
    let input = FeatureInput {
        name: "profile:1",
        batches: std::slice::from_ref(&features),
        spine_keys: vec!["country".into(), "user".into()],
        keys: vec!["c".into(), "u".into()],
        event_time: "t".into(),
        write_order: Some("written".into()),
        features: vec!["x".into()],
        ttl_micros: None,
    };
    let joined = point_in_time_join(
        &spine,
        "at",
        std::slice::from_ref(&input),
        &JoinOptions::default(),
    )
    .unwrap();
    assert_eq!(
        join_spilled(&spine, "at", &[input], 0, 2),
        joined,
        "spilled bucket by bucket, composite string keys give the same answer"
    );
    let x = joined.column(3).as_string::<i32>();
    assert_eq!(
        x.value(0),
        "newest write",
        "ties on event time go to the latest write"
    );
    assert_eq!(x.value(1), "early");
    assert!(x.is_null(2), "(fr, 1) has no row; (fr, 2) must not match");
    assert!(x.is_null(3), "'d' must not match a prefix of 'de'");
}

#[test]
fn mismatched_key_types_are_named() {
    let spine = table(&[(Some(1), Some(1), 0.0)], "label");
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("ts", ts_type(), false),
        Field::new("v", DataType::Float64, false),
    ]));
    let features = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(vec!["1"])) as ArrayRef,
            Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone("UTC")),
            Arc::new(Float64Array::from(vec![1.0])),
        ],
    )
    .unwrap();
    let input = FeatureInput {
        name: "fg:1",
        batches: std::slice::from_ref(&features),
        spine_keys: vec!["k".into()],
        keys: vec!["k".into()],
        event_time: "ts".into(),
        write_order: None,
        features: vec!["v".into()],
        ttl_micros: None,
    };
    let err = point_in_time_join(&spine, "ts", &[input], &JoinOptions::default())
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "key column 'k' of the spine is Int64 but 'k' of fg:1 is Utf8"
    );
}
