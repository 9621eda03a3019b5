//! From request columns to a model's input rows: keys parsed with the
//! ingest rules (integers for an integer key taken as they are), features
//! looked up in the online store (one read per joined group for all rows),
//! request-time values laid over them, and the on-demand features computed
//! from the result.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::DataType;
use chrono::{DateTime, Utc};
use sluice_featurestore::{FeatureStore, LookupStatus, ResolvedView};
use sluice_types::coerce::InputCoercer;
use sluice_types::{ColumnSpec, FeatureGroupSpec};

use crate::limits::check_keys;
use crate::request::{row_count, RequestColumn};
use crate::{Error, Result};

/// Request columns split into the view's keys and passed feature values.
#[derive(Debug)]
pub struct RequestColumns {
    pub keys: Vec<RequestColumn>,
    pub passed: Vec<RequestColumn>,
}

impl RequestColumns {
    /// `columns` must hold every key of the view, at most `max_keys` rows
    /// of them; any other column must be one of `passable` (its value
    /// replaces the looked-up one).
    pub fn split(
        view: &ResolvedView,
        columns: Vec<RequestColumn>,
        passable: &[String],
        max_keys: usize,
    ) -> Result<Self> {
        check_keys(row_count(&columns)?, max_keys)?;
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
    let key_types = view.key_schema().fields().iter().map(|f| f.data_type());
    let keys = view
        .coerce_keys(
            "keys",
            &request_batch(
                view.key_names().iter().zip(key_types),
                &request.keys,
                "keys",
            )?,
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

/// Request columns parsed into `columns`' types by the ingest rules (nulls refused).
fn typed(columns: Vec<ColumnSpec>, values: &[RequestColumn], what: &str) -> Result<RecordBatch> {
    let types: Vec<DataType> = columns.iter().map(|c| c.column_type.arrow_type()).collect();
    let batch = request_batch(columns.iter().map(|c| &c.name).zip(&types), values, what)?;
    InputCoercer::new(Arc::new(FeatureGroupSpec::keyed_by_all(
        "request", 1, columns,
    )))
    .coerce_keys(what, &batch)
    .map_err(|e| Error::BadRequest(e.to_string()))
}

/// The named columns of `values`, in that order, each as an array for its
/// target type to be parsed from (see [`RequestValues::to_array`]).
///
/// [`RequestValues::to_array`]: crate::request::RequestValues::to_array
fn request_batch<'a>(
    columns: impl Iterator<Item = (&'a String, &'a DataType)>,
    values: &[RequestColumn],
    what: &str,
) -> Result<RecordBatch> {
    let arrays = columns.map(|(name, target)| {
        let array = values
            .iter()
            .find(|(given, _)| given == name)
            .map(|(_, v)| v.to_array(target))
            .unwrap_or_else(|| arrow::array::new_empty_array(&DataType::Utf8));
        (name.as_str(), array)
    });
    RecordBatch::try_from_iter(arrays).map_err(|e| Error::BadRequest(format!("{what}: {e}")))
}
