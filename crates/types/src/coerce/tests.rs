//! The coercion rules, case by case: what each input type becomes in each
//! column type, and the errors that name the file, column, row and value.

use super::*;
use arrow::array::{Float64Array, Int32Array};

fn spec() -> Arc<FeatureGroupSpec> {
    let mut ts_epoch = ColumnSpec::new("seen", ColumnType::Timestamp).nullable();
    ts_epoch.format = TimestampFormat::EpochMillis;
    Arc::new(FeatureGroupSpec {
        name: "fg".into(),
        version: 1,
        primary_key: vec!["id".into()],
        event_time: Some("ts".into()),
        online: true,
        ttl: None,
        description: String::new(),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns: vec![
            ColumnSpec::new("id", ColumnType::Int64),
            ColumnSpec::new("ts", ColumnType::Timestamp),
            ColumnSpec::new("x", ColumnType::Float64).nullable(),
            ts_epoch,
        ],
    })
}

fn text_batch(rows: &[[Option<&str>; 4]]) -> RecordBatch {
    let schema = InputCoercer::text_schema(["id", "ts", "x", "seen"]);
    let columns = (0..4)
        .map(|c| Arc::new(rows.iter().map(|r| r[c]).collect::<StringArray>()) as ArrayRef)
        .collect();
    RecordBatch::try_new(schema, columns).unwrap()
}

#[test]
fn parses_text_with_and_without_offsets() {
    let coercer = InputCoercer::new(spec());
    let batch = text_batch(&[
        [
            Some("1"),
            Some("2024-01-01T00:00:00Z"),
            Some("1.5"),
            Some("1000"),
        ],
        [Some("2"), Some("2024-01-01T02:00:00+02:00"), Some(""), None],
        [Some("3"), Some("2024-01-01 00:00:00"), None, Some("0")],
    ]);
    let out = coercer.coerce("f.csv", &batch, Position::Line(2)).unwrap();
    let ts: &TimestampMicrosecondArray = out.column(1).as_primitive();
    assert_eq!(ts.value(0), 1_704_067_200_000_000);
    assert_eq!(ts.value(1), ts.value(0), "offset is converted to UTC");
    assert_eq!(ts.value(2), ts.value(0), "naive is UTC");
    let seen: &TimestampMicrosecondArray = out.column(3).as_primitive();
    assert_eq!(seen.value(0), 1_000_000);
    assert!(out.column(2).is_null(1));
}

#[test]
fn names_line_column_and_value() {
    let coercer = InputCoercer::new(spec());
    let batch = text_batch(&[
        [Some("1"), Some("2024-01-01T00:00:00Z"), None, None],
        [Some("2"), Some("yesterday"), None, None],
    ]);
    let err = coercer
        .coerce("f.csv", &batch, Position::Line(10))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "f.csv: line 11: column 'ts': cannot read 'yesterday' as an RFC 3339 / ISO-8601 timestamp"
    );
    let batch = text_batch(&[[None, Some("2024-01-01T00:00:00Z"), None, None]]);
    let err = coercer
        .coerce("f.csv", &batch, Position::Line(2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2: column 'id' is null but it is a primary-key column"),
        "{err}"
    );
    let batch = text_batch(&[[Some("1.5"), Some("2024-01-01T00:00:00Z"), None, None]]);
    let err = coercer
        .coerce("f.csv", &batch, Position::Line(2))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("column 'id': cannot read '1.5' as int64"),
        "{err}"
    );
}

