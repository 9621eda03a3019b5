//! Printing: text tables for people, one JSON document for scripts, files for `--out`.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::StreamExt;
use serde::Serialize;
use sluice_featurestore::{parquet_encodings, BatchStream};

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

/// Writes one batch to a .parquet or .csv file; see [`write_stream`].
pub async fn write_batch(batch: &RecordBatch, path: &Path) -> Result<u64> {
    let rows = futures::stream::iter([Ok(batch.clone())]).boxed();
    write_stream(rows, batch.schema(), path).await
}

/// Writes rows of `schema` to a .parquet or .csv file (chosen by extension):
/// a valid file with the schema even when there are no rows, and written
/// beside the target then renamed, so a failure leaves no partial file.
pub async fn write_stream(mut stream: BatchStream, schema: SchemaRef, path: &Path) -> Result<u64> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_string();
    if extension != "parquet" && extension != "csv" {
        return Err(user_error(format!(
            "--out {}: use a .parquet or .csv file name",
            path.display()
        )));
    }
    let name = path
        .file_name()
        .map_or_else(Default::default, |n| n.to_string_lossy().into_owned());
    let staged = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let file =
        File::create(&staged).with_context(|| format!("cannot create {}", path.display()))?;
    let written = async {
        let mut rows = 0u64;
        if extension == "parquet" {
            let properties = parquet_encodings(&schema).build();
            let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, Some(properties))?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer.close()?;
        } else {
            let mut writer = arrow::csv::WriterBuilder::new()
                .with_header(true)
                .with_timestamp_tz_format("%Y-%m-%dT%H:%M:%S%.6fZ".to_string())
                .build(BufWriter::new(file));
            // The header comes with the first batch, so an empty one goes first.
            writer.write(&RecordBatch::new_empty(schema))?;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows() as u64;
                writer.write(&batch)?;
            }
            writer
                .into_inner()
                .into_inner()
                .map_err(|e| e.into_error())?;
        }
        anyhow::Ok(rows)
    }
    .await;
    match written {
        Ok(rows) => {
            std::fs::rename(&staged, path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(rows)
        }
        Err(e) => {
            let _ = std::fs::remove_file(&staged);
            Err(e.context(format!("writing {}", path.display())))
        }
    }
}
