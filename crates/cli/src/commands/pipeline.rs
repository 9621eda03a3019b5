//! `run` and `list runs`.

use anyhow::Result;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::{run_pipeline, RunOptions};

use crate::output::print_json;
use crate::progress::Bar;

pub async fn run(store: &FeatureStore, name: &str, options: &RunOptions, json: bool) -> Result<()> {
    let bar = Bar::new();
    let summary = run_pipeline(store, name, options, &bar).await?;
    if json {
        return print_json(&summary);
    }
    let commit = summary
        .offline_version
        .map_or("no commit".to_string(), |v| format!("offline commit {v}"));
    println!(
        "run {} of {} -> {}: {}  {} rows in, {} rows out, {commit}  ({} ms)",
        summary.run_id,
        summary.pipeline,
        summary.sink,
        summary.status,
        summary.rows_in,
        summary.rows_out,
        summary.elapsed_ms
    );
    if !summary.files.is_empty() {
        println!("new files: {}", summary.files.join(", "));
    }
    if summary.late_events > 0 || summary.dead_letters > 0 {
        println!(
            "late events (not applied): {}  dead letters: {} (see .sluice/pipelines/{}/dead_letter.ndjson)",
            summary.late_events, summary.dead_letters, summary.pipeline
        );
    }
    Ok(())
}

pub async fn list_runs(store: &FeatureStore, pipeline: Option<&str>, json: bool) -> Result<()> {
    let runs = store.catalog().runs(pipeline).await?;
    if json {
        return print_json(&runs);
    }
    if runs.is_empty() {
        println!("no runs; start one with `sluice run PIPELINE`");
    }
    for run in &runs {
        let ended = run.ended_at.map_or("-".to_string(), |t| {
            t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
        });
        let commit = run
            .progress
            .offline_version
            .map_or("-".to_string(), |v| v.to_string());
        println!(
            "{:>4}  {}  -> {}  {}  started {}  ended {}  in {}  out {}  commit {}{}",
            run.id,
            run.pipeline,
            run.sink,
            run.progress.status,
            run.started_at.format("%Y-%m-%dT%H:%M:%SZ"),
            ended,
            run.progress.rows_in,
            run.progress.rows_out,
            commit,
            run.progress
                .error
                .as_ref()
                .map_or(String::new(), |e| format!("  error: {e}"))
        );
    }
    Ok(())
}
