//! `/metrics` as scrapers ask for it: the classic text format, whose
//! families a classic parser accepts, or OpenMetrics.

mod common;

use common::{config, project, start, Http, INFER_V2};
use sluice_server::RunningServer;

/// `/metrics` as a scraper sending `accept` gets it: its content type, its
/// `Vary` header and its text.
async fn scrape(http: &Http, accept: &str) -> (String, String, String) {
    let response = http
        .client
        .get(http.url("/metrics"))
        .header("accept", accept)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_string())
            .unwrap_or_default()
    };
    let (content_type, vary) = (header("content-type"), header("vary"));
    (content_type, vary, response.text().await.unwrap())
}

/// A server whose metrics all have samples with labels: requests, latency
/// and online lookups (hits and misses).
async fn scraped_server() -> (tempfile::TempDir, RunningServer, Http) {
    let (dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    let (status, answer) = http.infer(INFER_V2, &[1, 123_456]).await;
    assert_eq!(status, 200, "{answer}");
    (dir, server, http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_in_the_classic_text_format_when_asked_for() {
    let (_dir, server, http) = scraped_server().await;
    let (content_type, vary, text) = scrape(&http, "text/plain; version=0.0.4").await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert_eq!(vary, "Accept");

    // What a classic parser (promtool, prometheus_client) checks: each
    // sample belongs to a family with one HELP and one TYPE line, named as
    // the sample is (a counter's with its `_total`), or as a histogram's
    // `_bucket`, `_sum` and `_count` samples are less that suffix.
    let (mut helps, mut types) = (Vec::new(), std::collections::HashMap::new());
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, words) = help.split_once(' ').unwrap();
            assert!(!words.is_empty(), "{line}");
            assert!(!helps.contains(&name), "a second HELP for {name}:\n{text}");
            helps.push(name);
        } else if let Some(descriptor) = line.strip_prefix("# TYPE ") {
            let (name, kind) = descriptor.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(
                types.insert(name, kind).is_none(),
                "a second TYPE for {name}:\n{text}"
            );
        } else {
            assert!(
                !line.starts_with('#'),
                "'{line}' is not in the classic format:\n{text}"
            );
            samples.push(line.split(['{', ' ']).next().unwrap());
        }
    }
    for sample in &samples {
        let family = match types.get(sample) {
            Some(&"counter") => {
                assert!(sample.ends_with("_total"), "counter {sample}");
                sample.to_string()
            }
            Some(&kind) => {
                assert!(["gauge", "untyped"].contains(&kind), "{sample} is a {kind}");
                sample.to_string()
            }
            None => {
                let family = ["_bucket", "_sum", "_count"]
                    .into_iter()
                    .find_map(|suffix| sample.strip_suffix(suffix))
                    .unwrap_or_else(|| panic!("no TYPE for {sample}:\n{text}"));
                assert_eq!(types.get(family), Some(&"histogram"), "{sample}:\n{text}");
                family.to_string()
            }
        };
        assert!(
            helps.contains(&family.as_str()),
            "no HELP for {family}:\n{text}"
        );
    }
    for (family, kind) in [
        ("sluice_http_requests_total", "counter"),
        ("sluice_http_request_duration_seconds", "histogram"),
        ("sluice_online_lookups_total", "counter"),
        ("sluice_prediction_log_queue_depth", "gauge"),
        ("sluice_prediction_log_dropped_total", "counter"),
        ("sluice_prediction_log_written_total", "counter"),
        ("sluice_prediction_log_failed_total", "counter"),
    ] {
        assert_eq!(types.get(family), Some(&kind), "{family}:\n{text}");
    }
    for sample in [
        r#"sluice_http_requests_total{route="/v2/models/{name}/versions/{version}/infer",model="fraud",status="200"} 1"#,
        r#"sluice_online_lookups_total{feature_group="activity:1",outcome="hit"} 1"#,
        r#"sluice_online_lookups_total{feature_group="activity:1",outcome="miss"} 1"#,
        r#"sluice_http_request_duration_seconds_count{route="/v2/models/{name}/versions/{version}/infer",model="fraud"} 1"#,
    ] {
        assert!(
            text.lines().any(|line| line == sample),
            "no '{sample}' in:\n{text}"
        );
    }
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_in_openmetrics_when_asked_for_or_when_anything_goes() {
    let (_dir, server, http) = scraped_server().await;
    for accept in ["application/openmetrics-text", "*/*"] {
        let (content_type, vary, text) = scrape(&http, accept).await;
        assert_eq!(
            content_type, "application/openmetrics-text; version=1.0.0; charset=utf-8",
            "{accept}"
        );
        assert_eq!(vary, "Accept", "{accept}");
        assert!(text.ends_with("\n# EOF\n"), "{accept}:\n{text}");
        assert!(
            text.contains("# TYPE sluice_http_requests counter\n"),
            "an OpenMetrics counter family is named without its samples' _total:\n{text}"
        );
    }
    server.stop().await.unwrap();
}

/// Two monitors: the training split against the served group, and a
/// model's prediction log against itself (its predictions and an input).
const MONITORS: &str = r#"
[[monitor]]
name = "amounts"
feature_group = "activity:1"
feature_view = "fraud:1"
features = ["amount", "merchant"]
reference = { training_dataset = 1 }
detection = { start = "2025-12-31T00:00:00Z", end = "2026-01-02T00:00:00Z" }
thresholds = { psi = 0.2 }

[[monitor]]
name = "predictions"
model = "fraud:2"
features = ["prediction", "amount"]
reference = { last = "1d" }
detection = { last = "1d" }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_gauges_show_each_monitors_latest_run() {
    let (dir, store) = common::project().await;
    let (server, http) = start(&store, config()).await;
    let cards: Vec<i64> = (0..40).collect();
    let (status, answer) = http.infer(INFER_V2, &cards).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        http.metric_reaches("sluice_prediction_log_written_total", 40.0)
            .await,
        40.0
    );
    std::fs::write(dir.path().join("features/monitors.toml"), MONITORS).unwrap();
    let amounts = store.run_monitor("amounts").await.unwrap();
    let predictions = store.run_monitor("predictions").await.unwrap();
    assert_eq!(predictions.feature_group, "fraud_log:2");
    assert_eq!(predictions.features[0].detection_rows, 40);
    assert!(!predictions.drifted);

    let text = http.metrics().await;
    let mut gauges = 0;
    for run in [&amounts, &predictions] {
        for feature in &run.features {
            for metric in &feature.metrics {
                let Some(value) = metric.value else { continue };
                let sample = format!(
                    "sluice_feature_drift{{monitor=\"{}\",feature=\"{}\",metric=\"{}\"}} ",
                    run.monitor, feature.feature, metric.metric
                );
                let shown: f64 = text
                    .lines()
                    .find_map(|line| line.strip_prefix(&sample))
                    .unwrap_or_else(|| panic!("no {sample} in {text}"))
                    .parse()
                    .unwrap();
                assert_eq!(shown, value, "{sample}");
                gauges += 1;
            }
        }
    }
    // amount: 5 metrics, merchant: 3; prediction and amount: 5 each.
    assert_eq!(gauges, 18);
    server.stop().await.unwrap();
}
