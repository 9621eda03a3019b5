//! A seeded generator of transactions-like data for tests, benchmarks and the
//! quickstart: the same seed gives the same rows on every machine.
//!
//! This crate owns synthetic data only. It must not depend on any Sluice
//! layer, so that tests of every layer can use it.

pub mod fraud;

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 2024-01-01T00:00:00Z in microseconds.
pub const DEFAULT_START_MICROS: i64 = 1_704_067_200_000_000;

const CATEGORIES: &[&str] = &[
    "grocery",
    "travel",
    "fuel",
    "online",
    "restaurant",
    "pharmacy",
    "electronics",
];
const FLOAT_FEATURES: &[&str] = &["amount", "f1", "f2", "f3", "f4", "f5", "f6", "f7"];

/// Why generated data could not be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be created, or the CSV, NDJSON or Parquet writer
    /// failed.
    #[error("cannot write {path}: {message}")]
    Write {
        /// The file being written.
        path: String,
        /// What the file system or the writer said.
        message: String,
    },
}

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct TransactionsOptions {
    /// Rows in all.
    pub rows: usize,
    /// Distinct accounts; rows / keys is the mean number of events per key.
    pub keys: i64,
    /// Seeds the generator: the same options give the same rows everywhere.
    pub seed: u64,
    /// The oldest event time, in microseconds since the Unix epoch (UTC).
    pub start_micros: i64,
    /// Time between consecutive event times before shuffling.
    pub step_micros: i64,
    /// Rows per generated batch (the last may be shorter); event times are
    /// shuffled within a batch only.
    pub batch_size: usize,
}

impl TransactionsOptions {
    /// `rows` rows over `rows / 8` keys (at least one), seed 42, one event a
    /// second from 2024-01-01, in batches of 65,536.
    pub fn new(rows: usize) -> Self {
        Self {
            rows,
            keys: (rows as i64 / 8).max(1),
            seed: 42,
            start_micros: DEFAULT_START_MICROS,
            step_micros: 1_000_000,
            batch_size: 65_536,
        }
    }

    /// The same options over `keys` distinct accounts (at least one).
    pub fn with_keys(mut self, keys: i64) -> Self {
        self.keys = keys.max(1);
        self
    }

    /// Places the events so that the newest is one step before `end_micros`:
    /// recent data for TTL-aware demos.
    pub fn ending_at(mut self, end_micros: i64) -> Self {
        self.start_micros = end_micros - self.rows as i64 * self.step_micros;
        self
    }

    /// The same options with another seed.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// The schema of generated rows: key, event time, 8 float64, 2 int64 and 1 string feature.
pub fn transactions_schema() -> SchemaRef {
    let mut fields = vec![
        Field::new("account_id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
    ];
    fields.extend(
        FLOAT_FEATURES
            .iter()
            .map(|n| Field::new(*n, DataType::Float64, false)),
    );
    fields.push(Field::new("quantity", DataType::Int64, false));
    fields.push(Field::new("merchant_id", DataType::Int64, false));
    fields.push(Field::new("category", DataType::Utf8, true));
    Arc::new(Schema::new(fields))
}

/// Generates the rows in batches. Event times are unique, so every (key, event
/// time) pair is too, and are shuffled within each batch so that they arrive
/// out of order; each key gets several events.
pub fn transactions(options: TransactionsOptions) -> impl Iterator<Item = RecordBatch> {
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let schema = transactions_schema();
    let batch_size = options.batch_size.max(1);
    (0..options.rows).step_by(batch_size).map(move |first| {
        let n = batch_size.min(options.rows - first);
        let mut order: Vec<i64> = (first as i64..(first + n) as i64).collect();
        order.shuffle(&mut rng);
        let ts = order
            .iter()
            .map(|i| options.start_micros + i * options.step_micros);
        let keys: Vec<i64> = (0..n).map(|_| rng.random_range(0..options.keys)).collect();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(keys)),
            Arc::new(TimestampMicrosecondArray::from_iter_values(ts).with_timezone("UTC")),
        ];
        for _ in FLOAT_FEATURES {
            let values: Vec<f64> = (0..n)
                .map(|_| (rng.random_range(0.0..1000.0f64) * 100.0).round() / 100.0)
                .collect();
            columns.push(Arc::new(Float64Array::from(values)));
        }
        columns.push(Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| rng.random_range(1..10)),
        )));
        columns.push(Arc::new(Int64Array::from_iter_values(
            (0..n).map(|_| rng.random_range(0..5_000)),
        )));
        let categories: StringArray = (0..n)
            .map(|_| {
                (!rng.random_ratio(1, 20))
                    .then(|| CATEGORIES[rng.random_range(0..CATEGORIES.len())])
            })
            .collect();
        columns.push(Arc::new(categories));
        RecordBatch::try_new(schema.clone(), columns).expect("columns match the schema")
    })
}

