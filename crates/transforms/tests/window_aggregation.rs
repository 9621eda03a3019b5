//! Window aggregations against a brute-force reference, and batch/stream
//! parity on random event streams with ties, out-of-order events and gaps
//! longer than the windows.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Int64Type, Schema, TimeUnit};
use proptest::prelude::*;
use sluice_transforms::{aggregate_batch, CompiledAggregation, StreamAggregator};
use sluice_types::aggregation::WindowAggregationSpec;

const SECOND: i64 = 1_000_000;

const SPEC: &str = r#"
keys = ["card"]
event_time = "ts"
allowed_lateness = "1000s"
features = [
  { function = "count", windows = ["10s", "60s"] },
  { column = "amount", functions = ["count", "sum", "mean", "min", "max", "stddev", "last"], windows = ["10s", "60s"] },
  { column = "merchant", function = "count_distinct", windows = ["10s", "60s"] },
  { function = "time_since_last" },
]
"#;

#[derive(Debug, Clone)]
struct Event {
    card: i64,
    ts: i64,
    amount: Option<f64>,
    merchant: Option<&'static str>,
}

fn events_strategy() -> impl Strategy<Value = Vec<Event>> {
    // Times on a coarse grid so ties are common; gaps up to 200 s exceed every window.
    let event = (
        0i64..4,
        0i64..40,
        prop::option::weighted(0.85, -50i32..500),
        prop::option::weighted(0.9, prop::sample::select(vec!["a", "b", "c", "d"])),
    )
        .prop_map(|(card, slot, amount, merchant)| Event {
            card,
            ts: slot * 5 * SECOND,
            amount: amount.map(|a| a as f64 / 4.0),
            merchant,
        });
    prop::collection::vec(event, 1..120)
}

fn batch(events: &[Event]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("card", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("amount", DataType::Float64, true),
        Field::new("merchant", DataType::Utf8, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.card))),
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| e.ts))
                    .with_timezone("UTC"),
            ),
            Arc::new(Float64Array::from_iter(events.iter().map(|e| e.amount))),
            Arc::new(StringArray::from_iter(events.iter().map(|e| e.merchant))),
        ],
    )
    .unwrap()
}

fn plan() -> CompiledAggregation {
    let spec: WindowAggregationSpec = toml::from_str(SPEC).unwrap();
    CompiledAggregation::new(&spec).unwrap()
}

