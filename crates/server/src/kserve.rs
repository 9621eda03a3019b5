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

use crate::binary_tensors;
use crate::lookup::{look_up, RequestColumns};
use crate::prediction_log::LogEntry;
use crate::request::{parse_version, scalar_values, RequestColumn, RequestValues};
use crate::state::AppState;
use crate::{Error, Result};

/// An Open Inference Protocol inference request, as its JSON body gives it.
#[derive(Debug, Deserialize)]
pub struct InferRequest {
    /// The client's id for the request, echoed in the answer and logged with
    /// the predictions; without one, the `x-request-id` header or a new UUID.
    #[serde(default)]
    pub id: Option<String>,
    /// One per column: the view's keys and request-time values, and
    /// optionally values that replace looked-up features.
    pub inputs: Vec<InferInput>,
    /// The outputs asked for (only `prediction` exists); an output's
    /// `binary_data` parameter asks for it as binary data.
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    /// Request-wide parameters; `binary_data_output` asks for binary output
    /// when no output is listed.
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
/// Returns the request with its inputs as columns. Never panics.
pub fn parse_infer_request(body: &[u8]) -> Result<(InferRequest, Vec<RequestColumn>)> {
    parse_infer_body(body, None)
}

/// As [`parse_infer_request`]; with `header_length` (the
/// `Inference-Header-Content-Length` header) the JSON is that many bytes and
/// inputs with `binary_data_size` take their values, in input order, from
/// the raw bytes after it.
pub fn parse_infer_body(
    body: &[u8],
    header_length: Option<usize>,
) -> Result<(InferRequest, Vec<RequestColumn>)> {
    let (header, mut binary) = match header_length {
        Some(length) => body.split_at_checked(length).ok_or_else(|| {
            Error::BadRequest(format!(
                "Inference-Header-Content-Length is {length} but the body has {} byte(s)",
                body.len()
            ))
        })?,
        None => (body, &[][..]),
    };
    let request: InferRequest = serde_json::from_slice(header)
        .map_err(|e| Error::BadRequest(format!("malformed inference request: {e}")))?;
    if request.inputs.is_empty() {
        return Err(Error::BadRequest("the request has no inputs".into()));
    }
    let mut columns: Vec<RequestColumn> = Vec::with_capacity(request.inputs.len());
    for input in &request.inputs {
        if columns.iter().any(|(name, _)| *name == input.name) {
            return Err(Error::BadRequest(format!(
                "input '{}' is given twice",
                input.name
            )));
        }
        let binary_size = input
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"));
        let values = match (binary_size, header_length) {
            (None, _) => input_values(input)?,
            (Some(_), None) => {
                return Err(Error::BadRequest(format!(
                    "input '{}' has binary_data_size but the request has no Inference-Header-Content-Length header",
                    input.name
                )))
            }
            (Some(size), Some(_)) => {
                let size = size.as_u64().ok_or_else(|| {
                    Error::BadRequest(format!(
                        "input '{}': binary_data_size {size} is not a byte count",
                        input.name
                    ))
                })?;
                let (bytes, rest) = binary.split_at_checked(size as usize).ok_or_else(|| {
                    Error::BadRequest(format!(
                        "input '{}' claims {size} byte(s) of binary data; {} remain",
                        input.name,
                        binary.len()
                    ))
                })?;
                binary = rest;
                let rows = row_count(input)?;
                binary_tensors::decode(&input.name, &input.datatype, bytes, rows)?
            }
        };
        columns.push((input.name.clone(), values));
    }
    if !binary.is_empty() {
        return Err(Error::BadRequest(format!(
            "{} byte(s) of binary data belong to no input",
            binary.len()
        )));
    }
    Ok((request, columns))
}

/// The rows an input's shape holds: `[N]` or `[N, 1]`.
fn row_count(input: &InferInput) -> Result<usize> {
    let name = &input.name;
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
    usize::try_from(expected)
        .map_err(|_| Error::BadRequest(format!("input '{name}' has an absurd shape")))
}

fn input_values(input: &InferInput) -> Result<RequestValues> {
    let name = &input.name;
    let class = DataClass::of(&input.datatype).ok_or_else(|| {
        Error::BadRequest(format!(
            "input '{name}' has unknown datatype '{}'",
            input.datatype
        ))
    })?;
    let expected = row_count(input)? as i64;
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
    if let Some((i, value)) = flat.iter().enumerate().find(|(_, v)| !class.admits(v)) {
        return Err(Error::BadRequest(format!(
            "input '{name}' is {} but value {value} at index {i} is not",
            input.datatype
        )));
    }
    scalar_values(name, flat.iter().copied())
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

/// The extensions are named as Triton names them, so that clients which
/// check for one before using it find it.
pub async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "sluice",
        "version": env!("CARGO_PKG_VERSION"),
        "extensions": ["binary_tensor_data"],
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
    let header_length = match headers.get("inference-header-content-length") {
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<usize>().ok())
                .ok_or_else(|| {
                    Error::BadRequest("Inference-Header-Content-Length is not a byte count".into())
                })?,
        ),
        None => None,
    };
    let (request, columns) = parse_infer_body(body, header_length)?;
    let binary_output = wants_binary_output(&request);
    if let Some(outputs) = &request.outputs {
        if let Some(unknown) = outputs.iter().find(|o| o.name != PREDICTION_COLUMN) {
            return Err(Error::BadRequest(format!(
                "unknown output '{}'; the model outputs '{PREDICTION_COLUMN}'",
                unknown.name
            )));
        }
    }
    let request_columns = RequestColumns::split(
        &model.view,
        columns,
        &model.features,
        state.config.max_keys_per_request,
    )?;
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
    let mut output = json!({
        "name": PREDICTION_COLUMN,
        "datatype": "FP64",
        "shape": [predictions.len()],
    });
    let binary = binary_output.then(|| binary_tensors::encode_f64(&predictions));
    match &binary {
        Some(bytes) => output["parameters"] = json!({ "binary_data_size": bytes.len() }),
        None => {
            output["data"] = Value::Array(
                predictions
                    .iter()
                    .map(|p| crate::json_values::float(*p))
                    .collect(),
            )
        }
    }
    let answer = json!({
        "model_name": model.name(),
        "model_version": model.version().to_string(),
        "id": id,
        "outputs": [output],
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
    Ok(match binary {
        Some(bytes) => {
            let mut body = serde_json::to_vec(&answer).expect("JSON values serialise");
            let header_length = body.len();
            body.extend_from_slice(&bytes);
            (
                [
                    (
                        axum::http::header::CONTENT_TYPE,
                        "application/octet-stream".to_string(),
                    ),
                    (
                        axum::http::HeaderName::from_static("inference-header-content-length"),
                        header_length.to_string(),
                    ),
                ],
                body,
            )
                .into_response()
        }
        None => Json(answer).into_response(),
    })
}

/// Binary output when the request asks for it on the output or for all outputs.
fn wants_binary_output(request: &InferRequest) -> bool {
    let flag = |parameters: &Option<Map<String, Value>>, key: &str| {
        parameters
            .as_ref()
            .and_then(|p| p.get(key))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    match &request.outputs {
        Some(outputs) if !outputs.is_empty() => {
            outputs.iter().any(|o| flag(&o.parameters, "binary_data"))
        }
        _ => flag(&request.parameters, "binary_data_output"),
    }
}