/// Output formats for [`write_transactions`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// CSV with a header row; timestamps as RFC 3339 text in UTC.
    Csv,
    /// Parquet, with the Arrow schema kept.
    Parquet,
    /// One JSON object per line.
    Ndjson,
}

impl FileFormat {
    /// The format a file name's extension implies (`.csv`, `.parquet`, and
    /// `.ndjson`, `.jsonl` or `.json`); `None` for any other.
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()? {
            "csv" => Some(Self::Csv),
            "parquet" => Some(Self::Parquet),
            "ndjson" | "jsonl" | "json" => Some(Self::Ndjson),
            _ => None,
        }
    }
}

/// Writes generated rows to `path` in `format`; returns the number of rows.
pub fn write_transactions(
    path: &Path,
    format: FileFormat,
    options: TransactionsOptions,
) -> Result<usize, Error> {
    write_batches(path, format, &transactions_schema(), transactions(options))
}

/// Writes batches to one file, streaming.
pub fn write_batches(
    path: &Path,
    format: FileFormat,
    schema: &SchemaRef,
    batches: impl Iterator<Item = RecordBatch>,
) -> Result<usize, Error> {
    let fail = |message: String| Error::Write {
        path: path.display().to_string(),
        message,
    };
    let file = BufWriter::new(File::create(path).map_err(|e| fail(e.to_string()))?);
    let mut rows = 0;
    match format {
        FileFormat::Csv => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
                .build(file);
            for batch in batches {
                rows += batch.num_rows();
                writer.write(&batch).map_err(|e| fail(e.to_string()))?;
            }
        }
        FileFormat::Ndjson => {
            let mut writer = arrow::json::LineDelimitedWriter::new(file);
            for batch in batches {
                rows += batch.num_rows();
                writer.write(&batch).map_err(|e| fail(e.to_string()))?;
            }
            writer.finish().map_err(|e| fail(e.to_string()))?;
        }
        FileFormat::Parquet => {
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema.clone(), None)
                .map_err(|e| fail(e.to_string()))?;
            for batch in batches {
                rows += batch.num_rows();
                writer.write(&batch).map_err(|e| fail(e.to_string()))?;
            }
            writer.close().map_err(|e| fail(e.to_string()))?;
        }
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn same_seed_same_rows_and_unique_identities() {
        let options = TransactionsOptions::new(5_000).with_keys(300);
        let a: Vec<_> = transactions(options).collect();
        let b: Vec<_> = transactions(options).collect();
        assert_eq!(a, b);
        let other: Vec<_> = transactions(options.with_seed(7)).collect();
        assert_ne!(a, other);
        let mut seen = HashSet::new();
        let mut out_of_order = false;
        let mut keys = HashSet::new();
        for batch in &a {
            let key = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap();
            let ts = batch
                .column(1)
                .as_any()
                .downcast_ref::<TimestampMicrosecondArray>()
                .unwrap();
            for i in 0..batch.num_rows() {
                assert!(
                    seen.insert((key.value(i), ts.value(i))),
                    "(key, ts) pairs are unique"
                );
                keys.insert(key.value(i));
                out_of_order |= i > 0 && ts.value(i) < ts.value(i - 1);
            }
        }
        assert_eq!(seen.len(), 5_000);
        assert!(out_of_order);
        assert!(
            keys.len() <= 300 && keys.len() > 250,
            "several events per key"
        );
    }
}
