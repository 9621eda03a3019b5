//! Data-quality records, numbered across all subjects.

use sqlx::Row;

use super::{insert_numbered, micros_to_time, SqlCatalog};
use crate::quality::{QualityKind, QualityQuery, QualityRecord};
use crate::{Error, Result};

pub(super) async fn record(catalog: &SqlCatalog, record: &QualityRecord) -> Result<u64> {
    let id = insert_numbered("record quality", || {
        sqlx::query(
            "INSERT INTO quality_records (id, subject, kind, offline_version, recorded_at, body)
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4, $5 FROM quality_records
             RETURNING id",
        )
        .bind(&record.subject)
        .bind(record.kind.as_str())
        .bind(record.offline_version.map(|v| v as i64))
        .bind(record.recorded_at.timestamp_micros())
        .bind(&record.body)
        .fetch_one(&catalog.pool)
    })
    .await?;
    Ok(id as u64)
}

pub(super) async fn list(
    catalog: &SqlCatalog,
    query: &QualityQuery<'_>,
) -> Result<Vec<QualityRecord>> {
    let statement = sqlx::query(
        "SELECT id, subject, kind, offline_version, recorded_at, body FROM quality_records
         WHERE subject = $1 AND kind = $2 AND ($3 IS NULL OR offline_version = $3)
         ORDER BY id DESC LIMIT $4",
    )
    .bind(query.subject)
    .bind(query.kind.as_str())
    .bind(query.offline_version.map(|v| v as i64))
    .bind(query.limit.min(i64::MAX as usize) as i64);
    catalog
        .fetch_rows(statement, "read quality records", |row| {
            let kind: String = row.get(2);
            Ok(QualityRecord {
                id: row.get::<i64, _>(0) as u64,
                subject: row.get(1),
                kind: QualityKind::parse(&kind).ok_or_else(|| Error::Corrupt {
                    name: row.get(1),
                    message: format!("unknown quality record kind '{kind}'"),
                })?,
                offline_version: row.get::<Option<i64>, _>(3).map(|v| v as u64),
                recorded_at: micros_to_time(row.get(4)),
                body: row.get(5),
            })
        })
        .await
}
