//! Feature vectors and predictions over HTTP equal the batch ones: the
//! online store against `features_as_of`, served models against batch
//! inference as of the same time, and passed values against looked-up ones.

mod common;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Float64Type, Int64Type};
use common::{config, project, start, CARDS, INFER, INFER_V2, VECTORS};
use serde_json::{json, Value};
use sluice_featurestore::NoProgress;
use sluice_pipelines::{predict, PredictInput, PredictOptions};
use sluice_testkit::{floats, primitive};
use sluice_types::NameRef;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn online_vectors_and_predictions_equal_batch_ones() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    // Unordered, repeated and unknown keys: answers keep request order.
    let cards: Vec<i64> = vec![17, 3, 1_999, 3, 0, 7, 123_456];
    let (status, answer) = http
        .post(VECTORS, &json!({ "entities": { "card_id": cards } }))
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
    let amount = primitive::<Float64Type>(&batch, "amount");
    let merchant = batch.column_by_name("merchant").unwrap().as_string::<i32>();
    let count = primitive::<Int64Type>(&batch, "tx_count");
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
    let (status, answer) = http.infer(INFER_V2, &known).await;
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
        let offline = primitive::<Float64Type>(&batch, "prediction")
            .values()
            .to_vec();
        let served = if model == "fraud:2" {
            online.clone()
        } else {
            // No version in the path: the production alias (version 1).
            let (status, answer) = http.infer(INFER, &known).await;
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
    let (status, answer) = http
        .post(
            INFER_V2,
            &json!({ "inputs": [
                { "name": "card_id", "shape": [2], "datatype": "INT64", "data": [3, 5] },
                { "name": "amount", "shape": [2, 1], "datatype": "FP64", "data": [[999.0], [1.0]] },
            ]}),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let passed = floats(&answer["outputs"][0]["data"]);
    let (status, plain) = http.infer(INFER_V2, &[3, 5]).await;
    assert_eq!(status, 200);
    assert_ne!(passed, floats(&plain["outputs"][0]["data"]));
    server.stop().await.unwrap();
}
