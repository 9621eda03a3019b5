//! Input files (CSV, Parquet, NDJSON) read as a stream of batches already
//! checked and converted to a feature group's schema.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::error::ArrowError;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sluice_types::coerce::{InputCoercer, Position};

use crate::{Error, Result};

pub const BATCH_SIZE: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Parquet,
    Ndjson,
}

impl Format {
    fn of(path: &Path) -> Result<Self> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(Self::Csv),
            Some("parquet") | Some("pq") => Ok(Self::Parquet),
            Some("ndjson") | Some("jsonl") | Some("json") => Ok(Self::Ndjson),
            _ => Err(Error::UnknownFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Counts the bytes a reader has consumed, for progress.
struct CountingReader<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

type RawBatches = Box<dyn Iterator<Item = std::result::Result<RecordBatch, ArrowError>> + Send>;

/// One input file, yielding batches in the feature group's schema.
pub struct FileSource {
    path: PathBuf,
    label: String,
    format: Format,
    batches: RawBatches,
    coercer: InputCoercer,
    rows_read: usize,
    last_position: Position,
    total_rows: Option<usize>,
    size: u64,
    bytes_read: Arc<AtomicU64>,
}

impl FileSource {
    /// Opens `path`, its format chosen by extension, and checks its column
    /// names (a CSV header, Parquet's schema, those in NDJSON's first 1,000
    /// lines) against `coercer`'s schema, none missing and none unknown,
    /// before any row is converted.
    pub fn open(path: &Path, coercer: &InputCoercer) -> Result<Self> {
        let format = Format::of(path)?;
        let label = path.display().to_string();
        let read_error = |e: &dyn std::fmt::Display| Error::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let file = File::open(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::FileNotFound {
                path: path.to_path_buf(),
            },
            _ => read_error(&e),
        })?;
        let size = file.metadata().map_err(|e| read_error(&e))?.len();
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counting = |file: File| CountingReader {
            inner: file,
            count: bytes_read.clone(),
        };
        let mut total_rows = None;
        let batches: RawBatches = match format {
            Format::Csv => {
                let mut file = file;
                let (header, _) = arrow::csv::reader::Format::default()
                    .with_header(true)
                    .infer_schema(&mut file, Some(0))
                    .map_err(|e| read_error(&e))?;
                file.seek(SeekFrom::Start(0)).map_err(|e| read_error(&e))?;
                let names: Vec<&str> = header.fields().iter().map(|f| f.name().as_str()).collect();
                if let Some(twice) = names
                    .iter()
                    .enumerate()
                    .find(|(i, name)| names[..*i].contains(name))
                {
                    return Err(read_error(&format!(
                        "the header names column '{}' twice",
                        twice.1
                    )));
                }
                coercer.check_columns(&label, names.iter().copied())?;
                let reader = arrow::csv::ReaderBuilder::new(InputCoercer::text_schema(
                    names.iter().copied(),
                ))
                .with_header(true)
                .with_batch_size(BATCH_SIZE)
                .build(counting(file))
                .map_err(|e| read_error(&e))?;
                Box::new(reader)
            }
            Format::Ndjson => {
                let mut file = file;
                let (inferred, _) =
                    arrow::json::reader::infer_json_schema(BufReader::new(&mut file), Some(1_000))
                        .map_err(|e| read_error(&e))?;
                file.seek(SeekFrom::Start(0)).map_err(|e| read_error(&e))?;
                coercer
                    .check_columns(&label, inferred.fields().iter().map(|f| f.name().as_str()))?;
                let schema = InputCoercer::text_schema(
                    coercer.schema().fields().iter().map(|f| f.name().as_str()),
                );
                let reader = arrow::json::ReaderBuilder::new(schema)
                    .with_batch_size(BATCH_SIZE)
                    .with_coerce_primitive(true)
                    .with_strict_mode(true)
                    .build(BufReader::new(counting(file)))
                    .map_err(|e| read_error(&e))?;
                Box::new(reader)
            }
            Format::Parquet => {
                let builder =
                    ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| read_error(&e))?;
                let schema = builder.schema().clone();
                coercer.check_columns(&label, schema.fields().iter().map(|f| f.name().as_str()))?;
                total_rows = Some(builder.metadata().file_metadata().num_rows() as usize);
                let reader = builder
                    .with_batch_size(BATCH_SIZE)
                    .build()
                    .map_err(|e| read_error(&e))?;
                Box::new(reader)
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            label,
            format,
            batches,
            coercer: coercer.clone(),
            rows_read: 0,
            last_position: Position::Row(1),
            total_rows,
            size,
            bytes_read,
        })
    }

    /// The file's size in bytes, the total `bytes_read` counts towards.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes of the file consumed so far (estimated from rows for Parquet).
    pub fn bytes_read(&self) -> u64 {
        match self.total_rows {
            Some(total) if total > 0 => {
                (self.size as f64 * self.rows_read as f64 / total as f64) as u64
            }
            _ => self.bytes_read.load(Ordering::Relaxed).min(self.size),
        }
    }

    /// The file as errors name it.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Where the first row of the batch `next` returned last came from.
    pub fn last_position(&self) -> Position {
        self.last_position
    }

    fn position_after_batch(&self) -> String {
        match self.batch_position() {
            Position::Line(line) => format!("line {line} or after"),
            Position::Row(row) => format!("row {row} or after"),
        }
    }

    fn batch_position(&self) -> Position {
        match self.format {
            // Line 1 is the CSV header; NDJSON has none.
            Format::Csv => Position::Line(self.rows_read + 2),
            Format::Ndjson => Position::Line(self.rows_read + 1),
            Format::Parquet => Position::Row(self.rows_read + 1),
        }
    }
}

impl Iterator for FileSource {
    type Item = Result<RecordBatch>;

    fn next(&mut self) -> Option<Self::Item> {
        let raw = match self.batches.next()? {
            Ok(batch) => batch,
            Err(e) => {
                return Some(Err(Error::Read {
                    path: self.path.clone(),
                    message: format!("near {}: {e}", self.position_after_batch()),
                }))
            }
        };
        self.last_position = self.batch_position();
        let coerced = self.coercer.coerce(&self.label, &raw, self.last_position);
        self.rows_read += raw.num_rows();
        Some(coerced.map_err(Error::from))
    }
}
