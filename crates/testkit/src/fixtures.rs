//! Projects to test against: [`Project`], a new project in a temporary
//! folder with the definition files a suite gives it, and [`Fraud`], the
//! fraud scenario several suites share (a spine of labels, a group of card
//! activity, the view `fraud` joining them, seeded rows ingested and a
//! training dataset made); with the steps they are built of (definitions
//! written as TOML, rows ingested, a training dataset made) for suites
//! that build projects of their own.
//!
//! Training a model is left to the suites: it lives in `sluice-pipelines`,
//! a layer above this kit (see `scripts/check-layers`), so a suite that
//! needs a trained model calls `sluice_pipelines::train` on the store
//! [`Fraud::build`] returns.

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use rand::{Rng, SeedableRng};
use sluice_featurestore::{FeatureStore, NoProgress, TrainingDataOptions};
use sluice_types::{NameRef, Split};

/// 2026-01-01T00:00:00Z in microseconds: the time the fixtures' rows start at.
pub const T0: i64 = 1_767_225_600_000_000;

/// A project made by `sluice init` in a temporary folder, before it is
/// opened: files go in with [`Project::with_file`], then [`Project::applied`]
/// opens it and applies its definitions.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Default for Project {
    fn default() -> Self {
        Self::new()
    }
}

impl Project {
    /// A new project, holding the example definitions `sluice init` writes
    /// (the feature group `transactions`).
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder");
        FeatureStore::init(dir.path()).expect("init");
        Self { dir }
    }

    /// `relative` inside the project folder.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    /// Drops the example definitions, for suites that declare every group themselves.
    pub fn without_example(self) -> Self {
        std::fs::remove_file(self.path("features/example.toml")).expect("the example");
        self
    }

    /// Writes `text` to `relative` (`features/x.toml` for definitions),
    /// making its folder if needed.
    pub fn with_file(self, relative: &str, text: &str) -> Self {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().expect("a file in the project")).expect("a folder");
        std::fs::write(path, text).expect("a project file");
        self
    }

    /// The project opened, its definitions applied.
    pub async fn applied(self) -> (tempfile::TempDir, FeatureStore) {
        let store = FeatureStore::open(self.dir.path()).await.expect("open");
        store
            .apply(&store.plan().await.expect("plan"))
            .await
            .expect("apply");
        (self.dir, store)
    }
}

/// One generated transaction of [`Fraud`]: the `activity` row's values and the label.
#[derive(Debug, Clone, PartialEq)]
pub struct Transaction {
    /// The `amount` feature.
    pub amount: f64,
    /// The `merchant` feature, one of a few fixed names.
    pub merchant: &'static str,
    /// The label the `labels` group carries for the row.
    pub is_fraud: bool,
}

/// The fraud scenario, as a builder: feature groups `labels` (card_id, ts,
/// is_fraud; the spine) and `activity` (card_id, ts, amount, merchant),
/// the view `fraud:1` with its labels and transforms, and seeded rows in
/// which fraud is likely for large amounts at "online" merchants
/// (learnable, noisy).
///
/// ```ignore
/// let (dir, store) = Fraud::rows(4_000)
///     .seed(5)
///     .ingested()
///     .with_training_data("random:0.75:1")
///     .build()
///     .await;
/// ```
#[derive(Debug, Clone)]
pub struct Fraud {
    rows: i64,
    seed: u64,
    risk_elsewhere: f64,
    online: bool,
    tx_count: bool,
    more_definitions: String,
    ingest: bool,
    split: Option<String>,
}

const MERCHANTS: [&str; 4] = ["grocery", "fuel", "online", "travel"];

impl Fraud {
    /// `rows` transactions, one per card (cards `0..rows`) unless a suite
    /// lays them out itself from [`Fraud::transactions`]; declared only
    /// until [`Fraud::ingested`].
    pub fn rows(rows: i64) -> Self {
        Self {
            rows,
            seed: 0,
            risk_elsewhere: 0.2,
            online: false,
            tx_count: false,
            more_definitions: String::new(),
            ingest: false,
            split: None,
        }
    }

    /// The seed of the generated rows.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The chance of fraud at the largest amount (1,000) away from "online"
    /// merchants, where it is 0.9; it falls with the amount. 0.2 unless set.
    pub fn risk_elsewhere(mut self, risk: f64) -> Self {
        self.risk_elsewhere = risk;
        self
    }

