//! The conformance suite every [`OnlineStore`] backend must pass.
//!
//! A backend's test file adds one line:
//! `sluice_online::online_store_conformance!(|| async { /* a fresh store */ });`
//! The factory must return an empty store (or one namespaced so that feature
//! groups used here start empty).

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use proptest::prelude::*;
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec, Ttl};

use crate::{LookupStatus, OnlineStoreRef};

/// A feature group keyed by `id` with event time `ts`, a float `x` and a string `s`.
pub fn test_feature_group(name: &str, ttl: Option<&str>) -> FeatureGroupSpec {
    FeatureGroupSpec {
        name: name.into(),
        version: 1,
        primary_key: vec!["id".into()],
        event_time: Some("ts".into()),
        online: true,
        ttl: ttl.map(|t| Ttl::parse(t).unwrap()),
        description: String::new(),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns: vec![
            ColumnSpec::new("id", ColumnType::Int64),
            ColumnSpec::new("ts", ColumnType::Timestamp),
            ColumnSpec::new("x", ColumnType::Float64).nullable(),
            ColumnSpec::new("s", ColumnType::String).nullable(),
        ],
    }
}

/// Rows `(id, ts, x)`; `s` is `"x=<x>"` so that both columns are checked.
pub fn rows(fg: &FeatureGroupSpec, rows: &[(i64, i64, f64)]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))
                .with_timezone("UTC"),
        ),
        Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.2))),
        Arc::new(StringArray::from_iter_values(
            rows.iter().map(|r| format!("x={}", r.2)),
        )),
    ];
    RecordBatch::try_new(fg.arrow_schema(), columns).unwrap()
}

/// A key batch asking for `ids`, in order.
pub fn keys(fg: &FeatureGroupSpec, ids: &[i64]) -> RecordBatch {
    RecordBatch::try_new(
        fg.key_schema(),
        vec![Arc::new(Int64Array::from(ids.to_vec()))],
    )
    .unwrap()
}

/// What a lookup returned, as `(status, ts, x)` per requested key.
pub async fn lookup(
    store: &OnlineStoreRef,
    fg: &FeatureGroupSpec,
    ids: &[i64],
    now: i64,
) -> Vec<(LookupStatus, Option<i64>, Option<f64>)> {
    let read = store.read(fg, &keys(fg, ids), now).await.unwrap();
    assert_eq!(read.rows.num_rows(), ids.len(), "one row per requested key");
    assert_eq!(read.status.len(), ids.len(), "one status per requested key");
    let id: &Int64Array = read.rows.column(0).as_primitive();
    let ts: &TimestampMicrosecondArray = read.rows.column(1).as_primitive();
    let x: &Float64Array = read.rows.column(2).as_primitive();
    let s: &StringArray = read.rows.column(3).as_string();
    (0..ids.len())
        .map(|i| {
            assert_eq!(id.value(i), ids[i], "key columns echo the request in order");
            let present = read.status[i] == LookupStatus::Present;
            assert_eq!(ts.is_valid(i), present, "values only for PRESENT keys");
            if present {
                assert_eq!(
                    s.value(i),
                    format!("x={}", x.value(i)),
                    "string column matches its row"
                );
            }
            (
                read.status[i],
                ts.is_valid(i).then(|| ts.value(i)),
                x.is_valid(i).then(|| x.value(i)),
            )
        })
        .collect()
}

const NOW: i64 = 1_000_000;

/// An older event for a stored key is ignored, and counted as older.
pub async fn newest_event_wins(store: OnlineStoreRef) {
    let fg = test_feature_group("newest", None);
    store
        .write(&fg, &rows(&fg, &[(1, 10, 1.0), (1, 30, 3.0)]))
        .await
        .unwrap();
    let metrics = store.write(&fg, &rows(&fg, &[(1, 20, 2.0)])).await.unwrap();
    assert_eq!(metrics.rows_older, 1, "a late event is counted as older");
    assert_eq!(
        lookup(&store, &fg, &[1], NOW).await,
        vec![(LookupStatus::Present, Some(30), Some(3.0))]
    );
}

