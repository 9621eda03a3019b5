//! The prediction log: one row per predicted key and model version, skew
//! checks over it, alias changes picked up without a restart, and the
//! writer's queue (taken when half full, bounded, every drop counted) and
//! health when it cannot commit.

mod common;

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type};
use common::{config, fraud, infer_body, metric, project, start, Http, CARDS, INFER, INFER_V2};
use serde_json::Value;
use sluice_featurestore::FeatureStore;
use sluice_pipelines::skew_check;
use sluice_testkit::fixtures::T0;
use sluice_testkit::{floats, latest_batch, primitive};
use sluice_types::config::ServerConfig;
use sluice_types::NameRef;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_are_logged_and_alias_changes_need_no_restart() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    let cards = [4i64, 8, 15, 16];
    let (status, first) = http.infer(INFER, &cards).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["model_version"], "1");

    store
        .registry()
        .set_alias("fraud", "production", 2)
        .await
        .unwrap();
    let mut switched = None;
    for _ in 0..50 {
        let (_, answer) = http.infer(INFER, &cards).await;
        if answer["model_version"] == "2" {
            switched = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let second = switched.expect("the alias change was not picked up within 5 s");
    server.stop().await.unwrap();

    // Stopping commits the log: one row per predicted key, per model version.
    for (version, answer) in [(1u32, &first), (2, &second)] {
        let log = latest_batch(&store, &format!("fraud_log:{version}")).await;
        let id = answer["id"].as_str().unwrap();
        let ids = log.column_by_name("request_id").unwrap().as_string::<i32>();
        let mine: Vec<usize> = (0..log.num_rows())
            .filter(|i| ids.value(*i) == id)
            .collect();
        assert_eq!(mine.len(), cards.len(), "version {version}");
        let rows = primitive::<Int64Type>(&log, "row");
        let logged_cards = primitive::<Int64Type>(&log, "card_id");
        let predictions = primitive::<Float64Type>(&log, "prediction");
        let served = floats(&answer["outputs"][0]["data"]);
        for i in mine {
            let row = rows.value(i) as usize;
            assert_eq!(logged_cards.value(i), cards[row]);
            assert_eq!(predictions.value(i), served[row]);
            let transformed: Vec<f64> = serde_json::from_str(
                log.column_by_name("transformed")
                    .unwrap()
                    .as_string::<i32>()
                    .value(i),
            )
            .unwrap();
            // amount (scaled), four merchants one-hot, tx_count (imputed).
            assert_eq!(transformed.len(), 6);
            assert_eq!(transformed[1..5].iter().sum::<f64>(), 1.0);
        }
    }

    // The logged vectors agree with the offline store at each request's time.
    for model in ["fraud:1", "fraud:2"] {
        let report = skew_check(&store, model, None, None).await.unwrap();
        assert!(report.rows >= cards.len(), "{report:?}");
        assert_eq!(report.mismatches, 0, "{report:?}");
    }
    // A value changed offline only (an event before the requests, that never
    // reached the online store) shows up as skew on that card and feature.
    let activity = store
        .feature_group(&NameRef::parse("activity:1").unwrap())
        .await
        .unwrap();
    let changed = fraud().activity_rows(&[(8, T0 + 1_000_000, 0.5, "fuel")]);
    activity
        .commit_offline([changed], "skew test")
        .await
        .unwrap();
    let report = skew_check(&store, "fraud:2", None, None).await.unwrap();
    assert_eq!(report.feature_groups.len(), 1);
    let group = &report.feature_groups[0];
    assert_eq!(group.feature_group, "activity:1");
    let logged_for_card_8 = report.rows / cards.len();
    assert_eq!(
        group.rows_mismatched as usize, logged_for_card_8,
        "{report:?}"
    );
    assert_eq!(group.features["amount"] as usize, logged_for_card_8);
    assert!(report
        .examples
        .iter()
        .all(|e| e.keys == "card_id=8" && e.offline != e.online));
    assert!(report
        .examples
        .iter()
        .any(|e| e.feature == "amount" && e.offline == "0.5"));
}

/// A log of `log_queue` entries whose tick is an hour away: only the queue wakes its writer.
fn quiet(log_queue: usize) -> ServerConfig {
    ServerConfig {
        log_queue,
        log_flush: "1h".into(),
        ..config()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_queue_is_taken_when_half_full_and_committed_on_the_tick() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, quiet(4)).await;
    let (status, answer) = http.infer(INFER, &[4]).await;
    assert_eq!(status, 200, "{answer}");
    // One row of four does not wake the writer: it stays queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = http.metrics().await;
    assert_eq!(metric(&text, "sluice_prediction_log_queue_depth"), 1.0);

    // The second request's rows fill half the queue: the writer takes both
    // requests, and commits nothing before its tick (an hour away) or the stop.
    let (status, answer) = http.infer(INFER, &[8, 15]).await;
    assert_eq!(status, 200, "{answer}");
    let depth = http
        .metric_reaches("sluice_prediction_log_queue_depth", 0.0)
        .await;
    assert_eq!(depth, 0.0, "the writer did not take the half-full queue");
    let text = http.metrics().await;
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 0.0);
    server.stop().await.unwrap();

    let rows = latest_batch(&store, "fraud_log:1").await.num_rows();
    assert_eq!(rows, 3, "both requests' rows, committed at the stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_worth_of_taken_entries_commits_without_waiting_for_the_tick() {
    // (log_queue, the entries that wake the writer): 0 is read as a queue of one.
    for (log_queue, wake_every) in [(4, 2), (0, 1)] {
        let (_dir, store) = project().await;
        let (server, http) = start(&store, quiet(log_queue)).await;
        for request in 1..=12 {
            let (status, answer) = http.infer(INFER, &[15]).await;
            assert_eq!(status, 200, "{answer}");
            if request % wake_every == 0 {
                // The writer takes the queue even while a commit is in flight.
                let depth = http
                    .metric_reaches("sluice_prediction_log_queue_depth", 0.0)
                    .await;
                assert_eq!(
                    depth, 0.0,
                    "log_queue {log_queue}, request {request}: the queue was not taken"
                );
            }
        }
        // Each queue's worth of taken entries commits at once, an hour
        // before the tick: all twelve rows are written while the server runs.
        let written = http
            .metric_reaches("sluice_prediction_log_written_total", 12.0)
            .await;
        assert_eq!(
            written, 12.0,
            "log_queue {log_queue}: the writer waited for its tick"
        );
        let text = http.metrics().await;
        assert_eq!(metric(&text, "sluice_prediction_log_dropped_total"), 0.0);
        server.stop().await.unwrap();
    }
}

/// All rows of a log feature group (read after the server stopped) and its commits' row counts.
async fn log_and_commits(store: &FeatureStore, log: &str) -> (RecordBatch, Vec<u64>) {
    let rows = latest_batch(store, log).await;
    let commits = store
        .feature_group(&NameRef::parse(log).unwrap())
        .await
        .unwrap()
        .describe()
        .await
        .unwrap()
        .commits
        .iter()
        .map(|c| c.rows)
        .collect();
    (rows, commits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_holds_bounded_rows_commits_bounded_parts_and_counts_every_drop() {
    use futures::StreamExt;
    const BOUND: usize = 500;
    const KEYS: usize = 150;
    const REQUESTS: usize = 40;
    let (_dir, store) = project().await;
    let (server, http) = start(&store, quiet(BOUND)).await;

    // A request of more rows than the whole queue is answered, and its
    // rows are dropped from the log and counted.
    let too_many: Vec<i64> = (0..=BOUND as i64).collect();
    let (status, answer) = http.infer(INFER_V2, &too_many).await;
    assert_eq!(status, 200, "{answer}");
    let text = http.metrics().await;
    assert_eq!(
        metric(&text, "sluice_prediction_log_dropped_total"),
        (BOUND + 1) as f64
    );
    assert_eq!(metric(&text, "sluice_prediction_log_queue_depth"), 0.0);

    // Many requests of many keys at once, the queue's rows sampled meanwhile.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (http, sampling) = (http.clone(), sampling.clone());
        async move {
            let mut deepest = 0.0f64;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let text = http.metrics().await;
                deepest = deepest.max(metric(&text, "sluice_prediction_log_queue_depth"));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            deepest
        }
    });
    let bodies: Vec<Value> = (0..REQUESTS as i64)
        .map(|i| {
            infer_body(
                &(0..KEYS as i64)
                    .map(|k| (i * 37 + k) % CARDS)
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    let answers: Vec<(u16, Value)> = futures::stream::iter(&bodies)
        .map(|body| http.post(INFER_V2, body))
        .buffer_unordered(16)
        .collect()
        .await;
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let deepest = sampler.await.unwrap();
    assert!(
        deepest <= BOUND as f64,
        "the queue held {deepest} rows, over its bound of {BOUND}"
    );
    for (status, answer) in &answers {
        assert_eq!(*status, 200, "{answer}");
    }
    let text = http.metrics().await;
    let dropped = metric(&text, "sluice_prediction_log_dropped_total") as usize;
    assert_eq!(metric(&text, "sluice_prediction_log_failed_total"), 0.0);
    assert_eq!(metric(&text, "sluice_prediction_log_writer_up"), 1.0);
    server.stop().await.unwrap();

    // Every row sent is logged or counted as dropped.
    let (log, commits) = log_and_commits(&store, "fraud_log:2").await;
    let sent = BOUND + 1 + REQUESTS * KEYS;
    assert_eq!(log.num_rows() + dropped, sent, "{dropped} dropped");
    assert!(log.num_rows() > 0);
    // No commit holds more than the bound; the commits made while serving
    // (the tick is an hour away) held 600 taken rows or more, split into
    // parts of 500: a request's rows went to two commits.
    assert!(
        commits.iter().all(|rows| *rows <= BOUND as u64),
        "{commits:?}"
    );
    assert!(commits.contains(&(BOUND as u64)), "{commits:?}");
    assert_eq!(commits.iter().sum::<u64>(), log.num_rows() as u64);
    // A request split between commits is whole in the log: rows 0..KEYS, once each.
    let ids = log.column_by_name("request_id").unwrap().as_string::<i32>();
    let rows = primitive::<Int64Type>(&log, "row");
    let mut by_request: std::collections::HashMap<&str, Vec<i64>> = Default::default();
    for i in 0..log.num_rows() {
        by_request
            .entry(ids.value(i))
            .or_default()
            .push(rows.value(i));
    }
    let answered: Vec<&str> = answers
        .iter()
        .map(|(_, answer)| answer["id"].as_str().unwrap())
        .collect();
    for (id, mut rows) in by_request {
        assert!(answered.contains(&id), "{id} was not answered");
        rows.sort_unstable();
        assert_eq!(rows, (0..KEYS as i64).collect::<Vec<_>>(), "request {id}");
    }
}

/// Polls `/health` until it answers `want` (or five seconds pass); returns the last answer.
async fn health_reaches(http: &Http, want: u16) -> (u16, Value) {
    let mut answer = (0, Value::Null);
    for _ in 0..100 {
        answer = http.get("/health").await;
        if answer.0 == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_writer_that_cannot_commit_shows_in_health_and_metrics_until_it_can() {
    let (dir, store) = project().await;
    // A file where the log group's table directory goes: every commit
    // fails, as on a disk that is full or read-only.
    let blocker = dir.path().join(".sluice/offline/fraud_log");
    assert!(blocker.parent().unwrap().is_dir());
    std::fs::write(&blocker, "not a directory").unwrap();
    let (server, http) = start(&store, config()).await;
    let (status, answer) = http.infer(INFER_V2, &[4, 8, 15]).await;
    assert_eq!(status, 200, "serving goes on: {answer}");

    let (status, health) = health_reaches(&http, 503).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["prediction_log"], "down", "{health}");
    let error = health["error"].as_str().unwrap();
    assert!(
        error.contains("the prediction log writer is down") && error.contains("fraud:2"),
        "{error}"
    );
    let text = http.metrics().await;
    assert_eq!(metric(&text, "sluice_prediction_log_writer_up"), 0.0);
    assert!(metric(&text, "sluice_prediction_log_writer_failures_total") >= 1.0);
    assert_eq!(metric(&text, "sluice_prediction_log_failed_total"), 3.0);
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 0.0);

    // Writable again: the next commit succeeds and the writer is up.
    std::fs::remove_file(&blocker).unwrap();
    let (status, answer) = http.infer(INFER_V2, &[16, 23]).await;
    assert_eq!(status, 200, "{answer}");
    let (status, health) = health_reaches(&http, 200).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["prediction_log"], "up");
    let text = http.metrics().await;
    assert_eq!(metric(&text, "sluice_prediction_log_writer_up"), 1.0);
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 2.0);
    assert_eq!(metric(&text, "sluice_prediction_log_failed_total"), 3.0);
    server.stop().await.unwrap();
}
