//! Training datasets: numbered per feature-view version, each recorded only
//! once its files are in place.

use chrono::Utc;
use sluice_types::TrainingDatasetSpec;
use sqlx::Row;

use super::{micros_to_time, parse_spec, spec_json, SqlCatalog};
use crate::error::db;
use crate::records::{PlaceFiles, TrainingDatasetRecord};
use crate::{Error, Result};

pub(super) async fn create(
    catalog: &SqlCatalog,
    spec: &TrainingDatasetSpec,
    place: PlaceFiles<'_>,
) -> Result<u32> {
    let mut tx = catalog
        .begin_write()
        .await
        .map_err(db("begin training dataset"))?;
    let latest: Option<i64> = sqlx::query_scalar(
        "SELECT MAX(version) FROM training_datasets WHERE feature_view = $1 AND view_version = $2",
    )
    .bind(&spec.feature_view)
    .bind(i64::from(spec.feature_view_version))
    .fetch_one(&mut *tx)
    .await
    .map_err(db("number training dataset"))?;
    let version = latest.unwrap_or(0) + 1;
    // A concurrent create that took the same number fails on the primary key: nothing half-written.
    sqlx::query(
        "INSERT INTO training_datasets (feature_view, view_version, version, spec, created_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&spec.feature_view)
    .bind(i64::from(spec.feature_view_version))
    .bind(version)
    .bind(spec_json(spec))
    .bind(Utc::now().timestamp_micros())
    .execute(&mut *tx)
    .await
    .map_err(db("record training dataset"))?;
    // The insert holds the number (a concurrent create waits on it or
    // fails), so the files can take it before the record becomes visible.
    place(version as u32).map_err(|message| Error::NotPlaced {
        kind: "training dataset of feature view",
        name: format!("{}:{}", spec.feature_view, spec.feature_view_version),
        version: version as u32,
        message,
    })?;
    tx.commit().await.map_err(db("record training dataset"))?;
    Ok(version as u32)
}

pub(super) async fn get(
    catalog: &SqlCatalog,
    feature_view: &str,
    view_version: u32,
    version: u32,
) -> Result<TrainingDatasetRecord> {
    let all = list(catalog).await?;
    let mine: Vec<&TrainingDatasetRecord> = all
        .iter()
        .filter(|r| {
            r.spec.feature_view == feature_view && r.spec.feature_view_version == view_version
        })
        .collect();
    match mine.iter().find(|r| r.version == version) {
        Some(record) => Ok((*record).clone()),
        None => Err(Error::VersionNotFound {
            kind: "training dataset of feature view",
            name: format!("{feature_view}:{view_version}"),
            version,
            available: mine.iter().map(|r| r.version).collect(),
        }),
    }
}

pub(super) async fn list(catalog: &SqlCatalog) -> Result<Vec<TrainingDatasetRecord>> {
    let query = sqlx::query(
        "SELECT feature_view, version, spec, created_at FROM training_datasets
         ORDER BY feature_view, view_version, version",
    );
    catalog
        .fetch_rows(query, "list training datasets", |row| {
            let name: String = row.get(0);
            Ok(TrainingDatasetRecord {
                version: row.get::<i64, _>(1) as u32,
                spec: parse_spec(&name, row.get(2))?,
                created_at: micros_to_time(row.get(3)),
            })
        })
        .await
}
