//! The server's limits: requests beyond `max_in_flight` refused at once
//! with `Retry-After`, beyond `max_keys_per_request` refused naming the
//! limit, and large requests still answered whole and in order.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{activity_rows, config, infer_body, project, start, INFER_V2, PUSH, VECTORS};
use serde_json::{json, Value};
use sluice_types::config::ServerConfig;

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
    let (server, http) = start(&store, limited).await;

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
        let response = http
            .client
            .post(http.url(INFER_V2))
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
        (VECTORS, json!({ "entities": { "card_id": [1] } })),
        (PUSH, row),
    ] {
        let (status, answer) = http.post(url, &body).await;
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
        let (status, answer) = http.get(path).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }

    // The rest of the body: the held request is answered and its permit returned.
    let (held, answer) = raw_request(Some(held), server.addr, rest.to_string(), true).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
    let (status, answer) = http.infer(INFER_V2, &[1]).await;
    assert_eq!(status, 200, "{answer}");
    let text = http.metrics().await;
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
    let (server, http) = start(&store, limited).await;
    let before = activity_rows(&store).await;
    let cards: Vec<i64> = (0..101).collect();
    let rows: Vec<Value> = cards
        .iter()
        .map(|card| json!({ "card_id": card, "ts": "2026-02-01T00:00:00Z", "amount": 1.0, "merchant": "fuel" }))
        .collect();
    for (url, body) in [
        (INFER_V2, infer_body(&cards)),
        (VECTORS, json!({ "entities": { "card_id": cards } })),
        (PUSH, json!({ "rows": rows })),
    ] {
        let (status, answer) = http.post(url, &body).await;
        assert_eq!(status, 400, "{url}: {answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(
            error.contains("101 keys")
                && error.contains("at most 100")
                && error.contains("max_keys_per_request"),
            "{url}: {error}"
        );
    }
    assert_eq!(activity_rows(&store).await, before);
    let (status, answer) = http.infer(INFER_V2, &cards[..100]).await;
    assert_eq!(status, 200, "the limit itself is taken: {answer}");
    server.stop().await.unwrap();
}

/// Requests with large bodies are served off the worker that read them
/// (see `limits::limit_in_flight`); they answer as any other, in input order,
/// several at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_requests_are_answered_whole_and_in_order() {
    let (_dir, store) = project().await;
    let (server, http) = start(&store, config()).await;
    let cards: Vec<i64> = (0..2_000).map(|i| i % 70).collect();
    let body = json!({ "entities": { "card_id": cards } });
    assert!(
        body.to_string().len() > 4096,
        "large enough to take the large path"
    );
    let answers = futures::future::join_all((0..4).map(|_| http.post(VECTORS, &body))).await;
    for (status, answer) in answers {
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["vectors"].as_array().unwrap().len(), cards.len());
    }
    let (status, single) = http
        .post(
            VECTORS,
            &json!({ "entities": { "card_id": [cards[1234]] } }),
        )
        .await;
    assert_eq!(status, 200, "{single}");
    let (_, all) = http.post(VECTORS, &body).await;
    assert_eq!(
        all["vectors"][1234], single["vectors"][0],
        "row 1234 is card {}",
        cards[1234]
    );
    let (status, answer) = http.infer(INFER_V2, &cards[..1_500]).await;
    assert_eq!(status, 200, "{answer}");
    server.stop().await.unwrap();
}
