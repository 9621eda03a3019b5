//! Batch inference: a registered model applied to its feature view's
//! features, read point-in-time from the offline store, with the fitted
//! transformations stored in the model's artefact. The online server uses
//! the same [`ServingModel`] so both paths transform and predict with one
//! implementation.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sluice_featurestore::{FeatureStore, ModelRecord, NoProgress, Progress, ResolvedView};
use sluice_models::{Matrix, ModelArtefact};
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec, ModelRef, NameRef};

use crate::run_log::RunLog;
use crate::training::load_artefact;
use crate::{Error, Result};

/// A registered model ready to predict: its record, its verified artefact
/// and the feature view it was trained on.
#[derive(Debug)]
pub struct ServingModel {
    /// The model version's registry record.
    pub record: ModelRecord,
    /// Its fitted transformations and estimator, checked against the recorded hash.
    pub artefact: ModelArtefact,
    /// The feature-view version it was trained on.
    pub view: ResolvedView,
    /// The features the estimator reads (`artefact.preprocessor.features()`), kept for requests.
    pub features: Vec<String>,
}

impl ServingModel {
    /// Loads the artefact (checking its hash) and resolves the model's feature view version.
    pub async fn load(store: &FeatureStore, record: ModelRecord) -> Result<Self> {
        let artefact = load_artefact(store, &record.spec).await?;
        let lineage = &record.spec.lineage;
        let view = store
            .feature_view(&NameRef {
                name: lineage.feature_view.clone(),
                version: Some(lineage.feature_view_version),
            })
            .await?
            .resolved();
        Ok(Self {
            features: artefact.preprocessor.features(),
            record,
            artefact,
            view,
        })
    }

    /// The model's registered name.
    pub fn name(&self) -> &str {
        &self.record.spec.name
    }

    /// The model's version, numbered from 1 per name.
    pub fn version(&self) -> u32 {
        self.record.version
    }

    /// `NAME:VERSION`, as run names and messages give the model.
    pub fn label(&self) -> String {
        format!("{}:{}", self.name(), self.version())
    }

    /// The transformed rows the estimator sees, then its predictions.
    pub fn predict(&self, features: &RecordBatch) -> Result<(Matrix, Vec<f64>)> {
        let invalid = |e: sluice_models::Error| Error::Invalid {
            pipeline: format!("predict {}", self.label()),
            message: e.to_string(),
        };
        let x = self.artefact.inputs(features).map_err(invalid)?;
        let predictions = self.artefact.estimate(&x).map_err(invalid)?;
        Ok((x, predictions))
    }
}

/// The registered model `text` names: `NAME` (latest version),
/// `NAME:VERSION` or `NAME@ALIAS`.
pub async fn resolve_model(store: &FeatureStore, text: &str) -> Result<ModelRecord> {
    Ok(store.registry().model(&ModelRef::parse(text)?).await?)
}

/// Which rows to predict for.
#[derive(Debug, Clone)]
pub enum PredictInput {
    /// Every row of a spine file (keys and a time column; `time` names it
    /// when the view has no spine group).
    Spine {
        /// The spine file: CSV, Parquet or NDJSON, read by the ingest rules.
        path: PathBuf,
        /// Its time column; `None` means the spine group's event time.
        time: Option<String>,
    },
    /// The given keys (text values per key column), all as of one time.
    AsOf {
        /// The time every row is read as of: RFC 3339, or naive for UTC.
        at: String,
        /// Per key column, and per request-time value the view needs, its
        /// name and its values as text, one per row.
        keys: Vec<(String, Vec<String>)>,
    },
    /// The view's spine-group rows with event time in [start, end).
    Range {
        /// No lower bound when `None`.
        start: Option<DateTime<Utc>>,
        /// No upper bound when `None`.
        end: Option<DateTime<Utc>>,
    },
}

