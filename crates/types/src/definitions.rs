//! Definition files: every `*.toml` under a project's `features/` folder.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::feature_group::FeatureGroupSpec;
use crate::feature_view::FeatureViewSpec;
use crate::monitor::MonitorSpec;
use crate::pipeline::PipelineDefinition;
use crate::{Error, Result};

/// The folder of a project, relative to its root, that holds definition files.
pub const DEFINITIONS_DIR: &str = "features";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DefinitionFile {
    #[serde(default)]
    feature_group: Vec<FeatureGroupSpec>,
    #[serde(default)]
    feature_view: Vec<FeatureViewSpec>,
    #[serde(default)]
    pipeline: Vec<PipelineDefinition>,
    #[serde(default)]
    monitor: Vec<MonitorSpec>,
}

/// A definition together with the file it came from, for error messages.
#[derive(Debug, Clone)]
pub struct Located<T> {
    /// The definition file, as given to [`Definitions::load`] or `from_sources`.
    pub file: PathBuf,
    /// The parsed definition.
    pub item: T,
}

/// All definitions of a project, checked and sorted by name and version.
#[derive(Debug, Default)]
pub struct Definitions {
    /// Each checked on its own here: names, types, key and event time.
    pub feature_groups: Vec<Located<FeatureGroupSpec>>,
    /// Checked against the feature groups they join by `sluice apply`, which knows the catalog too.
    pub feature_views: Vec<Located<FeatureViewSpec>>,
    /// Checked on their own here; against feature groups and SQL by `sluice apply`.
    pub pipelines: Vec<Located<PipelineDefinition>>,
    /// Checked on their own here; against the groups and columns they watch when they run.
    pub monitors: Vec<Located<MonitorSpec>>,
}

impl Definitions {
    /// The pipeline called `name`, if one is defined.
    pub fn pipeline(&self, name: &str) -> Option<&Located<PipelineDefinition>> {
        self.pipelines.iter().find(|p| p.item.name() == name)
    }

    /// The monitor called `name`, if one is defined.
    pub fn monitor(&self, name: &str) -> Option<&Located<MonitorSpec>> {
        self.monitors.iter().find(|m| m.item.name == name)
    }

    /// Reads `DIR/features/*.toml` in file-name order. A missing folder means no definitions.
    pub fn load(project_dir: &Path) -> Result<Self> {
        let dir = project_dir.join(DEFINITIONS_DIR);
        if !dir.exists() {
            return Ok(Self::default());
        }
        let entries = std::fs::read_dir(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|ext| ext == "toml"))
            .collect();
        files.sort();
        let mut sources = Vec::with_capacity(files.len());
        for file in files {
            let text = std::fs::read_to_string(&file).map_err(|source| Error::Io {
                path: file.clone(),
                source,
            })?;
            sources.push((file, text));
        }
        Self::from_sources(sources)
    }

    /// Parses and checks definition texts, each labelled with the file it came from.
    pub fn from_sources(sources: Vec<(PathBuf, String)>) -> Result<Self> {
        let mut by_id: BTreeMap<(String, u32), Located<FeatureGroupSpec>> = BTreeMap::new();
        let mut views: BTreeMap<(String, u32), Located<FeatureViewSpec>> = BTreeMap::new();
        let mut pipelines: BTreeMap<String, Located<PipelineDefinition>> = BTreeMap::new();
        let mut monitors: BTreeMap<String, Located<MonitorSpec>> = BTreeMap::new();
        for (file, text) in sources {
            let parsed: DefinitionFile = toml::from_str(&text).map_err(|e| Error::Malformed {
                path: file.clone(),
                message: e.to_string().trim_end().replace('\n', " "),
            })?;
            for view in parsed.feature_view {
                let id = (view.name.clone(), view.version);
                if let Some(first) = views.get(&id) {
                    return Err(Error::DuplicateDefinition {
                        name: id.0,
                        version: id.1,
                        first: first.file.clone(),
                        second: file,
                    });
                }
                views.insert(
                    id,
                    Located {
                        file: file.clone(),
                        item: view,
                    },
                );
            }
            for pipeline in parsed.pipeline {
                pipeline
                    .validate()
                    .map_err(|message| Error::InvalidPipeline {
                        file: file.clone(),
                        pipeline: pipeline.name().to_string(),
                        message,
                    })?;
                if let Some(first) = pipelines.get(pipeline.name()) {
                    return Err(Error::DuplicatePipeline {
                        name: pipeline.name().to_string(),
                        first: first.file.clone(),
                        second: file,
                    });
                }
                pipelines.insert(
                    pipeline.name().to_string(),
                    Located {
                        file: file.clone(),
                        item: pipeline,
                    },
                );
            }
            for monitor in parsed.monitor {
                monitor
                    .validate()
                    .map_err(|message| Error::InvalidMonitor {
                        file: file.clone(),
                        monitor: monitor.name.clone(),
                        message,
                    })?;
                if let Some(first) = monitors.get(&monitor.name) {
                    return Err(Error::DuplicateMonitor {
                        name: monitor.name.clone(),
                        first: first.file.clone(),
                        second: file,
                    });
                }
                monitors.insert(
                    monitor.name.clone(),
                    Located {
                        file: file.clone(),
                        item: monitor,
                    },
                );
            }
            for spec in parsed.feature_group {
                spec.validate()
                    .map_err(|message| Error::InvalidFeatureGroup {
                        file: file.clone(),
                        feature_group: format!("{}:{}", spec.name, spec.version),
                        message,
                    })?;
                let id = (spec.name.clone(), spec.version);
                if let Some(first) = by_id.get(&id) {
                    return Err(Error::DuplicateDefinition {
                        name: id.0,
                        version: id.1,
                        first: first.file.clone(),
                        second: file,
                    });
                }
                by_id.insert(
                    id,
                    Located {
                        file: file.clone(),
                        item: spec,
                    },
                );
            }
        }
        check_chains(&pipelines)?;
        for located in pipelines.values() {
            if let PipelineDefinition::Monitor(spec) = &located.item {
                if !monitors.contains_key(&spec.monitor) {
                    let known: Vec<&str> = monitors.keys().map(String::as_str).collect();
                    return Err(Error::InvalidPipeline {
                        file: located.file.clone(),
                        pipeline: spec.name.clone(),
                        message: format!(
                            "monitor '{}' is not defined (monitors: {})",
                            spec.monitor,
                            if known.is_empty() {
                                "none".to_string()
                            } else {
                                known.join(", ")
                            }
                        ),
                    });
                }
            }
        }
        Ok(Self {
            feature_groups: by_id.into_values().collect(),
            feature_views: views.into_values().collect(),
            pipelines: pipelines.into_values().collect(),
            monitors: monitors.into_values().collect(),
        })
    }
}

