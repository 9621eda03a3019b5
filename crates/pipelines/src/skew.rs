//! The skew check: the feature values the online server logged with each
//! prediction, against the offline store's point-in-time answer for the
//! same keys at the same moment. Healthy pipelines give zero mismatches.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::compute::{cast, filter_record_batch};
use arrow::datatypes::{DataType, TimestampMicrosecondType};
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sluice_featurestore::{FeatureStore, ReadAt};
use sluice_types::NameRef;

use crate::inference::{resolve_model, ServingModel};
use crate::prediction_log::{log_group_name, LOGGED_AT_COLUMN, REQUEST_ID_COLUMN, ROW_COLUMN};
use crate::{Error, Result};

/// Examples kept per report.
const EXAMPLES: usize = 10;

/// What a skew check found in one model version's prediction log.
#[derive(Debug, Clone, Serialize)]
pub struct SkewReport {
    /// The model's name.
    pub model: String,
    /// The model version whose log was read.
    pub version: u32,
    /// The log's feature group, `MODEL_log:VERSION`.
    pub log_group: String,
    /// Predictions logged at or after this were compared; from the first when `None`.
    pub from: Option<DateTime<Utc>>,
    /// Predictions logged before this were compared; to the last when `None`.
    pub to: Option<DateTime<Utc>>,
    /// Logged prediction rows compared.
    pub rows: usize,
    /// Feature values that differ, over all groups.
    pub mismatches: u64,
    /// One per joined group in join order, then one for the on-demand
    /// features when the view has any.
    pub feature_groups: Vec<GroupSkew>,
    /// The first differing values found, at most 10.
    pub examples: Vec<SkewExample>,
}

/// The differences among one joined group's features, or among the
/// on-demand features. Only features the model reads are compared.
#[derive(Debug, Clone, Serialize)]
pub struct GroupSkew {
    /// The group as `NAME:VERSION`, or `on-demand`.
    pub feature_group: String,
    /// Rows with at least one differing feature of this group.
    pub rows_mismatched: u64,
    /// Per feature: differing rows.
    pub features: BTreeMap<String, u64>,
}

/// One logged feature value that the offline store answers differently.
/// Values are text, as Arrow casts them; a missing value is `null`.
#[derive(Debug, Clone, Serialize)]
pub struct SkewExample {
    /// The logged request.
    pub request_id: String,
    /// The row's position in its request, from 0.
    pub row: i64,
    /// When the server answered, the time the offline store is read as of.
    pub logged_at: String,
    /// The row's keys, `name=value` comma-separated.
    pub keys: String,
    /// The feature that differs.
    pub feature: String,
    /// The value the server logged.
    pub online: String,
    /// The offline store's point-in-time value.
    pub offline: String,
}

