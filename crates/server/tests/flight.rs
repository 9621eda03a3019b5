//! Arrow Flight and Flight SQL against the store's own answers: every
//! ticket, `do_exchange` and `do_put` compared with the Rust API's result
//! for the same request, and the refusals with their gRPC codes.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::SchemaRef;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::{FlightClient, FlightDescriptor, Ticket};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use sluice_featurestore::{FeatureStore, ReadAt, Selection};
use sluice_server::RunningServer;
use sluice_types::config::{ApiKeyConfig, ServerConfig};
use sluice_types::NameRef;
use tonic::transport::Channel;
use tonic::Code;

use common::{fraud, CARDS};

async fn serve(store: &Arc<FeatureStore>, config: ServerConfig) -> (RunningServer, Channel) {
    let server = sluice_server::start(
        store.clone(),
        config,
        SocketAddr::from(([127, 0, 0, 1], 0)),
        Some(SocketAddr::from(([127, 0, 0, 1], 0))),
    )
    .await
    .unwrap();
    let url = format!("http://{}", server.flight_addr.unwrap());
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    (server, channel)
}

/// The fraud project served with the default settings, and a client channel.
async fn served() -> (tempfile::TempDir, Arc<FeatureStore>, RunningServer, Channel) {
    let (dir, store) = fraud().build().await;
    let store = Arc::new(store);
    let (server, channel) = serve(&store, ServerConfig::default()).await;
    (dir, store, server, channel)
}

fn ticket(value: serde_json::Value) -> Ticket {
    Ticket::new(serde_json::to_vec(&value).unwrap())
}

async fn get(
    client: &mut FlightClient,
    value: serde_json::Value,
) -> Result<RecordBatch, FlightError> {
    let batches: Vec<RecordBatch> = client.do_get(ticket(value)).await?.try_collect().await?;
    let schema = batches
        .first()
        .map(|b| b.schema())
        .unwrap_or_else(|| Arc::new(arrow::datatypes::Schema::empty()));
    Ok(concat_batches(&schema, &batches).unwrap())
}

fn code(error: FlightError) -> (Code, String) {
    match error {
        FlightError::Tonic(status) => (status.code(), status.message().to_string()),
        other => panic!("not a gRPC status: {other}"),
    }
}

async fn selected(store: &FeatureStore, name: &str, selection: Selection) -> RecordBatch {
    let group = store
        .feature_group(&NameRef::parse(name).unwrap())
        .await
        .unwrap();
    let (schema, rows) = group.select(selection).await.unwrap();
    let batches: Vec<RecordBatch> = rows.try_collect().await.unwrap();
    concat_batches(&schema, &batches).unwrap()
}

