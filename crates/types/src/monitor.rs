//! Drift monitors (`[[monitor]]`): which features to compare between a
//! reference and a detection window, and the thresholds that raise an alarm.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::Ttl;
use crate::name::validate_name;

/// A drift monitor as defined in `features/*.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorSpec {
    /// A valid name, unique among monitors.
    pub name: String,
    /// The watched group as `NAME[:VERSION]`; a model's prediction log is
    /// the group `MODEL_log` of the model's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_group: Option<String>,
    /// Instead of `feature_group`: a model (`NAME`, `NAME:V`, `NAME@ALIAS`)
    /// whose prediction log is watched, its `prediction` column included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// The view (`NAME:VERSION`) whose training dataset a window names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_view: Option<String>,
    /// The columns compared; present in both windows.
    pub features: Vec<String>,
    /// What the detection window is compared with.
    pub reference: Window,
    /// The recent rows judged.
    pub detection: Window,
    /// A feature drifts when any of its metrics exceeds its threshold here.
    #[serde(default)]
    pub thresholds: Thresholds,
    /// Bins of the reference's quantiles that PSI and Jensen–Shannon use
    /// for numeric features.
    #[serde(default = "default_bins")]
    pub bins: usize,
}

fn default_bins() -> usize {
    10
}

/// Rows a monitor reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged, deny_unknown_fields)]
pub enum Window {
    /// Rows whose event time is in `[start, end)`.
    Range {
        /// First event time included.
        start: DateTime<Utc>,
        /// First event time left out.
        end: DateTime<Utc>,
    },
    /// Rows whose event time is within `last` of the run (`1d`, `12h`).
    Last {
        /// How far back from now.
        last: Ttl,
    },
    /// A split of one of `feature_view`'s training datasets.
    TrainingDataset {
        /// The dataset's version.
        training_dataset: u32,
        /// The split (`train`, `test`, `all`).
        #[serde(default = "default_split")]
        split: String,
    },
}

fn default_split() -> String {
    "train".into()
}

/// Upper limits per metric; a metric without one never alarms.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Population stability index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub psi: Option<f64>,
    /// Two-sample Kolmogorov–Smirnov statistic (numeric features).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ks: Option<f64>,
    /// Jensen–Shannon distance (natural log, as SciPy's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub js: Option<f64>,
    /// Absolute change of the null fraction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub null_rate_change: Option<f64>,
    /// Absolute change of the mean, in the reference's standard deviations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_shift: Option<f64>,
}

impl Thresholds {
    /// The threshold of `metric` (as [`crate::monitor`] metrics are named).
    pub fn of(&self, metric: &str) -> Option<f64> {
        match metric {
            "psi" => self.psi,
            "ks" => self.ks,
            "js" => self.js,
            "null_rate_change" => self.null_rate_change,
            "mean_shift" => self.mean_shift,
            _ => None,
        }
    }
}

impl MonitorSpec {
    /// Checks the definition on its own; the groups and columns it names
    /// are checked when the monitor runs (a model's log may not exist yet at `apply`).
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        match (&self.feature_group, &self.model) {
            (Some(_), Some(_)) => return Err("set feature_group or model, not both".into()),
            (None, None) => return Err("set feature_group (or model) to watch".into()),
            _ => {}
        }
        if self.features.is_empty() {
            return Err("features names no column".into());
        }
        let uses_dataset = [&self.reference, &self.detection]
            .iter()
            .any(|w| matches!(w, Window::TrainingDataset { .. }));
        if uses_dataset && self.feature_view.is_none() {
            return Err("a training_dataset window needs feature_view".into());
        }
        if let Window::Range { start, end } = &self.reference {
            if start >= end {
                return Err(format!(
                    "reference starts at {start}, not before its end {end}"
                ));
            }
        }
        if let Window::Range { start, end } = &self.detection {
            if start >= end {
                return Err(format!(
                    "detection starts at {start}, not before its end {end}"
                ));
            }
        }
        if !(2..=1000).contains(&self.bins) {
            return Err(format!("bins is {}, expected 2 to 1000", self.bins));
        }
        let thresholds = [
            ("psi", self.thresholds.psi),
            ("ks", self.thresholds.ks),
            ("js", self.thresholds.js),
            ("null_rate_change", self.thresholds.null_rate_change),
            ("mean_shift", self.thresholds.mean_shift),
        ];
        for (metric, value) in thresholds {
            if value.is_some_and(|v| v.is_nan() || v < 0.0) {
                return Err(format!("threshold {metric} must be 0 or more"));
            }
        }
        Ok(())
    }
}

