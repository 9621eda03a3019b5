//! The data behind each ticket and command: which feature-store call
//! answers it, with what schema, as a stream of batches.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::datatypes::SchemaRef;
use chrono::{DateTime, Utc};
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use sluice_featurestore::{FeatureStore, IngestMetrics, NoProgress, ReadAt, Selection};
use sluice_types::NameRef;
use tonic::Status;

use super::tickets::{key_text, Command, GroupRows, Ticket};
use super::{status, store_status};
use crate::Error;

/// Batches on their way to a client; an error ends the call with its status.
pub(crate) type Rows = BoxStream<'static, Result<RecordBatch, Status>>;

/// `NAME` or `NAME:VERSION`, or INVALID_ARGUMENT naming what is wrong.
pub(crate) fn name(text: &str) -> Result<NameRef, Status> {
    NameRef::parse(text).map_err(|e| store_status(e.into()))
}

fn time(field: &str, text: &str) -> Result<DateTime<Utc>, Status> {
    string_to_datetime(&Utc, text).map_err(|_| {
        status(Error::BadRequest(format!(
            "{field} '{text}' is not an RFC 3339 / ISO-8601 time"
        )))
    })
}

fn read_at(rows: &GroupRows) -> Result<ReadAt, Status> {
    match (&rows.as_of, rows.commit) {
        (Some(_), Some(_)) => Err(status(Error::BadRequest(
            "give as_of or commit, not both".into(),
        ))),
        (Some(text), None) => Ok(ReadAt::Time(time("as_of", text)?)),
        (None, Some(commit)) => Ok(ReadAt::Version(commit)),
        (None, None) => Ok(ReadAt::Latest),
    }
}

/// The schema and rows a ticket names. Group rows and dataset splits are
/// streamed from storage; batch features are one join, sent in pieces.
pub(crate) async fn ticket_rows(
    store: &FeatureStore,
    ticket: &Ticket,
) -> Result<(SchemaRef, Rows), Status> {
    match ticket {
        Ticket::FeatureGroup(rows) => {
            let group = store
                .feature_group(&name(&rows.name)?)
                .await
                .map_err(store_status)?;
            let keys = match &rows.keys {
                None => None,
                Some(keys) => {
                    let mut columns = Vec::with_capacity(keys.len());
                    for (column, values) in keys {
                        let values = values.as_array().ok_or_else(|| {
                            status(Error::BadRequest(format!(
                                "keys.{column} must be a list of values"
                            )))
                        })?;
                        let text = values
                            .iter()
                            .map(|v| key_text(column, v))
                            .collect::<crate::Result<Vec<_>>>()
                            .map_err(status)?;
                        columns.push((column.clone(), text));
                    }
                    Some(group.keys_from_text(&columns).map_err(store_status)?)
                }
            };
            let selection = Selection {
                at: read_at(rows)?,
                columns: rows.columns.clone(),
                keys,
                limit: rows.limit,
            };
            let (schema, stream) = group.select(selection).await.map_err(store_status)?;
            Ok((schema, stream.map_err(|e| store_status(e.into())).boxed()))
        }
        Ticket::TrainingDataset(split) => {
            let view = store
                .feature_view(&name(&split.feature_view)?)
                .await
                .map_err(store_status)?;
            let (schema, stream) = view
                .stream_training_data(split.version, &split.split)
                .await
                .map_err(store_status)?;
            Ok((schema, stream.map_err(store_status).boxed()))
        }
        Ticket::BatchFeatures(range) => {
            let view = store
                .feature_view(&name(&range.feature_view)?)
                .await
                .map_err(store_status)?;
            let start = range
                .start
                .as_deref()
                .map(|t| time("start", t))
                .transpose()?;
            let end = range.end.as_deref().map(|t| time("end", t)).transpose()?;
            let (spine, time) = view.spine_between(start, end).await.map_err(store_status)?;
            let joined = view
                .features_for(&spine, &time)
                .await
                .map_err(store_status)?;
            Ok((joined.schema(), in_pieces(joined)))
        }
    }
}