/// Deferred writes follow the same newest-wins rule, are readable at once,
/// and interleave with ordinary writes; `flush` keeps them.
pub async fn deferred_writes_read_at_once_and_flush(store: OnlineStoreRef) {
    let fg = test_feature_group("deferred", None);
    store
        .write_deferred(&fg, &rows(&fg, &[(1, 10, 1.0), (2, 10, 2.0)]))
        .await
        .unwrap();
    let metrics = store
        .write_deferred(&fg, &rows(&fg, &[(1, 5, 9.0)]))
        .await
        .unwrap();
    assert_eq!(metrics.rows_older, 1);
    store.write(&fg, &rows(&fg, &[(2, 20, 3.0)])).await.unwrap();
    store.flush().await.unwrap();
    assert_eq!(
        lookup(&store, &fg, &[1, 2], NOW).await,
        vec![
            (LookupStatus::Present, Some(10), Some(1.0)),
            (LookupStatus::Present, Some(20), Some(3.0)),
        ]
    );
}

/// Equal event times: the later write wins, across calls and within one.
pub async fn equal_event_time_later_write_wins(store: OnlineStoreRef) {
    let fg = test_feature_group("ties", None);
    store.write(&fg, &rows(&fg, &[(7, 50, 1.0)])).await.unwrap();
    store
        .write(&fg, &rows(&fg, &[(7, 50, 2.0), (7, 50, 4.0)]))
        .await
        .unwrap();
    assert_eq!(
        lookup(&store, &fg, &[7], NOW).await,
        vec![(LookupStatus::Present, Some(50), Some(4.0))]
    );
}

/// Answers come in request order, duplicates and missing keys included, and
/// a group never written reads as missing.
pub async fn missing_keys_keep_request_order(store: OnlineStoreRef) {
    let fg = test_feature_group("order", None);
    store
        .write(&fg, &rows(&fg, &[(1, 1, 1.0), (3, 3, 3.0)]))
        .await
        .unwrap();
    let got = lookup(&store, &fg, &[3, 2, 1, 3], NOW).await;
    assert_eq!(
        got,
        vec![
            (LookupStatus::Present, Some(3), Some(3.0)),
            (LookupStatus::Missing, None, None),
            (LookupStatus::Present, Some(1), Some(1.0)),
            (LookupStatus::Present, Some(3), Some(3.0)),
        ]
    );
    let never_written = test_feature_group("never_written", None);
    assert_eq!(
        lookup(&store, &never_written, &[1], NOW).await,
        vec![(LookupStatus::Missing, None, None)]
    );
}

/// A row exactly the TTL old is present; one microsecond older, expired and
/// without values.
pub async fn ttl_expires(store: OnlineStoreRef) {
    let fg = test_feature_group("ttl", Some("10us"));
    store
        .write(&fg, &rows(&fg, &[(1, 100, 1.0)]))
        .await
        .unwrap();
    assert_eq!(
        lookup(&store, &fg, &[1], 110).await[0].0,
        LookupStatus::Present,
        "exactly the TTL old is still valid"
    );
    assert_eq!(
        lookup(&store, &fg, &[1], 111).await,
        vec![(LookupStatus::Expired, None, None)]
    );
}

/// Delete removes only the keys asked for, counts the ones that had a row,
/// and a deleted key takes any event time again.
pub async fn delete_removes_only_its_keys(store: OnlineStoreRef) {
    let fg = test_feature_group("deletes", None);
    store
        .write(&fg, &rows(&fg, &[(1, 1, 1.0), (2, 2, 2.0)]))
        .await
        .unwrap();
    assert_eq!(store.delete(&fg, &keys(&fg, &[1, 9])).await.unwrap(), 1);
    let got = lookup(&store, &fg, &[1, 2], NOW).await;
    assert_eq!(
        got,
        vec![
            (LookupStatus::Missing, None, None),
            (LookupStatus::Present, Some(2), Some(2.0))
        ]
    );
    store.write(&fg, &rows(&fg, &[(1, 0, 5.0)])).await.unwrap();
    assert_eq!(
        lookup(&store, &fg, &[1], NOW).await[0].2,
        Some(5.0),
        "a deleted key accepts any event again"
    );
}

