//! `sluice run` for batch sources: read what is new, transform, aggregate,
//! ingest into the sink as one commit, and record the run.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::compute::{concat_batches, max};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sluice_featurestore::RunStatus;
use sluice_featurestore::{FeatureStore, Progress};
use sluice_transforms::{aggregate_batch, CompiledAggregation};
use sluice_types::coerce::{InputCoercer, Position};
use sluice_types::{PipelineDefinition, SourceType};

use crate::check::{check_pipeline, PipelineCheck};
use crate::file_source::{file_label, matching_files, read_files};
use crate::postgres_source::PostgresQuery;
use crate::run_log::{earlier_states, RunLog};
use crate::sql_transform::SqlTransform;
use crate::{stream_run, Error, Result};

/// How a run stops; only streaming runs use these, batch runs end with their input.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Stop after this long without a new message.
    pub until_idle: Option<Duration>,
    /// Stop after consuming this many messages.
    pub max_events: Option<u64>,
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// The catalog run it was recorded as.
    pub run_id: u64,
    /// The pipeline's name.
    pub pipeline: String,
    /// The sink feature group, `NAME:VERSION`.
    pub sink: String,
    /// Always `Succeeded`: a run that fails returns its error instead.
    pub status: RunStatus,
    /// Rows read from the source (streaming: new messages consumed).
    pub rows_in: u64,
    /// Rows written to the sink, after the SQL and the aggregations.
    pub rows_out: u64,
    /// The sink's offline version after the run's last commit; `None` when it committed nothing.
    pub offline_version: Option<u64>,
    /// Files read by this run (files sources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Streaming: events further behind the newest event time than the
    /// allowed lateness, not applied but written to the dead-letter file.
    /// Counted in the checkpoint, so over every run since it began.
    pub late_events: u64,
    /// Streaming: messages that could not be decoded, written to the
    /// dead-letter file; counted over runs like `late_events`.
    pub dead_letters: u64,
    /// Wall-clock milliseconds the run took.
    pub elapsed_ms: u64,
    /// Streaming: how long events took from publication to the online store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub freshness: Option<crate::stream_run::Freshness>,
}

/// Runs the pipeline `name` defined under `features/`.
pub async fn run_pipeline(
    store: &FeatureStore,
    name: &str,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<RunSummary> {
    let definitions = store.definitions()?;
    let located = defined(&definitions, name)?;
    let PipelineDefinition::Feature(spec) = &located.item else {
        return Err(Error::Invalid {
            pipeline: name.to_string(),
            message: format!(
                "a {} pipeline, not a feature pipeline; `sluice run` runs every kind",
                located.item.kind()
            ),
        });
    };
    let check = check_pipeline(store, &definitions, &located.file, spec).await?;
    if spec.is_streaming() {
        return stream_run::run_stream(store, &check, options).await;
    }
    let started = Instant::now();
    let mut log = RunLog::start(store, &check.pipeline, &check.sink).await?;
    let mut summary = RunSummary {
        run_id: log.id,
        pipeline: check.pipeline.clone(),
        sink: check.sink.clone(),
        status: RunStatus::Running,
        rows_in: 0,
        rows_out: 0,
        offline_version: None,
        files: Vec::new(),
        late_events: 0,
        dead_letters: 0,
        elapsed_ms: 0,
        freshness: None,
    };
    match run_batch(store, &check, &mut log, &mut summary, progress).await {
        Ok(()) => {
            log.succeed().await?;
            summary.status = RunStatus::Succeeded;
        }
        Err(error) => {
            log.fail(&error).await;
            return Err(error);
        }
    }
    summary.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(summary)
}

/// The pipeline `name`, or an error listing the defined ones.
pub(crate) fn defined<'a>(
    definitions: &'a sluice_types::Definitions,
    name: &str,
) -> Result<&'a sluice_types::definitions::Located<PipelineDefinition>> {
    definitions
        .pipeline(name)
        .ok_or_else(|| Error::UnknownPipeline {
            name: name.to_string(),
            known: known(definitions),
        })
}

