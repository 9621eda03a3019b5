//! `POST /v1/feature-groups/{name}/{version}/rows`: push ingestion. Rows
//! arrive as JSON objects, become text columns and go through the same
//! parsing, checks and atomic commit as `sluice ingest`.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sluice_featurestore::NoProgress;
use sluice_types::NameRef;

use crate::limits::check_keys;
use crate::request::parse_version;
use crate::state::AppState;
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushRequest {
    rows: Vec<Map<String, Value>>,
}

pub async fn push(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    let version = parse_version("feature group", &version)?;
    let request: PushRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("malformed push request: {e}")))?;
    if request.rows.is_empty() {
        return Err(Error::BadRequest("the request has no rows".into()));
    }
    check_keys(request.rows.len(), state.config.max_keys_per_request)?;
    let group = state
        .store
        .feature_group(&NameRef {
            name: name.clone(),
            version: Some(version),
        })
        .await?;
    let spec = group.spec();
    for (i, row) in request.rows.iter().enumerate() {
        if let Some(unknown) = row.keys().find(|k| spec.column(k).is_none()) {
            return Err(Error::BadRequest(format!(
                "row {}: '{unknown}' is not a column of feature group {}",
                i + 1,
                group.label()
            )));
        }
    }
    let mut columns: Vec<(String, ArrayRef)> = Vec::with_capacity(spec.columns.len());
    for column in &spec.columns {
        let values = request
            .rows
            .iter()
            .enumerate()
            .map(|(i, row)| match row.get(&column.name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(Value::Number(n)) => Ok(Some(n.to_string())),
                Some(Value::Bool(b)) => Ok(Some(b.to_string())),
                Some(_) => Err(Error::BadRequest(format!(
                    "row {}: '{}' is not a scalar",
                    i + 1,
                    column.name
                ))),
            })
            .collect::<Result<Vec<Option<String>>>>()?;
        columns.push((
            column.name.clone(),
            Arc::new(StringArray::from(values)) as ArrayRef,
        ));
    }
    let batch = RecordBatch::try_from_iter(columns)
        .map_err(|e| Error::BadRequest(format!("building the rows: {e}")))?;
    let metrics = group
        .ingest_batches([batch], "HTTP push", &NoProgress)
        .await?;
    Ok(Json(json!({
        "feature_group": group.label(),
        "rows": metrics.rows,
        "offline_version": metrics.offline_version,
        "online_rows_written": metrics.online_rows_written,
    })))
}
