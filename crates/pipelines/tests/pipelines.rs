//! Feature pipelines end to end on the embedded stores, with real sources:
//! files, PostgreSQL (127.0.0.1:5432, database `test`) and NATS JetStream
//! (127.0.0.1:4222). Results are checked against a brute-force reference.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use rand::{Rng, SeedableRng};
use sluice_featurestore::{FeatureStore, LookupStatus, NoProgress, RunStatus};
use sluice_pipelines::{check_pipelines, run_pipeline, RunOptions};
use sluice_types::NameRef;

/// (sum 1h, max 1h, count 1h, time since last) per (card, ts).
type Rows = BTreeMap<(i64, i64), (Option<f64>, Option<f64>, i64, Option<f64>)>;

const HOUR: i64 = 3_600_000_000;
const T0: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z

fn sink(name: &str) -> String {
    format!(
        r#"
[[feature_group]]
name = "{name}"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "amount_sum_1h", type = "float64", nullable = true }},
  {{ name = "amount_max_1h", type = "float64", nullable = true }},
  {{ name = "count_1h", type = "int64" }},
  {{ name = "time_since_last", type = "float64", nullable = true }},
]
"#
    )
}

const COLUMNS: &str = r#"columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount", type = "float64", nullable = true },
]"#;

const TRANSFORM_AND_AGGREGATE: &str = r#"
[pipeline.transform]
sql = "SELECT card_id, ts, amount FROM source WHERE amount IS NULL OR amount >= 0"
[pipeline.aggregate]
keys = ["card_id"]
event_time = "ts"
allowed_lateness = "1000h"
features = [
  { column = "amount", functions = ["sum", "max"], windows = ["1h"] },
  { function = "count", windows = ["1h"] },
  { function = "time_since_last" },
]
"#;

fn files_pipeline(name: &str, sink: &str) -> String {
    format!(
        "\n[[pipeline]]\nname = \"{name}\"\nkind = \"feature\"\nsink = \"{sink}\"\n[pipeline.source]\ntype = \"files\"\npath = \"data/*.csv\"\n{COLUMNS}\n{TRANSFORM_AND_AGGREGATE}"
    )
}

fn nats_pipeline(name: &str, sink: &str, stream: &str) -> String {
    format!(
        "\n[[pipeline]]\nname = \"{name}\"\nkind = \"feature\"\nsink = \"{sink}\"\n[pipeline.source]\ntype = \"nats\"\nstream = \"{stream}\"\nsubject = \"{stream}.events\"\ncommit_every = 300\n{COLUMNS}\n{TRANSFORM_AND_AGGREGATE}"
    )
}

#[derive(Debug, Clone)]
struct Event {
    card: i64,
    ts: i64,
    amount: Option<f64>,
}

/// Events with ties, out-of-order arrivals and gaps longer than the window.
fn events(seed: u64, count: usize) -> Vec<Event> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| Event {
            card: rng.random_range(0..12),
            ts: T0 + rng.random_range(0..200) * HOUR / 20,
            amount: (rng.random_range(0..10) > 0).then(|| rng.random_range(-20..500) as f64 / 4.0),
        })
        .collect()
}

fn csv(events: &[Event]) -> String {
    let mut text = String::from("card_id,ts,amount\n");
    for e in events {
        let ts = chrono::DateTime::from_timestamp_micros(e.ts)
            .unwrap()
            .to_rfc3339();
        let amount = e.amount.map_or(String::new(), |a| a.to_string());
        text.push_str(&format!("{},{ts},{amount}\n", e.card));
    }
    text
}

