//! Test equipment shared by the crates' test suites (a dev-dependency only;
//! nothing in the product links it, and `scripts/check-layers` fails if a
//! product crate does).
//!
//! It owns fixtures that more than one suite needs: the typing-rule table
//! every entry point must agree on, and reading a feature group back. It
//! must not start stores or servers itself: each suite drives its own entry
//! point with these fixtures.

pub mod coercion;

use arrow::array::RecordBatch;
use futures::TryStreamExt;
use sluice_featurestore::{FeatureStore, ReadAt};
use sluice_types::NameRef;

/// A new project (`sluice init`, its example removed) holding `definitions`
/// as `features/test.toml`, applied.
pub async fn project_with(definitions: &str) -> (tempfile::TempDir, FeatureStore) {
    let dir = tempfile::tempdir().expect("a temporary folder");
    FeatureStore::init(dir.path()).expect("init");
    std::fs::remove_file(dir.path().join("features/example.toml")).expect("the example");
    std::fs::write(dir.path().join("features/test.toml"), definitions).expect("definitions");
    let store = FeatureStore::open(dir.path()).await.expect("open");
    store
        .apply(&store.plan().await.expect("plan"))
        .await
        .expect("apply");
    (dir, store)
}

/// Every row of the feature group `name` (`NAME[:VERSION]`) at its latest commit.
pub async fn latest_rows(store: &FeatureStore, name: &str) -> Vec<RecordBatch> {
    let group = store
        .feature_group(&NameRef::parse(name).expect("a valid name"))
        .await
        .expect("a registered feature group");
    group
        .read(ReadAt::Latest, None)
        .await
        .expect("a readable feature group")
        .try_collect()
        .await
        .expect("readable rows")
}
