//! The pipelines around models: `kind = "training"` (a feature view's
//! training data in, a registered model out), `kind = "batch_inference"` (a
//! registered model over its view's batch data, predictions out) and
//! `kind = "chain"` (other pipelines run in order as one program).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::Ttl;
use crate::name::{validate_name, NameRef};
use crate::training_dataset::Split;

/// `[[pipeline]] kind = "training"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainingPipelineSpec {
    /// A valid name, unique among the project's pipelines.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// `NAME:VERSION` (or `NAME` for the latest version).
    pub feature_view: String,
    /// Train on this existing training dataset …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_dataset: Option<u32>,
    /// … or create a new one from the latest commits on every run, split so
    /// (`random:FRACTION:SEED` or `time:TRAIN_END[,TEST_START]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split: Option<String>,
    /// With `split`: only spine rows with event time in [start, end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// With `split`: the (exclusive) end of that range; either bound may be left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// The trainer: `logistic_regression`, `linear_regression`,
    /// `gbdt_classifier` or `gbdt_regressor`.
    pub algorithm: String,
    /// Hyperparameters; numbers and booleans are passed on as their text.
    #[serde(default)]
    pub params: BTreeMap<String, toml::Value>,
    /// The registered model's name; every run adds a version.
    pub model: String,
    /// Point this alias of `model` at each new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// `[[pipeline]] kind = "batch_inference"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchInferencePipelineSpec {
    /// A valid name, unique among the project's pipelines.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// `NAME`, `NAME:VERSION` or `NAME@ALIAS`, resolved when the run starts.
    pub model: String,
    /// The spine rows to predict for: event time in [start, end) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<DateTime<Utc>>,
    /// … the end being exclusive (either bound may be left out) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<DateTime<Utc>>,
    /// … or within this long before the run starts (e.g. `1d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last: Option<Ttl>,
    /// A feature group to append the predictions to (created on first use).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// A `.parquet` or `.csv` file, relative to the project folder, replaced by each run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out: Option<String>,
}

/// `[[pipeline]] kind = "chain"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainPipelineSpec {
    /// A valid name, unique among the project's pipelines.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// Names of batch feature, training and batch-inference pipelines, run in this order.
    pub steps: Vec<String>,
}

impl TrainingPipelineSpec {
    /// Checks names, that exactly one of `training_dataset` and `split` is
    /// given (and `start`/`end` only with `split`), and that parameters are
    /// plain values.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        NameRef::parse(&self.feature_view).map_err(|e| format!("feature_view: {e}"))?;
        validate_name(&self.model).map_err(|e| format!("model: {e}"))?;
        if let Some(alias) = &self.alias {
            validate_name(alias).map_err(|e| format!("alias: {e}"))?;
        }
        match (&self.training_dataset, &self.split) {
            (Some(_), Some(_)) => {
                return Err("give `training_dataset` or `split`, not both".into());
            }
            (None, None) => {
                return Err(
                    "give `training_dataset` (an existing one) or `split` (a new one per run)"
                        .into(),
                );
            }
            (Some(_), None) if self.start.is_some() || self.end.is_some() => {
                return Err("`start` and `end` select rows for a new training dataset: they need `split`, not `training_dataset`".into());
            }
            (None, Some(split)) => {
                Split::parse(split)?;
            }
            _ => {}
        }
        for (key, value) in &self.params {
            if matches!(value, toml::Value::Array(_) | toml::Value::Table(_)) {
                return Err(format!("param '{key}' must be a string, number or boolean"));
            }
        }
        Ok(())
    }

    /// The feature view as a reference. Panics if the spec was not validated.
    pub fn feature_view(&self) -> NameRef {
        NameRef::parse(&self.feature_view).expect("validated")
    }

    /// Hyperparameters as the text the trainers parse.
    pub fn param_texts(&self) -> BTreeMap<String, String> {
        self.params
            .iter()
            .map(|(key, value)| {
                let text = match value {
                    toml::Value::String(text) => text.clone(),
                    other => other.to_string(),
                };
                (key.clone(), text)
            })
            .collect()
    }
}

impl BatchInferencePipelineSpec {
    /// Checks the name, the time range (`last` or `start`/`end`, start before
    /// end), and that there is a sink or an output file of a known kind.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        if self.model.trim().is_empty() {
            return Err("model is empty".into());
        }
        if self.last.is_some() && (self.start.is_some() || self.end.is_some()) {
            return Err("give `last` or `start`/`end`, not both".into());
        }
        if let (Some(start), Some(end)) = (self.start, self.end) {
            if start >= end {
                return Err(format!("start {start} is not before end {end}"));
            }
        }
        if self.sink.is_none() && self.out.is_none() {
            return Err("give `sink` (a feature group), `out` (a file), or both".into());
        }
        if let Some(sink) = &self.sink {
            NameRef::parse(sink).map_err(|e| format!("sink: {e}"))?;
        }
        if let Some(out) = &self.out {
            if !(out.ends_with(".parquet") || out.ends_with(".csv")) {
                return Err(format!("out '{out}': use a .parquet or .csv file name"));
            }
        }
        Ok(())
    }

    /// The event-time range to predict for, `last` counted back from `now`.
    pub fn range(&self, now: DateTime<Utc>) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        match &self.last {
            Some(last) => (
                Some(now - chrono::Duration::microseconds(last.as_micros())),
                Some(now),
            ),
            None => (self.start, self.end),
        }
    }
}

