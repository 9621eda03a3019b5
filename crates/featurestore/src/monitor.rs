//! Drift monitors: a `[[monitor]]` definition run against the stores. Each
//! window's rows are read (a time range of a feature group or a model's
//! prediction log, or a training dataset's split), every watched feature is
//! compared, and the result is kept in the catalog under the monitor's name.

use std::collections::HashMap;

use arrow::array::{ArrayRef, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::TimestampMicrosecondType;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::{Deserialize, Serialize};
use sluice_catalog::{QualityKind, QualityQuery, QualityRecord};
use sluice_offline::ReadAt;
use sluice_quality::{compare, FeatureDrift, Sample};
use sluice_types::{ModelRef, MonitorSpec, NameRef, Window};

use crate::feature_group::FeatureGroup;
use crate::project::FeatureStore;
use crate::quality::read_records;
use crate::{Error, Result};

/// One run of a monitor, as printed and kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MonitorRun {
    /// The catalog record's id; 0 before it is kept.
    #[serde(default)]
    pub id: u64,
    /// The monitor's name.
    pub monitor: String,
    /// When it ran.
    pub ran_at: DateTime<Utc>,
    /// The group watched, as `NAME:VERSION`.
    pub feature_group: String,
    /// What the reference window was.
    pub reference: String,
    /// What the detection window was.
    pub detection: String,
    /// Per feature, the metrics and whether any crossed its threshold.
    pub features: Vec<FeatureDrift>,
    /// Whether any feature drifted.
    pub drifted: bool,
}

