//! A feature group's commit history: which offline commits exist, never their rows.

use sqlx::Row;

use super::{micros_to_time, SqlCatalog};
use crate::error::db;
use crate::records::{CommitOperation, CommitRecord};
use crate::{Error, Result};

/// A commit already recorded (the same offline version) is left as it is,
/// so recording one again is harmless.
pub(super) async fn record(
    catalog: &SqlCatalog,
    name: &str,
    version: u32,
    commit: &CommitRecord,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO feature_group_commits
            (name, version, offline_version, operation, rows_affected, committed_at, source)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (name, version, offline_version) DO NOTHING",
    )
    .bind(name)
    .bind(i64::from(version))
    .bind(commit.offline_version as i64)
    .bind(commit.operation.to_string())
    .bind(commit.rows as i64)
    .bind(commit.committed_at.timestamp_micros())
    .bind(&commit.source)
    .execute(&catalog.pool)
    .await
    .map_err(db("record commit"))?;
    Ok(())
}

pub(super) async fn list(
    catalog: &SqlCatalog,
    name: &str,
    version: u32,
) -> Result<Vec<CommitRecord>> {
    let query = sqlx::query(
        "SELECT offline_version, operation, rows_affected, committed_at, source FROM feature_group_commits
         WHERE name = $1 AND version = $2 ORDER BY offline_version",
    )
    .bind(name)
    .bind(i64::from(version));
    catalog
        .fetch_rows(query, "read commits", |row| {
            let operation: String = row.get(1);
            Ok(CommitRecord {
                offline_version: row.get::<i64, _>(0) as u64,
                operation: CommitOperation::parse(&operation).ok_or_else(|| Error::Corrupt {
                    name: name.to_string(),
                    message: format!("unknown commit operation '{operation}'"),
                })?,
                rows: row.get::<i64, _>(2) as u64,
                committed_at: micros_to_time(row.get(3)),
                source: row.get(4),
            })
        })
        .await
}