/// Brute force: per surviving event, the aggregates over (ts - 1h, ts] among
/// events of its card at or before it in (time, arrival) order; the last of
/// tied events is the row a feature group keeps.
fn reference(events: &[Event]) -> Rows {
    let kept: Vec<&Event> = events
        .iter()
        .filter(|e| e.amount.is_none_or(|a| a >= 0.0))
        .collect();
    let mut out = BTreeMap::new();
    for (i, e) in kept.iter().enumerate() {
        let before: Vec<(usize, &&Event)> = kept
            .iter()
            .enumerate()
            .filter(|(j, o)| o.card == e.card && (o.ts < e.ts || (o.ts == e.ts && *j <= i)))
            .collect();
        let window: Vec<&&Event> = before
            .iter()
            .map(|(_, o)| *o)
            .filter(|o| o.ts > e.ts - HOUR)
            .collect();
        let amounts: Vec<f64> = window.iter().filter_map(|o| o.amount).collect();
        let previous = before
            .iter()
            .filter(|(j, _)| *j != i)
            .map(|(_, o)| o.ts)
            .max();
        out.insert(
            (e.card, e.ts),
            (
                (!amounts.is_empty()).then(|| amounts.iter().sum()),
                amounts.iter().copied().reduce(f64::max),
                window.len() as i64,
                previous.map(|p| (e.ts - p) as f64 / 1e6),
            ),
        );
    }
    out
}

async fn offline_rows(store: &FeatureStore, name: &str) -> Rows {
    let batches = sluice_testkit::latest_rows(store, name).await;
    let mut out = BTreeMap::new();
    for b in &batches {
        let f = |name: &str| b.column_by_name(name).unwrap().clone();
        let (card, ts) = (f("card_id"), f("ts"));
        let (sum, max, count, since) = (
            f("amount_sum_1h"),
            f("amount_max_1h"),
            f("count_1h"),
            f("time_since_last"),
        );
        let float = |a: &dyn Array, i: usize| {
            a.is_valid(i)
                .then(|| a.as_primitive::<Float64Type>().value(i))
        };
        for i in 0..b.num_rows() {
            out.insert(
                (
                    card.as_primitive::<Int64Type>().value(i),
                    ts.as_primitive::<TimestampMicrosecondType>().value(i),
                ),
                (
                    float(sum.as_ref(), i),
                    float(max.as_ref(), i),
                    count.as_primitive::<Int64Type>().value(i),
                    float(since.as_ref(), i),
                ),
            );
        }
    }
    out
}

fn assert_matches_reference(got: &Rows, expected: &Rows) {
    assert_eq!(got.len(), expected.len());
    let close = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9 * (1.0 + a.abs()),
        (a, b) => a == b,
    };
    for (key, want) in expected {
        let have = got.get(key).unwrap_or_else(|| panic!("no row for {key:?}"));
        assert!(
            close(have.0, want.0)
                && close(have.1, want.1)
                && have.2 == want.2
                && close(have.3, want.3),
            "{key:?}: got {have:?}, expected {want:?}"
        );
    }
}

async fn project(definitions: &str) -> (tempfile::TempDir, FeatureStore) {
    let dir = tempfile::tempdir().unwrap();
    FeatureStore::init(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("features/example.toml")).unwrap();
    std::fs::write(dir.path().join("features/pipelines.toml"), definitions).unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let store = FeatureStore::open(dir.path()).await.unwrap();
    check_pipelines(&store, &store.definitions().unwrap())
        .await
        .unwrap();
    store.apply(&store.plan().await.unwrap()).await.unwrap();
    (dir, store)
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join("data").join(name), text).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_pipeline_aggregates_like_the_reference_and_reads_only_new_files() {
    let definitions = sink("card_activity") + &files_pipeline("activity", "card_activity");
    let (dir, store) = project(&definitions).await;
    let all = events(7, 600);
    write(dir.path(), "a.csv", &csv(&all[..400]));
    let first = run_pipeline(&store, "activity", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.files, ["data/a.csv"]);
    assert_eq!(first.rows_in, 400);
    assert_matches_reference(
        &offline_rows(&store, "card_activity").await,
        &reference(&all[..400]),
    );

    write(dir.path(), "b.csv", &csv(&all[400..]));
    let second = run_pipeline(&store, "activity", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        second.files,
        ["data/b.csv"],
        "a.csv was read by the first run"
    );
    assert_matches_reference(
        &offline_rows(&store, "card_activity").await,
        &reference(&all),
    );

    let third = run_pipeline(&store, "activity", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!((third.rows_in, third.offline_version), (0, None));

    let runs = store.registry().runs(Some("activity")).await.unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs
        .iter()
        .all(|r| r.progress.status == RunStatus::Succeeded));
    assert_eq!(runs[1].progress.offline_version, second.offline_version);
    assert_eq!(runs[2].progress.rows_in, 400);
}

