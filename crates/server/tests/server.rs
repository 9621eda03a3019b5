//! The online server through real HTTP on 127.0.0.1: feature vectors and
//! predictions equal batch ones, the Open Inference Protocol's routes and
//! shapes, API keys, malformed requests, push ingestion, the prediction log
//! and alias changes picked up without a restart.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{
    Array, AsArray, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, TimeUnit};
use futures::TryStreamExt;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use sluice_featurestore::{FeatureStore, NoProgress, ReadAt, TrainingDataOptions};
use sluice_pipelines::{predict, skew_check, train, PredictInput, PredictOptions, TrainOptions};
use sluice_server::RunningServer;
use sluice_types::config::{ApiKeyConfig, ServerConfig};
use sluice_types::{NameRef, Split};

const DEFINITIONS: &str = r#"
[[feature_group]]
name = "labels"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = false
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "is_fraud", type = "bool" },
]

[[feature_group]]
name = "activity"
version = 1
primary_key = ["card_id"]
event_time = "ts"
online = true
columns = [
  { name = "card_id", type = "int64" },
  { name = "ts", type = "timestamp" },
  { name = "amount", type = "float64" },
  { name = "merchant", type = "string" },
  { name = "tx_count", type = "int64", nullable = true },
]

[[feature_view]]
name = "fraud"
version = 1
spine = "labels:1"
labels = ["is_fraud"]
joins = [{ feature_group = "activity:1", on = ["card_id"], select = ["amount", "merchant", "tx_count"] }]
transforms = { amount = "standard_scaler", merchant = "one_hot_encoder", tx_count = "impute_mean" }
"#;

/// 2026-01-01T00:00:00Z.
const T0: i64 = 1_767_225_600_000_000;
const CARDS: i64 = 2_000;

fn utc(values: Vec<i64>) -> Arc<TimestampMicrosecondArray> {
    Arc::new(TimestampMicrosecondArray::from(values).with_timezone("UTC"))
}

fn timestamp_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// A project with two trained versions of model `fraud`: 1 logistic
/// regression (aliased `production`), 2 GBDT.
async fn project() -> (tempfile::TempDir, Arc<FeatureStore>) {
    let dir = tempfile::tempdir().unwrap();
    FeatureStore::init(dir.path()).unwrap();
    std::fs::write(dir.path().join("features/example.toml"), DEFINITIONS).unwrap();
    let store = FeatureStore::open(dir.path()).await.unwrap();
    store.apply(&store.plan().await.unwrap()).await.unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(11);
    let merchants = ["grocery", "fuel", "online", "travel"];
    let (mut amounts, mut chosen, mut counts, mut fraud) = (vec![], vec![], vec![], vec![]);
    for card in 0..CARDS {
        let amount: f64 = rng.random_range(1.0..1_000.0);
        let merchant = merchants[rng.random_range(0..4)];
        let risk = (amount / 1_000.0) * if merchant == "online" { 0.9 } else { 0.2 };
        fraud.push(rng.random_range(0.0..1.0) < risk);
        amounts.push(amount);
        chosen.push(merchant);
        counts.push((card % 7 != 0).then_some(card % 13));
    }
    let cards: Vec<i64> = (0..CARDS).collect();
    let activity = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            timestamp_field("ts"),
            Field::new("amount", DataType::Float64, false),
            Field::new("merchant", DataType::Utf8, false),
            Field::new("tx_count", DataType::Int64, true),
        ])),
        vec![
            Arc::new(Int64Array::from(cards.clone())),
            utc(vec![T0; CARDS as usize]),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(StringArray::from(chosen)),
            Arc::new(Int64Array::from(counts)),
        ],
    )
    .unwrap();
    let labels = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            timestamp_field("ts"),
            Field::new("is_fraud", DataType::Boolean, false),
        ])),
        vec![
            Arc::new(Int64Array::from(cards)),
            utc(vec![T0 + 1_000_000; CARDS as usize]),
            Arc::new(BooleanArray::from(fraud)),
        ],
    )
    .unwrap();
    for (group, batch) in [("activity", activity), ("labels", labels)] {
        store
            .feature_group(&NameRef::parse(group).unwrap())
            .await
            .unwrap()
            .ingest_batches([batch], "test", &NoProgress)
            .await
            .unwrap();
    }
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    view.create_training_data(&TrainingDataOptions {
        start: None,
        end: None,
        split: Split::parse("random:0.75:1").unwrap(),
    })
    .await
    .unwrap();
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
        .catalog()
        .set_alias("fraud", "production", 1)
        .await
        .unwrap();
    (dir, Arc::new(store))
}

fn config() -> ServerConfig {
    ServerConfig {
        models: vec!["fraud:2".into()],
        refresh: "100ms".into(),
        log_flush: "100ms".into(),
        ..ServerConfig::default()
    }
}

