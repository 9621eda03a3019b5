//! The catalog conformance checks, against the SQLite backend.

use chrono::Utc;
use sluice_catalog::{
    open_catalog, CatalogRef, CommitOperation, CommitRecord, Error, FeatureGroupChange,
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

async fn catalog(dir: &tempfile::TempDir) -> CatalogRef {
    open_catalog("sqlite://catalog.db", dir.path())
        .await
        .unwrap()
}

#[tokio::test]
async fn registers_and_resolves_versions() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(&dir).await;
    catalog
        .apply(&[
            FeatureGroupChange::Create(spec("a", 1)),
            FeatureGroupChange::Create(spec("a", 2)),
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
        matches!(&err, Error::VersionNotFound { available, .. } if available == &vec![1, 2]),
        "{err}"
    );
    let err = catalog
        .feature_group("b", None)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err, "feature group 'b' is not registered (registered: a)");
}

#[tokio::test]
async fn apply_is_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let catalog = catalog(&dir).await;
    catalog
        .apply(&[FeatureGroupChange::Create(spec("a", 1))])
        .await
        .unwrap();
    let err = catalog
        .apply(&[
            FeatureGroupChange::Create(spec("b", 1)),
            FeatureGroupChange::Create(spec("a", 1)),
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

#[tokio::test]
async fn updates_and_commit_history_persist() {
    let dir = tempfile::tempdir().unwrap();
    {
        let catalog = catalog(&dir).await;
        catalog
            .apply(&[FeatureGroupChange::Create(spec("a", 1))])
            .await
            .unwrap();
        let mut updated = spec("a", 1);
        updated.description = "new".into();
        catalog
            .apply(&[FeatureGroupChange::Update(updated)])
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
    let catalog = catalog(&dir).await;
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