/// Rows per batch when an answer computed whole is sent: the encoder would
/// split it anyway, and smaller pieces let the client start decoding sooner.
const PIECE_ROWS: usize = 65_536;

/// One computed batch as a stream of slices (zero-copy).
pub(crate) fn in_pieces(batch: RecordBatch) -> Rows {
    let rows = batch.num_rows();
    let pieces: Vec<Result<RecordBatch, Status>> = (0..rows)
        .step_by(PIECE_ROWS)
        .map(|start| Ok(batch.slice(start, PIECE_ROWS.min(rows - start))))
        .collect();
    futures::stream::iter(pieces).boxed()
}

/// How many rows a ticket will stream, where that is known without reading them.
pub(crate) async fn ticket_rows_total(store: &FeatureStore, ticket: &Ticket) -> Option<u64> {
    match ticket {
        Ticket::FeatureGroup(rows)
            if rows.keys.is_none()
                && rows.limit.is_none()
                && rows.as_of.is_none()
                && rows.commit.is_none() =>
        {
            let group = store.feature_group(&name(&rows.name).ok()?).await.ok()?;
            group.count_rows().await.ok()
        }
        Ticket::TrainingDataset(split) => {
            let view = store
                .feature_view(&name(&split.feature_view).ok()?)
                .await
                .ok()?;
            let record = store
                .registry()
                .training_dataset(&view.spec().name, view.spec().version, split.version)
                .await
                .ok()?;
            record
                .spec
                .splits
                .iter()
                .find(|s| s.name == split.split)
                .map(|s| s.rows)
        }
        _ => None,
    }
}

/// `do_put`: every batch checked, then one ingest (all or nothing).
pub(crate) async fn insert(
    store: &FeatureStore,
    feature_group: &str,
    batches: Vec<RecordBatch>,
) -> Result<IngestMetrics, Status> {
    let group = store
        .feature_group(&name(feature_group)?)
        .await
        .map_err(store_status)?;
    let spec = group.spec();
    for (i, batch) in batches.iter().enumerate() {
        if let Some(unknown) = batch
            .schema()
            .fields()
            .iter()
            .find(|f| spec.column(f.name()).is_none())
        {
            return Err(status(Error::BadRequest(format!(
                "batch {}: '{}' is not a column of feature group {}",
                i + 1,
                unknown.name(),
                group.label()
            ))));
        }
    }
    group
        .ingest_uploaded(batches, "do_put", &NoProgress)
        .await
        .map_err(store_status)
}

/// `do_exchange`: the uploaded spine's point-in-time features.
pub(crate) async fn features(
    store: &FeatureStore,
    command: &Command,
    spine: Vec<RecordBatch>,
) -> Result<RecordBatch, Status> {
    let Command::Features { feature_view, time } = command else {
        return Err(status(Error::BadRequest(
            "do_exchange takes a 'features' command".into(),
        )));
    };
    let view = store
        .feature_view(&name(feature_view)?)
        .await
        .map_err(store_status)?;
    let time = view.spine_time(time.as_deref()).map_err(store_status)?;
    view.features_for_batches(&spine, &time, "spine")
        .await
        .map_err(store_status)
}

/// The schema of a ticket's answer, without streaming it.
pub(crate) async fn ticket_schema(
    store: &Arc<FeatureStore>,
    ticket: &Ticket,
) -> Result<SchemaRef, Status> {
    match ticket {
        Ticket::BatchFeatures(range) => {
            // The join's output schema: the view over a spine of no rows.
            let view = store
                .feature_view(&name(&range.feature_view)?)
                .await
                .map_err(store_status)?;
            let time = view.spine_time(None).map_err(store_status)?;
            let empty = RecordBatch::new_empty(view.spine_spec(&time).arrow_schema());
            let joined = view
                .features_for(&empty, &time)
                .await
                .map_err(store_status)?;
            Ok(joined.schema())
        }
        other => Ok(ticket_rows(store, other).await?.0),
    }
}
