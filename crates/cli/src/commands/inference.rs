//! `predict` (batch inference) and `serve` (the online server).

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::{predict as predict_batch, PredictOptions};
use sluice_types::{ProjectConfig, RealtimePriority};

use crate::output::{print_json, print_table, write_batch};
use crate::progress::Bar;
use sluice_server::runtime::{available_cores, ServerRuntime};

/// Rows `predict` prints when not writing a file.
const PRINTED_ROWS: usize = 20;

pub async fn predict(
    store: &FeatureStore,
    options: &PredictOptions,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    let (report, predictions) = predict_batch(store, options, &Bar::new()).await?;
    if let Some(path) = out {
        write_batch(&predictions, path).await?;
    }
    if json {
        return print_json(&report);
    }
    if out.is_none() {
        print_table(&[predictions.slice(0, predictions.num_rows().min(PRINTED_ROWS))])?;
    }
    println!(
        "{} prediction(s) by {}:{} (run {}){}{}",
        report.rows,
        report.model,
        report.version,
        report.run_id,
        out.map_or(String::new(), |p| format!(", written to {}", p.display())),
        report
            .feature_group
            .as_ref()
            .map_or(String::new(), |g| format!(
                ", appended to feature group {g} (commit {})",
                report.offline_version.unwrap_or_default()
            ))
    );
    Ok(())
}

pub async fn skew_check(
    store: &FeatureStore,
    model: &str,
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    json: bool,
) -> Result<()> {
    let report = sluice_pipelines::skew_check(store, model, from, to).await?;
    if json {
        return print_json(&report);
    }
    println!(
        "{}:{}: {} logged row(s) from {} compared with the offline store: {} mismatching value(s)",
        report.model, report.version, report.rows, report.log_group, report.mismatches
    );
    for group in &report.feature_groups {
        println!(
            "  {}: {} row(s) differ",
            group.feature_group, group.rows_mismatched
        );
        for (feature, count) in group.features.iter().filter(|(_, c)| **c > 0) {
            println!("    {feature}: {count}");
        }
    }
    for e in &report.examples {
        println!(
            "  e.g. request {} row {} ({}) at {}: {} online {} offline {}",
            e.request_id, e.row, e.keys, e.logged_at, e.feature, e.online, e.offline
        );
    }
    Ok(())
}

pub async fn serve(
    project: &Path,
    host: IpAddr,
    (port, flight_port): (Option<u16>, Option<u16>),
    workers: Option<NonZeroUsize>,
    realtime_priority: Option<RealtimePriority>,
) -> Result<()> {
    let mut config = ProjectConfig::load(project)?;
    let port = port.unwrap_or(config.server.port);
    let flight = match flight_port.unwrap_or(config.server.flight_port) {
        0 => None,
        flight_port => Some(SocketAddr::new(host, flight_port)),
    };
    config.server.workers = workers.or(config.server.workers);
    config.server.realtime_priority = realtime_priority.or(config.server.realtime_priority);
    let threads = config.server.worker_threads(available_cores());
    let priority = config.server.realtime_priority;
    let runtime = ServerRuntime::start(threads, None, priority)?;
    // The store is opened on the server's runtime, so that its connections
    // (Redis, PostgreSQL) are driven by the threads that use them.
    let project = project.to_path_buf();
    let server = runtime
        .handle()
        .spawn(async move {
            let store = Arc::new(FeatureStore::open(&project).await?);
            anyhow::Ok(
                sluice_server::start(store, config.server, SocketAddr::new(host, port), flight)
                    .await?,
            )
        })
        .await??;
    // Before the banner, whose "listening on" line scripts wait for.
    match priority {
        Some(priority) => {
            eprintln!("{threads} worker thread(s) at real-time priority {priority} (SCHED_RR)")
        }
        None => eprintln!("{threads} worker thread(s)"),
    }
    for line in &server.banner {
        eprintln!("{line}");
    }
    server.run_until(shutdown_signal()).await?;
    eprintln!("stopped; the prediction log is committed");
    Ok(())
}

/// SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => return interrupt.await.unwrap_or(()),
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
