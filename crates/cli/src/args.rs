//! Every command and flag, defined once; `--help` comes from here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "sluice",
    version,
    about = "Feature store and ML pipelines in one binary"
)]
pub struct Cli {
    /// The project directory (holds sluice.toml and features/).
    #[arg(long, global = true, env = "SLUICE_PROJECT", default_value = ".")]
    pub project: PathBuf,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a project: sluice.toml and a commented example under features/.
    Init {
        /// Where to create it (default: the --project directory).
        dir: Option<PathBuf>,
    },
    /// Register the definitions in features/*.toml, showing the plan first.
    Apply {
        /// Show the plan without applying it.
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        json: Json,
    },
    /// Write files (CSV, Parquet, NDJSON) into a feature group: one offline commit, then the online store.
    Ingest {
        /// NAME[:VERSION] (latest version when omitted).
        feature_group: String,
        /// Input files; the format comes from the extension (.csv, .parquet, .ndjson/.jsonl).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Read a feature group's offline rows, now or at an earlier state.
    ///
    /// The printed table cuts values longer than 60 characters short (they
    /// end in …); --out and --json keep every value whole. --json prints the
    /// feature group, the commit read and the rows as objects in column order
    /// (timestamps as RFC 3339 text); with --out, what was written.
    Read {
        feature_group: String,
        /// The state of the newest commit made at or before this time (RFC
        /// 3339, e.g. 2026-11-28T12:00:00Z; `sluice show` lists commit times).
        /// A time before the first commit is an error.
        #[arg(long, conflicts_with = "commit")]
        as_of: Option<String>,
        /// The state right after this offline commit version.
        #[arg(long)]
        commit: Option<u64>,
        /// At most this many rows (the printed table shows 20 by default; --out and --json, all).
        #[arg(long)]
        limit: Option<usize>,
        /// Write the rows to a .parquet or .csv file instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Look keys up in the online store: each feature's value and PRESENT / MISSING / EXPIRED.
    Lookup {
        feature_group: String,
        /// KEY=VALUE for each primary-key column; repeat a column (or use KEY=V1,V2) for several keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Delete keys from both stores (a new offline commit; history stays readable).
    Delete {
        feature_group: String,
        /// KEY=VALUE for each primary-key column; repeat a column (or use KEY=V1,V2) for several keys.
        #[arg(required = true)]
        keys: Vec<String>,
        #[command(flatten)]
        json: Json,
    },
    /// A feature view's features as of each row of a spine file, or for keys as of one time
    /// (batch data for inference).
    Features {
        /// NAME[:VERSION] of the feature view.
        feature_view: String,
        /// The spine: the view's key columns and a time column (CSV, Parquet or NDJSON).
        #[arg(long, required_unless_present = "as_of", conflicts_with = "as_of")]
        spine: Option<PathBuf>,
        /// Instead of a spine: the features of KEYS as of this time (RFC 3339).
        #[arg(long, requires = "keys")]
        as_of: Option<String>,
        /// With --as-of: KEY=VALUE for each of the view's key columns; repeat (or KEY=V1,V2) for several.
        keys: Vec<String>,
        /// The spine's time column (default: the event time of the view's spine group).
        #[arg(long)]
        time: Option<String>,
        /// Write the rows to a .parquet or .csv file instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Training datasets of a feature view: create, read, recreate.
    TrainingData {
        #[command(subcommand)]
        action: TrainingDataAction,
    },
    /// Run a pipeline defined under features/ ([[pipeline]]); the run is recorded in the catalog.
    ///
    /// Feature pipelines with batch sources (files, PostgreSQL) read what is new
    /// and end; a NATS source consumes until SIGINT/SIGTERM, --until-idle or
    /// --max-events. Training and batch-inference pipelines train or predict
    /// once; a chain runs its steps in order and stops at the first failure.
    Run {
        pipeline: String,
        /// Streaming: stop after this long without a new message (e.g. 5s).
        #[arg(long, value_parser = humantime::parse_duration)]
        until_idle: Option<std::time::Duration>,
        /// Streaming: stop after consuming this many messages.
        #[arg(long)]
        max_events: Option<u64>,
        #[command(flatten)]
        json: Json,
    },
    /// Train a model on a training dataset and register it with its metrics and lineage.
    Train {
        /// NAME[:VERSION] of the feature view.
        feature_view: String,
        /// The training dataset (its number; see `sluice list training-datasets`).
        #[arg(long)]
        td: u32,
        /// logistic_regression, linear_regression, gbdt_classifier or gbdt_regressor.
        #[arg(long)]
        algorithm: String,
        /// Hyperparameter K=V (repeat): l2, max_iterations; rounds, learning_rate,
        /// max_depth, min_samples_leaf, max_bins, early_stopping_rounds.
        #[arg(long = "param")]
        params: Vec<String>,
        /// The registered model's name; each training adds a version.
        #[arg(long)]
        model: String,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        json: Json,
    },
    /// Batch inference: a model's predictions for the rows of a spine file, for
    /// keys as of a time, or for the view's spine-group rows in a time range.
    Predict {
        /// NAME (latest version), NAME:VERSION or NAME@ALIAS.
        model: String,
        /// A spine file: the view's key columns and a time column (CSV, Parquet or NDJSON).
        #[arg(long, conflicts_with_all = ["as_of", "start", "end"])]
        spine: Option<PathBuf>,
        /// Predict for KEYS as of this time (RFC 3339).
        #[arg(long, requires = "keys", conflicts_with_all = ["start", "end"])]
        as_of: Option<String>,
        /// With --as-of: KEY=VALUE for each of the view's key columns; repeat (or KEY=V1,V2) for several.
        keys: Vec<String>,
        /// The view's spine-group rows with event time at or after this (RFC 3339).
        #[arg(long)]
        start: Option<String>,
        /// ... and before this.
        #[arg(long)]
        end: Option<String>,
        /// The spine file's time column (default: the event time of the view's spine group).
        #[arg(long)]
        time: Option<String>,
        /// Write the predictions to a .parquet or .csv file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Append the predictions to this feature group (NAME[:VERSION]), created on first use.
        #[arg(long)]
        to_feature_group: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Serve feature vectors and predictions over HTTP (Open Inference Protocol / KServe v2),
    /// and feature data over Arrow Flight and Flight SQL.
    ///
    /// Serves every model with an alias and those listed under [server] models in
    /// sluice.toml; logs each prediction to the feature group MODEL_log.
    Serve {
        /// The port (default: [server] port in sluice.toml, else 8080; 0 picks a free one).
        #[arg(long)]
        port: Option<u16>,
        /// The Arrow Flight / Flight SQL port (default: [server] flight_port in
        /// sluice.toml, else 8815; 0 turns Flight off).
        #[arg(long)]
        flight_port: Option<u16>,
        /// The address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Threads serving requests (default: [server] workers in sluice.toml,
        /// else one per core).
        #[arg(long)]
        workers: Option<std::num::NonZeroUsize>,
        /// Run the serving threads at this real-time priority, 1-99 (Linux
        /// SCHED_RR; default: [server] realtime_priority, else the normal
        /// scheduler). They then run ahead of every normal thread on their
        /// cores; needs CAP_SYS_NICE or `ulimit -r`.
        #[arg(long)]
        realtime_priority: Option<sluice_types::RealtimePriority>,
    },
    /// Compare the feature values the server logged with its predictions against
    /// the offline store's point-in-time answer at each request's time.
    SkewCheck {
        /// NAME (latest version), NAME:VERSION or NAME@ALIAS.
        model: String,
        /// Requests logged at or after this time (RFC 3339).
        #[arg(long)]
        from: Option<String>,
        /// ... and before this.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Drift monitors ([[monitor]] definitions): run one, or list its results.
    Monitor {
        #[command(subcommand)]
        action: MonitorAction,
    },
    /// The model registry: list, show, alias, best.
    Models {
        #[command(subcommand)]
        action: ModelsAction,
    },
    /// List registered objects, or pipeline runs.
    List {
        what: ListWhat,
        /// With `runs`: only this pipeline's.
        #[arg(long)]
        pipeline: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Show a feature group: schema, commits, row count; or, with
    /// --validation, the validation reports of its recent writes.
    Show {
        feature_group: String,
        /// List the newest validation reports (passed, warned, rejected) instead.
        #[arg(long)]
        validation: bool,
        /// How many reports --validation lists.
        #[arg(long, default_value_t = 10, requires = "validation")]
        limit: usize,
        #[command(flatten)]
        json: Json,
    },
    /// Statistics of the rows a feature group's commits wrote: count, nulls,
    /// min, max, mean, stddev, quantiles, distinct values, top values.
    ///
    /// The newest commit's by default; --commit N for one commit; --start
    /// and/or --end (RFC 3339) for every commit made in that range, merged.
    Stats {
        /// NAME[:VERSION] (latest version when omitted).
        feature_group: String,
        /// One offline commit (`sluice show` lists them).
        #[arg(long, conflicts_with_all = ["start", "end"])]
        commit: Option<u64>,
        /// Commits made at or after this time.
        #[arg(long)]
        start: Option<String>,
        /// Commits made before this time.
        #[arg(long)]
        end: Option<String>,
        #[command(flatten)]
        json: Json,
    },
    /// Check files against a feature group's expectations without writing
    /// anything (a dry run of ingest's validation, whatever the group's
    /// policy). Exits 1 when an expectation fails.
    Validate {
        /// NAME[:VERSION] (latest version when omitted).
        feature_group: String,
        /// Input files, as for ingest.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// The whole loop on the embedded stores: feature pipelines, training data,
    /// two models, batch inference and the online server, on generated card data.
    Quickstart {
        /// Where to create the demo project.
        #[arg(long, default_value = "sluice-quickstart")]
        dir: PathBuf,
        /// Generated card transactions (about 0.5% fraud).
        #[arg(long, default_value_t = 1_000_000)]
        transactions: usize,
        /// Distinct cards.
        #[arg(long, default_value_t = 20_000)]
        cards: i64,
        /// Replace an earlier quickstart in --dir.
        #[arg(long)]
        force: bool,
    },
    /// Write a seeded, transactions-like data set (the quickstart's and benchmarks' data).
    Generate(GenerateArgs),
}

#[derive(Debug, Clone, Copy, Args)]
pub struct Json {
    /// Print one JSON document on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ListWhat {
    FeatureGroups,
    FeatureViews,
    TrainingDatasets,
    Models,
    Runs,
}

#[derive(Debug, Subcommand)]
pub enum MonitorAction {
    /// Compare the detection window with the reference now and keep the
    /// result. Exits 3 when any feature crosses a threshold (for cron and CI).
    Run {
        /// The monitor's name.
        name: String,
        #[command(flatten)]
        json: Json,
    },
    /// The newest results of a monitor, newest first.
    Show {
        /// The monitor's name.
        name: String,
        /// How many results to list.
        #[arg(long, default_value_t = 10)]
        limit: usize,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Every model version with its algorithm, main metric and aliases.
    List {
        #[command(flatten)]
        json: Json,
    },
    /// One model version: NAME (latest), NAME:VERSION or NAME@ALIAS.
    Show {
        model: String,
        #[command(flatten)]
        json: Json,
    },
    /// Point NAME@ALIAS at VERSION (e.g. `sluice models alias fraud@production 3`).
    Alias {
        alias: String,
        version: u32,
        #[command(flatten)]
        json: Json,
    },
    /// Register a model trained elsewhere (scikit-learn, XGBoost, LightGBM
    /// exported to ONNX) against a training dataset of a feature view. It
    /// must take the view's transformed features in the view's order (see
    /// `sluice models show` of any model trained on the view for the list);
    /// it is scored on the dataset's test split before it is registered.
    Import {
        /// The registered model's name; each import adds a version.
        model: String,
        /// The ONNX file.
        #[arg(long)]
        onnx: PathBuf,
        /// NAME[:VERSION] of the feature view.
        #[arg(long)]
        feature_view: String,
        /// The training dataset whose train split fits the view's transforms.
        #[arg(long)]
        td: u32,
        /// The model output to read (default: `probabilities`, else its only output).
        #[arg(long)]
        output: Option<String>,
        #[arg(long, default_value = "")]
        description: String,
        #[command(flatten)]
        json: Json,
    },
    /// The version with the best value of a metric (highest; lowest with --lowest).
    Best {
        model: String,
        #[arg(long)]
        metric: String,
        #[arg(long)]
        lowest: bool,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Subcommand)]
pub enum TrainingDataAction {
    /// Join the view's features onto its spine as of each row, split, write Parquet and record it; prints the version.
    Create {
        feature_view: String,
        /// Spine rows at or after this time (RFC 3339).
        #[arg(long)]
        start: Option<String>,
        /// Spine rows before this time (RFC 3339).
        #[arg(long)]
        end: Option<String>,
        /// random:FRACTION:SEED or time:TRAIN_END[,TEST_START]; one split named `all` when omitted.
        #[arg(long)]
        split: Option<String>,
        /// Take the spine rows (keys, the spine group's event time, request values,
        /// labels) from this CSV, Parquet or NDJSON file instead of the spine group.
        #[arg(long)]
        spine: Option<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Read one split of a training dataset.
    ///
    /// The printed table cuts values longer than 60 characters short (they
    /// end in …); --out and --json keep every value whole. --json prints the
    /// split's rows as objects (timestamps as RFC 3339 text); with --out,
    /// what was written.
    Read {
        feature_view: String,
        /// The training dataset's version.
        td: u32,
        /// train, test or all (default: the first split).
        #[arg(long)]
        split: Option<String>,
        /// Write the rows to a .parquet or .csv file instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        json: Json,
    },
    /// Rebuild a training dataset from the commits it recorded and check it is identical.
    Recreate {
        feature_view: String,
        td: u32,
        #[command(flatten)]
        json: Json,
    },
    /// Statistics of a training dataset's splits, kept when it was made (as `sluice stats`).
    Stats {
        feature_view: String,
        /// The training dataset's version.
        td: u32,
        /// Only this split (default: every split).
        #[arg(long)]
        split: Option<String>,
        #[command(flatten)]
        json: Json,
    },
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output file; .csv, .parquet or .ndjson. With --fraud, a folder.
    #[arg(long)]
    pub out: PathBuf,
    /// The quickstart's card data instead: OUT/transactions.parquet (--rows
    /// transactions over 60 days ending an hour ago, ~0.5% fraud) and
    /// OUT/cards.csv (--keys cards, default 20000).
    #[arg(long)]
    pub fraud: bool,
    #[arg(long, default_value_t = 100_000)]
    pub rows: usize,
    /// Distinct keys (default: rows / 8).
    #[arg(long)]
    pub keys: Option<i64>,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// When the events end: RFC 3339, or `now` for data that an online
    /// lookup with a TTL finds PRESENT. Default: events one second apart
    /// from 2024-01-01T00:00:00Z, the same file on every run (with --fraud:
    /// an hour ago).
    #[arg(long)]
    pub end: Option<String>,
}
