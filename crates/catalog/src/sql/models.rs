//! Models: numbered versions of each model, and the aliases (`NAME@ALIAS`)
//! that point at them.

use chrono::Utc;
use sluice_types::ModelSpec;
use sqlx::{AssertSqlSafe, Row};

use super::{insert_numbered, micros_to_time, parse_spec, spec_json, Dialect, SqlCatalog};
use crate::error::db;
use crate::records::{ModelRecord, ModelVersion};
use crate::{Error, Result};

/// Every model alias, as (name, version, alias), ordered by alias.
struct Aliases(Vec<(String, u32, String)>);

impl Aliases {
    async fn read(catalog: &SqlCatalog) -> Result<Self> {
        let query = sqlx::query("SELECT name, version, alias FROM model_aliases ORDER BY alias");
        let aliases = catalog
            .fetch_rows(query, "list model aliases", |row| {
                Ok((row.get(0), row.get::<i64, _>(1) as u32, row.get(2)))
            })
            .await?;
        Ok(Aliases(aliases))
    }

    /// The aliases pointing at `name` `version`.
    fn of(&self, name: &str, version: u32) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, v, _)| n == name && *v == version)
            .map(|(_, _, alias)| alias.clone())
            .collect()
    }
}

pub(super) async fn register(catalog: &SqlCatalog, spec: &ModelSpec) -> Result<u32> {
    let version = insert_numbered("register model", || {
        sqlx::query(
            "INSERT INTO models (name, version, spec, created_at)
             SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $3 FROM models WHERE name = $1
             RETURNING version",
        )
        .bind(&spec.name)
        .bind(spec_json(spec))
        .bind(Utc::now().timestamp_micros())
        .fetch_one(&catalog.pool)
    })
    .await?;
    Ok(version as u32)
}

pub(super) async fn list(catalog: &SqlCatalog) -> Result<Vec<ModelRecord>> {
    let aliases = Aliases::read(catalog).await?;
    let query =
        sqlx::query("SELECT name, version, spec, created_at FROM models ORDER BY name, version");
    catalog
        .fetch_rows(query, "list models", |row| {
            let name: String = row.get(0);
            let version = row.get::<i64, _>(1) as u32;
            Ok(ModelRecord {
                version,
                aliases: aliases.of(&name, version),
                spec: parse_spec(&name, row.get(2))?,
                created_at: micros_to_time(row.get(3)),
            })
        })
        .await
}

pub(super) async fn versions(catalog: &SqlCatalog) -> Result<Vec<ModelVersion>> {
    let aliases = Aliases::read(catalog).await?;
    let query = sqlx::query("SELECT name, version FROM models ORDER BY name, version");
    catalog
        .fetch_rows(query, "list model versions", |row| {
            let name: String = row.get(0);
            let version = row.get::<i64, _>(1) as u32;
            Ok(ModelVersion {
                aliases: aliases.of(&name, version),
                name,
                version,
            })
        })
        .await
}

pub(super) async fn get(
    catalog: &SqlCatalog,
    name: &str,
    version: Option<u32>,
) -> Result<ModelRecord> {
    let all = list(catalog).await?;
    let mine: Vec<&ModelRecord> = all.iter().filter(|m| m.spec.name == name).collect();
    if mine.is_empty() {
        let mut known: Vec<String> = all.iter().map(|m| m.spec.name.clone()).collect();
        known.dedup();
        return Err(Error::NotFound {
            kind: "model",
            name: name.to_string(),
            known,
        });
    }
    let found = match version {
        Some(v) => mine.iter().find(|m| m.version == v),
        None => mine.last(),
    };
    found
        .map(|m| (*m).clone())
        .ok_or_else(|| Error::VersionNotFound {
            kind: "model",
            name: name.to_string(),
            version: version.unwrap_or_default(),
            available: mine.iter().map(|m| m.version).collect(),
        })
}

pub(super) async fn by_alias(catalog: &SqlCatalog, name: &str, alias: &str) -> Result<ModelRecord> {
    let version: Option<i64> =
        sqlx::query_scalar("SELECT version FROM model_aliases WHERE name = $1 AND alias = $2")
            .bind(name)
            .bind(alias)
            .fetch_optional(&catalog.pool)
            .await
            .map_err(db("read model alias"))?;
    match version {
        Some(v) => get(catalog, name, Some(v as u32)).await,
        None => Err(Error::NotFound {
            kind: "model alias",
            name: format!("{name}@{alias}"),
            known: Vec::new(),
        }),
    }
}

pub(super) async fn set_alias(
    catalog: &SqlCatalog,
    name: &str,
    alias: &str,
    version: u32,
) -> Result<Option<u32>> {
    sluice_types::name::validate_name(alias).map_err(|source| Error::InvalidAlias {
        model: name.to_string(),
        source: Box::new(source),
    })?;
    get(catalog, name, Some(version)).await?;
    let mut tx = catalog.begin_write().await.map_err(db("set model alias"))?;
    // SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL
    // needs the row locked so that a concurrent move waits for this one.
    let lock = match catalog.dialect {
        Dialect::Sqlite => "",
        Dialect::Postgres => " FOR UPDATE",
    };
    let previous: Option<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM model_aliases WHERE name = $1 AND alias = $2{lock}"
    )))
    .bind(name)
    .bind(alias)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db("set model alias"))?;
    sqlx::query(
        "INSERT INTO model_aliases (name, alias, version) VALUES ($1, $2, $3)
         ON CONFLICT (name, alias) DO UPDATE SET version = excluded.version",
    )
    .bind(name)
    .bind(alias)
    .bind(i64::from(version))
    .execute(&mut *tx)
    .await
    .map_err(db("set model alias"))?;
    tx.commit().await.map_err(db("set model alias"))?;
    Ok(previous.map(|v| v as u32))
}