/// Compares the logged online feature values of `model` (`NAME[:V|@ALIAS]`)
/// between `from` (inclusive) and `to` (exclusive) with the offline store.
pub async fn skew_check(
    store: &FeatureStore,
    model: &str,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<SkewReport> {
    let record = resolve_model(store, model).await?;
    let model = ServingModel::load(store, record).await?;
    let log_label = format!("{}:{}", log_group_name(model.name()), model.version());
    let group = store
        .feature_group(&NameRef {
            name: log_group_name(model.name()),
            version: Some(model.version()),
        })
        .await
        .map_err(|_| Error::Invalid {
            pipeline: format!("skew-check {}", model.label()),
            message: format!(
                "no prediction log {log_label}: the server logs there once it has answered a request for this version"
            ),
        })?;
    let batches: Vec<RecordBatch> = group
        .read(ReadAt::Latest, None)
        .await?
        .try_collect()
        .await
        .map_err(sluice_featurestore::Error::from)?;
    let log = arrow::compute::concat_batches(&group.spec().arrow_schema(), &batches)?;
    let log = within(&log, from, to)?;
    let keys = model.view.key_names().to_vec();
    // Request-time values are replayed from the log, so that on-demand
    // features are recomputed offline from what the server saw.
    let request = model.view.spec.request.iter().map(|c| c.name.as_str());
    let mut spine_columns: Vec<usize> = Vec::new();
    for name in keys
        .iter()
        .map(String::as_str)
        .chain([LOGGED_AT_COLUMN])
        .chain(request)
    {
        spine_columns.push(log.schema().index_of(name).map_err(|_| Error::Invalid {
            pipeline: format!("skew-check {}", model.label()),
            message: format!("the prediction log {log_label} has no column '{name}'"),
        })?);
    }
    let spine = log.project(&spine_columns)?;
    let view = store
        .feature_view(&NameRef {
            name: model.view.spec.name.clone(),
            version: Some(model.view.spec.version),
        })
        .await?;
    let offline = view.features_for(&spine, LOGGED_AT_COLUMN).await?;

    let mut report = SkewReport {
        model: model.name().to_string(),
        version: model.version(),
        log_group: log_label,
        from,
        to,
        rows: log.num_rows(),
        mismatches: 0,
        feature_groups: Vec::new(),
        examples: Vec::new(),
    };
    let logged_features = model.artefact.preprocessor.features();
    // Per joined group, then the on-demand features as one more "group".
    let mut compared: Vec<(String, Vec<String>)> = model
        .view
        .spec
        .joins
        .iter()
        .zip(&model.view.groups)
        .map(|(join, group_spec)| {
            (
                format!("{}:{}", group_spec.name, group_spec.version),
                join.selected(group_spec),
            )
        })
        .collect();
    if !model.view.spec.on_demand.is_empty() {
        compared.push((
            ON_DEMAND.to_string(),
            model
                .view
                .spec
                .on_demand
                .iter()
                .map(|f| f.name.clone())
                .collect(),
        ));
    }
    for (label, features) in compared {
        let mut skew = GroupSkew {
            feature_group: label,
            rows_mismatched: 0,
            features: BTreeMap::new(),
        };
        let mut row_differs = vec![false; log.num_rows()];
        for feature in features.into_iter().filter(|f| logged_features.contains(f)) {
            let online = as_text(log.column_by_name(&feature).expect("logged feature"))?;
            let offline_values =
                as_text(offline.column_by_name(&feature).expect("joined feature"))?;
            let mut count = 0;
            for (row, differs) in row_differs.iter_mut().enumerate() {
                let a = online.is_valid(row).then(|| online.value(row));
                let b = offline_values
                    .is_valid(row)
                    .then(|| offline_values.value(row));
                if a != b {
                    count += 1;
                    *differs = true;
                    if report.examples.len() < EXAMPLES {
                        report
                            .examples
                            .push(example(&log, &keys, row, &feature, a, b)?);
                    }
                }
            }
            report.mismatches += count;
            skew.features.insert(feature, count);
        }
        skew.rows_mismatched = row_differs.iter().filter(|d| **d).count() as u64;
        report.feature_groups.push(skew);
    }
    Ok(report)
}

/// The name the report gives the on-demand features' comparison.
pub const ON_DEMAND: &str = "on-demand";

/// Rows logged in [from, to).
fn within(
    log: &RecordBatch,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<RecordBatch> {
    let times = log
        .column_by_name(LOGGED_AT_COLUMN)
        .expect("the log has its time column")
        .as_primitive::<TimestampMicrosecondType>();
    let low = from.map_or(i64::MIN, |t| t.timestamp_micros());
    let high = to.map_or(i64::MAX, |t| t.timestamp_micros());
    let keep: BooleanArray = times
        .iter()
        .map(|t| Some(t.is_some_and(|t| t >= low && t < high)))
        .collect();
    Ok(filter_record_batch(log, &keep)?)
}

/// Values as text, so that any type compares exactly (floats print their shortest round-trip form).
fn as_text(column: &Arc<dyn Array>) -> Result<arrow::array::StringArray> {
    Ok(cast(column, &DataType::Utf8)?.as_string::<i32>().clone())
}

fn example(
    log: &RecordBatch,
    keys: &[String],
    row: usize,
    feature: &str,
    online: Option<&str>,
    offline: Option<&str>,
) -> Result<SkewExample> {
    let text = |name: &str| -> Result<String> {
        let column = as_text(log.column_by_name(name).expect("logged column"))?;
        Ok(if column.is_valid(row) {
            column.value(row).to_string()
        } else {
            "null".into()
        })
    };
    Ok(SkewExample {
        request_id: text(REQUEST_ID_COLUMN)?,
        row: text(ROW_COLUMN)?.parse().unwrap_or_default(),
        logged_at: text(LOGGED_AT_COLUMN)?,
        keys: keys
            .iter()
            .map(|k| Ok(format!("{k}={}", text(k)?)))
            .collect::<Result<Vec<_>>>()?
            .join(","),
        feature: feature.to_string(),
        online: online.unwrap_or("null").to_string(),
        offline: offline.unwrap_or("null").to_string(),
    })
}
