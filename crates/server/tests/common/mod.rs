//! What the server suites share: the project they serve (the fraud scenario
//! of `sluice_testkit::fixtures` with two trained versions of model
//! `fraud`), starting a server on it, and JSON requests to it.

// Each suite compiles this module on its own and uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_featurestore::{FeatureStore, NoProgress};
use sluice_pipelines::{train, TrainOptions};
use sluice_server::RunningServer;
use sluice_testkit::fixtures::Fraud;
use sluice_types::config::ServerConfig;
use sluice_types::NameRef;

/// Cards in the project, `0..CARDS`: larger ones are unknown to it.
pub const CARDS: i64 = 2_000;

/// The scenario: one `activity` row per card at `T0` (with a `tx_count`),
/// served online, and its label a second later; training dataset 1.
pub fn fraud() -> Fraud {
    Fraud::rows(CARDS)
        .seed(11)
        .online()
        .with_tx_count()
        .ingested()
        .with_training_data("random:0.75:1")
}

/// A project with two trained versions of model `fraud`: 1 logistic
/// regression (aliased `production`), 2 GBDT.
pub async fn project() -> (tempfile::TempDir, Arc<FeatureStore>) {
    let (dir, store) = fraud().build().await;
    for algorithm in ["logistic_regression", "gbdt_classifier"] {
        let options = TrainOptions {
            feature_view: NameRef::parse("fraud").unwrap(),
            training_dataset: 1,
            algorithm: algorithm.into(),
            params: Default::default(),
            model: "fraud".into(),
            description: String::new(),
        };
        train(&store, &options, &NoProgress).await.unwrap();
    }
    store
        .registry()
        .set_alias("fraud", "production", 1)
        .await
        .unwrap();
    (dir, Arc::new(store))
}

/// Rows in the group `activity:1`, where pushed rows go.
pub async fn activity_rows(store: &FeatureStore) -> u64 {
    store
        .feature_group(&NameRef::parse("activity:1").unwrap())
        .await
        .unwrap()
        .count_rows()
        .await
        .unwrap()
}

/// Serves version 2 besides the alias, and refreshes and flushes the log
/// often enough for a test to see it happen.
pub fn config() -> ServerConfig {
    ServerConfig {
        models: vec!["fraud:2".into()],
        refresh: "100ms".into(),
        log_flush: "100ms".into(),
        ..ServerConfig::default()
    }
}

/// Feature vectors of the view `fraud:1`.
pub const VECTORS: &str = "/v1/feature-views/fraud/1/vectors";
/// Predictions of model `fraud` at its production alias.
pub const INFER: &str = "/v2/models/fraud/infer";
/// Predictions of version 2 of model `fraud`.
pub const INFER_V2: &str = "/v2/models/fraud/versions/2/infer";
/// Rows pushed into the group `activity:1`.
pub const PUSH: &str = "/v1/feature-groups/activity/1/rows";

/// A server on 127.0.0.1 (any port), and a client for it.
pub async fn start(store: &Arc<FeatureStore>, config: ServerConfig) -> (RunningServer, Http) {
    let server = sluice_server::start(
        store.clone(),
        config,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    )
    .await
    .unwrap();
    let http = Http {
        base: format!("http://{}", server.addr),
        client: reqwest::Client::new(),
    };
    (server, http)
}

/// A client of one server, sending requests by path.
#[derive(Clone)]
pub struct Http {
    /// `http://host:port`.
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The status and the answer: JSON, or the text as a JSON string when it is not JSON.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, Some(&body.to_string()))
            .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }

    /// Predictions for these cards from the model at `path` ([`INFER`], say).
    pub async fn infer(&self, path: &str, cards: &[i64]) -> (u16, Value) {
        self.post(path, &infer_body(cards)).await
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Polls the metrics until `name` reads `want` (or five seconds pass);
    /// returns the last reading.
    pub async fn metric_reaches(&self, name: &str, want: f64) -> f64 {
        let mut value = f64::NAN;
        for _ in 0..100 {
            value = metric(&self.metrics().await, name);
            if value == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        value
    }
}

/// An Open Inference Protocol request for these cards, with a new id.
pub fn infer_body(cards: &[i64]) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "inputs": [{ "name": "card_id", "shape": [cards.len()], "datatype": "INT64", "data": cards }],
    })
}

/// A value of the metrics text (`name value` lines, no labels).
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}