#[test]
fn widens_int32_but_rejects_lossy_types() {
    let coercer = InputCoercer::new(spec());
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int32, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Nanosecond, None), false),
        Field::new("x", DataType::Float64, true),
        Field::new("seen", DataType::Int64, true),
    ]));
    let batch = |ts: i64| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int32Array::from(vec![7])),
                Arc::new(arrow::array::TimestampNanosecondArray::from(vec![ts])),
                Arc::new(Float64Array::from(vec![1.0])),
                Arc::new(Int64Array::from(vec![Some(5)])),
            ],
        )
        .unwrap()
    };
    let out = coercer
        .coerce("f.parquet", &batch(3_000), Position::Row(1))
        .unwrap();
    assert_eq!(out.schema(), *coercer.schema());
    let err = coercer
        .coerce("f.parquet", &batch(3_001), Position::Row(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("row 1: column 'ts'"), "{err}");

    let wrong = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Float64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, None),
                false,
            ),
            Field::new("x", DataType::Float64, true),
            Field::new("seen", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(TimestampMicrosecondArray::from(vec![0])),
            Arc::new(Float64Array::from(vec![1.0])),
            Arc::new(Int64Array::from(vec![Some(5)])),
        ],
    )
    .unwrap();
    let err = coercer
        .coerce("f.parquet", &wrong, Position::Row(1))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "f.parquet: column 'id' has type Float64, expected int64"
    );
}

#[test]
fn missing_and_unknown_columns() {
    let coercer = InputCoercer::new(spec());
    let err = coercer
        .check_columns("a.csv", ["id", "ts", "x"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing column 'seen'"), "{err}");
    let err = coercer
        .check_columns("a.csv", ["id", "ts", "x", "seen", "extra"])
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown column 'extra'"), "{err}");
}

#[test]
fn refuses_overflow_non_finite_floats_and_sub_microsecond_times() {
    let coercer = InputCoercer::new(spec());
    let error = |row: [Option<&str>; 4]| {
        coercer
            .coerce("f.csv", &text_batch(&[row]), Position::Line(2))
            .unwrap_err()
            .to_string()
    };
    let ts = Some("2024-01-01T00:00:00Z");
    let err = error([Some("1"), ts, Some("1e400"), None]);
    assert!(
        err.contains("column 'x': cannot read '1e400' as float64 (out of range)"),
        "{err}"
    );
    for value in ["NaN", "inf", "-Infinity"] {
        let err = error([Some("1"), ts, Some(value), None]);
        assert!(
            err.contains("column 'x'") && err.contains("allow_nan = true"),
            "{value}: {err}"
        );
    }
    let err = error([
        Some("1"),
        Some("2024-01-01T00:00:00.123456789Z"),
        None,
        None,
    ]);
    assert!(
        err.contains("column 'ts'") && err.contains("representable in microseconds"),
        "{err}"
    );
    let exact = text_batch(&[[
        Some("1"),
        Some("2024-01-01T00:00:00.123456000Z"),
        None,
        None,
    ]]);
    let out = coercer.coerce("f.csv", &exact, Position::Line(2)).unwrap();
    let micros: &TimestampMicrosecondArray = out.column(1).as_primitive();
    assert_eq!(micros.value(0), 1_704_067_200_123_456);

    let mut allowing = (*spec()).clone();
    allowing.columns[2].allow_nan = true;
    let coercer = InputCoercer::new(Arc::new(allowing));
    let batch = text_batch(&[
        [Some("1"), ts, Some("NaN"), None],
        [Some("2"), ts, Some("-inf"), None],
    ]);
    let out = coercer.coerce("f.csv", &batch, Position::Line(2)).unwrap();
    let x: &Float64Array = out.column(2).as_primitive();
    assert!(x.value(0).is_nan() && x.value(1) == f64::NEG_INFINITY);
    let err = coercer
        .coerce(
            "f.csv",
            &text_batch(&[[Some("1"), ts, Some("1e400"), None]]),
            Position::Line(2),
        )
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("out of range"),
        "an overflow is never allowed: {err}"
    );

    let parquet_nan = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
                false,
            ),
            Field::new("x", DataType::Float64, true),
            Field::new("seen", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(vec![1])),
            Arc::new(TimestampMicrosecondArray::from(vec![0]).with_timezone(UTC)),
            Arc::new(Float64Array::from(vec![f64::NAN])),
            Arc::new(Int64Array::from(vec![Some(5)])),
        ],
    )
    .unwrap();
    let err = InputCoercer::new(spec())
        .coerce("f.parquet", &parquet_nan, Position::Row(1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("row 1: column 'x': cannot read 'NaN'"),
        "{err}"
    );
}
