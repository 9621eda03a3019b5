//! `sluice bench stream`: events published to NATS JetStream at a fixed
//! rate while a streaming feature pipeline (window aggregations) consumes
//! them; reports event-to-online-store latency and sustained throughput,
//! with a bare JetStream consumer draining the same stream as the anchor.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer, stream};
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_pipelines::{run_pipeline, Freshness, RunOptions};

use crate::args::StreamBenchArgs;
use crate::ingest::bench_project;
use crate::print_json;

const DEFINITIONS: &str = r#"
[[feature_group]]
name = "card_activity"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount_count_1h", type = "int64" },
  { name = "amount_sum_1h", type = "float64", nullable = true },
  { name = "amount_mean_1h", type = "float64", nullable = true },
  { name = "amount_max_1h", type = "float64", nullable = true },
  { name = "amount_count_1d", type = "int64" },
  { name = "amount_sum_1d", type = "float64", nullable = true },
  { name = "amount_mean_1d", type = "float64", nullable = true },
  { name = "amount_max_1d", type = "float64", nullable = true },
  { name = "time_since_last", type = "float64", nullable = true },
]

[[pipeline]]
name = "card_activity_stream"
kind = "feature"
sink = "card_activity"
[pipeline.source]
type = "nats"
url = "NATS_URL"
stream = "STREAM"
subject = "STREAM.tx"
commit_interval = "5s"
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount", type = "float64" },
]
[pipeline.aggregate]
keys = ["card_id"]
event_time = "ts"
allowed_lateness = "10s"
features = [
  { column = "amount", functions = ["count", "sum", "mean", "max"], windows = ["1h", "1d"] },
  { function = "time_since_last" },
]
"#;

#[derive(Serialize)]
struct Report {
    offered_rate: u64,
    published: u64,
    consumed: u64,
    /// Events consumed per second, from the first publish to the last event processed.
    sustained_rate: f64,
    freshness: Option<Freshness>,
    offline_commits_to: Option<u64>,
    /// Anchor: a bare JetStream consumer draining the same messages.
    bare_consumer_rate: f64,
    ratio_to_bare_consumer: f64,
}

pub async fn run(args: &StreamBenchArgs) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let dir = bench_project(args.dir.as_deref(), &temp)?;
    std::fs::remove_file(dir.join("features/example.toml"))?;
    let stream_name = format!("BENCH{}", uuid::Uuid::new_v4().simple());
    std::fs::write(
        dir.join("features/bench.toml"),
        DEFINITIONS
            .replace("NATS_URL", &args.nats)
            .replace("STREAM", &stream_name),
    )?;
    let store = FeatureStore::open(&dir).await?;
    store.apply(&store.plan().await?).await?;

    let client = async_nats::connect(&args.nats)
        .await
        .with_context(|| format!("cannot connect to {}", args.nats))?;
    let js = jetstream::new(client.clone());
    let subject = format!("{stream_name}.tx");
    let nats_stream = js
        .get_or_create_stream(stream::Config {
            name: stream_name.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await?;
    eprintln!(
        "bench: publishing {} events/s for {} s to {subject}",
        args.rate, args.seconds
    );

    // The runner and the publisher share this task: the run is not `Send`.
    let runner = async {
        let options = RunOptions {
            until_idle: Some(Duration::from_secs(3)),
            max_events: None,
        };
        anyhow::Ok(run_pipeline(&store, "card_activity_stream", &options, &NoProgress).await?)
    };
    let publisher = async {
        // Give the runner a moment to create its consumer before the clock starts.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let started = Instant::now();
        let published = publish(&client, &subject, args).await?;
        anyhow::Ok((started, published))
    };
    let (summary, published) = tokio::join!(runner, publisher);
    let (summary, (publish_started, published)) = (summary?, published?);
    // The runner stops 3 s after its last message; that wait is not work.
    let busy = publish_started.elapsed().as_secs_f64() - 3.0;

    let bare_rate = drain_bare(&nats_stream, published).await?;
    let report = Report {
        offered_rate: args.rate,
        published,
        consumed: summary.rows_in,
        sustained_rate: summary.rows_in as f64 / busy.max(0.001),
        freshness: summary.freshness,
        offline_commits_to: summary.offline_version,
        bare_consumer_rate: bare_rate,
        ratio_to_bare_consumer: args.rate as f64 / bare_rate,
    };
    js.delete_stream(&stream_name).await.ok();
    if args.json.json {
        return print_json(&report);
    }
    println!(
        "published {} events at {} events/s; the pipeline consumed {} ({:.0} events/s sustained)",
        report.published, report.offered_rate, report.consumed, report.sustained_rate
    );
    if let Some(f) = report.freshness {
        println!(
            "event -> online store: p50 {:.1} ms  p99 {:.1} ms  max {:.1} ms (goal p99 <= 100 ms)",
            f.p50_ms, f.p99_ms, f.max_ms
        );
    }
    println!(
        "anchor: a bare JetStream consumer drains {:.0} events/s; the offered rate is {:.2} of it",
        report.bare_consumer_rate, report.ratio_to_bare_consumer
    );
    Ok(())
}

/// Publishes at `args.rate` in 1 ms ticks: events with the current time,
/// random cards and amounts; core NATS publishes, stored by the stream.
async fn publish(
    client: &async_nats::Client,
    subject: &str,
    args: &StreamBenchArgs,
) -> Result<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(42);
    let started = Instant::now();
    let end = Duration::from_secs(args.seconds);
    let mut sent = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    while started.elapsed() < end {
        tick.tick().await;
        let due = (started.elapsed().as_secs_f64() * args.rate as f64) as u64;
        while sent < due {
            let ts = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            let payload = format!(
                r#"{{"card_id":{},"ts":"{ts}","amount":{:.2}}}"#,
                rng.random_range(0..args.keys),
                rng.random_range(1.0..500.0f64)
            );
            client.publish(subject.to_string(), payload.into()).await?;
            sent += 1;
        }
    }
    client.flush().await?;
    Ok(sent)
}

/// Reads every stored message with a plain pull consumer and no processing.
async fn drain_bare(stream: &stream::Stream, expected: u64) -> Result<f64> {
    let consumer: consumer::PullConsumer = stream
        .create_consumer(consumer::pull::Config {
            ack_policy: consumer::AckPolicy::None,
            ..Default::default()
        })
        .await?;
    let mut messages = consumer.messages().await?;
    let started = Instant::now();
    let mut read = 0u64;
    while read < expected {
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(message)) => {
                message.map_err(|e| anyhow::anyhow!("{e}"))?;
                read += 1;
            }
            _ => break,
        }
    }
    Ok(read as f64 / started.elapsed().as_secs_f64())
}
