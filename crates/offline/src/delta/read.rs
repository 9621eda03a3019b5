//! Reads: scans of one state of a table's history (the latest, a commit
//! version, or the state at a time), decoded on every core.

use arrow::array::RecordBatch;
use chrono::{DateTime, Utc};
use deltalake::datafusion::error::DataFusionError;
use deltalake::datafusion::prelude::SessionContext;
use deltalake::{DeltaTable, DeltaTableError};
use futures::stream::BoxStream;
use futures::StreamExt;
use object_store::ObjectStoreExt;
use sluice_types::FeatureGroupSpec;

use super::table::conform;
use super::{delta, label, query, DeltaOfflineStore};
use crate::store::{BatchStream, ReadAt};
use crate::{Error, Result};

pub(super) async fn scan(
    store: &DeltaOfflineStore,
    fg: &FeatureGroupSpec,
    at: ReadAt,
    columns: Option<&[String]>,
) -> Result<BatchStream> {
    let schema = match columns {
        None => fg.arrow_schema(),
        Some(names) => {
            let full = fg.arrow_schema();
            let indices = names
                .iter()
                .map(|name| {
                    full.index_of(name).map_err(|_| Error::UnknownColumn {
                        feature_group: label(fg),
                        column: name.clone(),
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            std::sync::Arc::new(full.project(&indices)?)
        }
    };
    let Some(mut table) = store.open(fg).await? else {
        if at == ReadAt::Latest {
            return Ok(futures::stream::empty().boxed());
        }
        return Err(Error::NoSuchState {
            feature_group: label(fg),
            requested: describe(at),
            message: "nothing has been written to it yet".into(),
        });
    };
    let no_such_state = |e: DeltaTableError| Error::NoSuchState {
        feature_group: label(fg),
        requested: describe(at),
        message: e.to_string(),
    };
    match at {
        ReadAt::Latest => {}
        ReadAt::Version(version) => {
            let newest = table.version().unwrap_or_default();
            if version > newest {
                return Err(Error::NoSuchState {
                    feature_group: label(fg),
                    requested: describe(at),
                    message: format!("the newest commit is {newest}"),
                });
            }
            table.load_version(version).await.map_err(no_such_state)?
        }
        ReadAt::Time(time) => {
            if time
                < first_commit_time(&table)
                    .await
                    .map_err(delta(fg, "time travel"))?
            {
                // Before the first commit the feature group held no rows.
                return Ok(futures::stream::empty().boxed());
            }
            table
                .load_with_datetime(time)
                .await
                .map_err(no_such_state)?
        }
    }
    let stream = parallel_scan(&table, columns)
        .await
        .map_err(query(fg, "scan"))?;
    let name = label(fg);
    Ok(stream
        .map(move |batch| {
            let batch = batch.map_err(|source| Error::Query {
                feature_group: name.clone(),
                operation: "scan",
                source: Box::new(source),
            })?;
            Ok(conform(&schema, batch)?)
        })
        .boxed())
}

pub(super) async fn latest_version(
    store: &DeltaOfflineStore,
    fg: &FeatureGroupSpec,
) -> Result<Option<u64>> {
    Ok(store.open(fg).await?.and_then(|t| t.version()))
}

/// Scans the loaded table with one task per partition (one per core), so that
/// Parquet decoding uses every core; batches arrive in no particular order.
async fn parallel_scan(
    table: &DeltaTable,
    columns: Option<&[String]>,
) -> std::result::Result<
    BoxStream<'static, std::result::Result<RecordBatch, DataFusionError>>,
    DataFusionError,
> {
    let ctx = SessionContext::new();
    table
        .update_datafusion_session(&ctx.state())
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let provider = table
        .table_provider()
        .await
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    let mut frame = ctx.read_table(provider)?;
    if let Some(columns) = columns {
        let names: Vec<&str> = columns.iter().map(String::as_str).collect();
        frame = frame.select_columns(&names)?;
    }
    let partitions = frame.execute_stream_partitioned().await?;
    let (sender, receiver) = tokio::sync::mpsc::channel(partitions.len().max(1) * 2);
    for mut partition in partitions {
        let sender = sender.clone();
        tokio::spawn(async move {
            while let Some(batch) = partition.next().await {
                if sender.send(batch).await.is_err() {
                    break;
                }
            }
        });
    }
    Ok(tokio_stream_from(receiver))
}

fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
}

/// When commit 0 was written, by the same clock `load_with_datetime` uses: the log file's modification time.
async fn first_commit_time(
    table: &DeltaTable,
) -> std::result::Result<DateTime<Utc>, DeltaTableError> {
    let first = deltalake::Path::from("_delta_log/00000000000000000000.json");
    let meta = table.log_store().object_store(None).head(&first).await?;
    Ok(meta.last_modified)
}

fn describe(at: ReadAt) -> String {
    match at {
        ReadAt::Latest => "the latest commit".into(),
        ReadAt::Version(v) => format!("commit {v}"),
        ReadAt::Time(t) => format!("the state as of {}", t.to_rfc3339()),
    }
}
