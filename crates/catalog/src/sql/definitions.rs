//! Feature groups and feature views: versioned definitions, each kind in a
//! table of the same shape, registered and updated by `sluice apply`.

use chrono::Utc;
use serde::de::DeserializeOwned;
use sqlx::{AssertSqlSafe, Row};

use super::{micros_to_time, parse_spec, spec_json, SqlCatalog};
use crate::error::db;
use crate::records::{CatalogChange, Versioned};
use crate::{Error, Result};

/// The kinds of versioned definitions, each in its own table of the same shape.
#[derive(Debug, Clone, Copy)]
pub(super) enum Kind {
    FeatureGroup,
    FeatureView,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::FeatureGroup => "feature group",
            Kind::FeatureView => "feature view",
        }
    }

    /// Fixed table names, never derived from input.
    fn table(self) -> &'static str {
        match self {
            Kind::FeatureGroup => "feature_groups",
            Kind::FeatureView => "feature_views",
        }
    }
}

pub(super) async fn list<T: DeserializeOwned>(
    catalog: &SqlCatalog,
    kind: Kind,
) -> Result<Vec<Versioned<T>>> {
    let sql = format!(
        "SELECT name, spec, created_at FROM {} ORDER BY name, version",
        kind.table()
    );
    catalog
        .fetch_rows(sqlx::query(AssertSqlSafe(sql)), "list", |row| {
            let name: String = row.get(0);
            Ok(Versioned {
                spec: parse_spec(&name, row.get(1))?,
                created_at: micros_to_time(row.get(2)),
            })
        })
        .await
}

pub(super) async fn get<T: DeserializeOwned>(
    catalog: &SqlCatalog,
    kind: Kind,
    name: &str,
    version: Option<u32>,
) -> Result<Versioned<T>> {
    let sql = format!(
        "SELECT version FROM {} WHERE name = $1 ORDER BY version",
        kind.table()
    );
    let versions: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(sql))
        .bind(name)
        .fetch_all(&catalog.pool)
        .await
        .map_err(db("read"))?;
    let Some(latest) = versions.last().copied() else {
        let sql = format!("SELECT DISTINCT name FROM {} ORDER BY name", kind.table());
        let known = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_all(&catalog.pool)
            .await
            .map_err(db("list"))?;
        return Err(Error::NotFound {
            kind: kind.label(),
            name: name.to_string(),
            known,
        });
    };
    let wanted = version.map_or(latest, i64::from);
    if !versions.contains(&wanted) {
        return Err(Error::VersionNotFound {
            kind: kind.label(),
            name: name.to_string(),
            version: version.unwrap_or_default(),
            available: versions.iter().map(|v| *v as u32).collect(),
        });
    }
    let sql = format!(
        "SELECT spec, created_at FROM {} WHERE name = $1 AND version = $2",
        kind.table()
    );
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .bind(wanted)
        .fetch_one(&catalog.pool)
        .await
        .map_err(db("read"))?;
    Ok(Versioned {
        spec: parse_spec(name, row.get(0))?,
        created_at: micros_to_time(row.get(1)),
    })
}

pub(super) async fn apply(catalog: &SqlCatalog, changes: &[CatalogChange]) -> Result<()> {
    let mut tx = catalog.begin_write().await.map_err(db("begin apply"))?;
    let now = Utc::now().timestamp_micros();
    for change in changes {
        let (kind, name, version, spec) = match change {
            CatalogChange::CreateFeatureGroup(fg) | CatalogChange::UpdateFeatureGroup(fg) => {
                (Kind::FeatureGroup, &fg.name, fg.version, spec_json(fg))
            }
            CatalogChange::CreateFeatureView(fv) | CatalogChange::UpdateFeatureView(fv) => {
                (Kind::FeatureView, &fv.name, fv.version, spec_json(fv))
            }
        };
        match change {
            CatalogChange::CreateFeatureGroup(_) | CatalogChange::CreateFeatureView(_) => {
                insert(&mut tx, kind, name, version, spec, now).await?
            }
            CatalogChange::UpdateFeatureGroup(_) | CatalogChange::UpdateFeatureView(_) => {
                update(&mut tx, kind, name, version, spec).await?
            }
        }
    }
    tx.commit().await.map_err(db("commit apply"))
}

async fn insert(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: Kind,
    name: &str,
    version: u32,
    spec: String,
    now: i64,
) -> Result<()> {
    let sql = format!(
        "INSERT INTO {} (name, version, spec, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name, version) DO NOTHING",
        kind.table()
    );
    let inserted = sqlx::query(AssertSqlSafe(sql))
        .bind(name)
        .bind(i64::from(version))
        .bind(spec)
        .bind(now)
        .execute(&mut **tx)
        .await
        .map_err(db("register"))?;
    if inserted.rows_affected() == 0 {
        return Err(Error::AlreadyExists {
            kind: kind.label(),
            name: name.to_string(),
            version,
        });
    }
    Ok(())
}

async fn update(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    kind: Kind,
    name: &str,
    version: u32,
    spec: String,
) -> Result<()> {
    let sql = format!(
        "UPDATE {} SET spec = $1 WHERE name = $2 AND version = $3",
        kind.table()
    );
    sqlx::query(AssertSqlSafe(sql))
        .bind(spec)
        .bind(name)
        .bind(i64::from(version))
        .execute(&mut **tx)
        .await
        .map_err(db("update"))?;
    Ok(())
}
