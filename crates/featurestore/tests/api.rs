//! The Rust API end to end on the embedded stores, checked against a
//! brute-force model of "newest row per key" and "all rows per (key, time)".

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, AsArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{Float64Type, Int64Type, TimestampMicrosecondType};
use sluice_datagen::{transactions, TransactionsOptions};
use sluice_featurestore::{FeatureGroup, FeatureStore, FeatureView, LookupStatus, NoProgress};
use sluice_testkit::fixtures::Project;
use sluice_types::NameRef;

/// A new project with the example's `transactions` group and nothing else.
async fn project() -> (tempfile::TempDir, FeatureStore) {
    Project::new().applied().await
}

async fn transactions_group(store: &FeatureStore) -> FeatureGroup<'_> {
    store
        .feature_group(&NameRef::parse("transactions").unwrap())
        .await
        .unwrap()
}

async fn spend_view(store: &FeatureStore) -> FeatureView<'_> {
    store
        .feature_view(&NameRef::parse("spend").unwrap())
        .await
        .unwrap()
}

/// [`project`] with [`VIEW`] over its group.
async fn project_with_view() -> (tempfile::TempDir, FeatureStore) {
    Project::new()
        .with_file("features/view.toml", VIEW)
        .applied()
        .await
}

/// (ts, amount) of the newest event per key, ties to the later row.
fn newest_per_key(batches: &[RecordBatch]) -> HashMap<i64, (i64, f64)> {
    let mut newest = HashMap::new();
    for batch in batches {
        let ids = batch.column(0).as_primitive::<Int64Type>();
        let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
        let amount = batch.column(2).as_primitive::<Float64Type>();
        for row in 0..batch.num_rows() {
            let entry = newest.entry(ids.value(row)).or_insert((i64::MIN, 0.0));
            if ts.value(row) >= entry.0 {
                *entry = (ts.value(row), amount.value(row));
            }
        }
    }
    newest
}

#[tokio::test]
async fn pushed_batches_match_the_model_online_and_offline() {
    let (_dir, store) = project().await;
    let fg = transactions_group(&store).await;
    // Recent events so that the example's 30-day TTL keeps them PRESENT.
    let options = TransactionsOptions::new(20_000)
        .with_keys(1_500)
        .ending_at(chrono::Utc::now().timestamp_micros());
    let batches: Vec<RecordBatch> = transactions(TransactionsOptions {
        batch_size: 4_096,
        ..options
    })
    .collect();
    let metrics = fg
        .ingest_batches(batches.clone(), "generated", &NoProgress)
        .await
        .unwrap();
    assert_eq!(metrics.rows, 20_000);
    assert_eq!(metrics.offline_rows_inserted, 20_000);

    let model = newest_per_key(&batches);
    let mut keys: Vec<i64> = model.keys().copied().collect();
    keys.sort();
    keys.push(-5);
    let request = RecordBatch::try_new(
        fg.spec().key_schema(),
        vec![Arc::new(Int64Array::from(keys.clone()))],
    )
    .unwrap();
    let read = fg.lookup(&request).await.unwrap();
    let ts = read
        .rows
        .column(1)
        .as_primitive::<TimestampMicrosecondType>();
    let amount = read.rows.column(2).as_primitive::<Float64Type>();
    for (row, key) in keys.iter().enumerate() {
        match model.get(key) {
            Some((newest_ts, newest_amount)) => {
                assert_eq!(read.status[row], LookupStatus::Present, "key {key}");
                assert_eq!(
                    (ts.value(row), amount.value(row)),
                    (*newest_ts, *newest_amount),
                    "key {key}"
                );
            }
            None => assert_eq!(read.status[row], LookupStatus::Missing),
        }
    }

    let stored = sluice_testkit::latest_rows(&store, "transactions").await;
    let mut stored_rows: Vec<(i64, i64, u64)> = Vec::new();
    let mut input_rows: Vec<(i64, i64, u64)> = Vec::new();
    for (target, source) in [(&mut stored_rows, &stored), (&mut input_rows, &batches)] {
        for batch in source.iter() {
            let ids = batch.column(0).as_primitive::<Int64Type>();
            let ts = batch.column(1).as_primitive::<TimestampMicrosecondType>();
            let amount = batch.column(2).as_primitive::<Float64Type>();
            target.extend(
                (0..batch.num_rows())
                    .map(|i| (ids.value(i), ts.value(i), amount.value(i).to_bits())),
            );
        }
    }
    stored_rows.sort();
    input_rows.sort();
    assert_eq!(
        stored_rows, input_rows,
        "the offline store holds exactly the ingested rows"
    );
    assert_eq!(fg.count_rows().await.unwrap(), 20_000);
}

