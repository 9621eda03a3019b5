//! Pipeline definitions: `[[pipeline]]` tables in `features/*.toml`.
//!
//! A feature pipeline reads a source (files, a PostgreSQL query, or a NATS
//! JetStream subject), optionally transforms it with SQL and/or window
//! aggregations, and writes the result to a sink feature group. The other
//! kinds (training, batch inference, chains) are in `model_pipeline`.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::aggregation::WindowAggregationSpec;
use crate::column::{ColumnSpec, ColumnType};
use crate::duration::Ttl;
use crate::feature_group::FeatureGroupSpec;
use crate::model_pipeline::{BatchInferencePipelineSpec, ChainPipelineSpec, TrainingPipelineSpec};
use crate::monitor::MonitorPipelineSpec;
use crate::name::{validate_name, NameRef};

/// What a pipeline does, as written in its `kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PipelineKind {
    /// Reads a source and writes a feature group.
    Feature,
    /// Trains a model on a feature view's training dataset.
    Training,
    /// Scores rows with a registered model into a feature group and/or a file.
    BatchInference,
    /// Runs other batch pipelines in order.
    Chain,
    /// Runs a drift monitor.
    Monitor,
}

impl std::fmt::Display for PipelineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PipelineKind::Feature => "feature",
            PipelineKind::Monitor => "monitor",
            PipelineKind::Training => "training",
            PipelineKind::BatchInference => "batch_inference",
            PipelineKind::Chain => "chain",
        })
    }
}

/// One `[[pipeline]]` table; `kind` says which.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PipelineDefinition {
    /// `kind = "feature"`.
    Feature(Box<PipelineSpec>),
    /// `kind = "training"`.
    Training(TrainingPipelineSpec),
    /// `kind = "batch_inference"`.
    BatchInference(BatchInferencePipelineSpec),
    /// `kind = "chain"`.
    Chain(ChainPipelineSpec),
    /// `kind = "monitor"`.
    Monitor(MonitorPipelineSpec),
}

/// By hand rather than serde's internal tagging, which buffers the table and
/// so loses TOML's native date-times (`start = 2026-01-01T00:00:00Z`).
impl<'de> Deserialize<'de> for PipelineDefinition {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut table = toml::Table::deserialize(deserializer)?;
        let kind = match table.remove("kind") {
            Some(toml::Value::String(kind)) => kind,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "pipeline kind must be a string, not {other}"
                )))
            }
            None => return Err(D::Error::custom("a pipeline needs `kind`")),
        };
        let value = toml::Value::Table(table);
        let parsed = match kind.as_str() {
            "feature" => value
                .try_into()
                .map(|spec| PipelineDefinition::Feature(Box::new(spec))),
            "training" => value.try_into().map(PipelineDefinition::Training),
            "batch_inference" => value.try_into().map(PipelineDefinition::BatchInference),
            "chain" => value.try_into().map(PipelineDefinition::Chain),
            "monitor" => value.try_into().map(PipelineDefinition::Monitor),
            other => {
                return Err(D::Error::custom(format!(
                    "unknown pipeline kind `{other}` (expected feature, training, batch_inference, monitor or chain)"
                )))
            }
        };
        parsed.map_err(|e| D::Error::custom(format!("{kind} pipeline: {}", e.message())))
    }
}

impl PipelineDefinition {
    /// The pipeline's name, unique in the project.
    pub fn name(&self) -> &str {
        match self {
            PipelineDefinition::Feature(spec) => &spec.name,
            PipelineDefinition::Training(spec) => &spec.name,
            PipelineDefinition::BatchInference(spec) => &spec.name,
            PipelineDefinition::Chain(spec) => &spec.name,
            PipelineDefinition::Monitor(spec) => &spec.name,
        }
    }

    /// Which kind of pipeline this is.
    pub fn kind(&self) -> PipelineKind {
        match self {
            PipelineDefinition::Feature(_) => PipelineKind::Feature,
            PipelineDefinition::Training(_) => PipelineKind::Training,
            PipelineDefinition::BatchInference(_) => PipelineKind::BatchInference,
            PipelineDefinition::Chain(_) => PipelineKind::Chain,
            PipelineDefinition::Monitor(_) => PipelineKind::Monitor,
        }
    }