    /// `activity` served online (the server and batch inference need it).
    pub fn online(mut self) -> Self {
        self.online = true;
        self
    }

    /// A nullable `tx_count` column in `activity`, a feature of the view
    /// imputed by its mean; null for every seventh card, else `card % 13`.
    pub fn with_tx_count(mut self) -> Self {
        self.tx_count = true;
        self
    }

    /// More definitions in the same file (pipelines over the scenario's groups, say).
    pub fn with_definitions(mut self, toml: &str) -> Self {
        self.more_definitions.push_str(toml);
        self
    }

    /// [`Fraud::activity`] and [`Fraud::labels`] ingested by [`Fraud::build`].
    pub fn ingested(mut self) -> Self {
        self.ingest = true;
        self
    }

    /// Training dataset 1 of `fraud`, split by `split` (`random:0.75:1`,
    /// say), made by [`Fraud::build`].
    pub fn with_training_data(mut self, split: &str) -> Self {
        self.split = Some(split.to_string());
        self
    }

    /// The definitions file: both groups, the view, then any added with
    /// [`Fraud::with_definitions`].
    pub fn definitions(&self) -> String {
        let online = if self.online { "online = true\n" } else { "" };
        let (column, select, transform) = if self.tx_count {
            (
                "  { name = \"tx_count\", type = \"int64\", nullable = true },\n",
                ", \"tx_count\"",
                ", tx_count = \"impute_mean\"",
            )
        } else {
            ("", "", "")
        };
        format!(
            r#"
[[feature_group]]
name = "labels"
version = 1
primary_key = ["card_id"]
event_time = "ts"
columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "is_fraud", type = "bool" }},
]

[[feature_group]]
name = "activity"
version = 1
primary_key = ["card_id"]
event_time = "ts"
{online}columns = [
  {{ name = "card_id", type = "int64" }},
  {{ name = "ts", type = "timestamp" }},
  {{ name = "amount", type = "float64" }},
  {{ name = "merchant", type = "string" }},
{column}]

