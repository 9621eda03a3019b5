//! A training dataset's files: Parquet per split written durably, staged in
//! a directory of their own and moved into place in one rename.

use std::path::Path;

use arrow::array::{RecordBatch, RecordBatchReader};

use crate::{Error, Result};

/// Moves a staged dataset directory to its version's place. A directory
/// already there belongs to no record (the catalog gave this version out, so
/// an earlier create was interrupted between moving its files and recording
/// them) and is replaced.
///
/// Staged files are durable before the rename makes them the dataset, and
/// the rename is durable before the catalog records it.
pub(crate) fn place_dataset(staging: &Path, target: &Path) -> std::io::Result<()> {
    if target.exists() {
        std::fs::remove_dir_all(target)?;
    }
    let parent = target.parent().expect("a dataset directory has a parent");
    std::fs::create_dir_all(parent)?;
    sync_dir(staging)?;
    std::fs::rename(staging, target)?;
    sync_dir(parent)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Staging directories sit beside the datasets; the prefix keeps a
/// dataset directory from ever being read as one.
pub(crate) const STAGING_PREFIX: &str = "tmp-";

pub(crate) fn write_parquet(path: &Path, batch: &RecordBatch) -> Result<()> {
    let fail = |e: &dyn std::fmt::Display| Error::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).map_err(|e| fail(&e))?;
    let file = std::fs::File::create(path).map_err(|e| fail(&e))?;
    let properties = sluice_offline::parquet_encodings(&batch.schema()).build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(properties))
        .map_err(|e| fail(&e))?;
    writer.write(batch).map_err(|e| fail(&e))?;
    writer
        .into_inner()
        .map_err(|e| fail(&e))?
        .sync_all()
        .map_err(|e| fail(&e))
}

pub(crate) fn read_parquet(path: &Path) -> Result<RecordBatch> {
    let fail = |e: &dyn std::fmt::Display| Error::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let file = std::fs::File::open(path).map_err(|e| fail(&e))?;
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
        .and_then(|b| b.build())
        .map_err(|e| fail(&e))?;
    let schema = reader.schema();
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| fail(&e))?;
    arrow::compute::concat_batches(&schema, &batches).map_err(|e| fail(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::staging::OwnedDir;

    #[test]
    fn a_placed_staging_directory_survives_its_owner() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("fv_v1").join("td1");
        let staged = {
            let owned = OwnedDir::create(root.path(), STAGING_PREFIX).unwrap();
            std::fs::write(owned.path().join("train.parquet"), b"rows").unwrap();
            place_dataset(owned.path(), &target).unwrap();
            owned.path().to_path_buf()
        };
        assert_eq!(
            std::fs::read(target.join("train.parquet")).unwrap(),
            b"rows"
        );
        assert!(!staged.exists());
    }
}
