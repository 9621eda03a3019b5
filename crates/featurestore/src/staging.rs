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
    /// Held for its drop, which removes the directory and the file in it.
    _dir: OwnedDir,
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
        let dir = OwnedDir::create(root, "").map_err(|e| Error::Staging {
            path: root.to_path_buf(),
            message: e.to_string(),
        })?;
        let fail = |e: &dyn std::fmt::Display| Error::Staging {
            path: dir.path().to_path_buf(),
            message: e.to_string(),
        };
        let mut fields: Vec<Field> = schema.fields().iter().map(|f| f.as_ref().clone()).collect();
        fields.push(Field::new(SEQUENCE_COLUMN, DataType::UInt64, false));
        let staged_schema = Arc::new(Schema::new(fields));
        let file = dir.path().join("rows.parquet");
        let properties = parquet_encodings(&staged_schema)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .build();
        let writer = File::create(&file).map_err(|e| fail(&e)).and_then(|f| {
            ArrowWriter::try_new(f, staged_schema.clone(), Some(properties)).map_err(|e| fail(&e))
        })?;
        Ok(Self {
            _dir: dir,
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

/// A directory private to this process, named after it so that
/// `remove_abandoned` can tell a dead process's leftovers from a live one's,
/// and removed when dropped, error and panic included. A directory renamed
/// away before then stays where it went.
pub(crate) struct OwnedDir(PathBuf);

impl OwnedDir {
    /// Creates `root/<prefix><pid>-<uuid>`, first removing what dead
    /// processes left under `root` with that prefix.
    pub(crate) fn create(root: &Path, prefix: &str) -> std::io::Result<Self> {
        remove_abandoned(root, prefix);
        let dir = Self(root.join(format!(
            "{prefix}{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4()
        )));
        std::fs::create_dir_all(&dir.0)?;
        Ok(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for OwnedDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Removes the directories under `root` named like an `OwnedDir` with
/// `prefix` whose process no longer runs. Best effort: a directory that
/// cannot be removed now is tried again by the next one created there.
fn remove_abandoned(root: &Path, prefix: &str) {
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
    /// The writer lets go of its file first; the directory goes with `_dir`.
    fn drop(&mut self) {
        drop(self.writer.take());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with_file(parent: &Path, name: &str) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("rows.parquet"), b"partial").unwrap();
        dir
    }

    #[test]
    fn only_a_dead_process_directory_with_the_prefix_is_swept() {
        let root = tempfile::tempdir().unwrap();
        // Above any pid_max Linux allows, so no process has it.
        let dead = dir_with_file(root.path(), "tmp-4194305-a");
        let unprefixed = dir_with_file(root.path(), "4194305-sales_v1");
        let live = OwnedDir::create(root.path(), "tmp-").unwrap();
        assert!(!dead.exists(), "a dead process's directory is swept");
        assert!(unprefixed.exists(), "a directory without the prefix stays");
        assert!(live.path().is_dir());
        let path = live.path().to_path_buf();
        drop(live);
        assert!(!path.exists(), "an owned directory goes when dropped");
    }
}
