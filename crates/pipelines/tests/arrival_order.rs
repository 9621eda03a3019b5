//! Batch and streaming runs of the same events give bit-identical feature
//! values, equal to a brute-force oracle, whatever the batch boundaries.
//!
//! Each seeded case draws events with many event-time ties, out-of-order
//! arrivals and gaps, splits them into files at random rows (so that batch
//! boundaries fall at random positions) and publishes them to NATS JetStream
//! (127.0.0.1:4222) with a random commit size. Four pipelines read them:
//! files and NATS, each with and without a SQL transform (which DataFusion
//! runs over more than one partition). Ties on event time are broken by
//! arrival order, so `last` over a tie must return the later arrival.

use std::collections::BTreeMap;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use rand::{Rng, SeedableRng};
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_pipelines::{check_pipelines, run_pipeline, RunOptions};

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const CARDS: i64 = 5;

/// Feature values per (card, ts), as bit patterns so that equality is exact:
/// v_last_1h, v_sum_1h, v_max_1h, v_mean_1h, w_sum_1h, count_1h.
type Values = [Option<u64>; 6];
type Rows = BTreeMap<(i64, i64), Values>;

#[derive(Debug, Clone)]
struct Event {
    card: i64,
    ts: i64,
    /// Multiples of 1/8 below 2^20: every sum of them is exact, so the oracle's
    /// summation order cannot differ from the engine's in any bit.
    v: Option<f64>,
    /// Arbitrary doubles: sums depend on the order of addition, so batch and
    /// streaming must add in the same (time, arrival) order to agree bit for bit.
    w: f64,
}

fn events(rng: &mut rand_chacha::ChaCha8Rng, count: usize) -> Vec<Event> {
    // Few distinct times, so that most events tie with another of their card.
    let times = rng.random_range(20..200);
    (0..count)
        .map(|_| Event {
            card: rng.random_range(0..CARDS),
            ts: T0 + rng.random_range(0..times) * HOUR / 10,
            v: (rng.random_range(0..12) > 0)
                .then(|| rng.random_range(-400..8_000_000) as f64 / 8.0),
            w: rng.random::<f64>() * 1e3 + 1e-7,
        })
        .collect()
}

fn sink(name: &str) -> String {
    format!(
        r#"
[[feature_group]]
name = "{name}"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = false
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "v_last_1h", type = "float64", nullable = true }},
  {{ name = "v_sum_1h", type = "float64", nullable = true }},
  {{ name = "v_max_1h", type = "float64", nullable = true }},
  {{ name = "v_mean_1h", type = "float64", nullable = true }},
  {{ name = "w_sum_1h", type = "float64", nullable = true }},
  {{ name = "count_1h", type = "int64" }},
]
"#
    )
}

/// Keeps rows whose `v` is null or not negative: the oracle applies the same filter.
const SQL: &str = r#"
[pipeline.transform]
sql = "SELECT card_id, ts, v, w FROM source WHERE v IS NULL OR v >= 0"
"#;

fn pipeline(name: &str, source: &str, with_sql: bool) -> String {
    let transform = if with_sql { SQL } else { "" };
    format!(
        r#"
[[pipeline]]
name = "{name}"
kind = "feature"
sink = "{name}_fg"
[pipeline.source]
{source}
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "v", type = "float64", nullable = true }},
  {{ name = "w", type = "float64" }},
]
{transform}
[pipeline.aggregate]
keys = ["card_id"]
event_time = "ts"
allowed_lateness = "1000h"
features = [
  {{ column = "v", functions = ["last", "sum", "max", "mean"], windows = ["1h"] }},
  {{ column = "w", functions = ["sum"], windows = ["1h"] }},
  {{ function = "count", windows = ["1h"] }},
]
"#
    ) + &sink(&format!("{name}_fg"))
}

fn bits(v: Option<f64>) -> Option<u64> {
    v.map(f64::to_bits)
}

