//! The project `sluice-bench serve` loads: one online group of
//! [`FEATURES`] float features over many keys, its labels, a feature view
//! over both, and a 100-round GBDT trained on it and aliased `production`.

use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Result;
use arrow::array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use chrono::Utc;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sluice_featurestore::{FeatureStore, NoProgress, TrainingDataOptions};
use sluice_pipelines::{train, TrainOptions};
use sluice_types::{NameRef, Split};

/// Features per key, all float64.
pub const FEATURES: usize = 50;

/// The definitions file of the project.
pub fn definitions() -> String {
    let mut text = String::from(
        "[[feature_group]]\nname = \"wide_labels\"\nversion = 1\nprimary_key = [\"card_id\"]\nevent_time = \"ts\"\nonline = false\ncolumns = [\n  { name = \"card_id\", type = \"int64\" },\n  { name = \"ts\", type = \"timestamp\" },\n  { name = \"label\", type = \"bool\" },\n]\n\n[[feature_group]]\nname = \"wide\"\nversion = 1\nprimary_key = [\"card_id\"]\nevent_time = \"ts\"\nonline = true\ncolumns = [\n  { name = \"card_id\", type = \"int64\" },\n  { name = \"ts\", type = \"timestamp\" },\n",
    );
    for i in 0..FEATURES {
        let _ = writeln!(text, "  {{ name = \"f{i}\", type = \"float64\" }},");
    }
    text.push_str("]\n\n[[feature_view]]\nname = \"wide\"\nversion = 1\nspine = \"wide_labels:1\"\nlabels = [\"label\"]\njoins = [{ feature_group = \"wide:1\", on = [\"card_id\"] }]\n");
    text
}

/// Ingests the features and labels, trains a 100-round GBDT and aliases it; returns its rounds.
pub async fn build_model(store: &FeatureStore, keys: i64) -> Result<usize> {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let at = Utc::now().timestamp_micros() - 3_600_000_000;
    let ts_type = DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, Some("UTC".into()));
    let mut fields = vec![
        Field::new("card_id", DataType::Int64, false),
        Field::new("ts", ts_type.clone(), false),
    ];
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..keys)),
        Arc::new(
            arrow::array::TimestampMicrosecondArray::from_value(at, keys as usize)
                .with_timezone("UTC"),
        ),
    ];
    let mut values: Vec<Vec<f64>> = Vec::new();
    for i in 0..FEATURES {
        let column: Vec<f64> = (0..keys).map(|_| rng.random_range(0.0..1.0)).collect();
        fields.push(Field::new(format!("f{i}"), DataType::Float64, false));
        columns.push(Arc::new(Float64Array::from(column.clone())));
        values.push(column);
    }
    let features = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    let labelled = keys.min(20_000) as usize;
    let labels: Vec<bool> = (0..labelled)
        .map(|k| values[0][k] + values[1][k] * values[2][k] + rng.random_range(-0.2..0.2) > 0.8)
        .collect();
    let labels = RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("card_id", DataType::Int64, false),
            Field::new("ts", ts_type, false),
            Field::new("label", DataType::Boolean, false),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(0..labelled as i64)),
            Arc::new(
                arrow::array::TimestampMicrosecondArray::from_value(at + 1, labelled)
                    .with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from(labels)),
        ],
    )?;
    for (group, batch) in [("wide", features), ("wide_labels", labels)] {
        store
            .feature_group(&NameRef::parse(group)?)
            .await?
            .ingest_batches([batch], "bench", &NoProgress)
            .await?;
    }
    let view = store.feature_view(&NameRef::parse("wide:1")?).await?;
    let (td, _) = view
        .create_training_data(&TrainingDataOptions {
            start: None,
            end: None,
            split: Split::parse("random:0.8:1").map_err(anyhow::Error::msg)?,
        })
        .await?;
    let params = [
        ("rounds", "100"),
        // Slow enough that validation loss still falls at round 100, so the
        // served model keeps all 100 trees (the best round is what is kept).
        ("learning_rate", "0.03"),
        ("early_stopping_rounds", "1000"),
        ("max_depth", "6"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let report = train(
        store,
        &TrainOptions {
            feature_view: NameRef::parse("wide:1")?,
            training_dataset: td,
            algorithm: "gbdt_classifier".into(),
            params,
            model: "wide".into(),
            description: "bench serve".into(),
        },
        &NoProgress,
    )
    .await?;
    store
        .registry()
        .set_alias("wide", "production", report.version)
        .await?;
    Ok(report.rounds.unwrap_or_default())
}
