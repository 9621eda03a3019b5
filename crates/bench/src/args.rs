//! Every benchmark and its flags, defined once; `--help` comes from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "sluice-bench",
    version,
    about = "Measure Sluice against its anchors (see BENCHMARKS.md)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub what: BenchWhat,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Json {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum BenchWhat {
    /// Ingest rows/s and online lookups against in-process anchors.
    Ingest(BenchArgs),
    /// What statistics and expectations add to an ingest (against the same ingest without them).
    Quality(QualityBenchArgs),
    /// Time the point-in-time join of Parquet files (bench/pit_join.py runs DuckDB beside it).
    Join(JoinBenchArgs),
    /// Time batch window aggregations over a Parquet file (bench/window_agg.py runs DuckDB beside it).
    Aggregate(AggregateBenchArgs),
    /// Publish to NATS JetStream at a fixed rate while a streaming pipeline runs; event-to-online latency.
    Stream(StreamBenchArgs),
    /// Load the online server with wrk: feature vectors (1 and 100 keys x 50 features) and GBDT predictions.
    Serve(ServeBenchArgs),
}

#[derive(Debug, Args)]
pub struct QualityBenchArgs {
    /// Rows to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Rounds of the two ingests; the report gives each one's median.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: u64,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct ServeBenchArgs {
    /// Keys in the online store.
    #[arg(long, default_value_t = 100_000)]
    pub keys: i64,
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// wrk runs per scenario and connection count; the report gives their
    /// medians (one run's p99 moves with whatever else the machine does).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeats: u64,
    /// Connections of the throughput runs (each scenario also runs with 1).
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Where to build the benchmark project (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// How often the server commits its prediction log (as `[server] log_flush`).
    #[arg(long, default_value = "1s")]
    pub log_flush: String,
    /// Fixed rates (requests/s) at which 1-key vectors are also sent, open
    /// loop over 8 connections.
    #[arg(long, value_delimiter = ',', default_value = "5000,10000,15000,20000")]
    pub rates: Vec<u64>,
    /// Keep the server to the first half of the cores and every load client
    /// to the rest, so that client and server never wait for the same core.
    #[arg(long)]
    pub pin: bool,
    /// Keep every core from idling with a spinner at the lowest priority
    /// (SCHED_IDLE), which yields to any other thread: on a VM, waking an
    /// idle virtual CPU can take milliseconds, and this shows how much of a
    /// latency tail is that.
    #[arg(long)]
    pub keep_awake: bool,
    /// The server's threads (as `[server] workers`; default: one per core
    /// it runs on).
    #[arg(long)]
    pub workers: Option<std::num::NonZeroUsize>,
    /// Run the server's workers at this real-time priority, as `[server]
    /// realtime_priority`; the in-repo load clients then run one above it,
    /// so that they send on time (wrk stays at normal priority).
    #[arg(long)]
    pub realtime_priority: Option<sluice_types::RealtimePriority>,
    /// Which loads to run: `closed` (one connection, the in-repo client),
    /// `wrk` (--connections, as fast as they go), `open` (the --rates),
    /// `overload` (ten times max_in_flight connections of 1,000-key requests).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "closed,wrk,open,overload"
    )]
    pub loads: Vec<LoadKind>,
    #[command(flatten)]
    pub json: Json,
}

/// A kind of load `bench serve` drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LoadKind {
    Closed,
    Wrk,
    Open,
    /// Ten times `max_in_flight` connections of many-key requests: 503s,
    /// the admitted requests' p99 and the process's peak memory.
    Overload,
}

#[derive(Debug, Args)]
pub struct StreamBenchArgs {
    /// Events published per second.
    #[arg(long, default_value_t = 20_000)]
    pub rate: u64,
    /// How long to publish.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// Distinct cards.
    #[arg(long, default_value_t = 20_000)]
    pub keys: i64,
    /// The NATS server.
    #[arg(long, default_value = "nats://127.0.0.1:4222")]
    pub nats: String,
    /// Where to build the benchmark project (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct AggregateBenchArgs {
    /// Events: a key column, a time column and a numeric column.
    #[arg(long)]
    pub input: PathBuf,
    #[arg(long, default_value = "k")]
    pub key: String,
    #[arg(long, default_value = "ts")]
    pub time: String,
    #[arg(long, default_value = "amount")]
    pub column: String,
    /// Windows, comma-separated; each gets count, sum, mean and max.
    #[arg(long, default_value = "10m,1h,1d,7d,30d")]
    pub windows: String,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct JoinBenchArgs {
    /// The spine: key and time columns, plus anything else (kept as is).
    #[arg(long)]
    pub spine: PathBuf,
    /// A feature table; every column other than the key and time is joined. Repeat for several.
    #[arg(long = "features", required = true)]
    pub features: Vec<PathBuf>,
    /// The key column, same name in every file.
    #[arg(long, default_value = "k")]
    pub key: String,
    /// The time column, same name in every file.
    #[arg(long, default_value = "ts")]
    pub time: String,
    #[command(flatten)]
    pub json: Json,
}

#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Rows to ingest.
    #[arg(long, default_value_t = 1_000_000)]
    pub rows: usize,
    /// Single-key online lookups to time.
    #[arg(long, default_value_t = 100_000)]
    pub lookups: usize,
    /// Where to build the benchmark project (default: a temporary directory).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    #[command(flatten)]
    pub json: Json,
}
