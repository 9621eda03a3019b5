//! Data-quality commands: `validate` (a dry run of a group's expectations),
//! `show --validation` (the reports kept with its writes) and `stats` (the
//! statistics kept with its commits).

use std::path::PathBuf;

use anyhow::Result;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use chrono::{DateTime, Utc};
use sluice_featurestore::{
    ColumnProfile, FeatureGroup, FeatureStore, MonitorRun, StatisticsOf, ValidationReport,
};

use crate::args::MonitorAction;
use crate::output::{print_json, user_error, DriftDetected};

/// Judges files against the group's expectations; writes nothing. Fails
/// (exit 1) when an expectation fails, after printing the report.
pub fn validate(fg: &FeatureGroup<'_>, files: &[PathBuf], json: bool) -> Result<()> {
    if fg.spec().expectations.is_empty() {
        return Err(user_error(format!(
            "feature group {} declares no expectations ([[feature_group.expectation]])",
            fg.label()
        )));
    }
    let report = fg.validate_files(files)?;
    if json {
        print_json(&report)?;
    } else {
        print_outcomes(&report);
    }
    if report.success {
        return Ok(());
    }
    Err(user_error(format!(
        "{} of {} expectations of {} failed (nothing was written)",
        report.failures().count(),
        report.expectations.len(),
        fg.label()
    )))
}

/// The group's newest validation reports, newest first.
pub async fn reports(fg: &FeatureGroup<'_>, limit: usize, json: bool) -> Result<()> {
    let reports = fg.validation_reports(limit).await?;
    if json {
        return print_json(&reports);
    }
    println!(
        "validation of {} (policy {}, {} expectations)",
        fg.label(),
        fg.spec().validation,
        fg.spec().expectations.len()
    );
    if reports.is_empty() {
        println!("  no reports yet");
    }
    for recorded in &reports {
        let commit = recorded
            .offline_version
            .map_or("-".to_string(), |v| v.to_string());
        let failed = recorded.report.failures().count();
        println!(
            "  #{:<4} {}  commit {commit:>4}  {:<8} {:>10} rows  {failed} failed  {}",
            recorded.id,
            recorded.recorded_at.to_rfc3339(),
            format!("{:?}", recorded.verdict).to_lowercase(),
            recorded.report.rows,
            recorded.source.lines().next().unwrap_or_default()
        );
        for outcome in recorded.report.failures() {
            println!("        {outcome}");
        }
    }
    Ok(())
}

/// A warning on stderr when a write committed with failed expectations.
pub fn warn_if_failed(report: Option<&ValidationReport>) {
    if let Some(report) = report.filter(|r| !r.success) {
        eprintln!("warning: written under validation = warn: {report}");
    }
}

fn print_outcomes(report: &ValidationReport) {
    for outcome in &report.expectations {
        let mark = if outcome.success { "ok  " } else { "FAIL" };
        println!("{mark} {outcome}");
    }
    println!("{report}");
}

/// The commits `stats` describes, from its flags.
pub fn statistics_of(
    commit: Option<u64>,
    start: Option<&str>,
    end: Option<&str>,
) -> Result<StatisticsOf> {
    let time = |flag: &str, text: Option<&str>, default: DateTime<Utc>| -> Result<DateTime<Utc>> {
        match text {
            None => Ok(default),
            Some(text) => string_to_datetime(&Utc, text).map_err(|_| {
                user_error(format!(
                    "--{flag} '{text}' is not an RFC 3339 / ISO-8601 time"
                ))
            }),
        }
    };
    Ok(match (commit, start, end) {
        (Some(version), _, _) => StatisticsOf::Commit(version),
        (None, None, None) => StatisticsOf::Latest,
        (None, start, end) => StatisticsOf::Committed {
            start: time("start", start, DateTime::<Utc>::MIN_UTC)?,
            end: time("end", end, DateTime::<Utc>::MAX_UTC)?,
        },
    })
}

/// Prints the statistics of the commits asked for.
pub async fn stats(fg: &FeatureGroup<'_>, of: StatisticsOf, json: bool) -> Result<()> {
    let described = fg.statistics(of).await?;
    if json {
        return print_json(&described);
    }
    let commits: Vec<String> = described.commits.iter().map(u64::to_string).collect();
    println!(
        "statistics of {}: {} rows in commit{} {}",
        described.feature_group,
        described.statistics.rows,
        if commits.len() == 1 { "" } else { "s" },
        commits.join(", ")
    );
    if !described.without_statistics.is_empty() {
        let missing: Vec<String> = described
            .without_statistics
            .iter()
            .map(u64::to_string)
            .collect();
        println!("  (no statistics kept for commits {})", missing.join(", "));
    }
    print_profiles(&described.statistics.columns);
    Ok(())
}