/// Brute force: for each event kept, the window (ts - 1h, ts] over events of
/// its card that come at or before it in (time, arrival) order; a feature
/// group keeps the last of events tied on (card, ts).
fn oracle(events: &[Event], with_sql: bool) -> (Rows, BTreeMap<(i64, i64), f64>) {
    let kept: Vec<&Event> = events
        .iter()
        .filter(|e| !with_sql || e.v.is_none_or(|v| v >= 0.0))
        .collect();
    let mut rows = BTreeMap::new();
    let mut w_sums = BTreeMap::new();
    // Each event's arrival index, grouped by card: a window only looks at its card.
    let mut by_card: BTreeMap<i64, Vec<(usize, &Event)>> = BTreeMap::new();
    for (i, e) in kept.iter().enumerate() {
        by_card.entry(e.card).or_default().push((i, e));
    }
    for (i, e) in kept.iter().enumerate() {
        let mut window: Vec<(i64, usize, &Event)> = by_card[&e.card]
            .iter()
            .filter(|(j, o)| o.ts > e.ts - HOUR && (o.ts < e.ts || (o.ts == e.ts && *j <= i)))
            .map(|(j, o)| (o.ts, *j, *o))
            .collect();
        window.sort_by_key(|(ts, j, _)| (*ts, *j));
        let vs: Vec<f64> = window.iter().filter_map(|(_, _, o)| o.v).collect();
        let sum = (!vs.is_empty()).then(|| vs.iter().sum::<f64>());
        rows.insert(
            (e.card, e.ts),
            [
                bits(vs.last().copied()),
                bits(sum),
                bits(vs.iter().copied().reduce(f64::max)),
                bits(sum.map(|s| s / vs.len() as f64)),
                None,
                Some(window.len() as u64),
            ],
        );
        w_sums.insert(
            (e.card, e.ts),
            window.iter().map(|(_, _, o)| o.w).sum::<f64>(),
        );
    }
    (rows, w_sums)
}

async fn rows(store: &FeatureStore, group: &str) -> Rows {
    let batches = sluice_testkit::latest_rows(store, group).await;
    let mut out = BTreeMap::new();
    for b in &batches {
        let column = |name: &str| b.column_by_name(name).unwrap().clone();
        let float = |name: &str, i: usize| {
            let a = column(name);
            a.is_valid(i)
                .then(|| a.as_primitive::<Float64Type>().value(i).to_bits())
        };
        for i in 0..b.num_rows() {
            let key = (
                column("card_id").as_primitive::<Int64Type>().value(i),
                column("ts")
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(i),
            );
            let count = column("count_1h").as_primitive::<Int64Type>().value(i) as u64;
            out.insert(
                key,
                [
                    float("v_last_1h", i),
                    float("v_sum_1h", i),
                    float("v_max_1h", i),
                    float("v_mean_1h", i),
                    float("w_sum_1h", i),
                    Some(count),
                ],
            );
        }
    }
    out
}

fn csv(events: &[Event]) -> String {
    let mut text = String::from("card_id,ts,v,w\n");
    for e in events {
        let ts = chrono::DateTime::from_timestamp_micros(e.ts)
            .unwrap()
            .to_rfc3339();
        let v = e.v.map_or(String::new(), |v| format!("{v:?}"));
        text.push_str(&format!("{},{ts},{v},{:?}\n", e.card, e.w));
    }
    text
}

