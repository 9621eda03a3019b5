//! On-demand features against hand-computed values: arithmetic with nulls,
//! coalesce, abs, ln, hour and day of week of a timestamp, string equality,
//! casts to the declared type; and compile errors that name the feature.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use sluice_transforms::{Error, OnDemandFeatures};
use sluice_types::{ColumnType, OnDemandSpec};

fn spec(name: &str, expr: &str, column_type: ColumnType) -> OnDemandSpec {
    OnDemandSpec {
        name: name.into(),
        expr: expr.into(),
        column_type,
    }
}

fn schema() -> Schema {
    Schema::new(vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new(
            "request_time",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            true,
        ),
        Field::new("amount", DataType::Float64, true),
        Field::new("amount_mean_7d", DataType::Float64, true),
        Field::new("merchant", DataType::Utf8, true),
    ])
}

/// 2026-01-01 is a Thursday.
const T0: i64 = 1_767_225_600_000_000;
const HOUR: i64 = 3_600_000_000;

fn batch() -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3])),
        Arc::new(
            TimestampMicrosecondArray::from(vec![
                T0 + 3 * HOUR,
                T0 + 23 * HOUR,
                T0 + 48 * HOUR + 5,
            ])
            .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from(vec![Some(100.0), Some(-30.0), None])),
        Arc::new(Float64Array::from(vec![Some(49.0), None, Some(10.0)])),
        Arc::new(StringArray::from(vec![
            Some("online"),
            Some("grocery"),
            None,
        ])),
    ];
    RecordBatch::try_new(Arc::new(schema()), columns).unwrap()
}

#[test]
fn expressions_match_hand_computed_values() {
    let specs = [
        spec(
            "ratio",
            "amount / (coalesce(amount_mean_7d, amount) + 1)",
            ColumnType::Float64,
        ),
        spec("size", "abs(amount)", ColumnType::Float64),
        spec("log_size", "ln(abs(amount) + 1)", ColumnType::Float64),
        spec("hour", "date_part('hour', request_time)", ColumnType::Int64),
        spec(
            "weekday",
            "date_part('dow', request_time)",
            ColumnType::Int64,
        ),
        spec("online", "merchant = 'online'", ColumnType::Float64),
        spec("big", "amount > 50", ColumnType::Bool),
    ];
    let features = OnDemandFeatures::compile("fraud:1", &schema(), &specs).unwrap();
    let names: Vec<String> = features.fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        ["ratio", "size", "log_size", "hour", "weekday", "online", "big"]
    );

    // The evaluator finds its inputs by name, whatever else the batch holds.
    let input = batch();
    let mut reordered: Vec<(String, ArrayRef)> = input
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .zip(input.columns().iter().cloned())
        .rev()
        .collect();
    reordered.push(("extra".into(), Arc::new(Int64Array::from(vec![0, 0, 0]))));
    let reordered = RecordBatch::try_from_iter(reordered).unwrap();
    let out = features.evaluate(&reordered).unwrap();

    let float = |i: usize| out[i].as_primitive::<Float64Type>().clone();
    let ratio = float(0);
    assert_eq!(ratio.value(0), 100.0 / 50.0);
    assert_eq!(ratio.value(1), -30.0 / (-30.0 + 1.0)); // coalesce falls back to the amount
    assert!(ratio.is_null(2)); // a null amount gives null, not a number
    let size = float(1);
    assert_eq!((size.value(0), size.value(1)), (100.0, 30.0));
    let log_size = float(2);
    assert_eq!(log_size.value(1), 31f64.ln());
    let hour = out[3].as_primitive::<Int64Type>();
    assert_eq!(hour.values().to_vec(), [3, 23, 0]);
    let weekday = out[4].as_primitive::<Int64Type>();
    assert_eq!(weekday.values().to_vec(), [4, 4, 6]); // Thursday, Thursday, Saturday
    let online = float(5);
    assert_eq!((online.value(0), online.value(1)), (1.0, 0.0));
    assert!(online.is_null(2));
    let big = out[6].as_boolean();
    assert!(big.value(0) && !big.value(1) && big.is_null(2));

    // One row, as online serving evaluates it, gives the batch's values.
    let row = features.evaluate(&input.slice(1, 1)).unwrap();
    for (single, all) in row.iter().zip(&out) {
        assert_eq!(single.to_data(), all.slice(1, 1).to_data());
    }
}

#[test]
fn bad_expressions_are_refused_with_the_feature_named() {
    for (expr, expected) in [
        ("amount * fx_rate", "fx_rate"),
        ("frobnicate(amount)", "frobnicate"),
        ("amount +", ""),
    ] {
        let err = OnDemandFeatures::compile(
            "fraud:1",
            &schema(),
            &[spec("bad", expr, ColumnType::Float64)],
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::OnDemand { ref feature, .. } if feature == "bad")
                && message.contains("fraud:1")
                && message.contains(expected),
            "{expr}: {message}"
        );
    }
    let err = OnDemandFeatures::compile(
        "fraud:1",
        &schema(),
        &[spec("when", "request_time", ColumnType::Bool)],
    )
    .unwrap_err();
    assert!(err.to_string().contains("cannot become bool"), "{err}");
}

#[test]
fn a_declared_type_that_would_lose_values_is_refused_by_the_lossless_check() {
    for (expr, declared, produced) in [
        ("merchant", ColumnType::Int64, "Utf8"),
        ("merchant", ColumnType::Float64, "Utf8"),
        ("merchant", ColumnType::Timestamp, "Utf8"),
        ("amount", ColumnType::Int64, "Float64"),
        ("amount", ColumnType::Float32, "Float64"),
        ("card_id", ColumnType::Int32, "Int64"),
        ("request_time", ColumnType::Date, "Timestamp"),
    ] {
        let features =
            OnDemandFeatures::compile("fraud:1", &schema(), &[spec("bad", expr, declared)])
                .expect("Arrow can cast it, so it compiles");
        let err = features.check_lossless().unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(err, Error::OnDemand { ref feature, .. } if feature == "bad")
                && message.contains(&format!("gives {produced}"))
                && message.contains(&format!("cannot become {declared} without loss")),
            "{expr} as {declared}: {message}"
        );
    }
    let kept = [
        spec("hour", "date_part('hour', request_time)", ColumnType::Int64),
        spec(
            "hour_f",
            "date_part('hour', request_time)",
            ColumnType::Float64,
        ),
        spec("online", "merchant = 'online'", ColumnType::Float64),
        spec("big", "amount > 50", ColumnType::Bool),
        spec("card", "card_id", ColumnType::Float64),
        spec("card_text", "card_id", ColumnType::String),
        spec("tag", "lower(merchant)", ColumnType::String),
        spec("cents", "cast(amount * 100 as bigint)", ColumnType::Int64),
        spec(
            "earlier",
            "request_time - interval '1 hour'",
            ColumnType::Timestamp,
        ),
        spec("nothing", "NULL", ColumnType::Int32),
    ];
    OnDemandFeatures::compile("fraud:1", &schema(), &kept)
        .unwrap()
        .check_lossless()
        .unwrap();
}
