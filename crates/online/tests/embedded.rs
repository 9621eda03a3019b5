//! The online-store conformance suite against the embedded (redb) backend.

use std::sync::Arc;

use sluice_online::{EmbeddedOnlineStore, OnlineStoreRef};

async fn fresh_store() -> OnlineStoreRef {
    // Each store lives in its own directory, kept until the process ends.
    let dir = tempfile::tempdir().unwrap().keep();
    Arc::new(EmbeddedOnlineStore::open(&dir).unwrap())
}

sluice_online::online_store_conformance!(fresh_store);

#[tokio::test]
async fn rows_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let fg = sluice_online::conformance::test_feature_group("durable", None);
    {
        let store: OnlineStoreRef = Arc::new(EmbeddedOnlineStore::open(dir.path()).unwrap());
        store
            .write(&fg, &sluice_online::conformance::rows(&fg, &[(1, 5, 2.5)]))
            .await
            .unwrap();
    }
    let store: OnlineStoreRef = Arc::new(EmbeddedOnlineStore::open(dir.path()).unwrap());
    let got = sluice_online::conformance::lookup(&store, &fg, &[1], 10).await;
    assert_eq!(
        got,
        vec![(sluice_online::LookupStatus::Present, Some(5), Some(2.5))]
    );
}

#[tokio::test]
async fn unknown_scheme_is_named() {
    let err = sluice_online::open_online_store("cassandra://x", std::path::Path::new("."))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("'cassandra'"), "{err}");
}