fn known(definitions: &sluice_types::Definitions) -> String {
    let names: Vec<&str> = definitions
        .pipelines
        .iter()
        .map(|p| p.item.name())
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

async fn run_batch(
    store: &FeatureStore,
    check: &PipelineCheck,
    log: &mut RunLog,
    summary: &mut RunSummary,
    progress: &dyn Progress,
) -> Result<()> {
    let spec = &check.spec;
    let coercer = InputCoercer::new(spec.source.as_input_spec(&spec.name).into());
    let earlier = earlier_states(store, &spec.name).await?;
    progress.phase("reading source", None);
    let batches = match spec.source.source_type {
        SourceType::Files => {
            let pattern = spec.source.path.as_deref().expect("validated");
            let all = matching_files(&spec.name, store.dir(), pattern)?;
            if all.is_empty() {
                return Err(Error::Source {
                    pipeline: spec.name.clone(),
                    message: format!(
                        "path '{pattern}' matches no file under {}",
                        store.dir().display()
                    ),
                });
            }
            let seen: BTreeSet<String> = earlier
                .iter()
                .filter_map(|s| s.get("files").and_then(|f| f.as_array()))
                .flatten()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect();
            let new: Vec<PathBuf> = all
                .iter()
                .filter(|p| !seen.contains(&file_label(store.dir(), p)))
                .cloned()
                .collect();
            // Window aggregations need each key's earlier events: they read every file
            // again, and the sink's upsert makes rewriting unchanged rows harmless.
            let to_read = if spec.aggregate.is_some() && !new.is_empty() {
                all.clone()
            } else {
                new.clone()
            };
            summary.files = new.iter().map(|p| file_label(store.dir(), p)).collect();
            log.progress.state = json!({ "files": summary.files });
            read_files(&to_read, &coercer)?
        }
        SourceType::Postgres => {
            let column = spec.source.incremental.as_deref();
            let since = column.map(|_| {
                earlier
                    .iter()
                    .filter_map(|s| s.get("high_water_mark").and_then(|v| v.as_i64()))
                    .max()
                    .and_then(DateTime::<Utc>::from_timestamp_micros)
                    .unwrap_or(DateTime::<Utc>::UNIX_EPOCH - chrono::Duration::days(365 * 70))
            });
            let query = PostgresQuery {
                pipeline: &spec.name,
                url: spec.source.url.as_deref().expect("validated"),
                query: spec.source.query.as_deref().expect("validated"),
                since,
                columns: &spec.source.columns,
                schema: check.source_schema.clone(),
            };
            let raw = query.read().await?;
            let batches = raw
                .iter()
                .map(|b| {
                    coercer.coerce(
                        &format!("pipeline '{}' query", spec.name),
                        b,
                        Position::Row(1),
                    )
                })
                .collect::<std::result::Result<Vec<_>, _>>()?;
            if let Some(column) = column {
                let mark = high_water_mark(&batches, column)
                    .or_else(|| since.map(|s| s.timestamp_micros()));
                log.progress.state = json!({ "high_water_mark": mark });
            }
            batches
        }
        SourceType::Nats => unreachable!("streaming sources run in stream_run"),
    };
    summary.rows_in = batches.iter().map(|b| b.num_rows() as u64).sum();
    log.progress.rows_in = summary.rows_in;
    if summary.rows_in == 0 {
        return Ok(());
    }
    let output = transform(check, batches).await?;
    summary.rows_out = output.iter().map(|b| b.num_rows() as u64).sum();
    if summary.rows_out == 0 {
        return Ok(());
    }
    let sink = store
        .feature_group(&sluice_types::NameRef::parse(&check.sink)?)
        .await?;
    let label = format!("pipeline {} run {}", spec.name, log.id);
    let metrics = sink.ingest_batches(output, &label, progress).await?;
    summary.offline_version = Some(metrics.offline_version);
    log.progress.rows_out = summary.rows_out;
    log.progress.offline_version = Some(metrics.offline_version);
    Ok(())
}

/// SQL then aggregations, over the whole input.
pub(crate) async fn transform(
    check: &PipelineCheck,
    batches: Vec<RecordBatch>,
) -> Result<Vec<RecordBatch>> {
    let spec = &check.spec;
    let mut schema = check.source_schema.clone();
    let mut batches = batches;
    if let Some(transform) = &spec.transform {
        let sql = SqlTransform {
            pipeline: &spec.name,
            sql: &transform.sql,
        };
        (schema, batches) = sql.apply(schema, batches).await?;
    }
    let Some(aggregate) = &spec.aggregate else {
        return Ok(batches);
    };
    let transform_error = |source| Error::transform(spec.name.clone(), source);
    let plan = CompiledAggregation::new(aggregate).map_err(transform_error)?;
    let input = concat_batches(&schema, &batches)?;
    if input.num_rows() == 0 {
        return Ok(Vec::new());
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = tokio::task::spawn_blocking(move || aggregate_batch(&plan, &input, threads))
        .await
        .expect("aggregation task panicked")
        .map_err(transform_error)?;
    Ok(vec![output])
}

fn high_water_mark(batches: &[RecordBatch], column: &str) -> Option<i64> {
    batches
        .iter()
        .filter_map(|b| b.column_by_name(column))
        .filter(|c| c.null_count() < c.len())
        .filter_map(|c| max(c.as_primitive::<TimestampMicrosecondType>()))
        .max()
}
