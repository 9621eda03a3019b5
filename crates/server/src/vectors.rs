//! `POST /v1/feature-views/{name}/{version}/vectors`: a feature view's
//! vectors from the online store, in the view's column order, one per
//! requested key in request order, with each joined group's status per row.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use chrono::Utc;
use serde::ser::{SerializeSeq, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sluice_featurestore::LookupStatus;

use crate::json_values::{json_answer, json_size_hint, Rows};
use crate::lookup::{look_up, RequestColumns};
use crate::request::{column_values, parse_version, RequestColumn};
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
) -> Result<Response> {
    let version = parse_version("feature view", &version)?;
    let request: VectorsRequest = serde_json::from_slice(&body)
        .map_err(|e| Error::BadRequest(format!("malformed vectors request: {e}")))?;
    let view = state.view(&name, version).await?;
    let mut columns: Vec<RequestColumn> = Vec::new();
    for (column, values) in request.entities.iter().chain(&request.passed) {
        columns.push((column.clone(), column_values(column, values)?));
    }
    for column in request.entities.keys() {
        if !view.key_names().contains(column) {
            return Err(Error::BadRequest(format!(
                "'{column}' is not a key of feature view {}",
                view.label()
            )));
        }
    }
    let request_columns = RequestColumns::split(
        &view,
        columns,
        view.feature_names(),
        state.config.max_keys_per_request,
    )?;
    let looked = look_up(&state.store, &view, &request_columns, Utc::now()).await?;
    state.metrics.lookups(&looked.status);
    let answer = VectorsAnswer {
        feature_view: &view.spec.name,
        version: view.spec.version,
        features: looked
            .features
            .schema_ref()
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect(),
        vectors: Rows(&looked.features),
        groups: looked.status.iter().map(|(g, _)| g.as_str()).collect(),
        status: StatusRows(&looked.status, looked.features.num_rows()),
    };
    Ok(json_answer(&answer, json_size_hint(&looked.features)))
}

/// The answer, serialized from the looked-up columns as they are.
#[derive(Serialize)]
struct VectorsAnswer<'a> {
    feature_view: &'a str,
    version: u32,
    features: Vec<&'a str>,
    vectors: Rows<'a>,
    groups: Vec<&'a str>,
    status: StatusRows<'a>,
}

/// Per row, each joined group's lookup status.
struct StatusRows<'a>(&'a [(String, Vec<LookupStatus>)], usize);

impl Serialize for StatusRows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut rows = s.serialize_seq(Some(self.1))?;
        for row in 0..self.1 {
            rows.serialize_element(&RowStatus(self.0, row))?;
        }
        rows.end()
    }
}

/// One row's statuses, one per joined group.
struct RowStatus<'a>(&'a [(String, Vec<LookupStatus>)], usize);

impl Serialize for RowStatus<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(_, statuses)| &statuses[self.1]))
    }
}
