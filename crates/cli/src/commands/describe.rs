//! `list` and `show`: what the catalog knows.

use anyhow::Result;
use serde_json::json;
use sluice_featurestore::{FeatureGroup, FeatureStore};

use super::models;
use crate::args::ListWhat;
use crate::output::print_json;

pub async fn list(store: &FeatureStore, what: ListWhat, json: bool) -> Result<()> {
    match what {
        ListWhat::FeatureGroups => {
            let records = store.feature_groups().await?;
            if json {
                let items: Vec<_> = records
                    .iter()
                    .map(|r| {
                        json!({
                            "name": r.spec.name,
                            "version": r.spec.version,
                            "primary_key": r.spec.primary_key,
                            "event_time": r.spec.event_time,
                            "online": r.spec.online,
                            "ttl": r.spec.ttl,
                            "description": r.spec.description,
                            "created_at": r.created_at,
                        })
                    })
                    .collect();
                return print_json(&items);
            }
            if records.is_empty() {
                println!("no feature groups registered; run `sluice apply`");
            }
            for r in &records {
                println!(
                    "{}:{}  key [{}]  event time {}  online {}  ttl {}  {}",
                    r.spec.name,
                    r.spec.version,
                    r.spec.primary_key.join(", "),
                    r.spec.event_time.as_deref().unwrap_or("-"),
                    r.spec.online,
                    r.spec
                        .ttl
                        .as_ref()
                        .map_or("-".to_string(), ToString::to_string),
                    r.spec.description
                );
            }
        }
        ListWhat::TrainingDatasets => {
            let records = store.registry().training_datasets().await?;
            if json {
                let items: Vec<_> = records
                    .iter()
                    .map(|r| json!({ "version": r.version, "created_at": r.created_at, "record": r.spec }))
                    .collect();
                return print_json(&items);
            }
            if records.is_empty() {
                println!("no training datasets; run `sluice training-data create FV`");
            }
            for r in &records {
                let rows: Vec<String> = r
                    .spec
                    .splits
                    .iter()
                    .map(|s| format!("{} {}", s.name, s.rows))
                    .collect();
                println!(
                    "{}:{} td {}  {}  hash {}",
                    r.spec.feature_view,
                    r.spec.feature_view_version,
                    r.version,
                    rows.join(", "),
                    &r.spec.content_hash[..16.min(r.spec.content_hash.len())]
                );
            }
        }
        ListWhat::Models => return models::list(store, json).await,
        ListWhat::Runs => unreachable!("listed by pipeline::list_runs"),
        ListWhat::FeatureViews => {
            let records = store.feature_views().await?;
            if json {
                let items: Vec<_> = records
                    .iter()
                    .map(|r| {
                        let mut item = serde_json::to_value(&r.spec).unwrap_or_default();
                        item["created_at"] = json!(r.created_at);
                        item
                    })
                    .collect();
                return print_json(&items);
            }
            if records.is_empty() {
                println!("no feature views registered; run `sluice apply`");
            }
            for r in &records {
                let joins: Vec<&str> = r
                    .spec
                    .joins
                    .iter()
                    .map(|j| j.feature_group.as_str())
                    .collect();
                println!(
                    "{}:{}  spine {}  labels [{}]  joins [{}]  {}",
                    r.spec.name,
                    r.spec.version,
                    r.spec.spine.as_deref().unwrap_or("-"),
                    r.spec.labels.join(", "),
                    joins.join(", "),
                    r.spec.description
                );
            }
        }
    }
    Ok(())
}

pub async fn show(fg: &FeatureGroup<'_>, json: bool) -> Result<()> {
    let info = fg.describe().await?;
    if json {
        return print_json(&info);
    }
    let spec = &info.spec;
    println!("feature group {}:{}", spec.name, spec.version);
    if !spec.description.is_empty() {
        println!("  {}", spec.description);
    }
    println!("  primary key  {}", spec.primary_key.join(", "));
    println!(
        "  event time   {}",
        spec.event_time.as_deref().unwrap_or("-")
    );
    println!("  online       {}", spec.online);
    println!(
        "  ttl          {}",
        spec.ttl
            .as_ref()
            .map_or("-".to_string(), ToString::to_string)
    );
    println!("  created      {}", info.created_at.to_rfc3339());
    println!(
        "  rows         {} (offline, latest commit {})",
        info.offline_rows,
        info.offline_version.map_or("-".into(), |v| v.to_string())
    );
    println!("columns:");
    for column in &spec.columns {
        let nullable = if column.nullable && !spec.is_key_or_time(&column.name) {
            " (nullable)"
        } else {
            ""
        };
        println!("  {:<20} {}{nullable}", column.name, column.column_type);
    }
    println!("commits:");
    if info.commits.is_empty() {
        println!("  none yet");
    }
    for commit in &info.commits {
        let source = commit.source.lines().next().unwrap_or_default();
        println!(
            "  {:>4}  {:<6} {:>10} rows  {}  {source}",
            commit.offline_version,
            commit.operation,
            commit.rows,
            commit.committed_at.to_rfc3339()
        );
    }
    Ok(())
}
