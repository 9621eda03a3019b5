//! `run` and `list runs`.

use anyhow::Result;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::{run_any_pipeline, RunOptions, RunOutcome, RunSummary};

use crate::output::{print_json, DriftDetected};
use crate::progress::Bar;

pub async fn run(store: &FeatureStore, name: &str, options: &RunOptions, json: bool) -> Result<()> {
    let bar = Bar::new();
    let outcome = run_any_pipeline(store, name, options, &bar).await?;
    if json {
        print_json(&outcome)?;
    } else {
        print_outcome(&outcome, "");
    }
    if outcome.drifted() {
        return Err(DriftDetected(format!("pipeline '{name}': a monitor found drift")).into());
    }
    Ok(())
}

fn print_outcome(outcome: &RunOutcome, indent: &str) {
    match outcome {
        RunOutcome::Feature(summary) => print_feature_run(summary, indent),
        RunOutcome::Training(run) => {
            let report = &run.report;
            let metrics: Vec<String> = report
                .metrics
                .iter()
                .map(|(name, value)| format!("{name} {value:.4}"))
                .collect();
            println!(
                "{indent}run {} of {} -> model {}:{} ({}) on training dataset {}{}: {}  ({} ms)",
                report.run_id,
                run.pipeline,
                report.model,
                report.version,
                report.algorithm,
                report.training_dataset,
                if run.created_training_dataset {
                    " (new)"
                } else {
                    ""
                },
                metrics.join(", "),
                report.elapsed_ms
            );
            if let Some(alias) = &run.alias {
                println!(
                    "{indent}  {}@{alias} -> version {}",
                    report.model, report.version
                );
            }
        }
        RunOutcome::BatchInference(run) => {
            let report = &run.report;
            let targets: Vec<String> = report
                .feature_group
                .iter()
                .map(|g| format!("feature group {g}"))
                .chain(run.out.iter().map(|o| o.display().to_string()))
                .collect();
            println!(
                "{indent}run {} of {} -> {} predictions of {}:{} to {}  ({} ms)",
                report.run_id,
                run.pipeline,
                report.rows,
                report.model,
                report.version,
                targets.join(" and "),
                report.elapsed_ms
            );
        }
        RunOutcome::Monitor(step) => {
            println!(
                "{indent}run {} of {} -> monitor {}: {}",
                step.run_id,
                step.pipeline,
                step.result.monitor,
                if step.result.drifted {
                    "DRIFT"
                } else {
                    "no drift"
                }
            );
            for feature in step.result.features.iter().filter(|f| f.drifted) {
                println!("{indent}  drift in {}", feature.feature);
            }
        }
        RunOutcome::Chain(chain) => {
            println!(
                "run {} of chain {}: {} steps succeeded",
                chain.run_id,
                chain.pipeline,
                chain.steps.len()
            );
            for step in &chain.steps {
                print_outcome(step, "  ");
            }
        }
    }
}

fn print_feature_run(summary: &RunSummary, indent: &str) {
    let commit = summary
        .offline_version
        .map_or("no commit".to_string(), |v| format!("offline commit {v}"));
    println!(
        "{indent}run {} of {} -> {}: {}  {} rows in, {} rows out, {commit}  ({} ms)",
        summary.run_id,
        summary.pipeline,
        summary.sink,
        summary.status,
        summary.rows_in,
        summary.rows_out,
        summary.elapsed_ms
    );
    if !summary.files.is_empty() {
        println!("{indent}new files: {}", summary.files.join(", "));
    }
    if summary.late_events > 0 || summary.dead_letters > 0 {
        println!(
            "{indent}late events (not applied): {}  dead letters: {} (see .sluice/pipelines/{}/dead_letter.ndjson)",
            summary.late_events, summary.dead_letters, summary.pipeline
        );
    }
}

pub async fn list_runs(store: &FeatureStore, pipeline: Option<&str>, json: bool) -> Result<()> {
    let runs = store.registry().runs(pipeline).await?;
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
