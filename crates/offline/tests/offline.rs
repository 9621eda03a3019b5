//! The offline-store conformance suite, against the Delta Lake backend on local
//! disk and on S3-compatible object storage (the moto server that `.ci/run`
//! starts on 127.0.0.1:9010 with the bucket `sluice-test`; each fixture takes
//! its own prefix), and the checks of one backend.

use sluice_offline::conformance::{apply, batch, fg, Fixture, State};
use sluice_offline::{open_offline_store, ReadAt};

/// Where the S3 conformance runs; `.ci/run` starts it.
const S3_ENDPOINT: &str = "http://127.0.0.1:9010";

async fn local_store() -> Fixture {
    Fixture::open("file://offline")
}

async fn s3_store() -> Fixture {
    let endpoint = S3_ENDPOINT;
    assert!(
        std::net::TcpStream::connect(endpoint.trim_start_matches("http://")).is_ok(),
        "an S3 server must listen on {endpoint} for this suite (.ci/run starts one)"
    );
    Fixture::open(&format!(
        "s3://sluice-test/{}?aws_endpoint={endpoint}&aws_allow_http=true&aws_region=us-east-1&aws_access_key_id=test&aws_secret_access_key=test",
        uuid::Uuid::new_v4()
    ))
}

mod local {
    use super::local_store;
    sluice_offline::offline_store_conformance!(local_store);
}

mod s3 {
    use super::s3_store;
    sluice_offline::offline_store_conformance!(s3_store);
}

#[test]
fn unknown_scheme_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let err = open_offline_store("hdfs://cluster/x", dir.path())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("'hdfs'"), "{err}");
}

/// Blind appends checkpoint the log every 100 commits, as merges do, so
/// opening a long-lived append-only table (a prediction log) does not replay
/// its whole log. Local only: the check looks at the log's files.
#[tokio::test]
async fn appends_checkpoint_the_log() {
    let f = local_store().await;
    let mut model = State::new();
    for i in 0..=100 {
        let rows = [(i, i, i as f64)];
        f.store.append(&fg(), &[batch(&rows)]).await.unwrap();
        apply(&mut model, &rows);
    }
    let log = f.dir.path().join("offline/tx/v1/_delta_log");
    let checkpoints: Vec<String> = std::fs::read_dir(&log)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".checkpoint"))
        .collect();
    assert_eq!(
        checkpoints,
        ["00000000000000000100.checkpoint.parquet"],
        "in {}",
        log.display()
    );
    assert_eq!(f.read(ReadAt::Latest).await, model);
    assert_eq!(f.read(ReadAt::Version(50)).await.len(), 51);
}
