//! `ingest`, `read`, `lookup` and `delete`: moving feature rows in and out.

use std::path::{Path, PathBuf};

use anyhow::Result;
use arrow::array::RecordBatch;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use chrono::Utc;
use futures::TryStreamExt;
use serde_json::json;
use sluice_featurestore::{FeatureGroup, FeatureView, ReadAt};

use crate::output::{
    print_json, print_json_rows, print_table, print_written, rows_as_json, user_error, write_batch,
    write_stream,
};
use crate::progress::Bar;

const DEFAULT_PRINT_LIMIT: usize = 20;

pub async fn ingest(fg: &FeatureGroup<'_>, files: &[PathBuf], json: bool) -> Result<()> {
    let metrics = fg.ingest_files(files, &Bar::new()).await?;
    super::quality::warn_if_failed(metrics.validation.as_ref());
    if json {
        return print_json(&metrics);
    }
    if !metrics.committed {
        let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
        println!(
            "no rows in {}: nothing ingested into {}, no offline commit made",
            names.join(", "),
            metrics.feature_group
        );
        return Ok(());
    }
    let seconds = (metrics.stage_ms + metrics.offline_ms + metrics.online_ms) as f64 / 1000.0;
    println!(
        "ingested {} rows into {} in {seconds:.2}s: offline commit {} ({} inserted, {} replaced)",
        metrics.rows,
        metrics.feature_group,
        metrics.offline_version,
        metrics.offline_rows_inserted,
        metrics.offline_rows_updated
    );
    if fg.spec().online {
        println!(
            "online: {} rows written, {} older than the stored value",
            metrics.online_rows_written, metrics.online_rows_older
        );
    }
    Ok(())
}

/// The state `read` reads: `--as-of TIME`, `--commit N`, else the latest.
pub fn read_at(as_of: Option<&str>, commit: Option<u64>) -> Result<ReadAt> {
    Ok(match (as_of, commit) {
        (Some(text), _) => ReadAt::Time(string_to_datetime(&Utc, text).map_err(|_| {
            user_error(format!(
                "--as-of '{text}' is not an RFC 3339 / ISO-8601 time"
            ))
        })?),
        (None, Some(version)) => ReadAt::Version(version),
        (None, None) => ReadAt::Latest,
    })
}

pub async fn read(
    fg: &FeatureGroup<'_>,
    at: ReadAt,
    limit: Option<usize>,
    out: Option<&Path>,
    json: bool,
) -> Result<()> {
    // Pinned to one commit, so that what is reported is what was read even
    // while others commit.
    let commit = fg.resolve(at).await?;
    let at = commit.map_or(at, ReadAt::Version);
    let read = json!({ "feature_group": fg.label(), "commit": commit });
    if let Some(path) = out {
        let rows = write_stream(fg.read(at, limit).await?, fg.spec().arrow_schema(), path).await?;
        return print_written(read, path, rows, json);
    }
    if json {
        return print_json_rows(&read, fg.read(at, limit).await?).await;
    }
    let shown = limit.unwrap_or(DEFAULT_PRINT_LIMIT);
    let batches: Vec<RecordBatch> = fg.read(at, Some(shown + 1)).await?.try_collect().await?;
    let total: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let visible: Vec<RecordBatch> =
        arrow::compute::concat_batches(&fg.spec().arrow_schema(), &batches)
            .map(|all| vec![all.slice(0, total.min(shown))])?;
    print_table(&visible)?;
    if total > shown {
        println!("(first {shown} rows; use --limit N or --out FILE for more)");
    }
    Ok(())
}

/// What `sluice features` joins: a spine file (with its time column), or keys as of one time.
pub enum FeaturesFor<'a> {
    Spine(&'a Path, Option<&'a str>),
    Keys(&'a [String], &'a str),
}