    /// Checks what one definition can check on its own; chains' steps are
    /// checked against the other definitions by `Definitions`.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            PipelineDefinition::Feature(spec) => spec.validate(),
            PipelineDefinition::Training(spec) => spec.validate(),
            PipelineDefinition::BatchInference(spec) => spec.validate(),
            PipelineDefinition::Chain(spec) => spec.validate(),
            PipelineDefinition::Monitor(spec) => spec.validate(),
        }
    }

    /// What the pipeline reads and what it writes, in a few words.
    pub fn describe(&self) -> String {
        match self {
            PipelineDefinition::Feature(spec) => {
                let source = format!("{:?}", spec.source.source_type).to_lowercase();
                format!("{source} source -> feature group {}", spec.sink)
            }
            PipelineDefinition::Training(spec) => {
                let data = match (spec.training_dataset, &spec.split) {
                    (Some(td), _) => format!("training dataset {td}"),
                    (None, split) => format!(
                        "a new training dataset ({})",
                        split.as_deref().unwrap_or_default()
                    ),
                };
                format!(
                    "feature view {}, {data} -> model {} ({})",
                    spec.feature_view, spec.model, spec.algorithm
                )
            }
            PipelineDefinition::BatchInference(spec) => {
                let targets: Vec<String> = spec
                    .sink
                    .iter()
                    .map(|s| format!("feature group {s}"))
                    .chain(spec.out.iter().map(|o| format!("file {o}")))
                    .collect();
                format!("model {} -> {}", spec.model, targets.join(" and "))
            }
            PipelineDefinition::Chain(spec) => format!("steps {}", spec.steps.join(" -> ")),
            PipelineDefinition::Monitor(spec) => format!("monitor {}", spec.monitor),
        }
    }
}

/// Where a feature pipeline reads from, as written in its source's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceType {
    /// CSV, Parquet or NDJSON files (by extension) matching `path`.
    Files,
    /// The rows of a PostgreSQL `query`.
    Postgres,
    /// JSON messages on a NATS JetStream subject, one event each; the
    /// pipeline streams until stopped.
    Nats,
}

/// `[pipeline.source]`. Which fields apply depends on `type`; `validate` says
/// which are missing or out of place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// Written `type`; decides which of the fields below apply.
    #[serde(rename = "type")]
    pub source_type: SourceType,
    /// files: a path or glob, relative to the project folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// postgres: `postgres://…`; nats: `nats://…` (default `nats://127.0.0.1:4222`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// postgres: the query. With `incremental`, `$1` is bound to the last
    /// successful run's greatest value of that column (a timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// postgres: a timestamp source column; `$1` in the query is bound to
    /// its newest value that the last successful run read (for the first run, a
    /// time long before any data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incremental: Option<String>,
    /// nats: the JetStream stream to consume …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// … and the subject its messages are published on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// nats: offline commit after this many events …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_every: Option<u64>,
    /// … or this long after the first uncommitted event, whichever comes first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_interval: Option<Ttl>,
    /// The source's columns, with the same types and parsing rules as a feature group's.
    pub columns: Vec<ColumnSpec>,
}

/// `[pipeline.transform]`: SQL over the table `source`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSpec {
    /// One query (DataFusion's dialect) over the table `source`.
    pub sql: String,
}

/// A `kind = "feature"` pipeline: source → optional SQL → optional window
/// aggregation → sink feature group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineSpec {
    /// A valid name, unique among the project's pipelines.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// The feature group written: `NAME` (latest version) or `NAME:VERSION`.
    pub sink: String,
    /// What it reads.
    pub source: SourceSpec,
    /// SQL applied to the source's rows, before any aggregation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform: Option<TransformSpec>,
    /// Window aggregations per key, one output row per event; the sink's key
    /// and event time must be the aggregation's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregate: Option<WindowAggregationSpec>,
}

impl PipelineSpec {
    /// Checks what can be checked without the catalog or a SQL planner.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        NameRef::parse(&self.sink).map_err(|e| format!("sink: {e}"))?;
        self.source.validate()?;
        if let Some(aggregate) = &self.aggregate {
            aggregate.aggregates()?;
        }
        Ok(())
    }

    /// The sink as a reference. Panics if the spec was not validated.
    pub fn sink(&self) -> NameRef {
        NameRef::parse(&self.sink).expect("validated")
    }

    /// Whether the pipeline consumes a stream (NATS) rather than running to an end.
    pub fn is_streaming(&self) -> bool {
        self.source.source_type == SourceType::Nats
    }
}

