//! API keys: reads and writes need a key of their scope, probes and
//! scrapers need none, and a server without keys says it is open.

mod common;

use common::{config, infer_body, project, start, INFER, PUSH};
use serde_json::{json, Value};
use sluice_types::config::{ApiKeyConfig, ServerConfig};

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
    let (server, http) = start(&store, keyed).await;
    assert!(!server.banner.iter().any(|l| l.contains("WARNING")));
    let (infer, push) = (http.url(INFER), http.url(PUSH));
    let row = json!({ "rows": [{ "card_id": 5, "ts": "2026-02-01T00:00:00Z", "amount": 12.5, "merchant": "fuel", "tx_count": 2 }] });
    let send = |url: &str, key: Option<(&str, &str)>, body: &Value| {
        let mut request = http.client.post(url).body(body.to_string());
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
    assert_eq!(http.get("/v2/health/ready").await.0, 200);
    assert_eq!(http.get("/metrics").await.0, 200);
    server.stop().await.unwrap();

    let (open, _) = start(&store, config()).await;
    assert!(open
        .banner
        .iter()
        .any(|l| l.contains("WARNING") && l.contains("open")));
    open.stop().await.unwrap();
}
