//! Rows pushed over HTTP: checked as file ingest checks them (a refused
//! push writes nothing) and served once accepted.

mod common;

use common::{activity_rows, config, project, start, PUSH, VECTORS};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_rows_are_checked_like_ingest_and_served() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    let before = activity_rows(&store).await;
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
        let (status, answer) = http.post(PUSH, &body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        let message = answer["error"].as_str().unwrap();
        assert!(message.contains(mentions), "'{message}' lacks '{mentions}'");
    }
    assert_eq!(
        activity_rows(&store).await,
        before,
        "a rejected push wrote rows"
    );
    let (status, answer) = http
        .post("/v1/feature-groups/nope/1/rows", &json!({ "rows": [{}] }))
        .await;
    assert_eq!(status, 404, "{answer}");

    let (status, answer) = http.post(
        PUSH,
        &json!({ "rows": [{ "card_id": 42, "ts": "2026-03-01T00:00:00Z", "amount": 777.25, "merchant": "travel", "tx_count": null }] }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["rows"], 1);
    let (_, vectors) = http
        .post(VECTORS, &json!({ "entities": { "card_id": [42] } }))
        .await;
    assert_eq!(vectors["vectors"], json!([[777.25, "travel", null]]));
    server.stop().await.unwrap();
}
