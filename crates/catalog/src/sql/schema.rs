//! The catalog's tables and the migration that creates them.

use super::{Dialect, SqlCatalog};
use crate::error::db;
use crate::Result;

/// The statement creating a table of versioned definitions, a JSON spec per
/// (name, version). Feature groups and feature views must stay alike, as
/// `definitions` runs the same statements on both; models are kept alike too.
macro_rules! versioned_table {
    ($table:literal) => {
        concat!(
            "CREATE TABLE IF NOT EXISTS ",
            $table,
            " (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (name, version))"
        )
    };
}

const SCHEMA: &[&str] = &[
    versioned_table!("feature_groups"),
    versioned_table!("feature_views"),
    "CREATE TABLE IF NOT EXISTS training_datasets (
        feature_view TEXT NOT NULL,
        view_version BIGINT NOT NULL,
        version BIGINT NOT NULL,
        spec TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        PRIMARY KEY (feature_view, view_version, version))",
    "CREATE TABLE IF NOT EXISTS feature_group_commits (
        name TEXT NOT NULL,
        version BIGINT NOT NULL,
        offline_version BIGINT NOT NULL,
        operation TEXT NOT NULL,
        rows_affected BIGINT NOT NULL,
        committed_at BIGINT NOT NULL,
        source TEXT NOT NULL,
        PRIMARY KEY (name, version, offline_version))",
    "CREATE TABLE IF NOT EXISTS pipeline_runs (
        id BIGINT NOT NULL PRIMARY KEY,
        pipeline TEXT NOT NULL,
        sink TEXT NOT NULL,
        status TEXT NOT NULL,
        started_at BIGINT NOT NULL,
        ended_at BIGINT,
        rows_in BIGINT NOT NULL,
        rows_out BIGINT NOT NULL,
        offline_version BIGINT,
        error TEXT,
        state TEXT NOT NULL)",
    versioned_table!("models"),
    "CREATE TABLE IF NOT EXISTS model_aliases (
        name TEXT NOT NULL,
        alias TEXT NOT NULL,
        version BIGINT NOT NULL,
        PRIMARY KEY (name, alias))",
    "CREATE TABLE IF NOT EXISTS quality_records (
        id BIGINT NOT NULL PRIMARY KEY,
        subject TEXT NOT NULL,
        kind TEXT NOT NULL,
        offline_version BIGINT,
        recorded_at BIGINT NOT NULL,
        body TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS quality_records_by_subject ON quality_records (subject, kind, id)",
];

/// Brings the schema to the current version. Every statement is idempotent;
/// on PostgreSQL an advisory lock keeps concurrent first opens from racing.
pub(super) async fn migrate(catalog: &SqlCatalog) -> Result<()> {
    let mut tx = catalog.begin_write().await.map_err(db("migrate"))?;
    if catalog.dialect == Dialect::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock(7418250101)")
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
    }
    for statement in SCHEMA {
        sqlx::query(*statement)
            .execute(&mut *tx)
            .await
            .map_err(db("migrate"))?;
    }
    tx.commit().await.map_err(db("migrate"))
}