/// One line per column: counts, range, median, mean and spread, top values.
pub fn print_profiles(columns: &[ColumnProfile]) {
    println!(
        "{:<20} {:>10} {:>8} {:>9} {:>16} {:>16} {:>16} {:>16} {:>12}",
        "column", "count", "nulls", "distinct", "min", "median", "max", "mean", "stddev"
    );
    for column in columns {
        println!("{}", row(column));
    }
}

fn row(column: &ColumnProfile) -> String {
    let timestamp = column.data_type.starts_with("Timestamp");
    let date = column.data_type == "Date32";
    let figure = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(v) if timestamp => DateTime::from_timestamp_micros(v as i64)
            .map_or("-".to_string(), |t| t.format("%Y-%m-%dT%H:%M").to_string()),
        Some(v) if date => DateTime::from_timestamp(v as i64 * 86_400, 0)
            .map_or("-".to_string(), |t| t.format("%Y-%m-%d").to_string()),
        Some(v) => format!("{v:.4}"),
    };
    let spread = |v: Option<f64>| match v {
        None => "-".to_string(),
        Some(v) if timestamp => format!("{:.1}h", v / 3.6e9),
        Some(v) if date => format!("{v:.1}d"),
        Some(v) => format!("{v:.4}"),
    };
    let median = column
        .quantiles
        .iter()
        .find(|q| q.q == 0.5)
        .map(|q| q.value);
    let mut line = format!(
        "{:<20} {:>10} {:>8} {:>9} {:>16} {:>16} {:>16} {:>16} {:>12}",
        column.column,
        column.count,
        column.nulls,
        column.distinct,
        figure(column.min),
        figure(median),
        figure(column.max),
        figure(column.mean),
        spread(column.stddev)
    );
    if !column.top_values.is_empty() {
        let top: Vec<String> = column
            .top_values
            .iter()
            .take(3)
            .map(|t| format!("{} ({})", t.value, t.count))
            .collect();
        line.push_str(&format!("  top: {}", top.join(", ")));
    }
    line
}

/// `sluice monitor run|show`.
pub async fn monitor(store: &FeatureStore, action: MonitorAction) -> Result<()> {
    match action {
        MonitorAction::Run { name, json } => {
            let run = store.run_monitor(&name).await?;
            if json.json {
                print_json(&run)?;
            } else {
                print_run(&run);
            }
            if run.drifted {
                let drifted: Vec<&str> = run
                    .features
                    .iter()
                    .filter(|f| f.drifted)
                    .map(|f| f.feature.as_str())
                    .collect();
                return Err(DriftDetected(format!(
                    "monitor '{name}': drift in {}",
                    drifted.join(", ")
                ))
                .into());
            }
            Ok(())
        }
        MonitorAction::Show { name, limit, json } => {
            let runs = store.monitor_runs(&name, limit).await?;
            if json.json {
                return print_json(&runs);
            }
            if runs.is_empty() {
                println!("monitor '{name}' has not run yet");
            }
            for run in &runs {
                print_run(run);
            }
            Ok(())
        }
    }
}

fn print_run(run: &MonitorRun) {
    println!(
        "monitor {} (#{}) at {}: {}",
        run.monitor,
        run.id,
        run.ran_at.to_rfc3339(),
        if run.drifted { "DRIFT" } else { "no drift" }
    );
    println!("  reference  {}", run.reference);
    println!("  detection  {}", run.detection);
    for feature in &run.features {
        let metrics: Vec<String> = feature
            .metrics
            .iter()
            .map(|m| {
                let value = m.value.map_or("-".to_string(), |v| format!("{v:.4}"));
                match m.threshold {
                    Some(t) if m.crossed => format!("{} {value} > {t}", m.metric),
                    Some(t) => format!("{} {value} (<= {t})", m.metric),
                    None => format!("{} {value}", m.metric),
                }
            })
            .collect();
        let mark = if feature.drifted { "DRIFT" } else { "ok   " };
        println!("  {mark} {:<20} {}", feature.feature, metrics.join(", "));
    }
}