/// The reference: for each event, scan every other event.
fn brute_force(events: &[Event], name: &str) -> Vec<Option<f64>> {
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let before = |j: usize| {
                let o = &events[j];
                o.card == e.card && (o.ts < e.ts || (o.ts == e.ts && j <= i))
            };
            if name == "time_since_last" {
                return (0..events.len())
                    .filter(|j| *j != i && before(*j))
                    .map(|j| events[j].ts)
                    .max()
                    .map(|p| (e.ts - p) as f64 / SECOND as f64);
            }
            let window = if name.ends_with("_10s") { 10 } else { 60 } * SECOND;
            let members: Vec<usize> = (0..events.len())
                .filter(|j| before(*j) && events[*j].ts > e.ts - window)
                .collect();
            let amounts: Vec<f64> = members.iter().filter_map(|j| events[*j].amount).collect();
            let n = amounts.len() as f64;
            let mean = amounts.iter().sum::<f64>() / n;
            let function = name
                .trim_end_matches("_10s")
                .trim_end_matches("_60s")
                .trim_start_matches("amount_");
            match function {
                "count" if !name.starts_with("amount") => Some(members.len() as f64),
                "count" => Some(n),
                "sum" => (n > 0.0).then(|| amounts.iter().sum()),
                "mean" => (n > 0.0).then_some(mean),
                "min" => amounts.iter().copied().reduce(f64::min),
                "max" => amounts.iter().copied().reduce(f64::max),
                "stddev" => (n > 1.0).then(|| {
                    (amounts.iter().map(|a| (a - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
                }),
                "last" => members
                    .iter()
                    .filter(|j| events[**j].amount.is_some())
                    .max_by_key(|j| (events[**j].ts, **j))
                    .and_then(|j| events[*j].amount),
                "merchant_count_distinct" => {
                    let mut seen: Vec<&str> =
                        members.iter().filter_map(|j| events[*j].merchant).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    Some(seen.len() as f64)
                }
                other => panic!("no reference for {other}"),
            }
        })
        .collect()
}

fn values(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    let column = batch.column_by_name(name).unwrap();
    match column.data_type() {
        DataType::Int64 => column
            .as_primitive::<Int64Type>()
            .iter()
            .map(|v| v.map(|v| v as f64))
            .collect(),
        _ => column.as_primitive::<Float64Type>().iter().collect(),
    }
}

/// Output rows keyed by (card, ts); the last row for a pair wins, as in a feature group.
fn newest_by_key_time(batch: &RecordBatch) -> HashMap<(i64, i64), Vec<Option<u64>>> {
    let cards = batch.column(0).as_primitive::<Int64Type>();
    let times = batch
        .column(1)
        .as_primitive::<arrow::datatypes::TimestampMicrosecondType>();
    let columns: Vec<Vec<Option<f64>>> = batch.schema().fields()[2..]
        .iter()
        .map(|f| values(batch, f.name()))
        .collect();
    (0..batch.num_rows())
        .map(|row| {
            let bits = columns.iter().map(|c| c[row].map(f64::to_bits)).collect();
            ((cards.value(row), times.value(row)), bits)
        })
        .collect()
}

fn close(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs())),
        (None, None) => true,
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn batch_matches_brute_force(events in events_strategy()) {
        let plan = plan();
        let out = aggregate_batch(&plan, &batch(&events), 2).unwrap();
        prop_assert_eq!(out.num_rows(), events.len());
        // Output is grouped by key in order of first appearance, then sorted
        // by (ts, input order); map each input event to its output row.
        let first_seen = |card: i64| events.iter().position(|e| e.card == card).unwrap();
        let mut order: Vec<usize> = (0..events.len()).collect();
        order.sort_by_key(|i| (first_seen(events[*i].card), events[*i].ts, *i));
        for aggregate in plan.aggregates() {
            let expected = brute_force(&events, &aggregate.name);
            let got = values(&out, &aggregate.name);
            for (row, input) in order.iter().enumerate() {
                prop_assert!(
                    close(got[row], expected[*input]),
                    "{} for event {} {:?}: got {:?}, expected {:?}",
                    aggregate.name, input, events[*input], got[row], expected[*input]
                );
            }
        }
    }

    #[test]
    fn stream_equals_batch_per_key_and_time(
        events in events_strategy(),
        chunk in 1usize..20,
        restart_at in 0usize..10,
    ) {
        let plan = plan();
        let expected = newest_by_key_time(&aggregate_batch(&plan, &batch(&events), 2).unwrap());

        let mut stream = StreamAggregator::new(plan.clone());
        let mut streamed = HashMap::new();
        for (index, part) in events.chunks(chunk).enumerate() {
            if index == restart_at {
                // A restart from a checkpoint must continue exactly where it stopped.
                stream = StreamAggregator::restore(plan.clone(), &stream.checkpoint().unwrap()).unwrap();
            }
            let output = stream.push(&batch(part)).unwrap();
            prop_assert!(output.late_rows.is_empty());
            streamed.extend(newest_by_key_time(&output.rows));
        }
        prop_assert_eq!(streamed, expected);
    }
}

#[test]
fn events_beyond_the_allowed_lateness_are_reported_not_applied() {
    let spec: WindowAggregationSpec = toml::from_str(&SPEC.replace("1000s", "30s")).unwrap();
    let mut stream = StreamAggregator::new(CompiledAggregation::new(&spec).unwrap());
    let event = |ts: i64| Event {
        card: 1,
        ts: ts * SECOND,
        amount: Some(1.0),
        merchant: None,
    };
    let first = stream.push(&batch(&[event(100), event(80)])).unwrap();
    assert!(first.late_rows.is_empty());
    let second = stream.push(&batch(&[event(60), event(75)])).unwrap();
    assert_eq!(
        second.late_rows,
        vec![0],
        "60 s is more than 30 s behind 100 s"
    );
    assert_eq!(stream.late_events(), 1);
    let counts = values(&second.rows, "count_60s");
    // 75 s enters the windows of 75 s itself, then 80 s and 100 s are emitted again.
    assert_eq!(counts, vec![Some(1.0), Some(2.0), Some(3.0)]);
}

#[test]
fn state_stays_bounded_by_the_longest_window() {
    let mut stream = StreamAggregator::new(plan());
    for start in 0..50 {
        let events: Vec<Event> = (0..100)
            .map(|i| Event {
                card: i % 10,
                ts: (start * 100 + i) * SECOND * 10,
                amount: Some(i as f64),
                merchant: Some("a"),
            })
            .collect();
        stream.push(&batch(&events)).unwrap();
    }
    // 60 s window + 1000 s lateness at one event per 10 s: about 106 events in all.
    assert!(
        stream.buffered_events() <= 110,
        "{}",
        stream.buffered_events()
    );
    assert_eq!(stream.keys(), 10);
}

#[test]
fn missing_input_columns_are_named() {
    let plan = plan();
    let mut input = batch(&[Event {
        card: 1,
        ts: 0,
        amount: None,
        merchant: None,
    }]);
    input = input.project(&[0, 1, 3]).unwrap();
    let err = aggregate_batch(&plan, &input, 1).unwrap_err().to_string();
    assert!(err.contains("'amount'"), "{err}");
}
