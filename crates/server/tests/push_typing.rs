//! The shared typing rules (`sluice_testkit::coercion`) through HTTP push:
//! each case as one request; a refused case is a 400 naming what file
//! ingest names, an accepted one is stored as file ingest stores it.

use std::net::SocketAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use sluice_testkit::coercion::{assert_all, cases, group_definition, GROUP};
use sluice_types::config::ServerConfig;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_rows_follow_the_shared_typing_rules() {
    let (_dir, store) = sluice_testkit::project_with(&group_definition()).await;
    let store = Arc::new(store);
    let server = sluice_server::start(
        store.clone(),
        ServerConfig::default(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        None,
    )
    .await
    .unwrap();
    let url = format!("http://{}/v1/feature-groups/{GROUP}/1/rows", server.addr);
    let client = reqwest::Client::new();

    let cases = cases();
    let mut refusals = Vec::new();
    for (id, case) in cases.iter().enumerate() {
        let body = json!({ "rows": [case.json_row(id as i64)] });
        let response = client.post(&url).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        let refusal = match status {
            200 => None,
            400 => Some(answer["error"].as_str().unwrap_or_default().to_string()),
            other => panic!("case {id}: status {other}: {answer}"),
        };
        refusals.push(refusal);
    }
    let stored = sluice_testkit::latest_rows(&store, GROUP).await;
    drop(server);
    assert_all(&cases, &stored, &refusals);
}
