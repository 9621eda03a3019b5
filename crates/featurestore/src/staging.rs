//! Staging: checked input rows spilled to a private Parquet file before any
//! store is touched, so that bad input writes nothing and memory stays flat.
//! The directory is removed when the [`Staging`] is dropped.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use sluice_offline::{parquet_encodings, SEQUENCE_COLUMN};

use crate::{Error, Result};

const ROW_GROUP_ROWS: usize = 131_072;

pub struct Staging {
    dir: PathBuf,
    file: PathBuf,
    /// In a mutex only so that a `&Staging` can be held across an await in a
    /// spawned task (the Parquet writer is Send but not Sync); never contended.
    writer: Option<Mutex<ArrowWriter<File>>>,
    schema: SchemaRef,
    staged_schema: SchemaRef,
    rows: u64,
}

impl Staging {
    /// Starts a staging file for rows of `schema` under `root`, first removing
    /// what killed ingests left behind there.
    pub fn create(root: &Path, schema: &SchemaRef) -> Result<Self> {
        remove_abandoned(root, "");
        let dir = root.join(owned_dir_name(""));
        let fail = |e: &dyn std::fmt::Display| Error::Staging {
            path: dir.clone(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(&dir).map_err(|e| fail(&e))?;
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(SEQUENCE_COLUMN, DataType::UInt64, false));
        let staged_schema = Arc::new(Schema::new(fields));
        let file = dir.join("rows.parquet");
        let properties = parquet_encodings(&staged_schema)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = File::create(&file).map_err(|e| fail(&e)).and_then(|f| {
            ArrowWriter::try_new(f, staged_schema.clone(), Some(properties)).map_err(|e| fail(&e))
        })?;
        Ok(Self {
            dir,
            file,
            writer: Some(Mutex::new(writer)),
            schema: schema.clone(),
            staged_schema,
            rows: 0,
        })
    }

    fn error(&self, e: &dyn std::fmt::Display) -> Error {
        Error::Staging {
            path: self.file.clone(),
            message: e.to_string(),
        }
    }

    /// Appends rows, tagging each with its input order.
    pub fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let sequence: ArrayRef = Arc::new(UInt64Array::from_iter_values(
            self.rows..self.rows + batch.num_rows() as u64,
        ));
        let mut columns = batch.columns().to_vec();
        columns.push(sequence);
        let staged = RecordBatch::try_new(self.staged_schema.clone(), columns)
            .map_err(|e| self.error(&e))?;
        let result = self
            .writer
            .as_mut()
            .expect("push after finish")
            .get_mut()
            .expect("the staging writer is never shared")
            .write(&staged);
        result.map_err(|e| self.error(&e))?;
        self.rows += batch.num_rows() as u64;
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// Closes the file; returns its path for the offline store.
    pub fn finish(&mut self) -> Result<PathBuf> {
        if let Some(writer) = self.writer.take() {
            let result = writer
                .into_inner()
                .expect("the staging writer is never shared")
                .close();
            result.map_err(|e| self.error(&e))?;
        }
        Ok(self.file.clone())
    }

    /// Reads the staged rows back in input order, in batches of `batch_rows`, without the sequence column.
    pub fn read(
        &self,
        batch_rows: usize,
    ) -> Result<impl Iterator<Item = Result<RecordBatch>> + '_> {
        let file = File::open(&self.file).map_err(|e| self.error(&e))?;
        let reader = ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.with_batch_size(batch_rows).build())
            .map_err(|e| self.error(&e))?;
        let width = self.schema.fields().len();
        Ok(reader.map(move |batch| {
            let batch = batch.map_err(|e| self.error(&e))?;
            RecordBatch::try_new(self.schema.clone(), batch.columns()[..width].to_vec())
                .map_err(|e| self.error(&e))
        }))
    }
}

/// A private directory name that says which process owns it, so that
/// `remove_abandoned` can tell a dead process's leftovers from a live one's.
pub(crate) fn owned_dir_name(prefix: &str) -> String {
    format!("{prefix}{}-{}", std::process::id(), uuid::Uuid::new_v4())
}

/// Removes the directories under `root` named by `owned_dir_name(prefix)`
/// whose process no longer runs. Best effort: a directory that cannot be
/// removed now is tried again by the next staging.
pub(crate) fn remove_abandoned(root: &Path, prefix: &str) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|n| n.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !process_exists(pid) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Without a cheap liveness check, assume the owner may still be running.
#[cfg(not(target_os = "linux"))]
fn process_exists(_pid: u32) -> bool {
    true
}

impl Drop for Staging {
    fn drop(&mut self) {
        drop(self.writer.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