pub async fn features(
    view: &FeatureView<'_>,
    input: FeaturesFor<'_>,
    out: Option<&Path>,
) -> Result<()> {
    let joined = match input {
        FeaturesFor::Spine(path, time) => {
            let started = std::time::Instant::now();
            let time = view.spine_time(time)?;
            let spine = view.read_spine(path, &time)?;
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "spine read");
            view.features_for(&spine, &time).await?
        }
        FeaturesFor::Keys(keys, at) => view.features_as_of(&parse_keys(keys)?, at).await?,
    };
    match out {
        Some(path) => {
            let started = std::time::Instant::now();
            let rows = write_batch(&joined, path).await?;
            tracing::debug!(ms = started.elapsed().as_millis() as u64, "output written");
            println!("wrote {rows} rows to {}", path.display());
        }
        None => print_table(&[joined])?,
    }
    Ok(())
}

/// `KEY=VALUE` (or `KEY=V1,V2,...`) arguments grouped by column, in
/// first-seen order; every column must get the same number of values (one per key).
pub fn parse_keys(args: &[String]) -> Result<Vec<(String, Vec<String>)>> {
    let mut columns: Vec<(String, Vec<String>)> = Vec::new();
    for arg in args {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| user_error(format!("key '{arg}' is not KEY=VALUE")))?;
        let values = value.split(',').map(str::to_string);
        match columns.iter_mut().find(|(n, _)| n == name) {
            Some((_, known)) => known.extend(values),
            None => columns.push((name.to_string(), values.collect())),
        }
    }
    let counts: Vec<usize> = columns.iter().map(|(_, v)| v.len()).collect();
    if counts.windows(2).any(|w| w[0] != w[1]) {
        return Err(user_error(
            "each key column must get the same number of values (one per key)",
        ));
    }
    Ok(columns)
}

pub async fn lookup(fg: &FeatureGroup<'_>, args: &[String], json: bool) -> Result<()> {
    let keys = fg.keys_from_text(&parse_keys(args)?)?;
    let read = fg.lookup(&keys).await?;
    let rows = rows_as_json(&read.rows)?;
    let key_names = &fg.spec().primary_key;
    let results: Vec<_> = rows
        .into_iter()
        .zip(&read.status)
        .map(|(mut row, status)| {
            let key: serde_json::Map<_, _> = key_names
                .iter()
                .filter_map(|k| row.shift_remove_entry(k))
                .collect();
            json!({ "key": key, "status": status, "values": row })
        })
        .collect();
    if json {
        return print_json(&json!({ "feature_group": fg.label(), "results": results }));
    }
    for result in &results {
        println!(
            "{}  {}",
            result["status"].as_str().unwrap_or_default(),
            result["key"]
        );
        if result["status"] != "PRESENT" {
            continue;
        }
        if let Some(values) = result["values"].as_object() {
            for (name, value) in values {
                println!("  {name:<20} {value}");
            }
        }
    }
    Ok(())
}

pub async fn delete(fg: &FeatureGroup<'_>, args: &[String], json: bool) -> Result<()> {
    let keys = fg.keys_from_text(&parse_keys(args)?)?;
    let removed = fg.delete(&keys).await?;
    if json {
        return print_json(
            &json!({ "feature_group": fg.label(), "keys": keys.num_rows(), "offline_rows_deleted": removed }),
        );
    }
    println!(
        "deleted {} key(s) from {}: {removed} offline rows removed",
        keys.num_rows(),
        fg.label()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_repeated_key_columns() {
        let args: Vec<String> = ["a=1", "b=x", "a=2", "b=y"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parsed = parse_keys(&args).unwrap();
        assert_eq!(
            parsed,
            vec![
                ("a".into(), vec!["1".into(), "2".into()]),
                ("b".into(), vec!["x".into(), "y".into()])
            ]
        );
        assert!(parse_keys(&["a=1".into(), "a=2".into(), "b=1".into()]).is_err());
        assert!(parse_keys(&["a".into()]).is_err());
    }
}