/// Versions of a group share no rows.
pub async fn versions_are_isolated(store: OnlineStoreRef) {
    let v1 = test_feature_group("versions", None);
    let mut v2 = v1.clone();
    v2.version = 2;
    store.write(&v1, &rows(&v1, &[(1, 1, 1.0)])).await.unwrap();
    assert_eq!(
        lookup(&store, &v2, &[1], NOW).await[0].0,
        LookupStatus::Missing
    );
}

/// Composite keys (string and int32), a group without event time (the later
/// write wins), and nulls in bool, date and float32 columns.
pub async fn composite_string_keys_and_nulls(store: OnlineStoreRef) {
    let fg = FeatureGroupSpec {
        name: "composite".into(),
        version: 1,
        primary_key: vec!["country".into(), "user".into()],
        event_time: None,
        online: true,
        ttl: None,
        description: String::new(),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns: vec![
            ColumnSpec::new("country", ColumnType::String),
            ColumnSpec::new("user", ColumnType::Int32),
            ColumnSpec::new("active", ColumnType::Bool).nullable(),
            ColumnSpec::new("day", ColumnType::Date).nullable(),
            ColumnSpec::new("score", ColumnType::Float32).nullable(),
        ],
    };
    let batch = RecordBatch::try_new(
        fg.arrow_schema(),
        vec![
            Arc::new(StringArray::from(vec!["de", "fr", "de"])),
            Arc::new(arrow::array::Int32Array::from(vec![1, 1, 1])),
            Arc::new(arrow::array::BooleanArray::from(vec![
                Some(true),
                None,
                Some(false),
            ])),
            Arc::new(arrow::array::Date32Array::from(vec![
                Some(19000),
                Some(19001),
                None,
            ])),
            Arc::new(arrow::array::Float32Array::from(vec![
                None,
                Some(0.5),
                Some(1.5),
            ])),
        ],
    )
    .unwrap();
    store.write(&fg, &batch).await.unwrap();
    let request = RecordBatch::try_new(
        fg.key_schema(),
        vec![
            Arc::new(StringArray::from(vec!["fr", "de", "it"])),
            Arc::new(arrow::array::Int32Array::from(vec![1, 1, 1])),
        ],
    )
    .unwrap();
    let read = store.read(&fg, &request, NOW).await.unwrap();
    assert_eq!(
        read.status,
        vec![
            LookupStatus::Present,
            LookupStatus::Present,
            LookupStatus::Missing
        ]
    );
    let active = read.rows.column(2).as_boolean();
    assert!(active.is_null(0));
    assert!(!active.value(1), "without event time the later write wins");
    let day = read
        .rows
        .column(3)
        .as_primitive::<arrow::datatypes::Date32Type>();
    assert_eq!(day.value(0), 19001);
    assert!(day.is_null(1));
    let score = read
        .rows
        .column(4)
        .as_primitive::<arrow::datatypes::Float32Type>();
    assert_eq!((score.value(0), score.value(1)), (0.5, 1.5));
}