/// What [`predict`] does: which model, for which rows, and where the
/// predictions go.
#[derive(Debug, Clone)]
pub struct PredictOptions {
    /// `NAME`, `NAME:VERSION` or `NAME@ALIAS`.
    pub model: String,
    /// The rows to predict for.
    pub input: PredictInput,
    /// A feature group (`NAME`, version 1 unless `NAME:VERSION`) to append
    /// the predictions to, created on first use.
    pub to_feature_group: Option<String>,
}

/// What one batch-inference run did.
#[derive(Debug, Clone, Serialize)]
pub struct PredictReport {
    /// The model's name.
    pub model: String,
    /// The model version that predicted.
    pub version: u32,
    /// Predictions made: one per spine row.
    pub rows: usize,
    /// The catalog run it was recorded as (`predict NAME:VERSION`).
    pub run_id: u64,
    /// The group the predictions were appended to (`NAME:VERSION`), when asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_group: Option<String>,
    /// That group's offline version after the append.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_version: Option<u64>,
    /// Milliseconds from reading features to the last write, the model's
    /// loading not included.
    pub elapsed_ms: u64,
}

/// The model's name: a column of batch predictions, after the spine's keys and time.
pub const MODEL_COLUMN: &str = "model";
/// The model's version (Int64): a column of batch predictions and of the prediction log.
pub const MODEL_VERSION_COLUMN: &str = "model_version";
/// The prediction (Float64): a column of batch predictions and of the
/// prediction log, and the one output the server's models have.
pub const PREDICTION_COLUMN: &str = "prediction";

/// Predicts for the requested rows, records the run (`predict NAME:VERSION`),
/// and appends the predictions to a feature group when asked. Returns the
/// predictions: the spine's keys and time, then model, model_version and prediction.
pub async fn predict(
    store: &FeatureStore,
    options: &PredictOptions,
    progress: &dyn Progress,
) -> Result<(PredictReport, RecordBatch)> {
    let record = resolve_model(store, &options.model).await?;
    let model = ServingModel::load(store, record).await?;
    let sink = options.to_feature_group.as_deref().unwrap_or("");
    let mut run = RunLog::start(store, &format!("predict {}", model.label()), sink).await?;
    let result = predict_in_run(store, &model, options, progress, &mut run).await;
    run.finish(result).await
}

pub(crate) async fn predict_in_run(
    store: &FeatureStore,
    model: &ServingModel,
    options: &PredictOptions,
    progress: &dyn Progress,
    run: &mut RunLog,
) -> Result<(PredictReport, RecordBatch)> {
    let started = Instant::now();
    let predictions = compute_predictions(store, model, &options.input, progress, run).await?;
    let feature_group = match &options.to_feature_group {
        Some(target) => Some(append_predictions(store, model, &predictions, target, run).await?),
        None => None,
    };
    Ok((
        PredictReport::of_run(model, &predictions, feature_group, run, started),
        predictions,
    ))
}

impl PredictReport {
    pub(crate) fn of_run(
        model: &ServingModel,
        predictions: &RecordBatch,
        feature_group: Option<String>,
        run: &RunLog,
        started: Instant,
    ) -> Self {
        Self {
            model: model.name().to_string(),
            version: model.version(),
            rows: predictions.num_rows(),
            run_id: run.id,
            feature_group,
            offline_version: run.progress.offline_version,
            elapsed_ms: started.elapsed().as_millis() as u64,
        }
    }
}

