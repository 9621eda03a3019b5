//! `bench serve`: the online server under load on loopback.
//!
//! A project with one online group of 50 float features over many keys, a
//! feature view over it, and a 100-tree GBDT trained on it; the server runs
//! in this process. Scenarios: feature vectors for 1 key and for 100 keys,
//! and a prediction for 1 key; one connection driven by the in-repo
//! closed-loop client (`load_client`), many connections by `wrk`, and 1 key
//! also at fixed rates by the client's open loop (`--rates`). Anchors:
//! the same lookups called in-process (no HTTP, no JSON), timed on the same
//! store first, and the HTTP floor: `GET /health` through the same client.
//! The server runs on a runtime of its own (`--workers` threads, as
//! `sluice serve`); with `--pin` it is kept to the first half of the cores
//! and every client to the rest; with `--keep-awake` no core
//! idles (`bench_cores`).

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use arrow::array::{ArrayRef, Int64Array, RecordBatch};
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use sluice_featurestore::FeatureStore;
use sluice_types::config::ServerConfig;
use sluice_types::{NameRef, RealtimePriority};

use crate::args::{LoadKind, ServeBenchArgs};
use crate::cores::{core_list, pin_current_thread, CoreSplit, KeepAwake};
use crate::ingest::{bench_project, percentiles};
use crate::load_client::{closed_loop, open_loop, render, ClientRun};
use crate::overload::{overload_run, OverloadFigures, OVERLOAD_FACTOR};
use crate::print_json;
use crate::requests::{bodies, lua_script, wrk};
use crate::serve_project::{build_model, definitions, FEATURES};
use sluice_server::runtime::{available_cores, set_current_thread_realtime, ServerRuntime};

/// Keys per request in the overload run, as in the trial that found the server queueing without bound.
const OVERLOAD_KEYS: usize = 1_000;

#[derive(Debug, Serialize)]
struct Scenario {
    name: String,
    connections: u32,
    /// `sluice` (the in-repo one-connection client), `wrk`, or `open` (the
    /// in-repo client at a fixed rate; latency counted from each request's
    /// scheduled time).
    client: &'static str,
    /// Medians over the repeated runs.
    requests_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    /// Each run's p99: how much one run's tail moves on this machine.
    p99_runs_us: Vec<f64>,
    /// The in-process call the request wraps (no HTTP, no JSON).
    anchor_p50_us: f64,
    anchor_p99_us: f64,
    p99_vs_anchor: f64,
    /// Predictions only: rows the prediction log dropped during the run
    /// because its queue was full.
    log_dropped: Option<u64>,
    /// Open loop only, the median over the runs of each run's p99 of how
    /// late the client sent (the latencies include it).
    send_lag_p99_us: Option<f64>,
}

#[derive(Debug, Serialize)]
struct Report {
    keys: i64,
    features: usize,
    trees: usize,
    seconds: u64,
    repeats: u64,
    /// `GET /health` through the one-connection client: what any route costs
    /// on this machine before it does any work (medians of the runs).
    http_floor_p50_us: f64,
    http_floor_p99_us: f64,
    /// With `--pin`: the cores the server and the clients were kept to.
    pinned: Option<CoreSplit>,
    /// With `--keep-awake`: no core was let idle.
    kept_awake: bool,
    /// The server runtime's worker threads.
    workers: usize,
    /// With `--realtime-priority`: the workers' SCHED_RR priority.
    realtime_priority: Option<u8>,
    /// ... and the in-repo load clients' (one above; wrk stays normal).
    client_realtime_priority: Option<u8>,
    scenarios: Vec<Scenario>,
    /// With `--loads overload`.
    #[serde(skip_serializing_if = "Option::is_none")]
    overload: Option<OverloadFigures>,
}

