//! The online-store conformance suite against Redis at 127.0.0.1:6379 (started by `.ci/run`).
//! Each store gets its own key prefix, so tests never see each other's rows.

use sluice_online::{open_online_store, OnlineStoreRef};

async fn fresh_store() -> OnlineStoreRef {
    let prefix = format!("sluice-test-{}", uuid::Uuid::new_v4());
    let url = format!("redis://127.0.0.1:6379/0?prefix={prefix}");
    open_online_store(&url, std::path::Path::new("."))
        .await
        .unwrap_or_else(|e| {
            panic!("Redis must run on 127.0.0.1:6379 for this suite (.ci/run starts it): {e}")
        })
}

sluice_online::online_store_conformance!(fresh_store);

#[tokio::test]
async fn unreachable_server_is_a_clear_error() {
    let err = open_online_store("redis://127.0.0.1:1/0", std::path::Path::new("."))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("redis://127.0.0.1:1"), "{err}");
}
