//! Pipeline runs: a row per `sluice run`, numbered across all pipelines and
//! updated as the run progresses.

use chrono::Utc;
use sqlx::Row;

use super::{insert_numbered, micros_to_time, SqlCatalog};
use crate::error::db;
use crate::runs::{RunProgress, RunRecord, RunStatus};
use crate::{Error, Result};

pub(super) async fn start(catalog: &SqlCatalog, pipeline: &str, sink: &str) -> Result<u64> {
    let id = insert_numbered("start run", || {
        sqlx::query(
            "INSERT INTO pipeline_runs
                (id, pipeline, sink, status, started_at, rows_in, rows_out, state)
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, 'running', $3, 0, 0, 'null' FROM pipeline_runs
             RETURNING id",
        )
        .bind(pipeline)
        .bind(sink)
        .bind(Utc::now().timestamp_micros())
        .fetch_one(&catalog.pool)
    })
    .await?;
    Ok(id as u64)
}

pub(super) async fn update(catalog: &SqlCatalog, id: u64, progress: &RunProgress) -> Result<()> {
    let ended_at = (progress.status != RunStatus::Running).then(|| Utc::now().timestamp_micros());
    let updated = sqlx::query(
        "UPDATE pipeline_runs SET status = $1, ended_at = $2, rows_in = $3, rows_out = $4,
             offline_version = $5, error = $6, state = $7
         WHERE id = $8",
    )
    .bind(progress.status.as_str())
    .bind(ended_at)
    .bind(progress.rows_in as i64)
    .bind(progress.rows_out as i64)
    .bind(progress.offline_version.map(|v| v as i64))
    .bind(progress.error.as_deref())
    .bind(progress.state.to_string())
    .bind(id as i64)
    .execute(&catalog.pool)
    .await
    .map_err(db("update run"))?;
    if updated.rows_affected() == 0 {
        return Err(Error::NotFound {
            kind: "run",
            name: id.to_string(),
            known: Vec::new(),
        });
    }
    Ok(())
}

pub(super) async fn list(catalog: &SqlCatalog, pipeline: Option<&str>) -> Result<Vec<RunRecord>> {
    let query = sqlx::query(
        "SELECT id, pipeline, sink, status, started_at, ended_at, rows_in, rows_out,
                offline_version, error, state
         FROM pipeline_runs WHERE $1 IS NULL OR pipeline = $1 ORDER BY id DESC",
    )
    .bind(pipeline);
    catalog
        .fetch_rows(query, "list runs", |row| {
            let id = row.get::<i64, _>(0) as u64;
            let corrupt = |message: String| Error::Corrupt {
                name: format!("run {id}"),
                message,
            };
            let status: String = row.get(3);
            let state: String = row.get(10);
            Ok(RunRecord {
                id,
                pipeline: row.get(1),
                sink: row.get(2),
                started_at: micros_to_time(row.get(4)),
                ended_at: row.get::<Option<i64>, _>(5).map(micros_to_time),
                progress: RunProgress {
                    status: RunStatus::parse(&status)
                        .ok_or_else(|| corrupt(format!("unknown status '{status}'")))?,
                    rows_in: row.get::<i64, _>(6) as u64,
                    rows_out: row.get::<i64, _>(7) as u64,
                    offline_version: row.get::<Option<i64>, _>(8).map(|v| v as u64),
                    error: row.get(9),
                    state: serde_json::from_str(&state).map_err(|e| corrupt(e.to_string()))?,
                },
            })
        })
        .await
}