pub async fn run(args: &ServeBenchArgs) -> Result<()> {
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("bench serve needs wrk on the PATH (Debian: apt-get install wrk)");
    }
    let temp = tempfile::tempdir()?;
    let dir = bench_project(args.dir.as_deref(), &temp)?;
    std::fs::write(dir.join("features/example.toml"), definitions())?;
    let store = FeatureStore::open(&dir).await?;
    store.apply(&store.plan().await?).await?;
    eprintln!("bench serve: {} keys x {FEATURES} features", args.keys);
    let trees = build_model(&store, args.keys).await?;
    let store = Arc::new(store);

    let view = store
        .feature_view(&NameRef::parse("wide:1")?)
        .await?
        .resolved();
    let awake = if args.keep_awake {
        Some(KeepAwake::start().context("--keep-awake")?)
    } else {
        None
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut anchor = Vec::new();
    for batch in [1usize, 100] {
        let mut samples = Vec::with_capacity(5_000);
        for _ in 0..5_000 {
            let ids: Vec<i64> = (0..batch).map(|_| rng.random_range(0..args.keys)).collect();
            let keys = RecordBatch::try_from_iter([(
                "card_id",
                Arc::new(Int64Array::from(ids)) as ArrayRef,
            )])?;
            let started = Instant::now();
            store.online_vectors(&view, &keys, None, Utc::now()).await?;
            samples.push(started.elapsed());
        }
        anchor.push(percentiles(&mut samples));
    }

    let config = ServerConfig {
        refresh: "5s".into(),
        log_flush: args.log_flush.clone(),
        workers: args.workers,
        realtime_priority: args.realtime_priority,
        ..ServerConfig::default()
    };
    let pinned = if args.pin {
        Some(CoreSplit::halves().context("--pin")?)
    } else {
        None
    };
    let server_cores = pinned.as_ref().map(|split| split.server.as_slice());
    let workers = config.worker_threads(server_cores.map_or_else(available_cores, <[usize]>::len));
    let overload_limit = config.max_in_flight(workers);
    let server_runtime = ServerRuntime::start(workers, server_cores, config.realtime_priority)?;
    let server = server_runtime
        .handle()
        .spawn(sluice_server::start(
            store.clone(),
            config,
            SocketAddr::from(([127, 0, 0, 1], 0)),
            None,
        ))
        .await??;
    let clients = ClientThread {
        cores: pinned.as_ref().map(|split| split.client.clone()),
        realtime: args.realtime_priority.map(RealtimePriority::one_above),
    };
    let base = format!("http://{}", server.addr);
    let mut floor_runs = Vec::with_capacity(args.repeats as usize);
    for _ in 0..args.repeats {
        floor_runs.push(
            client_run(
                server.addr,
                vec![render("GET", "/health", b"")],
                args.seconds,
                clients.clone(),
            )
            .await?,
        );
    }
    let floor_p50 = median(floor_runs.iter().map(|r| r.p50));
    let floor_p99 = median(floor_runs.iter().map(|r| r.p99));
    eprintln!(
        "  HTTP floor (GET /health)   1 conn  p50 {:>7.1} us  p99 {:>7.1} us",
        floor_p50 * 1e6,
        floor_p99 * 1e6
    );
    let scripts = temp.path().join("scripts");
    std::fs::create_dir_all(&scripts)?;
    let cases = [
        (
            "vectors 1 key x 50",
            "/v1/feature-views/wide/1/vectors",
            1usize,
            false,
            anchor[0],
        ),
        (
            "vectors 100 keys x 50",
            "/v1/feature-views/wide/1/vectors",
            100,
            false,
            anchor[1],
        ),
        (
            "predict 1 key, GBDT",
            "/v2/models/wide/infer",
            1,
            true,
            anchor[0],
        ),
    ];
    let mut scenarios = Vec::new();
    for (name, path, batch, infer, (anchor_p50, anchor_p99)) in cases {
        let script = scripts.join(format!("{}.lua", scenarios.len()));
        let texts = bodies(args.keys, batch, infer);
        std::fs::write(&script, lua_script(&texts))?;
        let requests: Vec<Vec<u8>> = texts
            .iter()
            .map(|body| render("POST", path, body.as_bytes()))
            .collect();
        let mut loads = Vec::new();
        if args.loads.contains(&LoadKind::Closed) {
            loads.push(Load::Closed);
        }
        if args.loads.contains(&LoadKind::Wrk) {
            loads.push(Load::Wrk(args.connections));
        }
        if batch == 1 && !infer && args.loads.contains(&LoadKind::Open) {
            loads.extend(args.rates.iter().map(|&rate| Load::Open(rate)));
        }
        for load in loads {
            let (name, connections, client) = match load {
                Load::Closed => (name.to_string(), 1, "sluice"),
                Load::Wrk(connections) => (name.to_string(), connections, "wrk"),
                Load::Open(rate) => (format!("{name} @ {rate}/s"), OPEN_LOOP_CONNECTIONS, "open"),
            };
            let dropped_before = log_dropped(&base).await?;
            let mut runs = Vec::with_capacity(args.repeats as usize);
            for _ in 0..args.repeats {
                let run = match load {
                    Load::Closed => {
                        let run = client_run(
                            server.addr,
                            requests.clone(),
                            args.seconds,
                            clients.clone(),
                        )
                        .await?;
                        RunFigures::from(run)
                    }
                    Load::Wrk(connections) => {
                        let (url, script, seconds) =
                            (format!("{base}{path}"), script.clone(), args.seconds);
                        let (rate, p50, p99) = on_client_thread(clients.clone(), move || {
                            wrk(&url, &script, connections, seconds)
                        })
                        .await?;
                        RunFigures {
                            requests_per_s: rate,
                            p50,
                            p99,
                            send_lag_p99: None,
                        }
                    }
                    Load::Open(rate) => {
                        let run = open_run(
                            server.addr,
                            requests.clone(),
                            rate,
                            args.seconds,
                            clients.clone(),
                        )
                        .await?;
                        RunFigures::from(run)
                    }
                };
                eprintln!(
                    "  {name:<32} {connections:>3} conn  {:>9.0} req/s  p50 {:>7.1} us  p99 {:>7.1} us{}",
                    run.requests_per_s,
                    run.p50 * 1e6,
                    run.p99 * 1e6,
                    run.send_lag_p99.map_or(String::new(), |lag| format!("  send lag p99 {:.1} us", lag * 1e6))
                );
                runs.push(run);
            }
            let log_dropped = if infer {
                Some(log_dropped(&base).await? - dropped_before)
            } else {
                None
            };
            let (rate, p50, p99) = (
                median(runs.iter().map(|r| r.requests_per_s)),
                median(runs.iter().map(|r| r.p50)),
                median(runs.iter().map(|r| r.p99)),
            );
            scenarios.push(Scenario {
                name,
                connections,
                client,
                requests_per_s: rate,
                p50_us: p50 * 1e6,
                p99_us: p99 * 1e6,
                p99_runs_us: runs.iter().map(|r| r.p99 * 1e6).collect(),
                anchor_p50_us: anchor_p50.as_secs_f64() * 1e6,
                anchor_p99_us: anchor_p99.as_secs_f64() * 1e6,
                p99_vs_anchor: p99 / anchor_p99.as_secs_f64(),
                log_dropped,
                send_lag_p99_us: runs
                    .iter()
                    .map(|r| r.send_lag_p99)
                    .collect::<Option<Vec<f64>>>()
                    .map(|lags| median(lags.into_iter()) * 1e6),
            });
        }
    }
    let overload = if args.loads.contains(&LoadKind::Overload) {
        let max_in_flight = overload_limit;
        let requests: Vec<Vec<u8>> = bodies(args.keys, OVERLOAD_KEYS, false)
            .iter()
            .map(|body| render("POST", "/v1/feature-views/wide/1/vectors", body.as_bytes()))
            .collect();
        let figures = overload_run(
            server.addr,
            requests,
            OVERLOAD_FACTOR * max_in_flight,
            OVERLOAD_KEYS,
            max_in_flight,
            args.seconds as f64,
        )
        .await?;
        eprintln!(
            "  overload: {} conn x {} keys  {:.0} ok/s  503 {}  other {}  ok p99 {:.1} ms  RSS {:.0} -> {:.0} MiB",
            figures.connections,
            figures.keys_per_request,
            figures.ok_per_s,
            figures.answered_503,
            figures.other,
            figures.ok_p99_us / 1e3,
            figures.rss_before_mb,
            figures.rss_peak_mb
        );
        Some(figures)
    } else {
        None
    };
    server.stop().await?;
    drop(awake);
    drop(server_runtime);
    let report = Report {
        keys: args.keys,
        features: FEATURES,
        trees,
        seconds: args.seconds,
        repeats: args.repeats,
        http_floor_p50_us: floor_p50 * 1e6,
        http_floor_p99_us: floor_p99 * 1e6,
        pinned,
        workers,
        realtime_priority: args.realtime_priority.map(u8::from),
        client_realtime_priority: clients.realtime.map(u8::from),
        kept_awake: args.keep_awake,
        scenarios,
        overload,
    };
    if args.json.json {
        return print_json(&report);
    }
    println!(
        "bench serve ({} keys, {FEATURES} features, GBDT {trees} trees; client sluice: the \
         in-repo closed loop, open: its open loop at the rate named, wrk: wrk -t1; {} s per \
         run, medians of {} runs)",
        report.keys, report.seconds, report.repeats
    );
    match &report.pinned {
        Some(split) => println!(
            "pinned: server on core(s) {}, clients on core(s) {}",
            core_list(&split.server),
            core_list(&split.client)
        ),
        None => println!("not pinned: server and clients share every core"),
    }
    match (report.realtime_priority, report.client_realtime_priority) {
        (Some(server), Some(client)) => println!(
            "server: {} worker thread(s) at real-time priority {server} (SCHED_RR); \
             in-repo clients at {client}, wrk at normal priority",
            report.workers
        ),
        _ => println!("server: {} worker thread(s)", report.workers),
    }
    if report.kept_awake {
        println!("kept awake: an idle-priority spinner on every core, so no core halted");
    }
    println!(
        "HTTP floor (GET /health, 1 connection): p50 {:.1} us, p99 {:.1} us",
        report.http_floor_p50_us, report.http_floor_p99_us
    );
    println!(
        "{:<32} {:>5} {:>7} {:>11} {:>10} {:>10} {:>16} {:>9} {:>10}  p99 of each run (us)",
        "scenario",
        "conn",
        "client",
        "req/s",
        "p50 us",
        "p99 us",
        "anchor p50/p99",
        "p99/anch",
        "log drops"
    );
    for s in &report.scenarios {
        let runs: Vec<String> = s.p99_runs_us.iter().map(|p| format!("{p:.0}")).collect();
        println!(
            "{:<32} {:>5} {:>7} {:>11.0} {:>10.1} {:>10.1} {:>7.1}/{:<8.1} {:>9.1} {:>10}  {}",
            s.name,
            s.connections,
            s.client,
            s.requests_per_s,
            s.p50_us,
            s.p99_us,
            s.anchor_p50_us,
            s.anchor_p99_us,
            s.p99_vs_anchor,
            s.log_dropped.map_or("-".to_string(), |n| n.to_string()),
            runs.join(" ")
        );
    }
    let lags: Vec<String> = report
        .scenarios
        .iter()
        .filter_map(|s| Some(format!("{} {:.1} us", s.name, s.send_lag_p99_us?)))
        .collect();
    if !lags.is_empty() {
        println!(
            "open-loop send lag p99 (how late the client sent; counted in the latencies): {}",
            lags.join(", ")
        );
    }
    if let Some(o) = &report.overload {
        let answered = (o.answered_200 + o.answered_503 + o.other).max(1) as f64;
        println!(
            "overload ({}x max_in_flight {}: {} connections of {}-key vector requests, refusals retried at once): \
             {:.0} ok/s, {:.1} % answered 503 (p99 {:.1} ms), {} other; admitted p99 {:.1} ms; \
             process RSS {:.0} MiB before, {:.0} MiB peak ({:.2}x)",
            OVERLOAD_FACTOR,
            o.max_in_flight,
            o.connections,
            o.keys_per_request,
            o.ok_per_s,
            100.0 * o.answered_503 as f64 / answered,
            o.refused_p99_us / 1e3,
            o.other,
            o.ok_p99_us / 1e3,
            o.rss_before_mb,
            o.rss_peak_mb,
            o.rss_peak_mb / o.rss_before_mb.max(1.0)
        );
    }
    Ok(())
}

