//! The catalog conformance suite, run against SQLite (a file per test) and
//! PostgreSQL at 127.0.0.1:5432, database `test` (a schema per test; `.ci/run`
//! starts the server when it is not running), and the checks of one backend.

use sluice_catalog::conformance::{feature_group, OpenCatalog};
use sluice_catalog::{open_catalog, CatalogChange, CatalogRef, Error};

/// Where a test's catalog lives; opening it twice reaches the same catalog.
enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    async fn new(kind: &str) -> Self {
        match kind {
            "sqlite" => Backend::Sqlite(tempfile::tempdir().unwrap()),
            _ => {
                let schema = format!("sluice_test_{}", uuid::Uuid::new_v4().simple());
                create_schema(&schema).await;
                Backend::Postgres(format!("{POSTGRES}?options=-csearch_path%3D{schema}"))
            }
        }
    }
}

impl OpenCatalog for Backend {
    async fn open(&self) -> CatalogRef {
        match self {
            Backend::Sqlite(dir) => open_catalog("sqlite://catalog.db", dir.path())
                .await
                .unwrap(),
            Backend::Postgres(url) => open_catalog(url, std::path::Path::new(".")).await.unwrap(),
        }
    }
}

const POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";

async fn create_schema(schema: &str) {
    use sqlx::Executor;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(POSTGRES).await.unwrap_or_else(|e| {
        panic!("PostgreSQL must run on 127.0.0.1:5432 (.ci/run starts it): {e}")
    });
    // The name is generated above from a UUID, never from input.
    pool.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
        .await
        .unwrap();
}

mod sqlite {
    use super::Backend;
    sluice_catalog::catalog_conformance!(|| Backend::new("sqlite"));
}

mod postgres {
    use super::Backend;
    sluice_catalog::catalog_conformance!(|| Backend::new("postgres"));
}

#[tokio::test]
async fn unknown_scheme_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_catalog("mongodb://x", dir.path())
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("'mongodb'"), "{err}");
}

/// A catalog file that is not a database, or was cut short, is named with
/// what is wrong at once, not after the pool's 30 s timeout.
#[tokio::test]
async fn a_corrupt_or_truncated_sqlite_file_is_named_without_waiting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    {
        let catalog = open_catalog("sqlite://catalog.db", dir.path())
            .await
            .unwrap();
        for version in 1..=40 {
            catalog
                .apply(&[CatalogChange::CreateFeatureGroup(feature_group(
                    "fg", version,
                ))])
                .await
                .unwrap();
        }
    }
    let whole = std::fs::read(&path).unwrap();
    let cases: [(&str, Vec<u8>); 2] = [
        (
            "garbage",
            b"this is not a database, just some text".repeat(200),
        ),
        ("truncated", whole[..whole.len() / 3].to_vec()),
    ];
    for (what, bytes) in cases {
        std::fs::write(&path, &bytes).unwrap();
        for side in ["catalog.db-wal", "catalog.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(side));
        }
        let started = std::time::Instant::now();
        let err = open_catalog("sqlite://catalog.db", dir.path())
            .await
            .err()
            .unwrap_or_else(|| panic!("{what}: opened"));
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{what}: took {:?}",
            started.elapsed()
        );
        assert!(matches!(err, Error::Open { .. }), "{what}: {err:?}");
        assert!(err.kind().is_caller_fault(), "{what}");
        let message = err.to_string();
        assert!(
            message.contains(&path.display().to_string())
                && (message.contains("cannot be read")
                    || message.contains("not a SQLite database")
                    || message.contains("truncated")),
            "{what}: {message}"
        );
    }
}
