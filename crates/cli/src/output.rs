//! Printing: text tables for people, one JSON document for scripts, files for `--out`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use futures::StreamExt;
use serde::Serialize;
use sluice_featurestore::BatchStream;

/// An error in what the user asked for (exit status 1), as opposed to a failure of ours (2).
#[derive(Debug)]
pub struct UserError(pub String);

impl std::fmt::Display for UserError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserError {}

pub fn user_error(message: impl Into<String>) -> anyhow::Error {
    UserError(message.into()).into()
}

pub fn print_json(value: &impl Serialize) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Rows as JSON objects, nulls kept, timestamps as RFC 3339 text.
pub fn rows_as_json(
    batch: &RecordBatch,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    let mut buffer = Vec::new();
    {
        let mut writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, arrow::json::writer::JsonArray>(&mut buffer);
        writer.write(batch)?;
        writer.finish()?;
    }
    if buffer.is_empty() {
        return Ok(Vec::new());
    }
    Ok(serde_json::from_slice(&buffer)?)
}

pub fn print_table(batches: &[RecordBatch]) -> Result<()> {
    println!("{}", arrow::util::pretty::pretty_format_batches(batches)?);
    Ok(())
}

/// Streams batches into a .parquet or .csv file; returns the row count.
pub async fn write_stream(mut stream: BatchStream, path: &Path) -> Result<u64> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    let file = || File::create(path).with_context(|| format!("cannot create {}", path.display()));
    let mut rows = 0u64;
    match extension {
        "parquet" => {
            let mut writer: Option<parquet::arrow::ArrowWriter<File>> = None;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if writer.is_none() {
                    writer = Some(parquet::arrow::ArrowWriter::try_new(
                        file()?,
                        batch.schema(),
                        None,
                    )?);
                }
                rows += batch.num_rows() as u64;
                writer.as_mut().expect("created above").write(&batch)?;
            }
            match writer {
                Some(writer) => {
                    writer.close()?;
                }
                None => {
                    file()?;
                }
            }
        }
        "csv" => {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
                .build(BufWriter::new(file()?));
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
        }
        _ => {
            return Err(user_error(format!(
                "--out {}: use a .parquet or .csv file name",
                path.display()
            )))
        }
    }
    Ok(rows)
}