/// One run's rate and latency percentiles (seconds), whichever client drove it.
struct RunFigures {
    requests_per_s: f64,
    p50: f64,
    p99: f64,
    /// The open loop's only.
    send_lag_p99: Option<f64>,
}

impl From<ClientRun> for RunFigures {
    fn from(run: ClientRun) -> Self {
        Self {
            requests_per_s: run.requests_per_s,
            p50: run.p50,
            p99: run.p99,
            send_lag_p99: run.send_lag_p99,
        }
    }
}

/// How a scenario is driven.
#[derive(Clone, Copy)]
enum Load {
    /// One connection, the in-repo client, each request after the previous answer.
    Closed,
    /// wrk with this many connections, as fast as they go.
    Wrk(u32),
    /// The in-repo client sending this many requests/s on a fixed schedule.
    Open(u64),
}

/// Open-loop connections. They do not cap the rate (a request due on a
/// busy connection is pipelined), but they bound how many requests the
/// server works on at once: 8 keeps both cores' workers fed.
const OPEN_LOOP_CONNECTIONS: u32 = 8;

/// One open-loop run of the in-repo client.
async fn open_run(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    rate: u64,
    seconds: u64,
    client: ClientThread,
) -> Result<ClientRun> {
    let run = on_client_thread(client, move || {
        open_loop(
            addr,
            &requests,
            OPEN_LOOP_CONNECTIONS as usize,
            rate as f64,
            std::time::Duration::from_secs(seconds),
        )
    })
    .await?;
    answered(run)
}