impl ChainPipelineSpec {
    /// Checks the name and that there are steps, none of them the chain
    /// itself; the steps are checked against the other definitions by
    /// [`Definitions`](crate::Definitions).
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        if self.steps.is_empty() {
            return Err("a chain needs at least one step".into());
        }
        if self.steps.iter().any(|step| step == &self.name) {
            return Err("a chain cannot run itself".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::pipeline::{PipelineDefinition, PipelineKind};
    use crate::Definitions;

    const FEATURE: &str = r#"
[[pipeline]]
name = "activity"
kind = "feature"
sink = "activity"
[pipeline.source]
type = "files"
path = "data/*.csv"
columns = [{ name = "card_id", type = "int64" }]
"#;

    const TRAINING: &str = r#"
[[pipeline]]
name = "train"
kind = "training"
feature_view = "fraud:1"
split = "random:0.8:7"
algorithm = "gbdt_classifier"
params = { rounds = 20, learning_rate = 0.1, objective = "binary" }
model = "fraud"
alias = "staging"
"#;

    const SCORING: &str = r#"
[[pipeline]]
name = "score"
kind = "batch_inference"
model = "fraud@staging"
last = "1d"
sink = "fraud_predictions"
out = "predictions.parquet"
"#;

    fn load(text: &str) -> crate::Result<Definitions> {
        Definitions::from_sources(vec![(PathBuf::from("features/p.toml"), text.to_string())])
    }

    fn error(text: &str) -> String {
        load(text).unwrap_err().to_string()
    }

    #[test]
    fn every_kind_parses_and_a_chain_names_its_steps() {
        let chain = "\n[[pipeline]]\nname = \"daily\"\nkind = \"chain\"\nsteps = [\"activity\", \"train\", \"score\"]\n";
        let defs = load(&format!("{FEATURE}{TRAINING}{SCORING}{chain}")).unwrap();
        let kinds: Vec<(&str, PipelineKind)> = defs
            .pipelines
            .iter()
            .map(|p| (p.item.name(), p.item.kind()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("activity", PipelineKind::Feature),
                ("daily", PipelineKind::Chain),
                ("score", PipelineKind::BatchInference),
                ("train", PipelineKind::Training),
            ]
        );
        let PipelineDefinition::Training(train) = &defs.pipeline("train").unwrap().item else {
            panic!("a training pipeline");
        };
        let params = train.param_texts();
        assert_eq!(params["rounds"], "20");
        assert_eq!(params["learning_rate"], "0.1");
        assert_eq!(params["objective"], "binary");
        let PipelineDefinition::BatchInference(score) = &defs.pipeline("score").unwrap().item
        else {
            panic!("a batch inference pipeline");
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-03-02T00:00:00Z")
            .unwrap()
            .to_utc();
        let (start, end) = score.range(now);
        assert_eq!(end, Some(now));
        assert_eq!(start.unwrap().to_rfc3339(), "2026-03-01T00:00:00+00:00");
    }

    #[test]
    fn chains_name_the_step_at_fault() {
        let err = error(&format!(
            "{FEATURE}\n[[pipeline]]\nname = \"daily\"\nkind = \"chain\"\nsteps = [\"activity\", \"nope\"]\n"
        ));
        assert!(
            err.contains("pipeline 'daily'")
                && err.contains("step 'nope' is not a defined pipeline"),
            "{err}"
        );
        let err = error(&format!(
            "{FEATURE}\n[[pipeline]]\nname = \"a\"\nkind = \"chain\"\nsteps = [\"activity\"]\n[[pipeline]]\nname = \"b\"\nkind = \"chain\"\nsteps = [\"a\"]\n"
        ));
        assert!(err.contains("step 'a' is a chain"), "{err}");
        let streaming = FEATURE
            .replace(
                "type = \"files\"",
                "type = \"nats\"\nstream = \"s\"\nsubject = \"t\"",
            )
            .replace("path = \"data/*.csv\"\n", "");
        let err = error(&format!(
            "{streaming}\n[[pipeline]]\nname = \"daily\"\nkind = \"chain\"\nsteps = [\"activity\"]\n"
        ));
        assert!(
            err.contains("step 'activity' is a streaming pipeline"),
            "{err}"
        );
    }

    #[test]
    fn bad_model_pipelines_are_refused_with_the_reason() {
        for (from, to, expected) in [
            ("split = \"random:0.8:7\"", "", "give `training_dataset`"),
            (
                "split = \"random:0.8:7\"",
                "split = \"random:0.8:7\"\ntraining_dataset = 1",
                "not both",
            ),
            (
                "split = \"random:0.8:7\"",
                "split = \"random:2:7\"",
                "between 0 and 1",
            ),
            (
                "alias = \"staging\"",
                "alias = \"staging\"\nepochs = 3",
                "unknown field `epochs`",
            ),
            (
                "kind = \"training\"",
                "kind = \"trianing\"",
                "unknown pipeline kind `trianing`",
            ),
            (
                "params = { rounds = 20,",
                "params = { rounds = [20],",
                "param 'rounds'",
            ),
        ] {
            refused(TRAINING, from, to, expected);
        }
        for (from, to, expected) in [
            (
                "sink = \"fraud_predictions\"\nout = \"predictions.parquet\"\n",
                "",
                "give `sink`",
            ),
            (
                "out = \"predictions.parquet\"",
                "out = \"predictions.json\"",
                ".parquet or .csv",
            ),
            (
                "last = \"1d\"",
                "last = \"1d\"\nstart = 2026-01-01T00:00:00Z",
                "not both",
            ),
        ] {
            refused(SCORING, from, to, expected);
        }
    }

    /// `base` with `from` replaced by `to` is refused with `expected` in the message.
    fn refused(base: &str, from: &str, to: &str, expected: &str) {
        let text = base.replace(from, to);
        assert_ne!(text, base, "{from}");
        let err = error(&text);
        assert!(err.contains(expected), "expected {expected} in: {err}");
    }
}