[[feature_view]]
name = "fraud"
version = 1
spine = "labels:1"
labels = ["is_fraud"]
joins = [{{ feature_group = "activity:1", on = ["card_id"], select = ["amount", "merchant"{select}] }}]
transforms = {{ amount = "standard_scaler", merchant = "one_hot_encoder"{transform} }}
{}"#,
            self.more_definitions
        )
    }

    /// The seeded transactions, in the order drawn.
    pub fn transactions(&self) -> Vec<Transaction> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        (0..self.rows)
            .map(|_| {
                let amount: f64 = rng.random_range(1.0..1_000.0);
                let merchant = MERCHANTS[rng.random_range(0..4)];
                let factor = if merchant == "online" {
                    0.9
                } else {
                    self.risk_elsewhere
                };
                let is_fraud = rng.random_range(0.0..1.0) < (amount / 1_000.0) * factor;
                Transaction {
                    amount,
                    merchant,
                    is_fraud,
                }
            })
            .collect()
    }

    /// The `activity` rows: card `i` has transaction `i`, at [`T0`].
    pub fn activity(&self) -> RecordBatch {
        let transactions = self.transactions();
        let cards: Vec<i64> = (0..self.rows).collect();
        let counts = self.tx_count.then(|| {
            cards
                .iter()
                .map(|c| (c % 7 != 0).then_some(c % 13))
                .collect()
        });
        self.activity_batch(
            cards.clone(),
            vec![T0; cards.len()],
            transactions.iter().map(|t| t.amount).collect(),
            transactions.iter().map(|t| t.merchant).collect(),
            counts,
        )
    }

    /// The `labels` rows: card `i`'s label one second after its activity.
    pub fn labels(&self) -> RecordBatch {
        let labels: Vec<bool> = self.transactions().iter().map(|t| t.is_fraud).collect();
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("card_id", DataType::Int64, false),
                timestamp_field("ts"),
                Field::new("is_fraud", DataType::Boolean, false),
            ])),
            vec![
                Arc::new(Int64Array::from_iter_values(0..self.rows)),
                utc(vec![T0 + 1_000_000; labels.len()]),
                Arc::new(BooleanArray::from(labels)),
            ],
        )
        .expect("labels rows")
    }

    /// `activity` rows of the given (card, time, amount, merchant), a null
    /// `tx_count` where the group has one.
    pub fn activity_rows(&self, rows: &[(i64, i64, f64, &str)]) -> RecordBatch {
        self.activity_batch(
            rows.iter().map(|r| r.0).collect(),
            rows.iter().map(|r| r.1).collect(),
            rows.iter().map(|r| r.2).collect(),
            rows.iter().map(|r| r.3).collect(),
            self.tx_count.then(|| vec![None; rows.len()]),
        )
    }

    fn activity_batch(
        &self,
        cards: Vec<i64>,
        times: Vec<i64>,
        amounts: Vec<f64>,
        merchants: Vec<&str>,
        counts: Option<Vec<Option<i64>>>,
    ) -> RecordBatch {
        let mut fields = vec![
            Field::new("card_id", DataType::Int64, false),
            timestamp_field("ts"),
            Field::new("amount", DataType::Float64, false),
            Field::new("merchant", DataType::Utf8, false),
        ];
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(cards)),
            utc(times),
            Arc::new(Float64Array::from(amounts)),
            Arc::new(StringArray::from(merchants)),
        ];
        if let Some(counts) = counts {
            fields.push(Field::new("tx_count", DataType::Int64, true));
            columns.push(Arc::new(Int64Array::from(counts)));
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).expect("activity rows")
    }

    /// The project: a new one holding only this scenario's definitions
    /// (as `features/fraud.toml`), applied; then the rows and the training
    /// dataset if asked for.
    pub async fn build(&self) -> (tempfile::TempDir, FeatureStore) {
        let (dir, store) = Project::new()
            .without_example()
            .with_file("features/fraud.toml", &self.definitions())
            .applied()
            .await;
        if self.ingest {
            ingest(&store, "activity", self.activity()).await;
            ingest(&store, "labels", self.labels()).await;
        }
        if let Some(split) = &self.split {
            create_training_data(&store, "fraud", split).await;
        }
        (dir, store)
    }
}

/// A timestamp column of microseconds in UTC, as feature groups store them.
pub fn utc(micros: Vec<i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"))
}

/// A non-nullable field of [`utc`] timestamps.
pub fn timestamp_field(name: &str) -> Field {
    Field::new(
        name,
        DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
        false,
    )
}

/// A TOML `columns` array of (name, type) pairs, as feature groups and
/// file sources declare their columns.
pub fn columns_toml(columns: &[(&str, &str)]) -> String {
    let mut toml = String::from("columns = [\n");
    for (name, kind) in columns {
        toml.push_str(&format!("  {{ name = \"{name}\", type = \"{kind}\" }},\n"));
    }
    toml.push_str("]\n");
    toml
}

/// A `[[feature_group]]` definition, version 1, of these (name, type)
/// columns: the first is its key and the second its event time.
pub fn feature_group_toml(name: &str, columns: &[(&str, &str)]) -> String {
    format!(
        "[[feature_group]]\nname = \"{name}\"\nversion = 1\nprimary_key = [\"{}\"]\nevent_time = \"{}\"\n{}",
        columns[0].0,
        columns[1].0,
        columns_toml(columns)
    )
}

/// Ingests `batch` into the feature group `group` (`NAME[:VERSION]`).
pub async fn ingest(store: &FeatureStore, group: &str, batch: RecordBatch) {
    store
        .feature_group(&NameRef::parse(group).expect("a valid name"))
        .await
        .expect("a registered feature group")
        .ingest_batches([batch], "fixture", &NoProgress)
        .await
        .expect("ingested rows");
}

/// Makes the next training dataset of `view` without a time range; its version.
pub async fn create_training_data(store: &FeatureStore, view: &str, split: &str) -> u32 {
    let (version, _) = store
        .feature_view(&NameRef::parse(view).expect("a valid name"))
        .await
        .expect("a registered feature view")
        .create_training_data(&TrainingDataOptions {
            start: None,
            end: None,
            split: Split::parse(split).expect("a valid split"),
        })
        .await
        .expect("a training dataset");
    version
}