/// Percentiles of nothing are not a result.
fn answered(run: ClientRun) -> Result<ClientRun> {
    if run.requests == 0 {
        bail!("the load client got no answer in the whole run");
    }
    Ok(run)
}

/// One closed-loop run of the in-repo client.
async fn client_run(
    addr: SocketAddr,
    requests: Vec<Vec<u8>>,
    seconds: u64,
    client: ClientThread,
) -> Result<ClientRun> {
    let run = on_client_thread(client, move || {
        closed_loop(addr, &requests, std::time::Duration::from_secs(seconds))
    })
    .await?;
    answered(run)
}

/// Where a load client runs: pinned to some cores, and at a real-time
/// priority above the server's when the server has one, so that the client
/// sends on time whatever else wants its core.
#[derive(Debug, Clone)]
struct ClientThread {
    cores: Option<Vec<usize>>,
    realtime: Option<RealtimePriority>,
}

/// Runs a load client on a thread of its own, off the runtime the server may
/// share, as `placement` says; the threads and processes it starts inherit
/// the pin, not the priority (wrk runs at normal priority).
async fn on_client_thread<T: Send + 'static>(
    placement: ClientThread,
    client: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            if let Some(cores) = &placement.cores {
                pin_current_thread(cores).context("pinning the load client")?;
            }
            if let Some(priority) = placement.realtime {
                set_current_thread_realtime(priority)
                    .with_context(|| format!("the load client's real-time priority {priority}"))?;
            }
            client()
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the load client's thread panicked"))?
    })
    .await
    .context("the load client's thread failed")?
}

/// The middle value (the upper one of the two middle values of an even count).
fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// The server's count of prediction-log rows dropped so far, from `/metrics`.
async fn log_dropped(base: &str) -> Result<u64> {
    const COUNTER: &str = "sluice_prediction_log_dropped_total";
    let text = reqwest::get(format!("{base}/metrics"))
        .await?
        .error_for_status()?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(COUNTER)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .with_context(|| format!("no {COUNTER} in the server's /metrics"))
}
