//! From request columns to a model's input rows: keys parsed with the
//! ingest rules, features looked up in the online store (one read per
//! joined group for all rows), request-time values laid over them, and the
//! on-demand features computed from the result.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use chrono::{DateTime, Utc};
use sluice_featurestore::{FeatureStore, LookupStatus, ResolvedView};
use sluice_types::coerce::InputCoercer;
use sluice_types::{ColumnSpec, FeatureGroupSpec};

use crate::request::{row_count, TextColumn};
use crate::{Error, Result};

/// Request columns split into the view's keys and passed feature values.
#[derive(Debug)]
pub struct RequestColumns {
    pub keys: Vec<TextColumn>,
    pub passed: Vec<TextColumn>,
}

impl RequestColumns {
    /// `columns` must hold every key of the view; any other column must be
    /// one of `passable` (its value replaces the looked-up one).
    pub fn split(
        view: &ResolvedView,
        columns: Vec<TextColumn>,
        passable: &[String],
    ) -> Result<Self> {
        row_count(&columns)?;
        let key_names: Vec<String> = view.key_columns().into_iter().map(|c| c.name).collect();
        for key in &key_names {
            if !columns.iter().any(|(name, _)| name == key) {
                return Err(Error::BadRequest(format!(
                    "the request lacks key '{key}' (feature view {} is keyed by {})",
                    view.label(),
                    key_names.join(", ")
                )));
            }
        }
        let (keys, passed): (Vec<_>, Vec<_>) = columns
            .into_iter()
            .partition(|(name, _)| key_names.contains(name));
        if let Some((name, _)) = passed.iter().find(|(name, _)| !passable.contains(name)) {
            return Err(Error::BadRequest(format!(
                "unknown input '{name}': feature view {} takes keys {} and may be passed values for {}",
                view.label(),
                key_names.join(", "),
                if passable.is_empty() { "nothing".to_string() } else { passable.join(", ") }
            )));
        }
        Ok(Self { keys, passed })
    }
}

/// Feature rows for a request, with the typed keys and per-group statuses.
pub struct LookedUp {
    pub keys: RecordBatch,
    pub features: RecordBatch,
    pub status: Vec<(String, Vec<LookupStatus>)>,
}

pub async fn look_up(
    store: &FeatureStore,
    view: &ResolvedView,
    request: &RequestColumns,
    now: DateTime<Utc>,
) -> Result<LookedUp> {
    let keys = typed(view.key_columns(), &request.keys, "keys")?;
    let given = if request.passed.is_empty() {
        None
    } else {
        if let Some(feature) = view
            .spec
            .on_demand
            .iter()
            .find(|f| request.passed.iter().any(|(name, _)| *name == f.name))
        {
            return Err(Error::BadRequest(format!(
                "'{}' is an on-demand feature of feature view {}: the server computes it; pass its inputs instead",
                feature.name,
                view.label()
            )));
        }
        let available = view.feature_columns();
        let specs: Vec<ColumnSpec> = request
            .passed
            .iter()
            .filter_map(|(name, _)| available.iter().find(|c| &c.name == name).cloned())
            .collect();
        Some(typed(specs, &request.passed, "passed values")?)
    };
    let vectors = store
        .online_vectors(view, &keys, given.as_ref(), now)
        .await?;
    Ok(LookedUp {
        keys,
        features: vectors.rows,
        status: vectors.status,
    })
}

/// Text columns parsed into `columns`' types by the ingest rules (nulls refused).
fn typed(columns: Vec<ColumnSpec>, values: &[TextColumn], what: &str) -> Result<RecordBatch> {
    let text: Vec<(String, ArrayRef)> = columns
        .iter()
        .map(|c| {
            let column = values
                .iter()
                .find(|(name, _)| *name == c.name)
                .map(|(_, v)| v.as_slice())
                .unwrap_or_default();
            (
                c.name.clone(),
                Arc::new(StringArray::from_iter_values(column)) as ArrayRef,
            )
        })
        .collect();
    let text =
        RecordBatch::try_from_iter(text).map_err(|e| Error::BadRequest(format!("{what}: {e}")))?;
    let spec = FeatureGroupSpec {
        name: "request".into(),
        version: 1,
        primary_key: columns.iter().map(|c| c.name.clone()).collect(),
        event_time: None,
        online: false,
        ttl: None,
        description: String::new(),
        columns,
    };
    InputCoercer::new(Arc::new(spec))
        .coerce_keys(what, &text)
        .map_err(|e| Error::BadRequest(e.to_string()))
}
