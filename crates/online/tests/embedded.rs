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

/// Deferred rows live in memory until a flush commits them: a flushed row
/// survives reopening the file, one deferred after the flush does not.
#[tokio::test]
async fn flush_makes_deferred_rows_durable() {
    use sluice_online::conformance::{lookup, rows, test_feature_group};
    use sluice_online::LookupStatus;
    let dir = tempfile::tempdir().unwrap();
    let fg = test_feature_group("deferred_durable", None);
    {
        let store: OnlineStoreRef = Arc::new(EmbeddedOnlineStore::open(dir.path()).unwrap());
        store
            .write_deferred(&fg, &rows(&fg, &[(1, 5, 1.5), (2, 5, 2.5)]))
            .await
            .unwrap();
        store.flush().await.unwrap();
        store
            .write_deferred(&fg, &rows(&fg, &[(2, 6, 9.5), (3, 6, 3.5)]))
            .await
            .unwrap();
        assert_eq!(
            lookup(&store, &fg, &[2, 3], 10).await,
            vec![
                (LookupStatus::Present, Some(6), Some(9.5)),
                (LookupStatus::Present, Some(6), Some(3.5)),
            ]
        );
    }
    let store: OnlineStoreRef = Arc::new(EmbeddedOnlineStore::open(dir.path()).unwrap());
    assert_eq!(
        lookup(&store, &fg, &[1, 2, 3], 10).await,
        vec![
            (LookupStatus::Present, Some(5), Some(1.5)),
            (LookupStatus::Present, Some(5), Some(2.5)),
            (LookupStatus::Missing, None, None),
        ]
    );
}