async fn publish(stream: &str, events: &[Event]) {
    let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: stream.to_string(),
        subjects: vec![format!("{stream}.events")],
        ..Default::default()
    })
    .await
    .unwrap();
    // Acknowledgements are awaited in windows: order is the publishing order either way.
    for chunk in events.chunks(500) {
        let mut acks = Vec::with_capacity(chunk.len());
        for e in chunk {
            let ts = chrono::DateTime::from_timestamp_micros(e.ts)
                .unwrap()
                .to_rfc3339();
            let payload = serde_json::json!({"card_id": e.card, "ts": ts, "v": e.v, "w": e.w});
            acks.push(
                js.publish(format!("{stream}.events"), payload.to_string().into())
                    .await
                    .unwrap(),
            );
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
}

fn first_difference(a: &Rows, b: &Rows) -> Option<String> {
    if a.len() != b.len() {
        return Some(format!("{} rows against {}", a.len(), b.len()));
    }
    a.iter()
        .zip(b)
        .find(|(x, y)| x != y)
        .map(|(x, y)| format!("{x:?} against {y:?}"))
}

async fn run_case(seed: u64) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let count = rng.random_range(9_000..14_000);
    let all = events(&mut rng, count);
    let stream = format!("ORDER{}", uuid::Uuid::new_v4().simple());
    let commit_every = rng.random_range(50..6_000);
    let nats = format!(
        "type = \"nats\"\nstream = \"{stream}\"\nsubject = \"{stream}.events\"\ncommit_every = {commit_every}"
    );
    let files = "type = \"files\"\npath = \"data/*.csv\"";
    let definitions = pipeline("batch_sql", files, true)
        + &pipeline("batch_plain", files, false)
        + &pipeline("stream_sql", &nats, true)
        + &pipeline("stream_plain", &nats, false);

    let dir = tempfile::tempdir().unwrap();
    FeatureStore::init(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("features/example.toml")).unwrap();
    std::fs::write(dir.path().join("features/pipelines.toml"), &definitions).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let store = FeatureStore::open(dir.path()).await.unwrap();
    check_pipelines(&store, &store.definitions().unwrap())
        .await
        .unwrap();
    store.apply(&store.plan().await.unwrap()).await.unwrap();

    let mut cuts: Vec<usize> = (0..rng.random_range(1..5))
        .map(|_| rng.random_range(1..count))
        .collect();
    cuts.extend([0, count]);
    cuts.sort_unstable();
    cuts.dedup();
    for (part, range) in cuts.windows(2).enumerate() {
        std::fs::write(
            dir.path().join(format!("data/part-{part:03}.csv")),
            csv(&all[range[0]..range[1]]),
        )
        .unwrap();
    }
    publish(&stream, &all).await;

    let drain = RunOptions {
        until_idle: Some(Duration::from_secs(2)),
        max_events: None,
    };
    let context =
        format!("seed {seed}: {count} events, files cut at {cuts:?}, commit_every {commit_every}");
    for with_sql in [true, false] {
        let suffix = if with_sql { "sql" } else { "plain" };
        let batch_name = format!("batch_{suffix}");
        let stream_name = format!("stream_{suffix}");
        run_pipeline(&store, &batch_name, &drain, &NoProgress)
            .await
            .unwrap();
        let summary = run_pipeline(&store, &stream_name, &drain, &NoProgress)
            .await
            .unwrap();
        assert_eq!(summary.rows_in, count as u64, "{context}");
        assert_eq!(summary.dead_letters, 0, "{context}");

        let batch = rows(&store, &format!("{batch_name}_fg")).await;
        let streamed = rows(&store, &format!("{stream_name}_fg")).await;
        if let Some(difference) = first_difference(&batch, &streamed) {
            panic!("{context}, {suffix}: batch and stream differ: {difference}");
        }

        let (expected, w_sums) = oracle(&all, with_sql);
        let without_w = |rows: &Rows| -> Rows {
            rows.iter()
                .map(|(k, v)| (*k, [v[0], v[1], v[2], v[3], None, v[5]]))
                .collect()
        };
        if let Some(difference) = first_difference(&without_w(&batch), &expected) {
            panic!("{context}, {suffix}: batch and oracle differ: {difference}");
        }
        for (key, values) in &batch {
            let got = f64::from_bits(values[4].expect("w is never null"));
            let want = w_sums[key];
            assert!(
                (got - want).abs() <= 1e-9 * want.abs(),
                "{context}, {suffix}: w_sum_1h at {key:?} is {got}, the oracle's {want}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_and_stream_agree_bit_for_bit_with_each_other_and_the_oracle() {
    for seed in 1..=3 {
        run_case(seed).await;
    }
}
