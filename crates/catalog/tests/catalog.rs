//! The catalog conformance suite, run against SQLite (a file per test) and
//! PostgreSQL at 127.0.0.1:5432, database `test` (a schema per test; `.ci/run`
//! starts the server when it is not running).

use chrono::Utc;
use sluice_catalog::{
    open_catalog, CatalogChange, CatalogRef, CommitOperation, CommitRecord, Error,
};
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec};

fn spec(name: &str, version: u32) -> FeatureGroupSpec {
    FeatureGroupSpec {
        name: name.into(),
        version,
        primary_key: vec!["id".into()],
        event_time: Some("ts".into()),
        online: true,
        ttl: None,
        description: "d".into(),
        columns: vec![
            ColumnSpec::new("id", ColumnType::Int64),
            ColumnSpec::new("ts", ColumnType::Timestamp),
        ],
    }
}

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

async fn registers_and_resolves_versions(backend: Backend) {
    let catalog = backend.open().await;
    catalog
        .apply(&[
            CatalogChange::CreateFeatureGroup(spec("a", 1)),
            CatalogChange::CreateFeatureGroup(spec("a", 2)),
        ])
        .await
        .unwrap();
    assert_eq!(
        catalog.feature_group("a", None).await.unwrap().spec.version,
        2,
        "latest by default"
    );
    assert_eq!(
        catalog.feature_group("a", Some(1)).await.unwrap().spec,
        spec("a", 1)
    );
    let err = catalog.feature_group("a", Some(3)).await.unwrap_err();
    assert!(
        matches!(&err, Error::VersionNotFound { available, .. } if *available == vec![1, 2]),
        "{err}"
    );
    let err = catalog
        .feature_group("b", None)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "feature group 'b' is not registered (registered: a)");
}

async fn apply_is_all_or_nothing(backend: Backend) {
    let catalog = backend.open().await;
    catalog
        .apply(&[CatalogChange::CreateFeatureGroup(spec("a", 1))])
        .await
        .unwrap();
    let err = catalog
        .apply(&[
            CatalogChange::CreateFeatureGroup(spec("b", 1)),
            CatalogChange::CreateFeatureGroup(spec("a", 1)),
        ])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }));
    let names: Vec<_> = catalog
        .feature_groups()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.spec.name)
        .collect();
    assert_eq!(names, vec!["a"], "the failed apply left no trace");
}

async fn updates_and_commit_history_persist(backend: Backend) {
    {
        let catalog = backend.open().await;
        catalog
            .apply(&[CatalogChange::CreateFeatureGroup(spec("a", 1))])
            .await
            .unwrap();
        let mut updated = spec("a", 1);
        updated.description = "new".into();
        catalog
            .apply(&[CatalogChange::UpdateFeatureGroup(updated)])
            .await
            .unwrap();
        for (v, op) in [(1, CommitOperation::Ingest), (2, CommitOperation::Delete)] {
            let commit = CommitRecord {
                offline_version: v,
                operation: op,
                rows: 10 * v,
                committed_at: Utc::now(),
                source: format!("file{v}.csv"),
            };
            catalog.record_commit("a", 1, &commit).await.unwrap();
        }
    }
    let catalog = backend.open().await;
    assert_eq!(
        catalog
            .feature_group("a", None)
            .await
            .unwrap()
            .spec
            .description,
        "new"
    );
    let commits = catalog.commits("a", 1).await.unwrap();
    assert_eq!(
        commits
            .iter()
            .map(|c| (c.offline_version, c.rows))
            .collect::<Vec<_>>(),
        vec![(1, 10), (2, 20)]
    );
    assert_eq!(commits[1].operation, CommitOperation::Delete);
    assert!(catalog.commits("a", 2).await.unwrap().is_empty());
}

/// Two processes' worth of concurrent creates of the same group: exactly one wins, the other gets a clear error.
async fn concurrent_creates_have_one_winner(backend: Backend) {
    let (a, b) = (backend.open().await, backend.open().await);
    let change = [CatalogChange::CreateFeatureGroup(spec("race", 1))];
    let (ra, rb) = tokio::join!(a.apply(&change), b.apply(&change));
    let outcomes = [ra.is_ok(), rb.is_ok()];
    assert_eq!(
        outcomes.iter().filter(|ok| **ok).count(),
        1,
        "{ra:?} {rb:?}"
    );
    let loser = if ra.is_err() { ra } else { rb };
    assert!(
        matches!(
            loser,
            Err(Error::AlreadyExists { .. }) | Err(Error::Database { .. })
        ),
        "{loser:?}"
    );
    assert_eq!(a.feature_groups().await.unwrap().len(), 1);
}

