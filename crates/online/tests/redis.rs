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

/// A Redis server of this test's own, on a free port, so it can be stopped and restarted.
struct OwnRedis {
    port: u16,
    server: std::process::Child,
}

impl OwnRedis {
    fn start(port: u16) -> Self {
        let mut server = std::process::Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be on PATH for this test");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Self { port, server };
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let _ = server.kill();
        let _ = server.wait();
        panic!("redis-server did not start on port {port}");
    }

    fn stop(mut self) -> u16 {
        self.server.kill().unwrap();
        self.server.wait().unwrap();
        self.port
    }
}

#[tokio::test]
async fn a_restarted_server_is_reconnected_and_a_stopped_one_is_a_clear_error() {
    use sluice_online::conformance::{lookup, rows, test_feature_group};
    use sluice_online::LookupStatus;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let redis = OwnRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}/0?prefix=restart");
    let store = open_online_store(&url, std::path::Path::new("."))
        .await
        .unwrap();
    let fg = test_feature_group("restarts", None);
    store.write(&fg, &rows(&fg, &[(1, 10, 1.5)])).await.unwrap();
    assert_eq!(
        lookup(&store, &fg, &[1], 20).await,
        vec![(LookupStatus::Present, Some(10), Some(1.5))]
    );

    // The server goes away and comes back empty (it keeps nothing on disk):
    // the store's next requests reconnect by themselves.
    let redis = OwnRedis::start(redis.stop());
    store.write(&fg, &rows(&fg, &[(2, 10, 2.5)])).await.unwrap();
    assert_eq!(
        lookup(&store, &fg, &[1, 2], 20).await,
        vec![
            (LookupStatus::Missing, None, None),
            (LookupStatus::Present, Some(10), Some(2.5))
        ]
    );

    // Gone for good: a clear error after the retries, not a hang.
    redis.stop();
    let started = std::time::Instant::now();
    let err = store
        .read(&fg, &sluice_online::conformance::keys(&fg, &[2]), 20)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("restarts:1") && err.contains("Redis unreachable after 5 tries"),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "gave up in {:?}",
        started.elapsed()
    );
}
