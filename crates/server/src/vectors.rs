//! `POST /v1/feature-views/{name}/{version}/vectors`: a feature view's
//! vectors from the online store, in the view's column order, one per
//! requested key in request order, with each joined group's status per row.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::json_values::cell;
use crate::lookup::{look_up, RequestColumns};
use crate::request::{column_text, parse_version, TextColumn};
use crate::state::AppState;
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorsRequest {
    entities: Map<String, Value>,
    #[serde(default)]
    passed: Map<String, Value>,
}

pub async fn vectors(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Result<Json<Value>> {
    let version = parse_version("feature view", &version)?;
    let request: VectorsRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("malformed vectors request: {e}")))?;
    let view = state.view(&name, version).await?;
    let mut columns: Vec<TextColumn> = Vec::new();
    for (column, values) in request.entities.iter().chain(&request.passed) {
        columns.push((column.clone(), column_text(column, values)?));
    }
    for column in request.entities.keys() {
        if !view.key_columns().iter().any(|k| &k.name == column) {
            return Err(Error::BadRequest(format!(
                "'{column}' is not a key of feature view {}",
                view.label()
            )));
        }
    }
    let passable: Vec<String> = view.feature_columns().into_iter().map(|c| c.name).collect();
    let request_columns = RequestColumns::split(&view, columns, &passable)?;
    let looked = look_up(&state.store, &view, &request_columns, Utc::now()).await?;
    state.metrics.lookups(&looked.status);
    let features = &looked.features;
    let names: Vec<&str> = features
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    let vectors: Vec<Value> = (0..features.num_rows())
        .map(|row| {
            Value::Array(
                features
                    .columns()
                    .iter()
                    .map(|column| cell(column.as_ref(), row))
                    .collect(),
            )
        })
        .collect();
    let groups: Vec<&str> = looked.status.iter().map(|(g, _)| g.as_str()).collect();
    let status: Vec<Value> = (0..features.num_rows())
        .map(|row| {
            Value::Array(
                looked
                    .status
                    .iter()
                    .map(|(_, s)| Value::String(s[row].to_string()))
                    .collect(),
            )
        })
        .collect();
    Ok(Json(json!({
        "feature_view": view.spec.name,
        "version": view.spec.version,
        "features": names,
        "vectors": vectors,
        "groups": groups,
        "status": status,
    })))
}
