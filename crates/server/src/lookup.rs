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
        let key_names = view.key_names();
        for key in key_names {
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
    let keys = view
        .coerce_keys(
            "keys",
            &text_batch(view.key_names(), &request.keys, "keys")?,
        )
        .map_err(|e| Error::BadRequest(e.to_string()))?;
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
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    let text = text_batch(&names, values, what)?;
    InputCoercer::new(Arc::new(FeatureGroupSpec::keyed_by_all(
        "request", 1, columns,
    )))
    .coerce_keys(what, &text)
    .map_err(|e| Error::BadRequest(e.to_string()))
}

/// The named columns of `values`, in that order, as text arrays.
fn text_batch(names: &[String], values: &[TextColumn], what: &str) -> Result<RecordBatch> {
    let text: Vec<(&str, ArrayRef)> = names
        .iter()
        .map(|name| {
            let column = values
                .iter()
                .find(|(given, _)| given == name)
                .map(|(_, v)| v.as_slice())
                .unwrap_or_default();
            (
                name.as_str(),
                Arc::new(StringArray::from_iter_values(column)) as ArrayRef,
            )
        })
        .collect();
    RecordBatch::try_from_iter(text).map_err(|e| Error::BadRequest(format!("{what}: {e}")))
}
