//! The online-store conformance suite against a three-node Redis Cluster on
//! 127.0.0.1:7001-7003 (started by `.ci/run`). Each store gets its own key
//! prefix; the suite's feature groups spread their keys over all three nodes.

use sluice_online::{open_online_store, OnlineStoreRef};

const CLUSTER: &str = "redis+cluster://127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003";

async fn fresh_store() -> OnlineStoreRef {
    store_under(&format!("sluice-test-{}", uuid::Uuid::new_v4())).await
}

async fn store_under(prefix: &str) -> OnlineStoreRef {
    let url = format!("{CLUSTER}?prefix={prefix}");
    open_online_store(&url, std::path::Path::new("."))
        .await
        .unwrap_or_else(|e| {
            panic!("a Redis Cluster must run on 127.0.0.1:7001-7003 for this suite (.ci/run starts it): {e}")
        })
}

sluice_online::online_store_conformance!(fresh_store);

/// Keys of one feature group land on every node (its 16 hash-tag buckets
/// spread over the three; the prefix is fixed so that the spread is), so
/// reads and writes really were split by slot (a single-slot shortcut would
/// pass the suite on one node).
#[tokio::test]
async fn keys_spread_over_every_node_and_read_back_in_order() {
    use sluice_online::conformance::{lookup, rows, test_feature_group};
    use sluice_online::LookupStatus;
    let prefix = "sluice-test-spread";
    let store = store_under(prefix).await;
    let fg = test_feature_group("spread", None);
    let ids: Vec<i64> = (0..300).collect();
    let written: Vec<(i64, i64, f64)> = ids.iter().map(|&id| (id, 10, id as f64 / 4.0)).collect();
    // Left over from an interrupted earlier run.
    store
        .delete(&fg, &sluice_online::conformance::keys(&fg, &ids))
        .await
        .unwrap();
    let metrics = store.write(&fg, &rows(&fg, &written)).await.unwrap();
    assert_eq!(metrics.rows_written, 300);

    let mut asked: Vec<i64> = ids.iter().rev().copied().collect();
    asked.insert(7, 1_000_000);
    let got = lookup(&store, &fg, &asked, 20).await;
    for (id, answer) in asked.iter().zip(&got) {
        let expected = if *id == 1_000_000 {
            (LookupStatus::Missing, None, None)
        } else {
            (LookupStatus::Present, Some(10), Some(*id as f64 / 4.0))
        };
        assert_eq!(*answer, expected, "key {id}");
    }

    let mut per_node = Vec::new();
    for port in [7001, 7002, 7003] {
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<Vec<u8>> = redis::cmd("KEYS")
            .arg(format!("{{{prefix}:*"))
            .query_async(&mut connection)
            .await
            .unwrap();
        per_node.push(keys.len());
    }
    assert!(
        per_node.iter().all(|&n| n > 0) && per_node.iter().sum::<usize>() == 300,
        "keys per node: {per_node:?}"
    );
    assert_eq!(
        store
            .delete(&fg, &sluice_online::conformance::keys(&fg, &ids))
            .await
            .unwrap(),
        300
    );
}

#[tokio::test]
async fn a_database_other_than_zero_is_refused() {
    let err = open_online_store(&format!("{CLUSTER}/2"), std::path::Path::new("."))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("only database 0"), "{err}");
}
