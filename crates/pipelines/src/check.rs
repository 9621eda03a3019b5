//! What `sluice apply` and `sluice run` check before anything runs: the
//! SQL plans against the source's columns, the aggregations name columns
//! that exist with usable types, and the result fits the sink feature group.
//! Training pipelines: the feature view exists and the algorithm is known.

use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use serde::Serialize;
use sluice_featurestore::FeatureStore;
use sluice_types::{
    ColumnSpec, ColumnType, Definitions, FeatureGroupSpec, NameRef, PipelineDefinition,
    PipelineSpec, TrainingPipelineSpec,
};

use crate::sql_transform::{column_specs, SqlTransform};
use crate::{Error, Result};

/// A pipeline that passed its checks, and the shapes it works with.
#[derive(Debug, Clone, Serialize)]
pub struct PipelineCheck {
    /// The pipeline's name.
    pub pipeline: String,
    /// The definition file it is in.
    pub file: PathBuf,
    /// The source's kind: `files`, `postgres` or `nats`.
    pub source: String,
    /// The sink feature group, `NAME:VERSION`: the defined or registered
    /// version it names, else the greatest.
    pub sink: String,
    /// The columns the pipeline produces, after its SQL and aggregations.
    pub output_columns: Vec<String>,
    #[serde(skip)]
    pub(crate) spec: PipelineSpec,
    #[serde(skip)]
    pub(crate) sink_spec: FeatureGroupSpec,
    /// The source rows' schema, as checked and converted from input.
    #[serde(skip)]
    pub(crate) source_schema: SchemaRef,
}

/// Checks every pipeline of `definitions`, against the feature groups and
/// views they define and those already registered; returns the feature
/// pipelines' shapes. Batch-inference models are resolved when they run,
/// since a chain may train them first.
pub async fn check_pipelines(
    store: &FeatureStore,
    definitions: &Definitions,
) -> Result<Vec<PipelineCheck>> {
    let mut checks = Vec::with_capacity(definitions.pipelines.len());
    for located in &definitions.pipelines {
        match &located.item {
            PipelineDefinition::Feature(spec) => {
                checks.push(check_pipeline(store, definitions, &located.file, spec).await?)
            }
            PipelineDefinition::Training(spec) => {
                check_training(store, definitions, spec).await?;
            }
            PipelineDefinition::BatchInference(_)
            | PipelineDefinition::Chain(_)
            | PipelineDefinition::Monitor(_) => {}
        }
    }
    Ok(checks)
}

async fn check_training(
    store: &FeatureStore,
    definitions: &Definitions,
    spec: &TrainingPipelineSpec,
) -> Result<()> {
    let invalid = |message: String| Error::Invalid {
        pipeline: spec.name.clone(),
        message,
    };
    if !crate::ALGORITHMS.contains(&spec.algorithm.as_str()) {
        return Err(invalid(format!(
            "unknown algorithm '{}' (known: {})",
            spec.algorithm,
            crate::ALGORITHMS.join(", ")
        )));
    }
    let view = spec.feature_view();
    let defined = definitions
        .feature_views
        .iter()
        .any(|l| l.item.name == view.name && view.version.is_none_or(|v| v == l.item.version));
    if !defined {
        store
            .feature_view(&view)
            .await
            .map_err(|e| invalid(format!("feature view {}: {e}", spec.feature_view)))?;
    }
    Ok(())
}

pub(crate) async fn check_pipeline(
    store: &FeatureStore,
    definitions: &Definitions,
    file: &Path,
    spec: &PipelineSpec,
) -> Result<PipelineCheck> {
    let invalid = |message: String| Error::Invalid {
        pipeline: spec.name.clone(),
        message,
    };
    let source_schema = spec.source.as_input_spec(&spec.name).arrow_schema();
    let mut columns = spec.source.columns.clone();
    if let Some(transform) = &spec.transform {
        let sql = SqlTransform {
            pipeline: &spec.name,
            sql: &transform.sql,
        };
        let schema = sql.output_schema(source_schema.clone()).await?;
        columns = column_specs(&schema).map_err(|m| invalid(format!("SQL output {m}")))?;
    }
    if let Some(aggregate) = &spec.aggregate {
        columns = aggregate.output_columns(&columns).map_err(invalid)?;
    }
    let sink_spec = resolve_sink(store, definitions, &spec.sink())
        .await?
        .ok_or_else(|| {
            invalid(format!(
                "sink feature group '{}' is neither defined under features/ nor registered",
                spec.sink
            ))
        })?;
    fits_sink(&columns, &sink_spec).map_err(invalid)?;
    if let Some(aggregate) = &spec.aggregate {
        // The sink keeps one row per (key, event time): it must be the aggregation's.
        if sink_spec.primary_key != aggregate.keys
            || sink_spec.event_time.as_deref() != Some(aggregate.event_time.as_str())
        {
            return Err(invalid(format!(
                "aggregates per ({}) at '{}', but sink {}:{} is keyed by ({}) at '{}'",
                aggregate.keys.join(", "),
                aggregate.event_time,
                sink_spec.name,
                sink_spec.version,
                sink_spec.primary_key.join(", "),
                sink_spec.event_time.as_deref().unwrap_or("no event time")
            )));
        }
    }
    Ok(PipelineCheck {
        pipeline: spec.name.clone(),
        file: file.to_path_buf(),
        source: format!("{:?}", spec.source.source_type).to_lowercase(),
        sink: format!("{}:{}", sink_spec.name, sink_spec.version),
        output_columns: columns.into_iter().map(|c| c.name).collect(),
        spec: spec.clone(),
        sink_spec,
        source_schema,
    })
}

/// The sink as it will be after `apply`: a definition wins over the catalog;
/// no version means the greatest known.
async fn resolve_sink(
    store: &FeatureStore,
    definitions: &Definitions,
    sink: &NameRef,
) -> Result<Option<FeatureGroupSpec>> {
    let mut candidates: Vec<FeatureGroupSpec> = definitions
        .feature_groups
        .iter()
        .filter(|l| l.item.name == sink.name)
        .map(|l| l.item.clone())
        .collect();
    for record in store.feature_groups().await? {
        if record.spec.name == sink.name
            && !candidates.iter().any(|c| c.version == record.spec.version)
        {
            candidates.push(record.spec);
        }
    }
    Ok(match sink.version {
        Some(version) => candidates.into_iter().find(|c| c.version == version),
        None => candidates.into_iter().max_by_key(|c| c.version),
    })
}

fn fits_sink(output: &[ColumnSpec], sink: &FeatureGroupSpec) -> std::result::Result<(), String> {
    let label = format!("{}:{}", sink.name, sink.version);
    for column in output {
        let Some(target) = sink.column(&column.name) else {
            return Err(format!(
                "produces column '{}', which sink {label} does not have (its columns: {})",
                column.name,
                sink.column_list()
            ));
        };
        let widens = matches!(
            (column.column_type, target.column_type),
            (ColumnType::Int32, ColumnType::Int64) | (ColumnType::Float32, ColumnType::Float64)
        );
        if column.column_type != target.column_type && !widens {
            return Err(format!(
                "produces column '{}' as {}, but sink {label} declares it {}",
                column.name, column.column_type, target.column_type
            ));
        }
    }
    if let Some(missing) = sink
        .columns
        .iter()
        .find(|c| !output.iter().any(|o| o.name == c.name))
    {
        return Err(format!(
            "does not produce column '{}' of sink {label} (it produces: {})",
            missing.name,
            output
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(())
}