/// `[[pipeline]] kind = "monitor"`: runs a monitor as a pipeline, so that
/// chains can run it after the pipelines that feed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MonitorPipelineSpec {
    /// A valid name, unique among the project's pipelines.
    pub name: String,
    /// Free text for people.
    #[serde(default)]
    pub description: String,
    /// The `[[monitor]]` run.
    pub monitor: String,
    /// Whether drift fails the run (and stops a chain there); otherwise
    /// the run succeeds and `sluice run` exits 3 at the end.
    #[serde(default)]
    pub fail_on_drift: bool,
}

impl MonitorPipelineSpec {
    /// Checks the names; that the monitor is defined is checked with the other definitions.
    pub fn validate(&self) -> Result<(), String> {
        validate_name(&self.name).map_err(|e| e.to_string())?;
        validate_name(&self.monitor).map_err(|e| format!("monitor: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct File {
        monitor: Vec<MonitorSpec>,
    }

    fn parse(text: &str) -> Result<MonitorSpec, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let spec = file.monitor.into_iter().next().unwrap();
        spec.validate()?;
        Ok(spec)
    }

    #[test]
    fn parses_each_window() {
        let spec = parse(
            r#"
            [[monitor]]
            name = "amount_drift"
            feature_group = "transactions:1"
            feature_view = "fraud:1"
            features = ["amount"]
            reference = { training_dataset = 3 }
            detection = { last = "1d" }
            thresholds = { psi = 0.2, ks = 0.2 }
            "#,
        )
        .unwrap();
        assert_eq!(
            spec.reference,
            Window::TrainingDataset {
                training_dataset: 3,
                split: "train".into()
            }
        );
        assert!(matches!(spec.detection, Window::Last { .. }));
        assert_eq!(spec.thresholds.of("psi"), Some(0.2));
        assert_eq!(spec.bins, 10);
        let spec = parse(
            r#"
            [[monitor]]
            name = "m"
            model = "fraud@production"
            features = ["prediction"]
            reference = { start = "2026-11-01T00:00:00Z", end = "2026-11-08T00:00:00Z" }
            detection = { start = "2026-11-24T00:00:00Z", end = "2026-12-01T00:00:00Z" }
            "#,
        )
        .unwrap();
        assert!(matches!(spec.reference, Window::Range { .. }));
    }

    #[test]
    fn bad_definitions_say_what_is_wrong() {
        let base = r#"
            [[monitor]]
            name = "m"
            features = ["amount"]
            detection = { last = "1d" }
        "#;
        for (extra, expected) in [
            ("reference = { last = \"7d\" }", "set feature_group"),
            (
                "feature_group = \"t\"\nreference = { training_dataset = 1 }",
                "needs feature_view",
            ),
            (
                "feature_group = \"t\"\nreference = { start = \"2026-11-08T00:00:00Z\", end = \"2026-11-01T00:00:00Z\" }",
                "not before its end",
            ),
            (
                "feature_group = \"t\"\nreference = { last = \"7d\" }\nbins = 1",
                "bins is 1",
            ),
            (
                "feature_group = \"t\"\nreference = { last = \"7d\" }\nthresholds = { psi = -1 }",
                "psi must be 0 or more",
            ),
        ] {
            let err = parse(&format!("{base}\n{extra}")).unwrap_err();
            assert!(err.contains(expected), "{extra}: {err}");
        }
    }
}
