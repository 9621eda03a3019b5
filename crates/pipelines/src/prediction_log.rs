//! The prediction log's shape: one feature group per served model version,
//! written by the online server and read back by the skew check.

use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec};

use crate::{ServingModel, MODEL_VERSION_COLUMN, PREDICTION_COLUMN};

/// The id of the request a logged prediction answered (String): the
/// request's own id, else its `x-request-id` header, else a generated UUID.
pub const REQUEST_ID_COLUMN: &str = "request_id";
/// The row's position in its request, from 0 (Int64); with the request id,
/// the log's primary key.
pub const ROW_COLUMN: &str = "row";
/// When the server answered the request, the time its features were read
/// as of: the log's event time.
pub const LOGGED_AT_COLUMN: &str = "logged_at";
/// The estimator's input vector for the row, as a JSON array (`null` for a
/// value that is not finite).
pub const TRANSFORMED_COLUMN: &str = "transformed";

/// The log feature group of a model: `{model}_log`.
pub fn log_group_name(model: &str) -> String {
    format!("{model}_log")
}

/// Keyed by request id and row, timed by when the prediction was made:
/// the view's keys, the raw features the model read, the transformed
/// vector (a JSON array) and the prediction.
pub fn log_group_spec(model: &ServingModel) -> FeatureGroupSpec {
    let mut columns = vec![
        ColumnSpec::new(REQUEST_ID_COLUMN, ColumnType::String),
        ColumnSpec::new(ROW_COLUMN, ColumnType::Int64),
        ColumnSpec::new(LOGGED_AT_COLUMN, ColumnType::Timestamp),
        ColumnSpec::new(MODEL_VERSION_COLUMN, ColumnType::Int64),
    ];
    columns.extend(model.view.key_columns());
    let available = model.view.feature_columns();
    for name in model.artefact.preprocessor.features() {
        let column_type = available
            .iter()
            .find(|c| c.name == name)
            .map_or(ColumnType::Float64, |c| c.column_type);
        columns.push(ColumnSpec::new(&name, column_type).nullable());
    }
    columns.push(ColumnSpec::new(TRANSFORMED_COLUMN, ColumnType::String));
    columns.push(ColumnSpec::new(PREDICTION_COLUMN, ColumnType::Float64).nullable());
    FeatureGroupSpec {
        name: log_group_name(model.name()),
        version: model.version(),
        primary_key: vec![REQUEST_ID_COLUMN.into(), ROW_COLUMN.into()],
        event_time: Some(LOGGED_AT_COLUMN.into()),
        online: false,
        ttl: None,
        description: format!("online predictions of model {}", model.label()),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns,
    }
}