#[tokio::test]
async fn a_bad_pushed_batch_writes_nothing() {
    let (_dir, store) = project().await;
    let fg = transactions_group(&store).await;
    let good: RecordBatch = transactions(TransactionsOptions::new(100)).next().unwrap();
    let mut columns = good.columns().to_vec();
    let amounts: Float64Array = (0..100).map(|i| (i != 42).then_some(1.0)).collect();
    columns[2] = Arc::new(amounts);
    let mut fields: Vec<arrow::datatypes::Field> = good
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[2] = fields[2].clone().with_nullable(true);
    let bad =
        RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), columns).unwrap();
    let err = fg
        .ingest_batches(vec![good, bad], "pushed", &NoProgress)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "pushed: row 143: column 'amount' is null but the column is not nullable"
    );
    assert_eq!(fg.count_rows().await.unwrap(), 0);
    assert!(fg.describe().await.unwrap().commits.is_empty());
    let key = RecordBatch::try_new(
        fg.spec().key_schema(),
        vec![Arc::new(Int64Array::from(vec![0]))],
    )
    .unwrap();
    let read = fg.lookup(&key).await.unwrap();
    assert!(read.rows.column(2).is_null(0));
}

const VIEW: &str = r#"
[[feature_view]]
name = "spend"
version = 1
joins = [{ feature_group = "transactions:1", on = { account = "account_id" }, select = ["amount", "quantity", "category"] }]
request = [{ name = "paid", type = "float64" }]
on_demand = [
  { name = "paid_over_amount", expr = "paid - coalesce(amount, 0)" },
  { name = "is_food", expr = "category = 'food'", type = "bool" },
  { name = "at_hour", expr = "date_part('hour', request_time)", type = "int64" },
]
"#;