/// One step of [`random_interleavings_match_model`], over ids 0 to 5.
#[derive(Debug, Clone)]
pub enum Op {
    /// `write` of rows `(id, ts, x)`.
    Write(Vec<(i64, i64, f64)>),
    /// `write_deferred` of rows `(id, ts, x)`.
    WriteDeferred(Vec<(i64, i64, f64)>),
    /// `flush`.
    Flush,
    /// `delete` of these ids.
    Delete(Vec<i64>),
    /// `read` of these ids at this time (microseconds).
    Read(Vec<i64>, i64),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let id = 0i64..6;
    let ts = 0i64..12;
    prop_oneof![
        2 => prop::collection::vec((id.clone(), ts.clone(), -100.0f64..100.0), 1..6).prop_map(Op::Write),
        2 => prop::collection::vec((id.clone(), ts.clone(), -100.0f64..100.0), 1..6).prop_map(Op::WriteDeferred),
        1 => Just(Op::Flush),
        1 => prop::collection::vec(id.clone(), 1..3).prop_map(Op::Delete),
        3 => (prop::collection::vec(id, 1..6), 0i64..30).prop_map(|(ids, now)| Op::Read(ids, now)),
    ]
}

/// Random interleavings of writes and deferred writes (late and tied
/// events), flushes, deletes and reads across a TTL boundary, checked
/// against a brute-force model.
pub fn random_interleavings_match_model<F, Fut>(make: F)
where
    F: Fn() -> Fut,
    Fut: Future<Output = OnlineStoreRef>,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 48,
        ..Default::default()
    });
    let case = std::cell::Cell::new(0u32);
    runner
        .run(&prop::collection::vec(op_strategy(), 1..30), |ops| {
            case.set(case.get() + 1);
            let fg = test_feature_group(&format!("model_{}", case.get()), Some("8us"));
            runtime.block_on(async {
                let store = make().await;
                let mut model: HashMap<i64, (i64, f64)> = HashMap::new();
                for op in &ops {
                    match op {
                        Op::Write(batch) | Op::WriteDeferred(batch) => {
                            let batch_rows = rows(&fg, batch);
                            if matches!(op, Op::Write(_)) {
                                store.write(&fg, &batch_rows).await.unwrap();
                            } else {
                                store.write_deferred(&fg, &batch_rows).await.unwrap();
                            }
                            for &(id, ts, x) in batch {
                                if model.get(&id).is_none_or(|(old, _)| ts >= *old) {
                                    model.insert(id, (ts, x));
                                }
                            }
                        }
                        Op::Flush => store.flush().await.unwrap(),
                        Op::Delete(ids) => {
                            store.delete(&fg, &keys(&fg, ids)).await.unwrap();
                            for id in ids {
                                model.remove(id);
                            }
                        }
                        Op::Read(ids, now) => {
                            let expected: Vec<_> = ids
                                .iter()
                                .map(|id| match model.get(id) {
                                    None => (LookupStatus::Missing, None, None),
                                    Some((ts, _)) if now - ts > 8 => {
                                        (LookupStatus::Expired, None, None)
                                    }
                                    Some((ts, x)) => (LookupStatus::Present, Some(*ts), Some(*x)),
                                })
                                .collect();
                            let got = lookup(&store, &fg, ids, *now).await;
                            prop_assert_eq!(got, expected, "ops so far: {:?}", ops);
                        }
                    }
                }
                Ok(())
            })
        })
        .unwrap();
}

/// Expands to one test per conformance case for the backend that `$make` (an
/// expression returning `impl Future<Output = OnlineStoreRef>`, called once per test) builds.
#[macro_export]
macro_rules! online_store_conformance {
    ($make:expr) => {
        mod online_store_conformance {
            use super::*;
            use $crate::conformance as suite;

            macro_rules! case {
                ($name:ident) => {
                    #[tokio::test]
                    async fn $name() {
                        suite::$name(($make)().await).await;
                    }
                };
            }
            case!(newest_event_wins);
            case!(equal_event_time_later_write_wins);
            case!(deferred_writes_read_at_once_and_flush);
            case!(missing_keys_keep_request_order);
            case!(ttl_expires);
            case!(delete_removes_only_its_keys);
            case!(versions_are_isolated);
            case!(composite_string_keys_and_nulls);

            #[test]
            fn random_interleavings_match_model() {
                suite::random_interleavings_match_model($make);
            }
        }
    };
}
