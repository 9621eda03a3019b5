//! Data-quality commands: `validate` (a dry run of a group's expectations)
//! and `show --validation` (the reports kept with its writes).

use std::path::PathBuf;

use anyhow::Result;
use sluice_featurestore::{FeatureGroup, ValidationReport};

use crate::output::{print_json, user_error};

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
