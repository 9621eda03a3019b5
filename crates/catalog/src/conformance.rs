//! The conformance suite every [`Catalog`](crate::Catalog) backend must pass.
//!
//! A backend's test file adds one line:
//! `sluice_catalog::catalog_conformance!(|| async { /* a fresh place */ });`
//! The factory returns an [`OpenCatalog`] whose catalog starts empty.

use std::future::Future;

use chrono::Utc;
use sluice_types::{ColumnSpec, ColumnType, FeatureGroupSpec};

use crate::{
    CatalogChange, CatalogRef, CommitOperation, CommitRecord, Error, RunProgress, RunStatus,
};

/// Where one test's catalog lives. Each `open` is a new connection to the
/// same catalog, so the suite can check what survives reopening and what
/// two processes sharing it see.
pub trait OpenCatalog {
    /// A new connection to the catalog.
    fn open(&self) -> impl Future<Output = CatalogRef>;
}

/// A feature group keyed by `id` with event time `ts`.
pub fn feature_group(name: &str, version: u32) -> FeatureGroupSpec {
    FeatureGroupSpec {
        name: name.into(),
        version,
        primary_key: vec!["id".into()],
        event_time: Some("ts".into()),
        online: true,
        ttl: None,
        description: "d".into(),
        validation: Default::default(),
        expectations: Vec::new(),
        statistics: true,
        columns: vec![
            ColumnSpec::new("id", ColumnType::Int64),
            ColumnSpec::new("ts", ColumnType::Timestamp),
        ],
    }
}

/// A connection to `place` after registering `groups`.
async fn open_with(place: &impl OpenCatalog, groups: &[FeatureGroupSpec]) -> CatalogRef {
    let catalog = place.open().await;
    let changes: Vec<_> = groups
        .iter()
        .cloned()
        .map(CatalogChange::CreateFeatureGroup)
        .collect();
    catalog.apply(&changes).await.unwrap();
    catalog
}

/// Versions resolve to the latest by default or to the one asked; unknown
/// names and versions are named with what exists.
pub async fn registers_and_resolves_versions(place: impl OpenCatalog) {
    let catalog = open_with(&place, &[feature_group("a", 1), feature_group("a", 2)]).await;
    assert_eq!(
        catalog.feature_group("a", None).await.unwrap().spec.version,
        2,
        "latest by default"
    );
    assert_eq!(
        catalog.feature_group("a", Some(1)).await.unwrap().spec,
        feature_group("a", 1)
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

/// A batch of changes with one failing change leaves the catalog as it was.
pub async fn apply_is_all_or_nothing(place: impl OpenCatalog) {
    let catalog = open_with(&place, &[feature_group("a", 1)]).await;
    let err = catalog
        .apply(&[
            CatalogChange::CreateFeatureGroup(feature_group("b", 1)),
            CatalogChange::CreateFeatureGroup(feature_group("a", 1)),
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

/// Updates and recorded commits are there for the next connection.
pub async fn updates_and_commit_history_persist(place: impl OpenCatalog) {
    {
        let catalog = open_with(&place, &[feature_group("a", 1)]).await;
        let mut updated = feature_group("a", 1);
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
    let catalog = place.open().await;
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
pub async fn concurrent_creates_have_one_winner(place: impl OpenCatalog) {
    let (a, b) = (place.open().await, place.open().await);
    let change = [CatalogChange::CreateFeatureGroup(feature_group("race", 1))];
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

/// Training datasets count up per feature-view version; a number whose
/// files could not be placed is not recorded and is offered again.
pub async fn training_datasets_are_numbered_per_view(place: impl OpenCatalog) {
    let catalog = place.open().await;
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

/// Pipeline runs are numbered, keep their latest progress and list newest first.
pub async fn runs_record_progress_and_outcome(place: impl OpenCatalog) {
    let catalog = place.open().await;
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

/// Models count up per name; an alias points at one version at a time and
/// must be a plain name.
pub async fn models_are_versioned_and_aliased(place: impl OpenCatalog) {
    let catalog = place.open().await;
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
            matches!(err, Error::InvalidAlias { .. }) && err.kind().is_caller_fault(),
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

/// Quality records are numbered, filtered by subject, kind and commit, and read newest first.
pub async fn quality_records_are_kept_per_subject(place: impl OpenCatalog) {
    use crate::{QualityKind, QualityQuery, QualityRecord};
    let catalog = place.open().await;
    let record = |subject: &str, kind, offline_version, body: &str| QualityRecord {
        id: 0,
        subject: subject.to_string(),
        kind,
        offline_version,
        recorded_at: chrono::Utc::now(),
        body: body.to_string(),
    };
    let first = catalog
        .record_quality(&record(
            "tx:1",
            QualityKind::Validation,
            Some(1),
            "{\"a\":1}",
        ))
        .await
        .unwrap();
    let rejected = catalog
        .record_quality(&record("tx:1", QualityKind::Validation, None, "{\"a\":2}"))
        .await
        .unwrap();
    catalog
        .record_quality(&record("tx:1", QualityKind::Statistics, Some(1), "{}"))
        .await
        .unwrap();
    catalog
        .record_quality(&record("other:1", QualityKind::Validation, Some(1), "{}"))
        .await
        .unwrap();
    assert!(rejected > first);
    let query = |offline_version, limit| QualityQuery {
        subject: "tx:1",
        kind: QualityKind::Validation,
        offline_version,
        limit,
    };
    let all = catalog.quality_records(&query(None, 10)).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|r| (r.id, r.offline_version))
            .collect::<Vec<_>>(),
        vec![(rejected, None), (first, Some(1))]
    );
    assert_eq!(all[1].body, "{\"a\":1}");
    assert_eq!(all[1].kind, QualityKind::Validation);
    let newest = catalog.quality_records(&query(None, 1)).await.unwrap();
    assert_eq!(newest.len(), 1);
    assert_eq!(newest[0].id, rejected);
    let of_commit = catalog.quality_records(&query(Some(1), 10)).await.unwrap();
    assert_eq!(of_commit.len(), 1);
    assert_eq!(of_commit[0].id, first);
    assert!(catalog
        .quality_records(&query(Some(9), 10))
        .await
        .unwrap()
        .is_empty());
}

/// Expands to one test per conformance case for the backend that `$make` (an
/// expression returning `impl Future<Output = impl OpenCatalog>`, called once per test) builds.
#[macro_export]
macro_rules! catalog_conformance {
    ($make:expr) => {
        mod catalog_conformance {
            use super::*;

            $crate::catalog_conformance!(@on_current_thread $make;
                registers_and_resolves_versions,
                apply_is_all_or_nothing,
                updates_and_commit_history_persist,
                training_datasets_are_numbered_per_view,
                models_are_versioned_and_aliased,
                runs_record_progress_and_outcome,
                quality_records_are_kept_per_subject,
            );

            // Two connections only race when both can run at once.
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn concurrent_creates_have_one_winner() {
                let place = ($make)().await;
                $crate::conformance::concurrent_creates_have_one_winner(place).await;
            }
        }
    };
    (@on_current_thread $make:expr; $($case:ident,)*) => {
        $(
            #[tokio::test]
            async fn $case() {
                $crate::conformance::$case(($make)().await).await;
            }
        )*
    };
}