impl SourceSpec {
    /// Checks that the fields `type` needs are given and no others, and the
    /// columns; returns the first problem.
    pub fn validate(&self) -> Result<(), String> {
        let given = |field: &Option<String>| field.is_some();
        let (needed, allowed): (&[(&str, bool)], &[&str]) = match self.source_type {
            SourceType::Files => (&[("path", given(&self.path))], &["path"]),
            SourceType::Postgres => (
                &[("url", given(&self.url)), ("query", given(&self.query))],
                &["url", "query", "incremental"],
            ),
            SourceType::Nats => (
                &[
                    ("stream", given(&self.stream)),
                    ("subject", given(&self.subject)),
                ],
                &[
                    "url",
                    "stream",
                    "subject",
                    "commit_every",
                    "commit_interval",
                ],
            ),
        };
        let kind = format!("{:?}", self.source_type).to_lowercase();
        for (field, present) in needed {
            if !present {
                return Err(format!("a {kind} source needs `{field}`"));
            }
        }
        let present = [
            ("path", self.path.is_some()),
            ("url", self.url.is_some()),
            ("query", self.query.is_some()),
            ("incremental", self.incremental.is_some()),
            ("stream", self.stream.is_some()),
            ("subject", self.subject.is_some()),
            ("commit_every", self.commit_every.is_some()),
            ("commit_interval", self.commit_interval.is_some()),
        ];
        for (field, is_present) in present {
            if is_present && !allowed.contains(&field) {
                return Err(format!("a {kind} source takes no `{field}`"));
            }
        }
        if self.commit_every == Some(0) {
            return Err("commit_every must be 1 or more".into());
        }
        if self.columns.is_empty() {
            return Err("the source declares no columns".into());
        }
        let mut seen = HashSet::new();
        for column in &self.columns {
            validate_name(&column.name).map_err(|e| format!("source column {e}"))?;
            if !seen.insert(column.name.as_str()) {
                return Err(format!("source column '{}' is declared twice", column.name));
            }
        }
        if let Some(column) = &self.incremental {
            match self.columns.iter().find(|c| &c.name == column) {
                Some(c) if c.column_type == ColumnType::Timestamp => {}
                Some(c) => {
                    return Err(format!(
                        "incremental column '{column}' has type {}, expected timestamp",
                        c.column_type
                    ))
                }
                None => {
                    return Err(format!(
                        "incremental column '{column}' is not a source column"
                    ))
                }
            }
        }
        Ok(())
    }

    /// The source's columns as a feature-group-like spec, so that input is
    /// checked and converted by the same rules as `sluice ingest`.
    pub fn as_input_spec(&self, pipeline: &str) -> FeatureGroupSpec {
        FeatureGroupSpec {
            name: pipeline.to_string(),
            version: 1,
            primary_key: Vec::new(),
            event_time: None,
            online: false,
            ttl: None,
            description: String::new(),
            validation: Default::default(),
            expectations: Vec::new(),
            statistics: true,
            columns: self.columns.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PipelineSpec {
        match toml::from_str(text).unwrap() {
            PipelineDefinition::Feature(spec) => *spec,
            other => panic!("not a feature pipeline: {other:?}"),
        }
    }

    const BASE: &str = r#"
name = "card_activity"
kind = "feature"
sink = "card_activity"
[source]
type = "files"
path = "data/*.csv"
columns = [{ name = "card_id", type = "int64" }, { name = "ts", type = "timestamp" }]
"#;

    #[test]
    fn a_files_pipeline_validates() {
        parse(BASE).validate().unwrap();
    }

    #[test]
    fn missing_and_misplaced_source_fields_are_named() {
        let err = parse(&BASE.replace("type = \"files\"", "type = \"nats\""))
            .validate()
            .unwrap_err();
        assert_eq!(err, "a nats source needs `stream`");
        let err = parse(&BASE.replace("path = ", "query = \"x\"\npath = "))
            .validate()
            .unwrap_err();
        assert_eq!(err, "a files source takes no `query`");
    }
}