/// The view's point-in-time join for `input`, then the model: keys, time,
/// model, model_version and prediction per row.
pub(crate) async fn compute_predictions(
    store: &FeatureStore,
    model: &ServingModel,
    input: &PredictInput,
    progress: &dyn Progress,
    run: &mut RunLog,
) -> Result<RecordBatch> {
    let view = store
        .feature_view(&NameRef {
            name: model.view.spec.name.clone(),
            version: Some(model.view.spec.version),
        })
        .await?;
    progress.phase("reading features", None);
    let (joined, time) = match input {
        PredictInput::Spine { path, time } => {
            let time = view.spine_time(time.as_deref())?;
            let spine = view.read_spine(path, &time)?;
            (view.features_for(&spine, &time).await?, time)
        }
        PredictInput::AsOf { at, keys } => (
            view.features_as_of(keys, at).await?,
            sluice_featurestore::AS_OF_COLUMN.to_string(),
        ),
        PredictInput::Range { start, end } => {
            let (spine, time) = view.spine_between(*start, *end).await?;
            (view.features_for(&spine, &time).await?, time)
        }
    };
    run.progress.rows_in = joined.num_rows() as u64;
    progress.phase("predicting", Some(joined.num_rows() as u64));
    let (_, predictions) = model.predict(&joined)?;
    progress.advance(joined.num_rows() as u64);
    let table = predictions_table(model, &joined, &time, predictions)?;
    run.progress.rows_out = table.num_rows() as u64;
    Ok(table)
}

/// Appends to the feature group `target` (created on first use); returns its label.
pub(crate) async fn append_predictions(
    store: &FeatureStore,
    model: &ServingModel,
    predictions: &RecordBatch,
    target: &str,
    run: &mut RunLog,
) -> Result<String> {
    let time = predictions
        .schema()
        .field(model.view.key_columns().len())
        .name()
        .clone();
    let spec = predictions_group_spec(model, predictions, &time, target)?;
    let group = store.ensure_feature_group(spec).await?;
    let metrics = group
        .ingest_batches(
            [predictions.clone()],
            &format!("predict {}", model.label()),
            &NoProgress,
        )
        .await?;
    run.progress.offline_version = Some(metrics.offline_version);
    Ok(group.label())
}

/// The spine's keys and time, then the model's name, version and prediction per row.
fn predictions_table(
    model: &ServingModel,
    joined: &RecordBatch,
    time: &str,
    predictions: Vec<f64>,
) -> Result<RecordBatch> {
    let rows = joined.num_rows();
    let mut fields: Vec<Field> = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let keys = model.view.key_names().to_vec();
    for name in keys.iter().map(String::as_str).chain([time]) {
        let index = joined.schema().index_of(name)?;
        fields.push(joined.schema().field(index).clone());
        columns.push(joined.column(index).clone());
    }
    fields.push(Field::new(MODEL_COLUMN, DataType::Utf8, false));
    columns.push(Arc::new(StringArray::from_iter_values(
        std::iter::repeat_n(model.name(), rows),
    )));
    fields.push(Field::new(MODEL_VERSION_COLUMN, DataType::Int64, false));
    columns.push(Arc::new(Int64Array::from_value(
        i64::from(model.version()),
        rows,
    )));
    fields.push(Field::new(PREDICTION_COLUMN, DataType::Float64, false));
    columns.push(Arc::new(Float64Array::from(predictions)));
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// A predictions group: keyed by the spine's keys, timed by the spine's time, offline only.
fn predictions_group_spec(
    model: &ServingModel,
    table: &RecordBatch,
    time: &str,
    target: &str,
) -> Result<FeatureGroupSpec> {
    let name = NameRef::parse(target)?;
    let mut columns: Vec<ColumnSpec> = model.view.key_columns();
    let primary_key = columns.iter().map(|c| c.name.clone()).collect();
    columns.push(ColumnSpec::new(time, ColumnType::Timestamp));
    columns.push(ColumnSpec::new(MODEL_COLUMN, ColumnType::String));
    columns.push(ColumnSpec::new(MODEL_VERSION_COLUMN, ColumnType::Int64));
    columns.push(ColumnSpec::new(PREDICTION_COLUMN, ColumnType::Float64));
    debug_assert_eq!(columns.len(), table.num_columns());
    Ok(FeatureGroupSpec {
        name: name.name,
        version: name.version.unwrap_or(1),
        primary_key,
        event_time: Some(time.to_string()),
        online: false,
        ttl: None,
        description: format!("predictions of model {}", model.name()),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns,
    })
}