fn sorted_by_card(batch: &RecordBatch) -> RecordBatch {
    let order =
        arrow::compute::sort_to_indices(batch.column_by_name("card_id").unwrap(), None, None)
            .unwrap();
    arrow::compute::take_record_batch(batch, &order).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_rows_match_the_store_with_columns_keys_limit_and_time_travel() {
    let (_dir, store, server, channel) = served().await;
    let mut client = FlightClient::new(channel);

    let all = get(&mut client, json!({"feature_group": {"name": "activity"}}))
        .await
        .unwrap();
    let expected = selected(&store, "activity", Selection::default()).await;
    assert_eq!(all.num_rows(), CARDS as usize);
    assert_eq!(sorted_by_card(&all), sorted_by_card(&expected));

    let picked = get(
        &mut client,
        json!({"feature_group": {"name": "activity:1", "columns": ["amount", "card_id"], "keys": {"card_id": [3, 1, 999999]}}}),
    )
    .await
    .unwrap();
    let names: Vec<String> = picked
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["amount", "card_id"]);
    let cards = picked
        .column(1)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    let mut found: Vec<i64> = cards.values().to_vec();
    found.sort();
    assert_eq!(found, [1, 3], "only the existing requested keys");
    let full = sorted_by_card(&expected);
    for row in 0..picked.num_rows() {
        let card = cards.value(row) as usize;
        let amount = picked
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap()
            .value(row);
        let want = full
            .column_by_name("amount")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow::array::Float64Array>()
            .unwrap()
            .value(card);
        assert_eq!(amount, want, "card {card}");
    }

    let limited = get(
        &mut client,
        json!({"feature_group": {"name": "activity", "limit": 7}}),
    )
    .await
    .unwrap();
    assert_eq!(limited.num_rows(), 7);

    // A second commit; commit 0 still reads the first state.
    let newer =
        fraud().activity_rows(&[(0, sluice_testkit::fixtures::T0 + 5_000_000, 1.5, "online")]);
    sluice_testkit::fixtures::ingest(&store, "activity", newer).await;
    let now = get(&mut client, json!({"feature_group": {"name": "activity"}}))
        .await
        .unwrap();
    let then = get(
        &mut client,
        json!({"feature_group": {"name": "activity", "commit": 0}}),
    )
    .await
    .unwrap();
    assert_eq!(now.num_rows(), CARDS as usize + 1);
    assert_eq!(sorted_by_card(&then), sorted_by_card(&expected));
    let at_first = selected(
        &store,
        "activity",
        Selection {
            at: ReadAt::Version(0),
            ..Selection::default()
        },
    )
    .await;
    assert_eq!(sorted_by_card(&then), sorted_by_card(&at_first));
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn training_splits_and_exchanged_spines_match_the_store() {
    let (_dir, store, server, channel) = served().await;
    let mut client = FlightClient::new(channel);
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();

    for split in ["train", "test"] {
        let got = get(
            &mut client,
            json!({"training_dataset": {"feature_view": "fraud", "version": 1, "split": split}}),
        )
        .await
        .unwrap();
        let expected = view.read_training_data(1, split).await.unwrap();
        assert_eq!(got, expected, "split {split}");
    }

    // A spine in no particular order with a card the project does not know.
    let spine_cards = [17_i64, CARDS + 5, 3, 17];
    let spine = RecordBatch::try_from_iter([
        (
            "card_id",
            Arc::new(Int64Array::from(spine_cards.to_vec())) as Arc<dyn Array>,
        ),
        (
            "ts",
            sluice_testkit::fixtures::utc(vec![
                sluice_testkit::fixtures::T0 + 10_000_000;
                spine_cards.len()
            ]),
        ),
    ])
    .unwrap();
    let command = json!({"features": {"feature_view": "fraud"}});
    let upload = FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_cmd(
            serde_json::to_vec(&command).unwrap(),
        )))
        .build(futures::stream::iter([
            Ok(spine.slice(0, 2)),
            Ok(spine.slice(2, 2)),
        ]));
    let answer: Vec<RecordBatch> = client
        .do_exchange(upload)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let answer = concat_batches(&answer[0].schema(), &answer).unwrap();
    let expected = view
        .features_for_batches(std::slice::from_ref(&spine), "ts", "spine")
        .await
        .unwrap();
    assert_eq!(answer, expected);
    assert_eq!(answer.num_rows(), spine_cards.len());
    let cards = answer
        .column_by_name("card_id")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap();
    assert_eq!(
        cards.values().to_vec(),
        spine_cards.to_vec(),
        "spine order kept"
    );
    let amount = answer.column_by_name("amount").unwrap();
    assert!(amount.is_null(1), "the unknown card has no features");
    assert!(!amount.is_null(0));

    // Arrow C++ (pyarrow) opens with a message holding only the descriptor.
    let opening = arrow_flight::FlightData {
        flight_descriptor: Some(FlightDescriptor::new_cmd(
            serde_json::to_vec(&command).unwrap(),
        )),
        ..Default::default()
    };
    let data = FlightDataEncoderBuilder::new().build(futures::stream::iter([Ok(spine.clone())]));
    let upload = futures::stream::iter([Ok(opening)]).chain(data);
    let again: Vec<RecordBatch> = client
        .do_exchange(upload)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        concat_batches(&again[0].schema(), &again).unwrap(),
        expected
    );
    server.stop().await.unwrap();
}