async fn start(store: &Arc<FeatureStore>, config: ServerConfig) -> (RunningServer, String) {
    let server = sluice_server::start(store.clone(), config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let base = format!("http://{}", server.addr);
    (server, base)
}

async fn call(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    body: Option<&str>,
) -> (u16, Value) {
    let mut request = client.request(method, url);
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

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    call(client, reqwest::Method::POST, url, Some(&body.to_string())).await
}

async fn get(client: &reqwest::Client, url: &str) -> (u16, Value) {
    call(client, reqwest::Method::GET, url, None).await
}

fn infer_body(cards: &[i64]) -> Value {
    json!({
        "id": uuid::Uuid::new_v4().to_string(),
        "inputs": [{ "name": "card_id", "shape": [cards.len()], "datatype": "INT64", "data": cards }],
    })
}

fn floats(value: &Value) -> Vec<f64> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_vectors_and_predictions_equal_batch_ones() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    // Unordered, repeated and unknown keys: answers keep request order.
    let cards: Vec<i64> = vec![17, 3, 1_999, 3, 0, 7, 123_456];
    let (status, answer) = post(
        &client,
        &format!("{base}/v1/feature-views/fraud/1/vectors"),
        &json!({ "entities": { "card_id": cards } }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(
        answer["features"],
        json!(["amount", "merchant", "tx_count"])
    );
    assert_eq!(answer["groups"], json!(["activity:1"]));

    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let keys = vec![(
        "card_id".to_string(),
        cards.iter().map(i64::to_string).collect::<Vec<_>>(),
    )];
    let view = store
        .feature_view(&NameRef::parse("fraud:1").unwrap())
        .await
        .unwrap();
    let batch = view.features_as_of(&keys, &now).await.unwrap();
    let amount = batch
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    let merchant = batch.column_by_name("merchant").unwrap().as_string::<i32>();
    let count = batch
        .column_by_name("tx_count")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
    for (row, vector) in answer["vectors"].as_array().unwrap().iter().enumerate() {
        let expected = if amount.is_null(row) {
            json!([null, null, null])
        } else {
            json!([
                amount.value(row),
                merchant.value(row),
                if count.is_null(row) {
                    Value::Null
                } else {
                    json!(count.value(row))
                }
            ])
        };
        assert_eq!(vector, &expected, "card {}", cards[row]);
        let present = if cards[row] < CARDS {
            "PRESENT"
        } else {
            "MISSING"
        };
        assert_eq!(
            answer["status"][row],
            json!([present]),
            "card {}",
            cards[row]
        );
    }

    // Predictions: the GBDT version (takes missing values) against batch inference as of now.
    let known: Vec<i64> = cards.iter().copied().filter(|c| *c < CARDS).collect();
    let (status, answer) = post(
        &client,
        &format!("{base}/v2/models/fraud/versions/2/infer"),
        &infer_body(&known),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["model_name"], "fraud");
    assert_eq!(answer["model_version"], "2");
    assert!(
        answer["id"].as_str().is_some_and(|id| id.len() == 36),
        "{answer}"
    );
    assert_eq!(answer["outputs"][0]["name"], "prediction");
    assert_eq!(answer["outputs"][0]["datatype"], "FP64");
    assert_eq!(answer["outputs"][0]["shape"], json!([known.len()]));
    let online = floats(&answer["outputs"][0]["data"]);
    for model in ["fraud:2", "fraud@production"] {
        let (_, batch) = predict(
            &store,
            &PredictOptions {
                model: model.into(),
                input: PredictInput::AsOf {
                    at: now.clone(),
                    keys: vec![("card_id".into(), known.iter().map(i64::to_string).collect())],
                },
                to_feature_group: None,
            },
            &NoProgress,
        )
        .await
        .unwrap();
        let offline: Vec<f64> = batch
            .column_by_name("prediction")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values()
            .to_vec();
        let served = if model == "fraud:2" {
            online.clone()
        } else {
            // No version in the path: the production alias (version 1).
            let (status, answer) = post(
                &client,
                &format!("{base}/v2/models/fraud/infer"),
                &infer_body(&known),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
            assert_eq!(answer["model_version"], "1");
            floats(&answer["outputs"][0]["data"])
        };
        assert_eq!(served.len(), offline.len());
        for (a, b) in served.iter().zip(&offline) {
            assert!((a - b).abs() <= 1e-9, "{model}: online {a} batch {b}");
        }
    }

    // A passed value replaces the looked-up one, as a batch row with that value would.
    let (status, answer) = post(
        &client,
        &format!("{base}/v2/models/fraud/versions/2/infer"),
        &json!({ "inputs": [
            { "name": "card_id", "shape": [2], "datatype": "INT64", "data": [3, 5] },
            { "name": "amount", "shape": [2, 1], "datatype": "FP64", "data": [[999.0], [1.0]] },
        ]}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let passed = floats(&answer["outputs"][0]["data"]);
    let (status, plain) = post(
        &client,
        &format!("{base}/v2/models/fraud/versions/2/infer"),
        &infer_body(&[3, 5]),
    )
    .await;
    assert_eq!(status, 200);
    assert_ne!(passed, floats(&plain["outputs"][0]["data"]));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_routes_and_malformed_requests() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    for (path, key) in [
        ("/v2/health/live", "live"),
        ("/v2/health/ready", "ready"),
        ("/v2/models/fraud/ready", "ready"),
        ("/v2/models/fraud/versions/2/ready", "ready"),
    ] {
        let (status, answer) = get(&client, &format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(answer[key], true, "{path}: {answer}");
    }
    let (status, answer) = get(&client, &format!("{base}/health")).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ok")));
    let (status, answer) = get(&client, &format!("{base}/v2")).await;
    assert_eq!((status, answer["name"].as_str()), (200, Some("sluice")));
    assert_eq!(
        answer["extensions"],
        json!(["binary_tensor_data"]),
        "{answer}"
    );

    let (status, answer) = get(&client, &format!("{base}/v2/models/fraud")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["name"], "fraud");
    assert_eq!(answer["versions"], json!(["1", "2"]));
    assert_eq!(
        answer["inputs"],
        json!([{ "name": "card_id", "datatype": "INT64", "shape": [-1] }])
    );
    assert_eq!(
        answer["outputs"],
        json!([{ "name": "prediction", "datatype": "FP64", "shape": [-1] }])
    );
    let (status, answer) = get(&client, &format!("{base}/v2/models/fraud/versions/2")).await;
    assert_eq!((status, answer["versions"].clone()), (200, json!(["2"])));

    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let card = |data: Value, datatype: &str, shape: Value| json!({ "inputs": [{ "name": "card_id", "shape": shape, "datatype": datatype, "data": data }] });
    let cases: Vec<(String, String, u16, &str)> = vec![
        (format!("{base}/v2/models/nope/infer"), infer_body(&[1]).to_string(), 404, "nope"),
        (format!("{base}/v2/models/fraud/versions/9/infer"), infer_body(&[1]).to_string(), 404, "version 9"),
        (format!("{base}/v2/models/fraud/versions/x/infer"), infer_body(&[1]).to_string(), 400, "'x'"),
        (infer.clone(), "{not json".into(), 400, "malformed"),
        (infer.clone(), "[]".into(), 400, "malformed"),
        (infer.clone(), json!({ "inputs": [] }).to_string(), 400, "no inputs"),
        (infer.clone(), card(json!(["a"]), "INT64", json!([1])).to_string(), 400, "INT64"),
        (infer.clone(), card(json!([1, 2]), "INT64", json!([3])).to_string(), 400, "shape"),
        (infer.clone(), card(json!([1, 2]), "INT64", json!([1, 2])).to_string(), 400, "one value per row"),
        (infer.clone(), card(json!([1]), "COMPLEX", json!([1])).to_string(), 400, "COMPLEX"),
        (infer.clone(), card(json!([null]), "INT64", json!([1])).to_string(), 400, "card_id"),
        (infer.clone(), card(json!(["12x"]), "BYTES", json!([1])).to_string(), 400, "card_id"),
        (
            infer.clone(),
            json!({ "inputs": [{ "name": "merchant", "shape": [1], "datatype": "BYTES", "data": ["x"] }] }).to_string(),
            400,
            "lacks key 'card_id'",
        ),
        (
            infer.clone(),
            json!({ "inputs": [
                { "name": "card_id", "shape": [1], "datatype": "INT64", "data": [1] },
                { "name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"] },
            ]}).to_string(),
            400,
            "unknown input 'colour'",
        ),
        (
            infer.clone(),
            json!({ "inputs": [
                { "name": "card_id", "shape": [2], "datatype": "INT64", "data": [1, 2] },
                { "name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0] },
            ]}).to_string(),
            400,
            "one value per row",
        ),
        (
            infer.clone(),
            json!({ "inputs": [{ "name": "card_id", "shape": [1], "datatype": "INT64", "data": [1] }],
                    "outputs": [{ "name": "score" }] }).to_string(),
            400,
            "unknown output 'score'",
        ),
        (
            format!("{base}/v1/feature-views/fraud/7/vectors"),
            json!({ "entities": { "card_id": [1] } }).to_string(),
            404,
            "fraud",
        ),
        (
            format!("{base}/v1/feature-views/fraud/1/vectors"),
            json!({ "entities": { "card": [1] } }).to_string(),
            400,
            "'card'",
        ),
        (
            format!("{base}/v1/feature-views/fraud/1/vectors"),
            json!({ "keys": { "card_id": [1] } }).to_string(),
            400,
            "keys",
        ),
        (format!("{base}/v9/nothing"), "{}".into(), 404, "no route"),
    ];
    for (url, body, expected, mentions) in cases {
        let (status, answer) = call(&client, reqwest::Method::POST, &url, Some(&body)).await;
        assert_eq!(status, expected, "{url} {body}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{url}: {answer}"));
        assert!(
            message.contains(mentions),
            "{url} {body}: '{message}' lacks '{mentions}'"
        );
    }
    let (status, answer) = call(&client, reqwest::Method::DELETE, &infer, None).await;
    assert_eq!(status, 405, "{answer}");
    assert!(answer["error"].is_string());

    // A linear model cannot take a missing feature: 422 naming it, not a wrong number.
    let (status, answer) = post(
        &client,
        &format!("{base}/v2/models/fraud/versions/1/infer"),
        &infer_body(&[123_456]),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("amount"),
        "{answer}"
    );

    let metrics = metrics_text(&client, &base).await;
    assert!(
        metrics.contains(r#"sluice_http_requests_total{route="/v2/models/{name}/versions/{version}/infer",model="fraud",status="400"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_http_request_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"sluice_online_lookups_total{feature_group="activity:1",outcome="miss"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("sluice_prediction_log_queue_depth"),
        "{metrics}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_reads_and_writes() {
    let (_dir, store) = project().await;
    let reader = "reader-key-0123456789";
    let writer = "writer-key-0123456789";
    let keyed = ServerConfig {
        api_keys: vec![
            ApiKeyConfig {
                key: Some(reader.into()),
                key_env: None,
                scopes: vec!["read".into()],
            },
            ApiKeyConfig {
                key: Some(writer.into()),
                key_env: None,
                scopes: vec!["read".into(), "write".into()],
            },
        ],
        ..config()
    };
    let (server, base) = start(&store, keyed).await;
    assert!(!server.banner.iter().any(|l| l.contains("WARNING")));
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/infer");
    let push = format!("{base}/v1/feature-groups/activity/1/rows");
    let row = json!({ "rows": [{ "card_id": 5, "ts": "2026-02-01T00:00:00Z", "amount": 12.5, "merchant": "fuel", "tx_count": 2 }] });
    let send = |url: &str, key: Option<(&str, &str)>, body: &Value| {
        let mut request = client.post(url).body(body.to_string());
        if let Some((header, value)) = key {
            request = request.header(header, value);
        }
        request.send()
    };
    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(send(&infer, None, &infer_body(&[1])).await.unwrap()),
        401
    );
    assert_eq!(
        status(
            send(
                &infer,
                Some(("authorization", "Bearer wrong-key-000000000")),
                &infer_body(&[1])
            )
            .await
            .unwrap()
        ),
        401
    );
    let bearer = format!("Bearer {reader}");
    assert_eq!(
        status(
            send(&infer, Some(("authorization", &bearer)), &infer_body(&[1]))
                .await
                .unwrap()
        ),
        200
    );
    let forbidden = send(&push, Some(("x-api-key", reader)), &row)
        .await
        .unwrap();
    assert_eq!(forbidden.status().as_u16(), 403);
    let body: Value = forbidden.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("write"), "{body}");
    assert_eq!(
        status(
            send(&push, Some(("x-api-key", writer)), &row)
                .await
                .unwrap()
        ),
        200
    );
    // Health and metrics stay open for probes and scrapers.
    assert_eq!(
        get(&client, &format!("{base}/v2/health/ready")).await.0,
        200
    );
    assert_eq!(get(&client, &format!("{base}/metrics")).await.0, 200);
    server.stop().await.unwrap();

    let (open, _) = start(&store, config()).await;
    assert!(open
        .banner
        .iter()
        .any(|l| l.contains("WARNING") && l.contains("open")));
    open.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_rows_are_checked_like_ingest_and_served() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let push = format!("{base}/v1/feature-groups/activity/1/rows");
    let activity = store
        .feature_group(&NameRef::parse("activity:1").unwrap())
        .await
        .unwrap();
    let before = activity.count_rows().await.unwrap();
    for (body, mentions) in [
        (
            json!({ "rows": [{ "card_id": 1, "ts": "2026-02-01T00:00:00Z", "amount": "lots", "merchant": "x" }] }),
            "amount",
        ),
        (
            json!({ "rows": [{ "card_id": null, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "x" }] }),
            "card_id",
        ),
        (
            json!({ "rows": [{ "card_id": 1, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "x", "colour": "red" }] }),
            "colour",
        ),
        (
            json!({ "rows": [
            { "card_id": 1, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "x" },
            { "card_id": 2, "ts": "yesterday", "amount": 1.0, "merchant": "x" },
        ] }),
            "ts",
        ),
        (json!({ "rows": [] }), "no rows"),
    ] {
        let (status, answer) = post(&client, &push, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(mentions), "'{message}' lacks '{mentions}'");
    }
    assert_eq!(
        activity.count_rows().await.unwrap(),
        before,
        "a rejected push wrote rows"
    );
    let (status, answer) = post(
        &client,
        &format!("{base}/v1/feature-groups/nope/1/rows"),
        &json!({ "rows": [{}] }),
    )
    .await;
    assert_eq!(status, 404, "{answer}");

    let (status, answer) = post(
        &client,
        &push,
        &json!({ "rows": [{ "card_id": 42, "ts": "2026-03-01T00:00:00Z", "amount": 777.25, "merchant": "travel", "tx_count": null }] }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], 1);
    let (_, vectors) = post(
        &client,
        &format!("{base}/v1/feature-views/fraud/1/vectors"),
        &json!({ "entities": { "card_id": [42] } }),
    )
    .await;
    assert_eq!(vectors["vectors"], json!([[777.25, "travel", null]]));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_are_logged_and_alias_changes_need_no_restart() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let cards = [4i64, 8, 15, 16];
    let (status, first) = post(
        &client,
        &format!("{base}/v2/models/fraud/infer"),
        &infer_body(&cards),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["model_version"], "1");

    store
        .catalog()
        .set_alias("fraud", "production", 2)
        .await
        .unwrap();
    let mut switched = None;
    for _ in 0..50 {
        let (_, answer) = post(
            &client,
            &format!("{base}/v2/models/fraud/infer"),
            &infer_body(&cards),
        )
        .await;
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
        let group = store
            .feature_group(&NameRef {
                name: "fraud_log".into(),
                version: Some(version),
            })
            .await
            .unwrap();
        let batches: Vec<RecordBatch> = group
            .read(ReadAt::Latest, None)
            .await
            .unwrap()
            .try_collect()
            .await
            .unwrap();
        let log = arrow::compute::concat_batches(&group.spec().arrow_schema(), &batches).unwrap();
        let id = answer["id"].as_str().unwrap();
        let ids = log.column_by_name("request_id").unwrap().as_string::<i32>();
        let mine: Vec<usize> = (0..log.num_rows())
            .filter(|i| ids.value(*i) == id)
            .collect();
        assert_eq!(mine.len(), cards.len(), "version {version}");
        let rows = log
            .column_by_name("row")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let logged_cards = log
            .column_by_name("card_id")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let predictions = log
            .column_by_name("prediction")
            .unwrap()
            .as_primitive::<Float64Type>();
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
    let changed = RecordBatch::try_new(
        activity.spec().arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![8])),
            utc(vec![T0 + 1_000_000]),
            Arc::new(Float64Array::from(vec![0.5])),
            Arc::new(StringArray::from(vec!["fuel"])),
            Arc::new(Int64Array::from(vec![None::<i64>])),
        ],
    )
    .unwrap();
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

/// A value of the metrics text (`name value` lines, no labels).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .trim()
        .parse()
        .unwrap()
}

async fn metrics_text(client: &reqwest::Client, base: &str) -> String {
    client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// `/metrics` as a scraper sending `accept` gets it: its content type, its
/// `Vary` header and its text.
async fn scrape(client: &reqwest::Client, base: &str, accept: &str) -> (String, String, String) {
    let response = client
        .get(format!("{base}/metrics"))
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
async fn scraped_server() -> (tempfile::TempDir, RunningServer, String, reqwest::Client) {
    let (dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let (status, answer) = post(&client, &infer, &infer_body(&[1, 123_456])).await;
    assert_eq!(status, 200, "{answer}");
    (dir, server, base, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_come_in_the_classic_text_format_when_asked_for() {
    let (_dir, server, base, client) = scraped_server().await;
    let (content_type, vary, text) = scrape(&client, &base, "text/plain; version=0.0.4").await;
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
    let (_dir, server, base, client) = scraped_server().await;
    for accept in ["application/openmetrics-text", "*/*"] {
        let (content_type, vary, text) = scrape(&client, &base, accept).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_queue_is_taken_when_half_full_and_committed_on_the_tick() {
    let (_dir, store) = project().await;
    let quiet = ServerConfig {
        log_queue: 4,
        log_flush: "1h".into(),
        ..config()
    };
    let (server, base) = start(&store, quiet).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/infer");
    let (status, answer) = post(&client, &infer, &infer_body(&[4])).await;
    assert_eq!(status, 200, "{answer}");
    // One row of four does not wake the writer: it stays queued.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let text = metrics_text(&client, &base).await;
    assert_eq!(metric(&text, "sluice_prediction_log_queue_depth"), 1.0);

    // The second request's rows fill half the queue: the writer takes both
    // requests, and commits nothing before its tick (an hour away) or the stop.
    let (status, answer) = post(&client, &infer, &infer_body(&[8, 15])).await;
    assert_eq!(status, 200, "{answer}");
    let depth = metric_reaches(&client, &base, "sluice_prediction_log_queue_depth", 0.0).await;
    assert_eq!(depth, 0.0, "the writer did not take the half-full queue");
    let text = metrics_text(&client, &base).await;
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 0.0);
    server.stop().await.unwrap();

    let group = store
        .feature_group(&NameRef::parse("fraud_log:1").unwrap())
        .await
        .unwrap();
    let rows: usize = group
        .read(ReadAt::Latest, None)
        .await
        .unwrap()
        .try_collect::<Vec<RecordBatch>>()
        .await
        .unwrap()
        .iter()
        .map(RecordBatch::num_rows)
        .sum();
    assert_eq!(rows, 3, "both requests' rows, committed at the stop");
}

/// Polls the metrics until `name` reads `want` (or five seconds pass); returns the last reading.
async fn metric_reaches(client: &reqwest::Client, base: &str, name: &str, want: f64) -> f64 {
    let mut value = f64::NAN;
    for _ in 0..100 {
        value = metric(&metrics_text(client, base).await, name);
        if value == want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    value
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_worth_of_taken_entries_commits_without_waiting_for_the_tick() {
    // (log_queue, the entries that wake the writer): 0 is read as a queue of one.
    for (log_queue, wake_every) in [(4, 2), (0, 1)] {
        let (_dir, store) = project().await;
        let quiet = ServerConfig {
            log_queue,
            log_flush: "1h".into(),
            ..config()
        };
        let (server, base) = start(&store, quiet).await;
        let client = reqwest::Client::new();
        let infer = format!("{base}/v2/models/fraud/infer");
        for request in 1..=12 {
            let (status, answer) = post(&client, &infer, &infer_body(&[15])).await;
            assert_eq!(status, 200, "{answer}");
            if request % wake_every == 0 {
                // The writer takes the queue even while a commit is in flight.
                let depth =
                    metric_reaches(&client, &base, "sluice_prediction_log_queue_depth", 0.0).await;
                assert_eq!(
                    depth, 0.0,
                    "log_queue {log_queue}, request {request}: the queue was not taken"
                );
            }
        }
        // Each queue's worth of taken entries commits at once, an hour
        // before the tick: all twelve rows are written while the server runs.
        let written =
            metric_reaches(&client, &base, "sluice_prediction_log_written_total", 12.0).await;
        assert_eq!(
            written, 12.0,
            "log_queue {log_queue}: the writer waited for its tick"
        );
        let text = metrics_text(&client, &base).await;
        assert_eq!(metric(&text, "sluice_prediction_log_dropped_total"), 0.0);
        server.stop().await.unwrap();
    }
}

/// All rows of a log feature group (read after the server stopped) and its commits' row counts.
async fn log_and_commits(store: &FeatureStore, log: &str) -> (RecordBatch, Vec<u64>) {
    let group = store
        .feature_group(&NameRef::parse(log).unwrap())
        .await
        .unwrap();
    let batches: Vec<RecordBatch> = group
        .read(ReadAt::Latest, None)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let rows = arrow::compute::concat_batches(&group.spec().arrow_schema(), &batches).unwrap();
    let commits = group
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
    let bounded = ServerConfig {
        log_queue: BOUND,
        log_flush: "1h".into(),
        ..config()
    };
    let (server, base) = start(&store, bounded).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");

    // A request of more rows than the whole queue is answered, and its
    // rows are dropped from the log and counted.
    let too_many: Vec<i64> = (0..=BOUND as i64).collect();
    let (status, answer) = post(&client, &infer, &infer_body(&too_many)).await;
    assert_eq!(status, 200, "{answer}");
    let text = metrics_text(&client, &base).await;
    assert_eq!(
        metric(&text, "sluice_prediction_log_dropped_total"),
        (BOUND + 1) as f64
    );
    assert_eq!(metric(&text, "sluice_prediction_log_queue_depth"), 0.0);

    // Many requests of many keys at once, the queue's rows sampled meanwhile.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = tokio::spawn({
        let (client, base, sampling) = (client.clone(), base.clone(), sampling.clone());
        async move {
            let mut deepest = 0.0f64;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                let text = metrics_text(&client, &base).await;
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
        .map(|body| post(&client, &infer, body))
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
    let text = metrics_text(&client, &base).await;
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
    let rows = log
        .column_by_name("row")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int64Type>();
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
async fn health_reaches(client: &reqwest::Client, base: &str, want: u16) -> (u16, Value) {
    let mut answer = (0, Value::Null);
    for _ in 0..100 {
        answer = get(client, &format!("{base}/health")).await;
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
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let (status, answer) = post(&client, &infer, &infer_body(&[4, 8, 15])).await;
    assert_eq!(status, 200, "serving goes on: {answer}");

    let (status, health) = health_reaches(&client, &base, 503).await;
    assert_eq!(status, 503, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(health["prediction_log"], "down", "{health}");
    let error = health["error"].as_str().unwrap();
    assert!(
        error.contains("the prediction log writer is down") && error.contains("fraud:2"),
        "{error}"
    );
    let text = metrics_text(&client, &base).await;
    assert_eq!(metric(&text, "sluice_prediction_log_writer_up"), 0.0);
    assert!(metric(&text, "sluice_prediction_log_writer_failures_total") >= 1.0);
    assert_eq!(metric(&text, "sluice_prediction_log_failed_total"), 3.0);
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 0.0);

    // Writable again: the next commit succeeds and the writer is up.
    std::fs::remove_file(&blocker).unwrap();
    let (status, answer) = post(&client, &infer, &infer_body(&[16, 23])).await;
    assert_eq!(status, 200, "{answer}");
    let (status, health) = health_reaches(&client, &base, 200).await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["prediction_log"], "up");
    let text = metrics_text(&client, &base).await;
    assert_eq!(metric(&text, "sluice_prediction_log_writer_up"), 1.0);
    assert_eq!(metric(&text, "sluice_prediction_log_written_total"), 2.0);
    assert_eq!(metric(&text, "sluice_prediction_log_failed_total"), 3.0);
    server.stop().await.unwrap();
}

/// Writes `bytes` on a plain connection (`stream`, else a new one to
/// `addr`), blocking off the runtime's workers; returns the connection and,
/// with `read_answer`, the head of what the server answers.
async fn raw_request(
    stream: Option<std::net::TcpStream>,
    addr: SocketAddr,
    bytes: String,
    read_answer: bool,
) -> (std::net::TcpStream, String) {
    tokio::task::spawn_blocking(move || {
        use std::io::{Read, Write};
        let mut stream = stream.unwrap_or_else(|| std::net::TcpStream::connect(addr).unwrap());
        stream.write_all(bytes.as_bytes()).unwrap();
        let mut answer = Vec::new();
        if read_answer {
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut buffer = [0u8; 4096];
            while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = stream.read(&mut buffer).unwrap();
                assert!(n > 0, "the connection closed");
                answer.extend_from_slice(&buffer[..n]);
            }
        }
        (stream, String::from_utf8_lossy(&answer).into_owned())
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_requests_beyond_max_in_flight_are_refused_at_once_with_retry_after() {
    let (_dir, store) = project().await;
    let limited = ServerConfig {
        max_in_flight: std::num::NonZeroUsize::new(1),
        ..config()
    };
    let (server, base) = start(&store, limited).await;
    let client = reqwest::Client::new();
    let vectors = format!("{base}/v1/feature-views/fraud/1/vectors");
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let push = format!("{base}/v1/feature-groups/activity/1/rows");

    // A vectors request whose body is half sent holds the only permit: its
    // handler waits for the rest of the body.
    let body = json!({ "entities": { "card_id": [1, 2] } }).to_string();
    let (first, rest) = body.split_at(body.len() / 2);
    let head = format!(
        "POST /v1/feature-views/fraud/1/vectors HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{first}",
        server.addr,
        body.len()
    );
    let (held, _) = raw_request(None, server.addr, head, false).await;
    // Until the held request has its permit a probe may take it; from then
    // on, every data request is refused.
    let mut refused = None;
    for _ in 0..500 {
        let response = client
            .post(&infer)
            .header("content-type", "application/json")
            .body(infer_body(&[1]).to_string())
            .send()
            .await
            .unwrap();
        if response.status() == 503 {
            refused = Some(response);
            break;
        }
        assert_eq!(response.status(), 200);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let refused = refused.expect("the held request never took the permit");
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(refused.headers()["content-type"], "application/json");
    let answer: Value = refused.json().await.unwrap();
    let error = answer["error"].as_str().unwrap();
    assert!(
        error.contains("max_in_flight") && error.contains("limit of 1"),
        "{error}"
    );
    let row = json!({ "rows": [{ "card_id": 5, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "fuel" }] });
    for (url, body) in [
        (&vectors, json!({ "entities": { "card_id": [1] } })),
        (&push, row),
    ] {
        let (status, answer) = post(&client, url, &body).await;
        assert_eq!(status, 503, "{url}: {answer}");
        assert!(answer["error"].is_string(), "{url}: {answer}");
    }
    // Probes, scrapers and metadata are never refused.
    for path in [
        "/health",
        "/metrics",
        "/v2/health/ready",
        "/v2/models/fraud",
    ] {
        let (status, answer) = get(&client, &format!("{base}{path}")).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }

    // The rest of the body: the held request is answered and its permit returned.
    let (held, answer) = raw_request(Some(held), server.addr, rest.to_string(), true).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
    let (status, answer) = post(&client, &infer, &infer_body(&[1])).await;
    assert_eq!(status, 200, "{answer}");
    let text = metrics_text(&client, &base).await;
    assert!(
        text.contains(
            r#"route="/v2/models/{name}/versions/{version}/infer",model="fraud",status="503""#
        ),
        "{text}"
    );
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_beyond_max_keys_per_request_are_refused_naming_the_limit() {
    let (_dir, store) = project().await;
    let limited = ServerConfig {
        max_keys_per_request: 100,
        ..config()
    };
    let (server, base) = start(&store, limited).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let vectors = format!("{base}/v1/feature-views/fraud/1/vectors");
    let push = format!("{base}/v1/feature-groups/activity/1/rows");
    let activity = store
        .feature_group(&NameRef::parse("activity:1").unwrap())
        .await
        .unwrap();
    let before = activity.count_rows().await.unwrap();
    let cards: Vec<i64> = (0..101).collect();
    let rows: Vec<Value> = cards
        .iter()
        .map(|card| json!({ "card_id": card, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "fuel" }))
        .collect();
    for (url, body) in [
        (&infer, infer_body(&cards)),
        (&vectors, json!({ "entities": { "card_id": cards } })),
        (&push, json!({ "rows": rows })),
    ] {
        let (status, answer) = post(&client, url, &body).await;
        assert_eq!(status, 400, "{url}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.contains("101 keys")
                && error.contains("at most 100")
                && error.contains("max_keys_per_request"),
            "{url}: {error}"
        );
    }
    assert_eq!(activity.count_rows().await.unwrap(), before);
    let (status, answer) = post(&client, &infer, &infer_body(&cards[..100])).await;
    assert_eq!(status, 200, "the limit itself is taken: {answer}");
    server.stop().await.unwrap();
}

/// Requests with large bodies are served off the worker that read them
/// (see `limits::limit_in_flight`); they answer as any other, in input order,
/// several at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_requests_are_answered_whole_and_in_order() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let vectors = format!("{base}/v1/feature-views/fraud/1/vectors");
    let infer = format!("{base}/v2/models/fraud/versions/2/infer");
    let cards: Vec<i64> = (0..2_000).map(|i| i % 70).collect();
    let body = json!({ "entities": { "card_id": cards } });
    assert!(
        body.to_string().len() > 4096,
        "large enough to take the large path"
    );
    let answers = futures::future::join_all((0..4).map(|_| post(&client, &vectors, &body))).await;
    for (status, answer) in answers {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["vectors"].as_array().unwrap().len(), cards.len());
    }
    let (status, single) = post(
        &client,
        &vectors,
        &json!({ "entities": { "card_id": [cards[1234]] } }),
    )
    .await;
    assert_eq!(status, 200, "{single}");
    let (_, all) = post(&client, &vectors, &body).await;
    assert_eq!(
        all["vectors"][1234], single["vectors"][0],
        "row 1234 is card {}",
        cards[1234]
    );
    let (status, answer) = post(&client, &infer, &infer_body(&cards[..1_500])).await;
    assert_eq!(status, 200, "{answer}");
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_status_has_a_json_body() {
    let (_dir, store) = project().await;
    let (server, base) = start(&store, config()).await;
    let client = reqwest::Client::new();
    let infer = format!("{base}/v2/models/fraud/infer");
    let too_large = " ".repeat((2 << 20) + 1);
    let cases = [
        (client.post(&infer).body(too_large), 413, "2097152 bytes"),
        (client.get(format!("{base}/nothing")), 404, "no route"),
        (client.delete(&infer), 405, "DELETE"),
        (
            client.get(format!("{base}/v1/feature-views/fraud/1/vectors")),
            405,
            "GET",
        ),
        // A path segment that is not UTF-8 once decoded: axum refuses it itself.
        (client.get(format!("{base}/v2/models/%FF/ready")), 400, ""),
    ];
    for (request, expected, mentions) in cases {
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response.headers()["content-type"].clone();
        let text = response.text().await.unwrap();
        assert_eq!(status, expected, "{text}");
        assert_eq!(content_type, "application/json", "{expected}: {text}");
        let answer: Value = serde_json::from_str(&text).unwrap();
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            !error.is_empty() && error.contains(mentions),
            "{expected}: '{error}' lacks '{mentions}'"
        );
    }
    server.stop().await.unwrap();
}

mod fuzz {
    use proptest::prelude::*;
    use sluice_server::{parse_infer_body, parse_infer_request, RequestValues};

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "[a-zA-Z0-9_ ]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("inputs".to_string()),
                        Just("name".to_string()),
                        Just("shape".to_string()),
                        Just("datatype".to_string()),
                        Just("data".to_string()),
                        Just("id".to_string()),
                        Just("outputs".to_string()),
                        Just("parameters".to_string()),
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
            let _ = parse_infer_request(&bytes);
        }

        #[test]
        fn arbitrary_json_never_panics_and_accepted_columns_are_rectangular(value in json_value()) {
            if let Ok((_, columns)) = parse_infer_request(value.to_string().as_bytes()) {
                prop_assert!(!columns.is_empty());
            }
        }

        #[test]
        fn well_formed_tensors_parse_to_one_value_per_row(
            data in prop::collection::vec(any::<i64>(), 1..20),
            nested in any::<bool>(),
        ) {
            let (shape, values) = if nested {
                (serde_json::json!([data.len(), 1]), serde_json::Value::from(data.iter().map(|v| serde_json::json!([v])).collect::<Vec<_>>()))
            } else {
                (serde_json::json!([data.len()]), serde_json::Value::from(data.clone()))
            };
            let body = serde_json::json!({ "inputs": [{ "name": "k", "shape": shape, "datatype": "INT64", "data": values }] });
            let (_, columns) = parse_infer_request(body.to_string().as_bytes()).unwrap();
            prop_assert_eq!(&columns[0].1, &RequestValues::Integers(data));
        }

        #[test]
        fn arbitrary_binary_bodies_never_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..256),
            header in 0usize..300,
        ) {
            let _ = parse_infer_body(&bytes, Some(header));
        }

        /// The binary data extension decodes to what the same values give as JSON.
        #[test]
        fn binary_tensors_equal_their_json_form(
            keys in prop::collection::vec(any::<i64>(), 1..20),
            amount in prop::collection::vec(-1e12f64..1e12, 1..20),
            label in "[a-z]{0,6}",
        ) {
            let rows = keys.len().min(amount.len());
            let (keys, amount) = (&keys[..rows], &amount[..rows]);
            let labels = vec![label.clone(); rows];
            let mut binary: Vec<u8> = keys.iter().flat_map(|k| k.to_le_bytes()).collect();
            let key_size = binary.len();
            binary.extend(amount.iter().flat_map(|a| a.to_le_bytes()));
            let mut text_bytes = Vec::new();
            for l in &labels {
                text_bytes.extend((l.len() as u32).to_le_bytes());
                text_bytes.extend(l.as_bytes());
            }
            binary.extend(&text_bytes);
            let header = serde_json::json!({ "inputs": [
                { "name": "k", "shape": [rows], "datatype": "INT64", "parameters": { "binary_data_size": key_size } },
                { "name": "a", "shape": [rows, 1], "datatype": "FP64", "parameters": { "binary_data_size": rows * 8 } },
                { "name": "l", "shape": [rows], "datatype": "BYTES", "parameters": { "binary_data_size": text_bytes.len() } },
            ] }).to_string();
            let mut body = header.clone().into_bytes();
            body.extend(&binary);
            let (_, from_binary) = parse_infer_body(&body, Some(header.len())).unwrap();
            let json = serde_json::json!({ "inputs": [
                { "name": "k", "shape": [rows], "datatype": "INT64", "data": keys },
                { "name": "a", "shape": [rows, 1], "datatype": "FP64", "data": amount },
                { "name": "l", "shape": [rows], "datatype": "BYTES", "data": labels },
            ] });
            let (_, from_json) = parse_infer_request(json.to_string().as_bytes()).unwrap();
            prop_assert_eq!(from_binary[0].1.clone(), from_json[0].1.clone());
            prop_assert_eq!(from_binary[2].1.clone(), from_json[2].1.clone());
            let parsed: Vec<f64> = from_binary[1].1.texts().iter().map(|t| t.parse().unwrap()).collect();
            prop_assert_eq!(parsed, amount.to_vec());
            // One byte short, or one byte over, is a 400, never a guess.
            let mut short = body.clone();
            short.pop();
            prop_assert!(parse_infer_body(&short, Some(header.len())).is_err());
            let mut long = body;
            long.push(0);
            prop_assert!(parse_infer_body(&long, Some(header.len())).is_err());
        }
    }
}