#[tokio::test]
async fn a_bad_file_fails_the_run_names_the_value_and_writes_nothing() {
    let definitions = sink("card_activity") + &files_pipeline("activity", "card_activity");
    let (dir, store) = project(&definitions).await;
    write(
        dir.path(),
        "a.csv",
        "card_id,ts,amount\n1,2026-01-01T00:00:00Z,abc\n",
    );
    let err = run_pipeline(&store, "activity", &RunOptions::default(), &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("a.csv") && err.contains("'abc'"), "{err}");
    let runs = store.registry().runs(None).await.unwrap();
    assert_eq!(runs[0].progress.status, RunStatus::Failed);
    assert!(runs[0].progress.error.as_deref().unwrap().contains("'abc'"));
    assert!(offline_rows(&store, "card_activity").await.is_empty());
    // The failed run did not consume the file: a fixed file is read next time.
    write(
        dir.path(),
        "a.csv",
        "card_id,ts,amount\n1,2026-01-01T00:00:00Z,2.5\n",
    );
    let summary = run_pipeline(&store, "activity", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(summary.rows_out, 1);
}

#[tokio::test]
async fn checks_name_unknown_columns_sql_errors_and_mismatched_sinks() {
    let dir = tempfile::tempdir().unwrap();
    FeatureStore::init(dir.path()).unwrap();
    let store = FeatureStore::open(dir.path()).await.unwrap();
    let good = sink("card_activity") + &files_pipeline("activity", "card_activity");
    let cases = [
        (
            good.replace("column = \"amount\"", "column = \"amont\""),
            "'amont'",
        ),
        (good.replace("FROM source WHERE", "FROM source WHER"), "SQL"),
        (
            good.replace(
                "SELECT card_id,",
                "SELECT CAST(card_id AS VARCHAR) AS card_id,",
            ),
            "'card_id' as string, but sink card_activity:1 declares it int64",
        ),
        (
            good.replace("{ function = \"time_since_last\" },", ""),
            "'time_since_last'",
        ),
        (
            good.replace("sink = \"card_activity\"", "sink = \"nowhere\""),
            "'nowhere'",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(dir.path().join("features/example.toml"), &text).unwrap();
        let err = check_pipelines(&store, &store.definitions().unwrap())
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pipeline 'activity'") && err.contains(expected),
            "expected {expected} in: {err}"
        );
    }
}

#[tokio::test]
async fn postgres_query_source_reads_past_the_high_water_mark() {
    let table = format!("events_{}", uuid::Uuid::new_v4().simple());
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect(url)
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (card_id BIGINT NOT NULL, ts TIMESTAMPTZ NOT NULL, amount DOUBLE PRECISION)"
    )))
    .execute(&pool)
    .await
    .unwrap();
    let insert = |events: Vec<Event>| {
        let pool = pool.clone();
        let table = table.clone();
        async move {
            for e in events {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} VALUES ($1, $2, $3)"
                )))
                .bind(e.card)
                .bind(chrono::DateTime::from_timestamp_micros(e.ts).unwrap())
                .bind(e.amount)
                .execute(&pool)
                .await
                .unwrap();
            }
        }
    };
    let mut all = events(11, 120);
    all.sort_by_key(|e| e.ts);
    insert(all[..80].to_vec()).await;
    let definitions = format!(
        r#"
[[feature_group]]
name = "raw"
version = 1
primary_key = ["card_id"]
event_time = "ts"
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "amount", type = "float64", nullable = true }},
]