fn dataset(view: &str, view_version: u32) -> sluice_types::TrainingDatasetSpec {
    sluice_types::TrainingDatasetSpec {
        feature_view: view.into(),
        feature_view_version: view_version,
        start: None,
        end: None,
        split: sluice_types::Split::Random {
            train_fraction: 0.8,
            seed: 7,
        },
        commits: [("tx:1".to_string(), 3u64)].into_iter().collect(),
        splits: vec![],
        content_hash: "abc".into(),
        statistics: vec![],
        spine_file: None,
    }
}

async fn training_datasets_are_numbered_per_view(backend: Backend) {
    let catalog = backend.open().await;
    assert_eq!(
        catalog
            .create_training_dataset(&dataset("fraud", 1), &|_| Ok(()))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        catalog
            .create_training_dataset(&dataset("fraud", 1), &|_| Ok(()))
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        catalog
            .create_training_dataset(&dataset("fraud", 2), &|_| Ok(()))
            .await
            .unwrap(),
        1,
        "numbered per view version"
    );
    let record = catalog.training_dataset("fraud", 1, 2).await.unwrap();
    assert_eq!(record.spec, dataset("fraud", 1));

    let offered = std::sync::Mutex::new(Vec::new());
    let err = catalog
        .create_training_dataset(&dataset("fraud", 1), &|version| {
            offered.lock().unwrap().push(version);
            Err(format!("moving td{version} failed"))
        })
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("fraud:1' version 3 was not recorded: moving td3 failed"),
        "{err}"
    );
    assert!(
        catalog.training_dataset("fraud", 1, 3).await.is_err(),
        "no record when the files could not be placed"
    );
    let placed = catalog
        .create_training_dataset(&dataset("fraud", 1), &|version| {
            offered.lock().unwrap().push(version);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(placed, 3, "the number of a failed create is free again");
    assert_eq!(*offered.lock().unwrap(), vec![3, 3]);
    let err = catalog
        .training_dataset("fraud", 1, 9)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no version 9 (versions: 1, 2, 3)"), "{err}");
    assert_eq!(catalog.training_datasets().await.unwrap().len(), 4);
}

async fn runs_record_progress_and_outcome(backend: Backend) {
    use sluice_catalog::{RunProgress, RunStatus};
    let catalog = backend.open().await;
    let first = catalog
        .start_run("card_activity", "card_activity:1")
        .await
        .unwrap();
    let second = catalog.start_run("labels", "labels:1").await.unwrap();
    assert_eq!(second, first + 1);
    let mut progress = RunProgress::running();
    progress.rows_in = 10;
    progress.state = serde_json::json!({"files": ["a.csv"]});
    catalog.update_run(first, &progress).await.unwrap();
    progress.status = RunStatus::Succeeded;
    progress.rows_out = 7;
    progress.offline_version = Some(3);
    catalog.update_run(first, &progress).await.unwrap();
    let failed = RunProgress {
        status: RunStatus::Failed,
        error: Some("boom".into()),
        ..RunProgress::running()
    };
    catalog.update_run(second, &failed).await.unwrap();

    let all = catalog.runs(None).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second, first]
    );
    let mine = catalog.runs(Some("card_activity")).await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0].progress, progress);
    assert!(mine[0].ended_at.is_some());
    assert_eq!(all[0].progress.error.as_deref(), Some("boom"));
    let err = catalog
        .update_run(999, &progress)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("'999'"), "{err}");
}

fn model(name: &str, auc: f64) -> sluice_types::ModelSpec {
    sluice_types::ModelSpec {
        name: name.to_string(),
        algorithm: "logistic_regression".into(),
        params: [("l2".to_string(), "1".to_string())].into(),
        metrics: [("roc_auc".to_string(), auc)].into(),
        inputs: vec![],
        outputs: vec![],
        lineage: sluice_types::ModelLineage {
            feature_view: "fraud".into(),
            feature_view_version: 1,
            training_dataset: 1,
            run_id: None,
        },
        description: String::new(),
        artefact: format!("{name}/model.json"),
        artefact_hash: "00".into(),
    }
}