/// A chain's steps must be defined, batch pipelines that are not chains
/// themselves: a chain is one program that ends.
fn check_chains(pipelines: &BTreeMap<String, Located<PipelineDefinition>>) -> Result<()> {
    for located in pipelines.values() {
        let PipelineDefinition::Chain(chain) = &located.item else {
            continue;
        };
        let invalid = |message: String| Error::InvalidPipeline {
            file: located.file.clone(),
            pipeline: chain.name.clone(),
            message,
        };
        for step in &chain.steps {
            let Some(target) = pipelines.get(step) else {
                let known: Vec<&str> = pipelines.keys().map(String::as_str).collect();
                return Err(invalid(format!(
                    "step '{step}' is not a defined pipeline (defined: {})",
                    known.join(", ")
                )));
            };
            match &target.item {
                PipelineDefinition::Chain(_) => {
                    return Err(invalid(format!(
                        "step '{step}' is a chain; list its steps instead"
                    )))
                }
                PipelineDefinition::Feature(spec) if spec.is_streaming() => {
                    return Err(invalid(format!(
                        "step '{step}' is a streaming pipeline, which does not end; run it on its own"
                    )))
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The commented example `sluice init` writes to `features/example.toml`.
pub const EXAMPLE_DEFINITIONS: &str = r#"# Feature groups: typed tables of features keyed by a primary key and an event time.
# Run `sluice apply` after editing to register them; change a schema by adding a new version.

[[feature_group]]
name = "transactions"
version = 1
primary_key = ["account_id"]       # one or more columns; never null
event_time = "ts"                  # timestamp column; rows are kept per (key, event time)
online = true                      # keep the newest row per key in the online store
ttl = "30d"                        # optional: online lookups older than this say EXPIRED
description = "Card transactions, one row per account and event time"
columns = [
  { name = "account_id", type = "int64" },
  { name = "ts", type = "timestamp" },  # RFC 3339 text; add format = "epoch_seconds" or "epoch_millis" for numbers
  { name = "amount", type = "float64" },
  { name = "f1", type = "float64" },
  { name = "f2", type = "float64" },
  { name = "f3", type = "float64" },
  { name = "f4", type = "float64" },
  { name = "f5", type = "float64" },
  { name = "f6", type = "float64" },
  { name = "f7", type = "float64" },
  { name = "quantity", type = "int64" },
  { name = "merchant_id", type = "int64" },
  { name = "category", type = "string", nullable = true },
]
# types: bool, int32, int64, float32, float64, string, timestamp (UTC, microseconds), date
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_parses() {
        let defs =
            Definitions::from_sources(vec![("example.toml".into(), EXAMPLE_DEFINITIONS.into())])
                .unwrap();
        assert_eq!(defs.feature_groups.len(), 1);
        assert_eq!(defs.feature_groups[0].item.name, "transactions");
    }

    #[test]
    fn duplicate_across_files_names_both() {
        let err = Definitions::from_sources(vec![
            ("a.toml".into(), EXAMPLE_DEFINITIONS.into()),
            ("b.toml".into(), EXAMPLE_DEFINITIONS.into()),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("a.toml") && err.contains("b.toml"), "{err}");
    }

    #[test]
    fn key_not_a_column_names_file_and_group() {
        let text = EXAMPLE_DEFINITIONS
            .replace("primary_key = [\"account_id\"]", "primary_key = [\"acct\"]");
        let err = Definitions::from_sources(vec![("fg.toml".into(), text)])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("fg.toml") && err.contains("transactions:1") && err.contains("'acct'"),
            "{err}"
        );
    }
}