#[tokio::test]
async fn online_vectors_equal_the_as_of_now_batch_rows() {
    let (_dir, store) = project_with_view().await;
    let fg = transactions_group(&store).await;
    let now = chrono::Utc::now();
    let options = TransactionsOptions::new(6_000)
        .with_keys(400)
        .ending_at(now.timestamp_micros() - 1_000_000);
    fg.ingest_batches(transactions(options), "generated", &NoProgress)
        .await
        .unwrap();

    let view = spend_view(&store).await;
    let accounts: Vec<i64> = (-3..420).collect();
    let keys = RecordBatch::try_from_iter([(
        "account",
        Arc::new(Int64Array::from(accounts.clone())) as _,
    )])
    .unwrap();
    // The request-time value is required online.
    let err = view.online_vectors(&keys, None).await.unwrap_err();
    assert!(
        err.to_string().contains("request-time value 'paid'"),
        "{err}"
    );
    let paid: Vec<f64> = accounts.iter().map(|a| (a * 3 % 50) as f64).collect();
    let given =
        RecordBatch::try_from_iter([("paid", Arc::new(Float64Array::from(paid.clone())) as _)])
            .unwrap();
    let online = store
        .online_vectors(&view.resolved(), &keys, Some(&given), now)
        .await
        .unwrap();

    let times =
        arrow::array::TimestampMicrosecondArray::from(vec![now.timestamp_micros(); accounts.len()])
            .with_timezone("UTC");
    let spine = RecordBatch::try_from_iter([
        ("account", Arc::new(Int64Array::from(accounts.clone())) as _),
        ("at", Arc::new(times) as _),
        ("paid", Arc::new(Float64Array::from(paid.clone())) as _),
    ])
    .unwrap();
    let batch = view.features_for(&spine, "at").await.unwrap();

    // On-demand values against the expressions computed here by hand.
    let amounts = online
        .rows
        .column_by_name("amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    let over = online
        .rows
        .column_by_name("paid_over_amount")
        .unwrap()
        .as_primitive::<Float64Type>();
    let categories = online
        .rows
        .column_by_name("category")
        .unwrap()
        .as_string::<i32>();
    let is_food = online.rows.column_by_name("is_food").unwrap().as_boolean();
    let hours = online
        .rows
        .column_by_name("at_hour")
        .unwrap()
        .as_primitive::<Int64Type>();
    for (row, paid) in paid.iter().enumerate() {
        let amount = if amounts.is_null(row) {
            0.0
        } else {
            amounts.value(row)
        };
        assert_eq!(over.value(row), paid - amount);
        assert_eq!(
            is_food.is_valid(row).then(|| is_food.value(row)),
            categories
                .is_valid(row)
                .then(|| categories.value(row) == "food")
        );
        assert_eq!(hours.value(row), i64::from(chrono::Timelike::hour(&now)));
    }

    assert_eq!(online.rows.num_columns(), 7);
    for (index, field) in online.rows.schema().fields().iter().enumerate() {
        let offline = batch.column_by_name(field.name()).unwrap();
        assert_eq!(
            offline.data_type(),
            field.data_type(),
            "{} has the same type online and offline",
            field.name()
        );
        assert_eq!(
            online.rows.column(index).as_ref(),
            offline.as_ref(),
            "{} differs between online and batch",
            field.name()
        );
    }
    let (group, status) = &online.status[0];
    assert_eq!(group, "transactions:1");
    let present = status
        .iter()
        .filter(|s| **s == LookupStatus::Present)
        .count();
    assert_eq!(
        present,
        batch.column_by_name("amount").unwrap().len()
            - batch.column_by_name("amount").unwrap().null_count()
    );
    assert!(
        status[..3].iter().all(|s| *s == LookupStatus::Missing),
        "negative accounts do not exist"
    );
}

#[tokio::test]
async fn bad_on_demand_features_are_refused_at_apply_with_the_feature_named() {
    let (dir, store) = project().await;
    for (from, to, expected) in [
        (
            "paid - coalesce(amount, 0)",
            "paid * fx_rate",
            "on-demand feature 'paid_over_amount'",
        ),
        ("paid - coalesce(amount, 0)", "paid * fx_rate", "fx_rate"),
        (
            "date_part('hour', request_time)\", type = \"int64\"",
            "request_time\", type = \"bool\"",
            "cannot become bool",
        ),
        (
            "name = \"at_hour\"",
            "name = \"amount\"",
            "'amount' has the name of another column",
        ),
    ] {
        let text = VIEW.replace(from, to);
        assert_ne!(text, VIEW, "{from}");
        std::fs::write(dir.path().join("features/view.toml"), &text).unwrap();
        let err = store.plan().await.unwrap_err().to_string();
        assert!(
            err.contains("spend:1") && err.contains(expected),
            "expected {expected} in: {err}"
        );
    }
    assert!(store.feature_views().await.unwrap().is_empty());
}

/// Past the join's memory budget the feature tables are spilled to disk by
/// key hash and joined in parts: the answer is the same as in memory, in
/// spine order, and the spill files are gone afterwards.
#[tokio::test]
async fn a_join_over_its_memory_budget_spills_and_gives_the_same_rows() {
    let (_dir, mut store) = project_with_view().await;
    let fg = transactions_group(&store).await;
    let options = TransactionsOptions::new(20_000)
        .with_keys(300)
        .ending_at(1_700_000_000_000_000);
    fg.ingest_batches(transactions(options), "generated", &NoProgress)
        .await
        .unwrap();

    // Spine rows in no particular order, over known and unknown accounts.
    let rows = 3_000i64;
    let accounts: Vec<i64> = (0..rows).map(|i| (i * 7919) % 320 - 10).collect();
    let times: Vec<i64> = (0..rows)
        .map(|i| 1_700_000_000_000_000 - ((i * 104_729) % 25_000) * 1_000_000)
        .collect();
    let spine = RecordBatch::try_from_iter([
        ("account", Arc::new(Int64Array::from(accounts)) as _),
        (
            "at",
            Arc::new(arrow::array::TimestampMicrosecondArray::from(times).with_timezone("UTC"))
                as _,
        ),
        (
            "paid",
            Arc::new(Float64Array::from(vec![1.0; rows as usize])) as _,
        ),
    ])
    .unwrap();
    let in_memory = {
        let view = spend_view(&store).await;
        view.features_for(&spine, "at").await.unwrap()
    };
    let found = in_memory.column_by_name("amount").unwrap();
    assert!(
        found.null_count() > 0 && found.null_count() < found.len(),
        "the spine must both find and miss rows"
    );

    store.set_join_budget(16 * 1024);
    let spilled = {
        let view = spend_view(&store).await;
        view.features_for(&spine, "at").await.unwrap()
    };
    assert_eq!(spilled, in_memory);
    let spill_dir = store.work_dir().join("spill");
    assert_eq!(
        std::fs::read_dir(&spill_dir).unwrap().count(),
        0,
        "spill files are removed after the join"
    );
}