async fn commits(store: &FeatureStore, name: &str) -> usize {
    store
        .feature_group(&NameRef::parse(name).unwrap())
        .await
        .unwrap()
        .describe()
        .await
        .unwrap()
        .commits
        .len()
}

fn put_stream(
    group: &str,
    batches: Vec<RecordBatch>,
) -> impl futures::Stream<Item = Result<arrow_flight::FlightData, FlightError>> + Send + 'static {
    let command = json!({"insert": {"feature_group": group}});
    FlightDataEncoderBuilder::new()
        .with_flight_descriptor(Some(FlightDescriptor::new_cmd(
            serde_json::to_vec(&command).unwrap(),
        )))
        .build(futures::stream::iter(batches.into_iter().map(Ok)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_ingests_all_or_nothing() {
    let (_dir, store, server, channel) = served().await;
    let mut client = FlightClient::new(channel);
    let before = commits(&store, "activity").await;
    let t = sluice_testkit::fixtures::T0 + 60_000_000;
    let rows = fraud().activity_rows(&[(1, t, 10.0, "online"), (2, t, 20.0, "grocery")]);
    let results: Vec<_> = client
        .do_put(put_stream("activity", vec![rows.clone()]))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let metrics: serde_json::Value = serde_json::from_slice(&results[0].app_metadata).unwrap();
    assert_eq!(metrics["rows"], 2);
    assert_eq!(metrics["committed"], true);
    assert_eq!(commits(&store, "activity").await, before + 1);
    let read = get(
        &mut client,
        json!({"feature_group": {"name": "activity", "keys": {"card_id": [1, 2]}}}),
    )
    .await
    .unwrap();
    assert_eq!(read.num_rows(), 4, "the old and the new row of each card");

    // A column the group lacks: nothing written.
    let extra = RecordBatch::try_from_iter([
        (
            "card_id",
            Arc::new(Int64Array::from(vec![5])) as Arc<dyn Array>,
        ),
        ("ts", sluice_testkit::fixtures::utc(vec![t])),
        (
            "colour",
            Arc::new(arrow::array::StringArray::from(vec!["red"])) as Arc<dyn Array>,
        ),
    ])
    .unwrap();
    let refused = async {
        client
            .do_put(put_stream("activity", vec![extra]))
            .await?
            .try_collect::<Vec<_>>()
            .await
    }
    .await
    .unwrap_err();
    let (status, message) = code(refused);
    assert_eq!(status, Code::InvalidArgument, "{message}");
    assert!(
        message.contains("batch 1") && message.contains("colour"),
        "{message}"
    );
    assert_eq!(commits(&store, "activity").await, before + 1);

    // Amounts sent as text: the first batch's parse, the second's does not,
    // and the error names that batch, its row and the column.
    let texts = |card: i64, amount: &str| {
        RecordBatch::try_from_iter([
            (
                "card_id",
                Arc::new(Int64Array::from(vec![card, card + 1])) as Arc<dyn Array>,
            ),
            ("ts", sluice_testkit::fixtures::utc(vec![t, t])),
            (
                "amount",
                Arc::new(arrow::array::StringArray::from(vec!["12.5", amount])) as Arc<dyn Array>,
            ),
            (
                "merchant",
                Arc::new(arrow::array::StringArray::from(vec!["online", "online"]))
                    as Arc<dyn Array>,
            ),
            (
                "tx_count",
                Arc::new(Int64Array::from(vec![None, Some(2)])) as Arc<dyn Array>,
            ),
        ])
        .unwrap()
    };
    let refused = async {
        client
            .do_put(put_stream(
                "activity",
                vec![texts(5, "7"), texts(7, "lots")],
            ))
            .await?
            .try_collect::<Vec<_>>()
            .await
    }
    .await
    .unwrap_err();
    let (status, message) = code(refused);
    assert_eq!(status, Code::InvalidArgument, "{message}");
    for named in ["batch 2", "row 2", "amount", "lots"] {
        assert!(message.contains(named), "{named}: {message}");
    }
    assert_eq!(commits(&store, "activity").await, before + 1);
    server.stop().await.unwrap();
}

async fn sql(
    client: &mut FlightSqlServiceClient<Channel>,
    query: &str,
) -> Result<RecordBatch, FlightError> {
    let info = client.execute(query.to_string(), None).await?;
    let schema: SchemaRef = Arc::new(info.clone().try_decode_schema()?);
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client.do_get(endpoint.ticket.unwrap()).await?;
        batches.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(concat_batches(&schema, &batches).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flight_sql_reads_and_refuses_writes() {
    let (_dir, store, server, channel) = served().await;
    let mut client = FlightSqlServiceClient::new(channel.clone());
    let expected = selected(&store, "activity", Selection::default()).await;

    let count = sql(&mut client, "SELECT count(*) AS n FROM activity")
        .await
        .unwrap();
    let n = count
        .column(0)
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .value(0);
    assert_eq!(n, expected.num_rows() as i64);

    // A filter against a brute-force count of the same rows.
    let amounts = expected
        .column_by_name("amount")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::Float64Array>()
        .unwrap();
    let big = amounts.values().iter().filter(|a| **a > 500.0).count() as i64;
    let filtered = sql(
        &mut client,
        "SELECT count(*) FROM activity_v1 WHERE amount > 500",
    )
    .await
    .unwrap();
    assert_eq!(
        filtered
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        big
    );

    // A join of two groups and the training split's table.
    let joined = sql(
        &mut client,
        "SELECT count(*) FROM activity a JOIN labels l ON a.card_id = l.card_id",
    )
    .await
    .unwrap();
    assert_eq!(
        joined
            .column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        CARDS
    );
    let view = store
        .feature_view(&NameRef::parse("fraud").unwrap())
        .await
        .unwrap();
    let train = view.read_training_data(1, "train").await.unwrap();
    let rows = sql(&mut client, "SELECT count(*) FROM fraud_v1_td1_train")
        .await
        .unwrap();
    assert_eq!(
        rows.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        train.num_rows() as i64
    );

    for statement in [
        "DROP TABLE activity",
        "INSERT INTO activity SELECT * FROM activity",
        "CREATE TABLE x AS SELECT 1",
        "SELEC 1",
    ] {
        let (status, message) = code(sql(&mut client, statement).await.unwrap_err());
        assert_eq!(status, Code::InvalidArgument, "{statement}: {message}");
    }
    let (status, _) = code(
        client
            .execute_update("DELETE FROM activity".into(), None)
            .await
            .unwrap_err(),
    );
    assert_eq!(status, Code::InvalidArgument);
    let (status, message) = code(sql(&mut client, "SELECT * FROM nowhere").await.unwrap_err());
    assert_eq!(status, Code::InvalidArgument);
    assert!(message.contains("nowhere"), "{message}");
    assert_eq!(commits(&store, "activity").await, 1);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catalog_flights_and_refusals_carry_grpc_codes() {
    let (_dir, store, server, channel) = served().await;
    let mut client = FlightClient::new(channel);

    let flights: Vec<_> = client
        .list_flights(Bytes::new())
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let described: Vec<(String, i64)> = flights
        .iter()
        .map(|f| {
            (
                String::from_utf8(f.endpoint[0].ticket.as_ref().unwrap().ticket.to_vec()).unwrap(),
                f.total_records,
            )
        })
        .collect();
    assert!(
        described
            .iter()
            .any(|(t, n)| t.contains("\"activity:1\"") && *n == CARDS),
        "{described:?}"
    );
    assert!(
        described
            .iter()
            .any(|(t, _)| t.contains("\"batch_features\"")),
        "{described:?}"
    );
    let train = store
        .registry()
        .training_dataset("fraud", 1, 1)
        .await
        .unwrap()
        .spec
        .splits
        .iter()
        .find(|s| s.name == "train")
        .unwrap()
        .rows as i64;
    assert!(
        described
            .iter()
            .any(|(t, n)| t.contains("\"train\"") && *n == train),
        "{described:?}"
    );
    let schema = client
        .get_schema(FlightDescriptor::new_path(vec!["labels".into()]))
        .await
        .unwrap();
    assert_eq!(schema.field(2).name(), "is_fraud");

    let cases = [
        (
            json!({"feature_group": {"name": "nowhere"}}),
            Code::NotFound,
            "nowhere",
        ),
        (
            json!({"feature_group": {"name": "activity", "columns": ["colour"]}}),
            Code::InvalidArgument,
            "colour",
        ),
        (
            json!({"feature_group": {"name": "activity", "as_of": "yesterday"}}),
            Code::InvalidArgument,
            "yesterday",
        ),
        (
            json!({"feature_group": {"name": "activity", "nmae": 1}}),
            Code::InvalidArgument,
            "nmae",
        ),
        (
            json!({"training_dataset": {"feature_view": "fraud", "version": 1, "split": "dev"}}),
            Code::InvalidArgument,
            "dev",
        ),
        (
            json!({"training_dataset": {"feature_view": "fraud", "version": 9, "split": "train"}}),
            Code::NotFound,
            "9",
        ),
    ];
    for (request, expected, named) in cases {
        let (status, message) = code(get(&mut client, request.clone()).await.unwrap_err());
        assert_eq!(status, expected, "{request}: {message}");
        assert!(message.contains(named), "{request}: {message}");
    }
    let (status, _) = code(
        client
            .do_get(Ticket::new(b"{not json".to_vec()))
            .await
            .and(Ok(()))
            .unwrap_err(),
    );
    assert_eq!(status, Code::InvalidArgument);
    server.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_and_scopes_apply_to_flight() {
    let (dir, store) = fraud().build().await;
    let (_dir, store) = (dir, Arc::new(store));
    let key = |key: &str, scopes: &[&str]| ApiKeyConfig {
        key: Some(key.into()),
        key_env: None,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
    };
    let config = ServerConfig {
        api_keys: vec![
            key("reader-key-0123456789", &["read"]),
            key("writer-key-0123456789", &["read", "write"]),
        ],
        ..ServerConfig::default()
    };
    let (server, channel) = serve(&store, config).await;
    let request = json!({"feature_group": {"name": "labels", "limit": 1}});

    let mut anonymous = FlightClient::new(channel.clone());
    assert_eq!(
        code(get(&mut anonymous, request.clone()).await.unwrap_err()).0,
        Code::Unauthenticated
    );
    let mut wrong = FlightClient::new(channel.clone());
    wrong
        .add_header("authorization", "Bearer not-a-key-at-all-0000")
        .unwrap();
    assert_eq!(
        code(get(&mut wrong, request.clone()).await.unwrap_err()).0,
        Code::Unauthenticated
    );

    let mut reader = FlightClient::new(channel.clone());
    reader
        .add_header("authorization", "Bearer reader-key-0123456789")
        .unwrap();
    assert_eq!(
        get(&mut reader, request.clone()).await.unwrap().num_rows(),
        1
    );
    let t = sluice_testkit::fixtures::T0 + 60_000_000;
    let rows = fraud().activity_rows(&[(1, t, 10.0, "online")]);
    let refused = async {
        reader
            .do_put(put_stream("activity", vec![rows.clone()]))
            .await?
            .try_collect::<Vec<_>>()
            .await
    }
    .await
    .unwrap_err();
    assert_eq!(code(refused).0, Code::PermissionDenied);
    assert_eq!(commits(&store, "activity").await, 1);

    let mut writer = FlightClient::new(channel);
    writer
        .add_header("x-api-key", "writer-key-0123456789")
        .unwrap();
    writer
        .do_put(put_stream("activity", vec![rows]))
        .await
        .unwrap()
        .try_collect::<Vec<_>>()
        .await
        .unwrap();
    assert_eq!(commits(&store, "activity").await, 2);
    server.stop().await.unwrap();
}
