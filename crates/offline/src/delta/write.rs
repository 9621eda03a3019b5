//! Writes, each one Delta commit: upserts of staged files (a merge on the
//! row identity), blind appends of rows held in memory, and deletes by key.

use std::path::PathBuf;
use std::time::Instant;

use arrow::array::RecordBatch;
use deltalake::datafusion::common::Column;
use deltalake::datafusion::dataframe::DataFrame;
use deltalake::datafusion::prelude::{ParquetReadOptions, SessionContext};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};
use deltalake::DeltaTableError;
use sluice_types::FeatureGroupSpec;

use super::table::{conform, writer_properties};
use super::{delta, label, query, DeltaOfflineStore, SEQUENCE_COLUMN};
use crate::last_wins::last_per_identity;
use crate::predicates::{column, keys_predicate, merge_predicate, qualified, row_identity};
use crate::store::CommitMetrics;
use crate::{Error, Result};

/// Appends between checkpoints: Delta's default `delta.checkpointInterval`.
const CHECKPOINT_INTERVAL: u64 = 100;

/// Commit attempts of one append racing other writers of the same table.
const APPEND_COMMIT_TRIES: u32 = 20;

pub(super) async fn upsert(
    store: &DeltaOfflineStore,
    fg: &FeatureGroupSpec,
    staged: &[PathBuf],
) -> Result<CommitMetrics> {
    let started = Instant::now();
    let source = staged_source(fg, staged).await?;
    let Some(table) = store.open(fg).await? else {
        return store.create_with(fg, source, started).await;
    };
    let (table, metrics) = table
        .merge(source, merge_predicate(fg))
        .with_source_alias("source")
        .with_target_alias("target")
        .with_writer_properties(writer_properties(fg))
        .when_matched_update(|update| {
            fg.columns
                .iter()
                .filter(|c| !row_identity(fg).contains(&c.name.as_str()))
                .fold(update, |u, c| {
                    u.update(
                        Column::new_unqualified(c.name.as_str()),
                        qualified("source", &c.name),
                    )
                })
        })
        .and_then(|merge| {
            merge.when_not_matched_insert(|insert| {
                fg.columns.iter().fold(insert, |i, c| {
                    i.set(
                        Column::new_unqualified(c.name.as_str()),
                        qualified("source", &c.name),
                    )
                })
            })
        })
        .map_err(delta(fg, "merge"))?
        .await
        .map_err(delta(fg, "merge"))?;
    Ok(CommitMetrics {
        version: table.version().unwrap_or_default(),
        rows_inserted: metrics.num_target_rows_inserted as u64,
        rows_updated: metrics.num_target_rows_updated as u64,
        rows_deleted: 0,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

pub(super) async fn append(
    store: &DeltaOfflineStore,
    fg: &FeatureGroupSpec,
    batches: &[RecordBatch],
) -> Result<CommitMetrics> {
    let started = Instant::now();
    let unfit = |source| Error::Rows {
        feature_group: label(fg),
        operation: "append",
        source,
    };
    let schema = fg.arrow_schema();
    let conformed = batches
        .iter()
        .map(|b| conform(&schema, b.clone()))
        .collect::<arrow::error::Result<Vec<_>>>()
        .map_err(unfit)?;
    let batch = arrow::compute::concat_batches(&schema, &conformed).map_err(unfit)?;
    let batch = last_per_identity(fg, batch).map_err(unfit)?;
    let rows = batch.num_rows() as u64;
    let Some(mut table) = store.open_for_append(fg).await? else {
        let source = SessionContext::new()
            .read_batch(batch)
            .map_err(query(fg, "write"))?;
        return store.create_with(fg, source, started).await;
    };
    let mut writer = RecordBatchWriter::for_blind_appends(&table)
        .map_err(delta(fg, "append"))?
        .with_writer_properties(writer_properties(fg));
    writer.write(batch).await.map_err(delta(fg, "append"))?;
    let adds = writer.flush().await.map_err(delta(fg, "append"))?;
    // Appends never conflict in what they change, so losing the race for
    // a commit number only means committing the same files at the next one.
    let mut tries = 1;
    let version = loop {
        match table.commit(adds.clone()).await {
            Ok(version) => break version,
            Err(DeltaTableError::VersionAlreadyExists(_)) if tries < APPEND_COMMIT_TRIES => {
                tries += 1;
                table = store
                    .open_for_append(fg)
                    .await?
                    .expect("a table that refused a commit exists");
            }
            Err(e) => return Err(delta(fg, "append")(e)),
        }
    };
    if version % CHECKPOINT_INTERVAL == 0 {
        store.checkpoint(fg, version).await;
    }
    Ok(CommitMetrics {
        version,
        rows_inserted: rows,
        elapsed_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    })
}

pub(super) async fn delete_keys(
    store: &DeltaOfflineStore,
    fg: &FeatureGroupSpec,
    keys: &RecordBatch,
) -> Result<Option<CommitMetrics>> {
    let started = Instant::now();
    let Some(table) = store.open(fg).await? else {
        return Ok(None);
    };
    let before = table.version();
    let (table, metrics) = table
        .delete()
        .with_predicate(keys_predicate(fg, keys)?)
        .with_writer_properties(writer_properties(fg))
        .await
        .map_err(delta(fg, "delete"))?;
    if table.version() == before {
        return Ok(None);
    }
    Ok(Some(CommitMetrics {
        version: table.version().unwrap_or_default(),
        rows_deleted: metrics.num_deleted_rows.unwrap_or_default() as u64,
        elapsed_ms: started.elapsed().as_millis() as u64,
        ..Default::default()
    }))
}

/// The staged rows, with later duplicates of a row identity replacing earlier ones.
async fn staged_source(fg: &FeatureGroupSpec, staged: &[PathBuf]) -> Result<DataFrame> {
    let ctx = SessionContext::new();
    let paths: Vec<String> = staged.iter().map(|p| p.display().to_string()).collect();
    let df = ctx
        .read_parquet(paths, ParquetReadOptions::default())
        .await
        .map_err(query(fg, "read of staged rows"))?;
    let columns: Vec<_> = fg.columns.iter().map(|c| column(&c.name)).collect();
    if !df
        .schema()
        .has_column_with_unqualified_name(SEQUENCE_COLUMN)
        || !has_duplicates(fg, &df).await?
    {
        return df.select(columns).map_err(query(fg, "read of staged rows"));
    }
    let identity: Vec<_> = row_identity(fg).into_iter().map(column).collect();
    // DISTINCT ON keeps the first row of each group in this order: the last one staged.
    let order = identity
        .iter()
        .map(|c| c.clone().sort(true, false))
        .chain([column(SEQUENCE_COLUMN).sort(false, false)])
        .collect();
    df.distinct_on(identity, columns, Some(order))
        .map_err(query(fg, "de-duplication of staged rows"))
}

async fn has_duplicates(fg: &FeatureGroupSpec, df: &DataFrame) -> Result<bool> {
    use deltalake::datafusion::functions_aggregate::expr_fn::count;
    use deltalake::datafusion::logical_expr::lit;
    let identity: Vec<_> = row_identity(fg).into_iter().map(column).collect();
    let groups = df
        .clone()
        .aggregate(identity, vec![count(lit(1)).alias("__sluice_rows")])
        .and_then(|g| g.filter(column("__sluice_rows").gt(lit(1))))
        .and_then(|g| g.limit(0, Some(1)))
        .map_err(query(fg, "duplicate check"))?;
    let found = groups.count().await.map_err(query(fg, "duplicate check"))?;
    Ok(found > 0)
}
