//! The Open Inference Protocol (KServe v2 REST): server and model
//! metadata, readiness, and inference. The inputs are the feature view's
//! keys (and, optionally, values for the model's features, which replace
//! the looked-up ones); the output is `prediction`, one value per row.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sluice_pipelines::{ServingModel, PREDICTION_COLUMN};
use sluice_types::ColumnType;

use crate::lookup::{look_up, RequestColumns};
use crate::prediction_log::LogEntry;
use crate::request::{parse_version, scalar_text, TextColumn};
use crate::state::AppState;
use crate::{Error, Result};

#[derive(Debug, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    pub inputs: Vec<InferInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
    #[serde(default)]
    pub data: Value,
}

#[derive(Debug, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// Parses and checks an inference request: known datatypes, data that
/// matches the shape and datatype, one value per row, unique names.
/// Returns the request with its inputs as text columns. Never panics.
pub fn parse_infer_request(body: &[u8]) -> Result<(InferRequest, Vec<TextColumn>)> {
    let request: InferRequest = serde_json::from_slice(body)
        .map_err(|e| Error::BadRequest(format!("malformed inference request: {e}")))?;
    if request.inputs.is_empty() {
        return Err(Error::BadRequest("the request has no inputs".into()));
    }
    let mut columns: Vec<TextColumn> = Vec::with_capacity(request.inputs.len());
    for input in &request.inputs {
        if columns.iter().any(|(name, _)| *name == input.name) {
            return Err(Error::BadRequest(format!(
                "input '{}' is given twice",
                input.name
            )));
        }
        if input
            .parameters
            .as_ref()
            .is_some_and(|p| p.contains_key("binary_data_size"))
        {
            return Err(Error::BadRequest(format!(
                "input '{}' uses the binary data extension, which this server does not support; send JSON data",
                input.name
            )));
        }
        columns.push((input.name.clone(), input_values(input)?));
    }
    Ok((request, columns))
}

fn input_values(input: &InferInput) -> Result<Vec<String>> {
    let name = &input.name;
    let class = DataClass::of(&input.datatype).ok_or_else(|| {
        Error::BadRequest(format!(
            "input '{name}' has unknown datatype '{}'",
            input.datatype
        ))
    })?;
    if input.shape.is_empty() || input.shape.iter().any(|d| *d < 0) {
        return Err(Error::BadRequest(format!(
            "input '{name}' has shape {:?}; give [N] or [N, 1]",
            input.shape
        )));
    }
    let expected = input
        .shape
        .iter()
        .try_fold(1i64, |n, d| n.checked_mul(*d))
        .ok_or_else(|| Error::BadRequest(format!("input '{name}' has an absurd shape")))?;
    if expected != input.shape[0] {
        return Err(Error::BadRequest(format!(
            "input '{name}' has shape {:?}; one value per row is expected ([N] or [N, 1])",
            input.shape
        )));
    }
    let mut flat = Vec::new();
    flatten(&input.data, &mut flat, 0)
        .map_err(|()| Error::BadRequest(format!("input '{name}': data is nested too deeply")))?;
    if flat.len() as i64 != expected {
        return Err(Error::BadRequest(format!(
            "input '{name}' has shape {:?} but {} data value(s)",
            input.shape,
            flat.len()
        )));
    }
    flat.iter()
        .enumerate()
        .map(|(i, value)| {
            if !class.admits(value) {
                return Err(Error::BadRequest(format!(
                    "input '{name}' is {} but value {value} at index {i} is not",
                    input.datatype
                )));
            }
            scalar_text(name, i, value)
        })
        .collect()
}

/// The protocol allows row-major nested arrays as well as flat ones.
fn flatten<'a>(value: &'a Value, out: &mut Vec<&'a Value>, depth: usize) -> Result<(), ()> {
    if depth > 8 {
        return Err(());
    }
    match value {
        Value::Array(items) => {
            for item in items {
                flatten(item, out, depth + 1)?;
            }
        }
        scalar => out.push(scalar),
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum DataClass {
    Bool,
    Integer,
    Float,
    Bytes,
}

impl DataClass {
    fn of(datatype: &str) -> Option<Self> {
        Some(match datatype {
            "BOOL" => DataClass::Bool,
            "INT8" | "INT16" | "INT32" | "INT64" | "UINT8" | "UINT16" | "UINT32" | "UINT64" => {
                DataClass::Integer
            }
            "FP16" | "FP32" | "FP64" | "BF16" => DataClass::Float,
            "BYTES" => DataClass::Bytes,
            _ => return None,
        })
    }

    fn admits(self, value: &Value) -> bool {
        match self {
            DataClass::Bool => value.is_boolean(),
            DataClass::Integer => value.is_i64() || value.is_u64(),
            DataClass::Float => value.is_number(),
            DataClass::Bytes => value.is_string(),
        }
    }
}

fn datatype(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Bool => "BOOL",
        ColumnType::Int32 => "INT32",
        ColumnType::Int64 => "INT64",
        ColumnType::Float32 => "FP32",
        ColumnType::Float64 => "FP64",
        ColumnType::String | ColumnType::Timestamp | ColumnType::Date => "BYTES",
    }
}

pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "sluice",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": [],
    }))
}

pub async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

pub async fn ready(State(state): State<Arc<AppState>>) -> Json<Value> {
    let models = state.models().versions.len();
    Json(json!({ "ready": true, "models": models }))
}

fn model_of(state: &AppState, name: &str, version: Option<&str>) -> Result<Arc<ServingModel>> {
    let version = version.map(|v| parse_version("model", v)).transpose()?;
    state.models().get(name, version)
}

pub async fn metadata(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    describe(&state, &name, None)
}

pub async fn version_metadata(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>> {
    describe(&state, &name, Some(&version))
}

fn describe(state: &AppState, name: &str, version: Option<&str>) -> Result<Json<Value>> {
    let model = model_of(state, name, version)?;
    let versions: Vec<String> = match version {
        Some(_) => vec![model.version().to_string()],
        None => state.models().versions[name]
            .keys()
            .map(u32::to_string)
            .collect(),
    };
    // Required: the keys and the request-time values; optional: values that
    // replace looked-up features.
    let inputs: Vec<Value> = model
        .view
        .key_columns()
        .iter()
        .chain(&model.view.spec.request)
        .map(|c| json!({ "name": c.name, "datatype": datatype(c.column_type), "shape": [-1] }))
        .collect();
    let optional: Vec<String> = model
        .artefact
        .preprocessor
        .features()
        .into_iter()
        .filter(|f| {
            !model.view.spec.request.iter().any(|c| &c.name == f)
                && !model.view.spec.on_demand.iter().any(|c| &c.name == f)
        })
        .collect();
    Ok(Json(json!({
        "name": name,
        "versions": versions,
        "platform": format!("sluice_{}", model.record.spec.algorithm),
        "inputs": inputs,
        "outputs": [{ "name": PREDICTION_COLUMN, "datatype": "FP64", "shape": [-1] }],
        "parameters": {
            "version": model.version().to_string(),
            "feature_view": model.view.label(),
            "optional_inputs": optional,
        },
    })))
}

pub async fn model_ready(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<Json<Value>> {
    let model = model_of(&state, &name, None)?;
    Ok(Json(
        json!({ "name": name, "version": model.version().to_string(), "ready": true }),
    ))
}

pub async fn version_ready(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let model = model_of(&state, &name, Some(&version))?;
    Ok(Json(
        json!({ "name": name, "version": model.version().to_string(), "ready": true }),
    ))
}

pub async fn infer(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let model = model_of(&state, &name, None)?;
    run_inference(&state, model, &headers, &body).await
}

pub async fn version_infer(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Response> {
    let model = model_of(&state, &name, Some(&version))?;
    run_inference(&state, model, &headers, &body).await
}

async fn run_inference(
    state: &AppState,
    model: Arc<ServingModel>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response> {
    if headers.contains_key("inference-header-content-length") {
        return Err(Error::BadRequest(
            "the binary data extension is not supported; send the request as JSON".into(),
        ));
    }
    let (request, columns) = parse_infer_request(body)?;
    if let Some(outputs) = &request.outputs {
        if let Some(unknown) = outputs.iter().find(|o| o.name != PREDICTION_COLUMN) {
            return Err(Error::BadRequest(format!(
                "unknown output '{}'; the model outputs '{PREDICTION_COLUMN}'",
                unknown.name
            )));
        }
    }
    let passable = model.artefact.preprocessor.features();
    let request_columns = RequestColumns::split(&model.view, columns, &passable)?;
    let now = Utc::now();
    let looked = look_up(&state.store, &model.view, &request_columns, now).await?;
    state.metrics.lookups(&looked.status);
    let (x, predictions) = model
        .predict(&looked.features)
        .map_err(|e| Error::Unprocessable(format!("model {}: {e}", model.label())))?;
    let id = request
        .id
        .clone()
        .or_else(|| {
            headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let data: Vec<Value> = predictions
        .iter()
        .map(|p| crate::json_values::float(*p))
        .collect();
    let answer = json!({
        "model_name": model.name(),
        "model_version": model.version().to_string(),
        "id": id,
        "outputs": [{
            "name": PREDICTION_COLUMN,
            "datatype": "FP64",
            "shape": [predictions.len()],
            "data": data,
        }],
    });
    state.log.submit(LogEntry {
        model: model.clone(),
        request_id: id,
        at: now,
        keys: looked.keys,
        features: looked.features,
        transformed: x.values,
        predictions,
    });
    Ok(Json(answer).into_response())
}