impl FeatureStore {
    /// The monitor called `name` in the project's definitions.
    fn monitor_spec(&self, name: &str) -> Result<MonitorSpec> {
        let definitions = self.definitions()?;
        definitions
            .monitor(name)
            .map(|m| m.item.clone())
            .ok_or_else(|| {
                let known: Vec<&str> = definitions
                    .monitors
                    .iter()
                    .map(|m| m.item.name.as_str())
                    .collect();
                Error::UnknownMonitor {
                    name: name.to_string(),
                    known: if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    },
                }
            })
    }

    /// Runs monitor `name` now and keeps its result.
    pub async fn run_monitor(&self, name: &str) -> Result<MonitorRun> {
        let spec = self.monitor_spec(name)?;
        let now = Utc::now();
        let fg = self.watched_group(&spec).await?;
        let invalid = |message: String| Error::InvalidMonitor {
            monitor: spec.name.clone(),
            message,
        };
        for feature in &spec.features {
            if fg.spec().column(feature).is_none() {
                return Err(invalid(format!(
                    "feature '{feature}' is not a column of {} (columns: {})",
                    fg.label(),
                    fg.spec().column_list()
                )));
            }
        }
        let (reference, reference_label) = self
            .window_columns(&spec, &fg, &spec.reference, now)
            .await?;
        let (detection, detection_label) = self
            .window_columns(&spec, &fg, &spec.detection, now)
            .await?;
        let mut features = Vec::new();
        for feature in &spec.features {
            let sample = |columns: &HashMap<String, Vec<ArrayRef>>, window: &str| {
                let arrays = columns.get(feature).ok_or_else(|| {
                    invalid(format!("the {window} window has no column '{feature}'"))
                })?;
                Ok::<_, Error>(Sample::from_arrays(feature, arrays)?)
            };
            let (r, d) = (
                sample(&reference, "reference")?,
                sample(&detection, "detection")?,
            );
            features.push(compare(feature, &r, &d, spec.bins, &spec.thresholds)?);
        }
        let mut run = MonitorRun {
            id: 0,
            monitor: spec.name.clone(),
            ran_at: now,
            feature_group: fg.label(),
            reference: reference_label,
            detection: detection_label,
            drifted: features.iter().any(|f| f.drifted),
            features,
        };
        run.id = self
            .catalog
            .record_quality(&QualityRecord {
                id: 0,
                subject: spec.name.clone(),
                kind: QualityKind::Monitor,
                offline_version: None,
                recorded_at: now,
                body: serde_json::to_string(&run).expect("a monitor run serialises"),
            })
            .await?;
        Ok(run)
    }

    /// The newest `limit` runs of monitor `name`, newest first.
    pub async fn monitor_runs(&self, name: &str, limit: usize) -> Result<Vec<MonitorRun>> {
        self.monitor_spec(name)?;
        let query = QualityQuery {
            subject: name,
            kind: QualityKind::Monitor,
            offline_version: None,
            limit,
        };
        Ok(read_records::<MonitorRun>(&self.catalog, &query)
            .await?
            .into_iter()
            .map(|(record, mut run)| {
                run.id = record.id;
                run
            })
            .collect())
    }

    /// The newest run of every defined monitor that has run.
    pub async fn latest_monitor_runs(&self) -> Result<Vec<MonitorRun>> {
        let mut latest = Vec::new();
        for monitor in self.definitions()?.monitors {
            latest.extend(self.monitor_runs(&monitor.item.name, 1).await?);
        }
        Ok(latest)
    }

    async fn watched_group(&self, spec: &MonitorSpec) -> Result<FeatureGroup<'_>> {
        let name = match (&spec.feature_group, &spec.model) {
            (Some(group), _) => NameRef::parse(group)?,
            (None, Some(model)) => {
                let record = self.registry().model(&ModelRef::parse(model)?).await?;
                NameRef {
                    name: format!("{}_log", record.spec.name),
                    version: Some(record.version),
                }
            }
            (None, None) => unreachable!("validated: a monitor watches a group or a model"),
        };
        self.feature_group(&name).await
    }

    /// The watched features' arrays in one window, and a label saying what it was.
    async fn window_columns(
        &self,
        spec: &MonitorSpec,
        fg: &FeatureGroup<'_>,
        window: &Window,
        now: DateTime<Utc>,
    ) -> Result<(HashMap<String, Vec<ArrayRef>>, String)> {
        let (start, end) = match window {
            Window::Range { start, end } => (*start, *end),
            Window::Last { last } => (now - chrono::Duration::microseconds(last.as_micros()), now),
            Window::TrainingDataset {
                training_dataset,
                split,
            } => {
                let view_name = spec.feature_view.as_deref().expect("validated");
                let view = self.feature_view(&NameRef::parse(view_name)?).await?;
                let rows = view.read_training_data(*training_dataset, split).await?;
                let label = format!(
                    "training dataset {} of {} split {split} ({} rows)",
                    training_dataset,
                    view.label(),
                    rows.num_rows()
                );
                return Ok((columns_of(&spec.features, &[rows]), label));
            }
        };
        let Some(time) = fg.spec().event_time.clone() else {
            return Err(Error::InvalidMonitor {
                monitor: spec.name.clone(),
                message: format!(
                    "{} has no event_time, so it has no time windows",
                    fg.label()
                ),
            });
        };
        let mut wanted: Vec<String> = spec.features.clone();
        wanted.push(time.clone());
        let batches: Vec<RecordBatch> = self
            .offline
            .scan(fg.spec(), ReadAt::Latest, Some(&wanted))
            .await?
            .try_collect()
            .await?;
        let (from, to) = (start.timestamp_micros(), end.timestamp_micros());
        let mut kept = Vec::with_capacity(batches.len());
        for batch in &batches {
            let times = batch
                .column_by_name(&time)
                .expect("scanned")
                .as_primitive::<TimestampMicrosecondType>();
            let inside: BooleanArray = times
                .iter()
                .map(|t| Some(t.is_some_and(|t| t >= from && t < to)))
                .collect();
            kept.push(
                arrow::compute::filter_record_batch(batch, &inside)
                    .map_err(sluice_types::Error::from)?,
            );
        }
        let rows: usize = kept.iter().map(RecordBatch::num_rows).sum();
        let label = format!(
            "{} from {} to {} ({rows} rows)",
            fg.label(),
            start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            end.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        Ok((columns_of(&spec.features, &kept), label))
    }
}

fn columns_of(features: &[String], batches: &[RecordBatch]) -> HashMap<String, Vec<ArrayRef>> {
    let mut columns = HashMap::new();
    for feature in features {
        let arrays: Option<Vec<ArrayRef>> = batches
            .iter()
            .map(|b| b.column_by_name(feature).cloned())
            .collect();
        if let Some(arrays) = arrays {
            columns.insert(feature.clone(), arrays);
        }
    }
    columns
}