async fn models_are_versioned_and_aliased(backend: Backend) {
    let catalog = backend.open().await;
    assert_eq!(
        catalog.register_model(&model("fraud", 0.8)).await.unwrap(),
        1
    );
    assert_eq!(
        catalog.register_model(&model("fraud", 0.9)).await.unwrap(),
        2
    );
    assert_eq!(
        catalog.register_model(&model("churn", 0.7)).await.unwrap(),
        1
    );
    assert_eq!(catalog.model("fraud", None).await.unwrap().version, 2);
    assert_eq!(
        catalog.model("fraud", Some(1)).await.unwrap().spec,
        model("fraud", 0.8)
    );

    assert_eq!(
        catalog.set_alias("fraud", "production", 1).await.unwrap(),
        None,
        "a new alias replaces nothing"
    );
    assert_eq!(
        catalog
            .model_by_alias("fraud", "production")
            .await
            .unwrap()
            .version,
        1
    );
    assert_eq!(
        catalog.set_alias("fraud", "production", 2).await.unwrap(),
        Some(1),
        "a moved alias reports where it pointed"
    );
    let moved = catalog.model_by_alias("fraud", "production").await.unwrap();
    assert_eq!(
        (moved.version, moved.aliases.clone()),
        (2, vec!["production".to_string()])
    );
    assert!(catalog
        .model("fraud", Some(1))
        .await
        .unwrap()
        .aliases
        .is_empty());
    let listed: Vec<(String, u32, Vec<String>)> = catalog
        .model_versions()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.version, m.aliases))
        .collect();
    assert_eq!(
        listed,
        vec![
            ("churn".to_string(), 1, vec![]),
            ("fraud".to_string(), 1, vec![]),
            ("fraud".to_string(), 2, vec!["production".to_string()]),
        ]
    );

    let err = catalog
        .set_alias("fraud", "production", 7)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no version 7 (versions: 1, 2)"), "{err}");
    for bad in ["../x", "a b", "<script>", ""] {
        let err = catalog.set_alias("fraud", bad, 1).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidAlias { .. }) && err.is_user_error(),
            "{bad:?}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("'{bad}'")), "{err}");
        assert!(
            catalog.model_by_alias("fraud", bad).await.is_err(),
            "{bad:?} was not set"
        );
    }
    let err = catalog
        .model_by_alias("fraud", "staging")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("'fraud@staging'"), "{err}");
    let err = catalog.model("frod", None).await.unwrap_err().to_string();
    assert!(
        err.contains("'frod'") && err.contains("churn, fraud"),
        "{err}"
    );
}

macro_rules! catalog_suite {
    ($module:ident, $kind:literal) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn registers_and_resolves_versions() {
                super::registers_and_resolves_versions(Backend::new($kind).await).await;
            }

            #[tokio::test]
            async fn apply_is_all_or_nothing() {
                super::apply_is_all_or_nothing(Backend::new($kind).await).await;
            }

            #[tokio::test]
            async fn updates_and_commit_history_persist() {
                super::updates_and_commit_history_persist(Backend::new($kind).await).await;
            }

            #[tokio::test]
            async fn training_datasets_are_numbered_per_view() {
                super::training_datasets_are_numbered_per_view(Backend::new($kind).await).await;
            }

            #[tokio::test]
            async fn models_are_versioned_and_aliased() {
                super::models_are_versioned_and_aliased(Backend::new($kind).await).await;
            }

            #[tokio::test]
            async fn runs_record_progress_and_outcome() {
                super::runs_record_progress_and_outcome(Backend::new($kind).await).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_creates_have_one_winner() {
                super::concurrent_creates_have_one_winner(Backend::new($kind).await).await;
            }
        }
    };
}

catalog_suite!(sqlite, "sqlite");
catalog_suite!(postgres, "postgres");

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
                .apply(&[CatalogChange::CreateFeatureGroup(spec("fg", version))])
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
        assert!(err.is_user_error(), "{what}");
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
