//! Printing: text tables for people, one JSON document for scripts, files for `--out`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use arrow::array::{Array, ArrayRef, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::util::display::{ArrayFormatter, FormatOptions};
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

/// A monitor found drift: exit status 3, so that cron and CI alert.
#[derive(Debug)]
pub struct DriftDetected(pub String);

impl std::fmt::Display for DriftDetected {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DriftDetected {}

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

/// Prints one JSON document: the fields of `head` (an object), then `rows`,
/// every row of `batches` as an object (as [`rows_as_json`] makes them), one
/// per line. The rows are written as they are read, so a large read never
/// holds its whole JSON text.
pub async fn print_json_rows(head: &impl Serialize, mut batches: BatchStream) -> Result<()> {
    let head = serde_json::to_value(head)?;
    let fields = head
        .as_object()
        .context("a JSON document's head is an object")?;
    let mut out = BufWriter::new(std::io::stdout());
    writeln!(out, "{{")?;
    for (name, value) in fields {
        writeln!(out, "  {}: {},", serde_json::to_string(name)?, value)?;
    }
    write!(out, "  \"rows\": [")?;
    let mut first = true;
    while let Some(batch) = batches.next().await {
        for row in rows_as_json(&batch?)? {
            let separator = if first { "" } else { "," };
            write!(out, "{separator}\n    {}", serde_json::Value::Object(row))?;
            first = false;
        }
    }
    let close = if first { "" } else { "\n  " };
    writeln!(out, "{close}]\n}}")?;
    out.flush()?;
    Ok(())
}

/// Reports rows written to `--out`: a line, or with `--json` the fields of
/// `what` (an object saying what was read) with the file and the row count.
pub fn print_written(
    mut what: serde_json::Value,
    path: &Path,
    rows: u64,
    json: bool,
) -> Result<()> {
    if !json {
        println!("wrote {rows} rows to {}", path.display());
        return Ok(());
    }
    let fields = what
        .as_object_mut()
        .context("what was read is a JSON object")?;
    fields.insert("out".into(), path.display().to_string().into());
    fields.insert("rows_written".into(), rows.into());
    print_json(&what)
}

/// The widest value a printed table shows, in characters. Tables are for
/// reading: one huge value (a 50 MB text) would otherwise widen every row
/// to its width and take minutes to print. `--out` and `--json` keep values whole.
pub const CELL_WIDTH: usize = 60;

/// Prints rows as a text table, values longer than [`CELL_WIDTH`] cut short
/// with `…`, and says so below the table when any was.
pub fn print_table(batches: &[RecordBatch]) -> Result<()> {
    let mut cut = false;
    let shown = batches
        .iter()
        .map(|batch| shown_cells(batch, &mut cut))
        .collect::<Result<Vec<_>>>()?;
    println!("{}", arrow::util::pretty::pretty_format_batches(&shown)?);
    if cut {
        println!(
            "(values longer than {CELL_WIDTH} characters are cut short with …; --out FILE writes them whole)"
        );
    }
    Ok(())
}

/// `batch` as the text a table shows: every column as strings formatted as
/// the table would format them, each at most [`CELL_WIDTH`] characters.
/// Sets `cut` when a value was shortened.
fn shown_cells(batch: &RecordBatch, cut: &mut bool) -> Result<RecordBatch> {
    let options = FormatOptions::default().with_display_error(true);
    let mut fields = Vec::with_capacity(batch.num_columns());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for (field, column) in batch.schema().fields().iter().zip(batch.columns()) {
        let formatter = ArrayFormatter::try_new(column.as_ref(), &options)?;
        let mut texts = StringBuilder::new();
        for row in 0..column.len() {
            if column.is_null(row) {
                texts.append_null();
                continue;
            }
            let mut cell = ShortCell::default();
            let written = write!(cell, "{}", formatter.value(row));
            if written.is_err() && !cell.cut {
                anyhow::bail!("cannot format column '{}' row {row}", field.name());
            }
            *cut |= cell.cut;
            texts.append_value(cell.finish());
        }
        fields.push(Field::new(field.name(), DataType::Utf8, true));
        columns.push(Arc::new(texts.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// Takes at most [`CELL_WIDTH`] characters of a value being formatted, then
/// stops the formatter, so a huge value costs no more than a short one.
#[derive(Default)]
struct ShortCell {
    text: String,
    chars: usize,
    cut: bool,
}

impl std::fmt::Write for ShortCell {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for c in s.chars() {
            if self.chars == CELL_WIDTH {
                self.cut = true;
                return Err(std::fmt::Error);
            }
            self.text.push(c);
            self.chars += 1;
        }
        Ok(())
    }
}

impl ShortCell {
    fn finish(mut self) -> String {
        if self.cut {
            self.text.pop();
            self.text.push('…');
        }
        self.text
    }
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