[[pipeline]]
name = "from_postgres"
kind = "feature"
sink = "raw"
[pipeline.source]
type = "postgres"
url = "{url}"
query = "SELECT card_id, ts, amount FROM {table} WHERE ts > $1"
incremental = "ts"
{COLUMNS}
"#
    );
    let (_dir, store) = project(&definitions).await;
    let first = run_pipeline(&store, "from_postgres", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    assert_eq!(first.rows_in, 80);
    insert(all[80..].to_vec()).await;
    let second = run_pipeline(&store, "from_postgres", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();
    let newer = all[80..].iter().filter(|e| e.ts > all[79].ts).count() as u64;
    assert_eq!(
        second.rows_in, newer,
        "only rows past the first run's newest time"
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await
        .unwrap();
}

async fn publish(stream: &str, payloads: &[String]) {
    let client = async_nats::connect("nats://127.0.0.1:4222").await.unwrap();
    let js = async_nats::jetstream::new(client);
    js.get_or_create_stream(async_nats::jetstream::stream::Config {
        name: stream.to_string(),
        subjects: vec![format!("{stream}.events")],
        ..Default::default()
    })
    .await
    .unwrap();
    for payload in payloads {
        js.publish(format!("{stream}.events"), payload.clone().into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

fn json_messages(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            let ts = chrono::DateTime::from_timestamp_micros(e.ts)
                .unwrap()
                .to_rfc3339();
            serde_json::json!({"card_id": e.card, "ts": ts, "amount": e.amount}).to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_equals_batch_survives_a_restart_and_sets_bad_messages_aside() {
    let stream = format!("T{}", uuid::Uuid::new_v4().simple());
    let definitions = sink("batch_activity")
        + &sink("stream_activity")
        + &files_pipeline("batch", "batch_activity")
        + &nats_pipeline("stream", "stream_activity", &stream);
    let (dir, store) = project(&definitions).await;
    let all = events(3, 900);
    write(dir.path(), "all.csv", &csv(&all));
    run_pipeline(&store, "batch", &RunOptions::default(), &NoProgress)
        .await
        .unwrap();

    let mut messages = json_messages(&all);
    messages.insert(100, "{not json".into());
    messages.insert(500, r#"{"ts": "2026-01-01T00:00:00Z", "amount": 1}"#.into());
    messages.insert(
        700,
        r#"{"card_id": 3, "ts": "2026-01-01T00:00:00Z", "amount": "lots"}"#.into(),
    );
    publish(&stream, &messages).await;

    // Stop part-way, as a restart would, then drain the rest.
    let first = RunOptions {
        until_idle: Some(Duration::from_secs(2)),
        max_events: Some(450),
    };
    let part = run_pipeline(&store, "stream", &first, &NoProgress)
        .await
        .unwrap();
    assert!(
        part.rows_in >= 450 && part.rows_in < messages.len() as u64,
        "{}",
        part.rows_in
    );
    let rest = RunOptions {
        until_idle: Some(Duration::from_secs(2)),
        max_events: None,
    };
    let drained = run_pipeline(&store, "stream", &rest, &NoProgress)
        .await
        .unwrap();
    assert_eq!(
        part.rows_in + drained.rows_in,
        messages.len() as u64,
        "each message once"
    );
    assert_eq!(drained.dead_letters, 3, "counted across runs");

    let batch = offline_rows(&store, "batch_activity").await;
    assert_eq!(offline_rows(&store, "stream_activity").await, batch);
    assert_matches_reference(&batch, &reference(&all));

    let letters = std::fs::read_to_string(
        dir.path()
            .join(".sluice/pipelines/stream/dead_letter.ndjson"),
    )
    .unwrap();
    assert!(
        letters.contains("malformed JSON") && letters.contains("missing key 'card_id'"),
        "{letters}"
    );
    let wrong_type = letters.lines().find(|l| l.contains("lots")).unwrap();
    assert!(wrong_type.contains("amount"), "{wrong_type}");

    // Online: the newest row per card, as the batch's last row per card.
    let fg = store
        .feature_group(&NameRef::parse("stream_activity").unwrap())
        .await
        .unwrap();
    let cards: Vec<i64> = (0..12).collect();
    let keys = fg
        .keys_from_text(&[(
            "card_id".to_string(),
            cards.iter().map(|c| c.to_string()).collect(),
        )])
        .unwrap();
    let online = fg
        .lookup_at(&keys, chrono::DateTime::from_timestamp_micros(T0).unwrap())
        .await
        .unwrap();
    for (row, card) in cards.iter().enumerate() {
        let newest = batch
            .range((*card, i64::MIN)..=(*card, i64::MAX))
            .next_back();
        match newest {
            Some(((_, ts), values)) => {
                assert_eq!(online.status[row], LookupStatus::Present);
                let got_ts = online
                    .rows
                    .column_by_name("ts")
                    .unwrap()
                    .as_primitive::<TimestampMicrosecondType>()
                    .value(row);
                let got_count = online
                    .rows
                    .column_by_name("count_1h")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .value(row);
                assert_eq!((got_ts, got_count), (*ts, values.2), "card {card}");
            }
            None => assert_eq!(online.status[row], LookupStatus::Missing),
        }
    }
}

/// A stream message parses by the same rules as a file: a fraction for an
/// integer key is refused (dead-lettered), never truncated into another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fraction_for_an_integer_column_is_dead_lettered_not_truncated() {
    let stream = format!("T{}", uuid::Uuid::new_v4().simple());
    let definitions = format!(
        r#"
[[feature_group]]
name = "payments"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "amount", type = "float64", nullable = true }},
]

[[pipeline]]
name = "payments_stream"
kind = "feature"
sink = "payments"
[pipeline.source]
type = "nats"
stream = "{stream}"
subject = "{stream}.events"
{COLUMNS}
"#
    );
    let (dir, store) = project(&definitions).await;
    publish(
        &stream,
        &[
            r#"{"card_id": 7.9, "ts": "2026-01-01T00:00:00Z", "amount": 1.0}"#.into(),
            r#"{"card_id": 8, "ts": "2026-01-01T00:00:00Z", "amount": 2}"#.into(),
            r#"{"card_id": 9, "ts": "2026-01-01T00:00:00Z", "amount": 1e400}"#.into(),
        ],
    )
    .await;
    let options = RunOptions {
        until_idle: Some(Duration::from_secs(2)),
        max_events: None,
    };
    let summary = run_pipeline(&store, "payments_stream", &options, &NoProgress)
        .await
        .unwrap();
    assert_eq!(summary.rows_in, 3);
    assert_eq!(summary.dead_letters, 2);
    let letters = std::fs::read_to_string(
        dir.path()
            .join(".sluice/pipelines/payments_stream/dead_letter.ndjson"),
    )
    .unwrap();
    assert!(letters.contains("cannot read '7.9' as int64"), "{letters}");
    assert!(letters.contains("1e400"), "{letters}");
    let batches = sluice_testkit::latest_rows(&store, "payments").await;
    let keys: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column_by_name("card_id")
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(keys, vec![8]);
}

/// The shared typing rules (`sluice_testkit::coercion`) through stream
/// messages: a refused case is dead-lettered with the same reason file
/// ingest gives, an accepted one is stored as file ingest stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_messages_follow_the_shared_typing_rules() {
    use sluice_testkit::coercion::{cases, group_definition, COLUMNS as TYPED_COLUMNS, GROUP};

    let stream = format!("T{}", uuid::Uuid::new_v4().simple());
    let definitions = group_definition()
        + &format!(
            r#"
[[pipeline]]
name = "typed_stream"
kind = "feature"
sink = "{GROUP}"
[pipeline.source]
type = "nats"
stream = "{stream}"
subject = "{stream}.events"
{TYPED_COLUMNS}
"#
        );
    let (dir, store) = project(&definitions).await;
    let cases = cases();
    let messages: Vec<String> = cases
        .iter()
        .enumerate()
        .map(|(id, case)| case.json_row(id as i64).to_string())
        .collect();
    publish(&stream, &messages).await;
    let options = RunOptions {
        until_idle: Some(Duration::from_secs(2)),
        max_events: None,
    };
    run_pipeline(&store, "typed_stream", &options, &NoProgress)
        .await
        .unwrap();
    let letters = std::fs::read_to_string(
        dir.path()
            .join(".sluice/pipelines/typed_stream/dead_letter.ndjson"),
    )
    .unwrap_or_default();
    let mut reasons = BTreeMap::new();
    for line in letters.lines() {
        let letter: serde_json::Value = serde_json::from_str(line).unwrap();
        let payload: serde_json::Value =
            serde_json::from_str(letter["payload"].as_str().unwrap()).unwrap();
        reasons.insert(
            payload["id"].as_i64().unwrap(),
            letter["reason"].as_str().unwrap().to_string(),
        );
    }
    let stored = sluice_testkit::latest_rows(&store, GROUP).await;
    let refusals: Vec<Option<String>> = (0..cases.len() as i64)
        .map(|id| reasons.get(&id).cloned())
        .collect();
    sluice_testkit::coercion::assert_all(&cases, &stored, &refusals);
}

/// The shared typing rules (`sluice_testkit::coercion`) through a PostgreSQL
/// source whose columns are text: each case is one run (a batch run is all
/// or nothing), refused with file ingest's reason or stored as it stores it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_text_columns_follow_the_shared_typing_rules() {
    use sluice_testkit::coercion::{
        cases, group_definition, COLUMNS as TYPED_COLUMNS, GROUP, TS, VALUE_COLUMNS,
    };

    let table = format!("typed_{}", uuid::Uuid::new_v4().simple());
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let pool = sqlx::postgres::PgPoolOptions::new()
        .connect(url)
        .await
        .unwrap();
    let text_columns: Vec<String> = VALUE_COLUMNS.iter().map(|c| format!("{c} TEXT")).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE {table} (id BIGINT NOT NULL, ts TEXT NOT NULL, {})",
        text_columns.join(", ")
    )))
    .execute(&pool)
    .await
    .unwrap();
    let cases = cases();
    let mut definitions = group_definition();
    for (id, case) in cases.iter().enumerate() {
        let column = case.column;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO {table} (id, ts, {column}) VALUES ($1, $2, $3)"
        )))
        .bind(id as i64)
        .bind(TS)
        .bind(case.csv_field())
        .execute(&pool)
        .await
        .unwrap();
        definitions.push_str(&format!(
            "\n[[pipeline]]\nname = \"case_{id}\"\nkind = \"feature\"\nsink = \"{GROUP}\"\n[pipeline.source]\ntype = \"postgres\"\nurl = \"{url}\"\nquery = \"SELECT * FROM {table} WHERE id = {id}\"\n{TYPED_COLUMNS}\n"
        ));
    }
    let (_dir, store) = project(&definitions).await;
    let mut refusals = Vec::new();
    for id in 0..cases.len() {
        let outcome = run_pipeline(
            &store,
            &format!("case_{id}"),
            &RunOptions::default(),
            &NoProgress,
        )
        .await;
        refusals.push(outcome.err().map(|e| e.to_string()));
    }
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {table}")))
        .execute(&pool)
        .await
        .unwrap();
    let stored = sluice_testkit::latest_rows(&store, GROUP).await;
    sluice_testkit::coercion::assert_all(&cases, &stored, &refusals);
}
