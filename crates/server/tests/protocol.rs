//! The Open Inference Protocol's routes and shapes, and malformed requests:
//! each refused with its status and a JSON body naming what is wrong.

mod common;

use common::{config, infer_body, project, start, INFER, INFER_V2};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_routes_and_malformed_requests() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    for (path, key) in [
        ("/v2/health/live", "live"),
        ("/v2/health/ready", "ready"),
        ("/v2/models/fraud/ready", "ready"),
        ("/v2/models/fraud/versions/2/ready", "ready"),
    ] {
        let (status, answer) = http.get(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
        assert_eq!(answer[key], true, "{path}: {answer}");
    }
    let (status, answer) = http.get("/health").await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("ok")));
    let (status, answer) = http.get("/v2").await;
    assert_eq!((status, answer["name"].as_str()), (200, Some("sluice")));
    assert_eq!(
        answer["extensions"],
        json!(["binary_tensor_data"]),
        "{answer}"
    );

    let (status, answer) = http.get("/v2/models/fraud").await;
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
    let (status, answer) = http.get("/v2/models/fraud/versions/2").await;
    assert_eq!((status, answer["versions"].clone()), (200, json!(["2"])));

    let infer = INFER_V2;
    let card = |data: Value, datatype: &str, shape: Value| json!({ "inputs": [{ "name": "card_id", "shape": shape, "datatype": datatype, "data": data }] });
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("/v2/models/nope/infer", infer_body(&[1]).to_string(), 404, "nope"),
        ("/v2/models/fraud/versions/9/infer", infer_body(&[1]).to_string(), 404, "version 9"),
        ("/v2/models/fraud/versions/x/infer", infer_body(&[1]).to_string(), 400, "'x'"),
        (infer, "{not json".into(), 400, "malformed"),
        (infer, "[]".into(), 400, "malformed"),
        (infer, json!({ "inputs": [] }).to_string(), 400, "no inputs"),
        (infer, card(json!(["a"]), "INT64", json!([1])).to_string(), 400, "INT64"),
        (infer, card(json!([1, 2]), "INT64", json!([3])).to_string(), 400, "shape"),
        (infer, card(json!([1, 2]), "INT64", json!([1, 2])).to_string(), 400, "one value per row"),
        (infer, card(json!([1]), "COMPLEX", json!([1])).to_string(), 400, "COMPLEX"),
        (infer, card(json!([null]), "INT64", json!([1])).to_string(), 400, "card_id"),
        (infer, card(json!(["12x"]), "BYTES", json!([1])).to_string(), 400, "card_id"),
        (
            infer,
            json!({ "inputs": [{ "name": "merchant", "shape": [1], "datatype": "BYTES", "data": ["x"] }] }).to_string(),
            400,
            "lacks key 'card_id'",
        ),
        (
            infer,
            json!({ "inputs": [
                { "name": "card_id", "shape": [1], "datatype": "INT64", "data": [1] },
                { "name": "colour", "shape": [1], "datatype": "BYTES", "data": ["red"] },
            ]}).to_string(),
            400,
            "unknown input 'colour'",
        ),
        (
            infer,
            json!({ "inputs": [
                { "name": "card_id", "shape": [2], "datatype": "INT64", "data": [1, 2] },
                { "name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0] },
            ]}).to_string(),
            400,
            "one value per row",
        ),
        (
            infer,
            json!({ "inputs": [{ "name": "card_id", "shape": [1], "datatype": "INT64", "data": [1] }],
                    "outputs": [{ "name": "score" }] }).to_string(),
            400,
            "unknown output 'score'",
        ),
        (
            "/v1/feature-views/fraud/7/vectors",
            json!({ "entities": { "card_id": [1] } }).to_string(),
            404,
            "fraud",
        ),
        (
            "/v1/feature-views/fraud/1/vectors",
            json!({ "entities": { "card": [1] } }).to_string(),
            400,
            "'card'",
        ),
        (
            "/v1/feature-views/fraud/1/vectors",
            json!({ "keys": { "card_id": [1] } }).to_string(),
            400,
            "keys",
        ),
        ("/v9/nothing", "{}".into(), 404, "no route"),
    ];
    for (url, body, expected, mentions) in cases {
        let (status, answer) = http.call(reqwest::Method::POST, url, Some(&body)).await;
        assert_eq!(status, expected, "{url} {body}: {answer}");
        let message = answer["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{url}: {answer}"));
        assert!(
            message.contains(mentions),
            "{url} {body}: '{message}' lacks '{mentions}'"
        );
    }
    let (status, answer) = http.call(reqwest::Method::DELETE, infer, None).await;
    assert_eq!(status, 405, "{answer}");
    assert!(answer["error"].is_string());

    // A linear model cannot take a missing feature: 422 naming it, not a wrong number.
    let (status, answer) = http
        .post("/v2/models/fraud/versions/1/infer", &infer_body(&[123_456]))
        .await;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("amount"),
        "{answer}"
    );

    let metrics = http.metrics().await;
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
async fn every_error_status_has_a_json_body() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    let (client, infer) = (&http.client, http.url(INFER));
    let too_large = " ".repeat((2 << 20) + 1);
    let cases = [
        (client.post(&infer).body(too_large), 413, "2097152 bytes"),
        (client.get(http.url("/nothing")), 404, "no route"),
        (client.delete(&infer), 405, "DELETE"),
        (
            client.get(http.url("/v1/feature-views/fraud/1/vectors")),
            405,
            "GET",
        ),
        // A path segment that is not UTF-8 once decoded: axum refuses it itself.
        (client.get(http.url("/v2/models/%FF/ready")), 400, ""),
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
