//! A files source: a path or glob under the project folder, read with the
//! same readers and checks as `sluice ingest`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;
use sluice_featurestore::FileSource;
use sluice_types::coerce::InputCoercer;

use crate::{Error, Result};

/// Files matching `pattern` (relative to `project_dir` unless absolute), sorted.
pub(crate) fn matching_files(
    pipeline: &str,
    project_dir: &Path,
    pattern: &str,
) -> Result<Vec<PathBuf>> {
    let full = if Path::new(pattern).is_absolute() {
        PathBuf::from(pattern)
    } else {
        project_dir.join(pattern)
    };
    let source_error = |message: String| Error::Source {
        pipeline: pipeline.to_string(),
        message,
    };
    let text = full.to_string_lossy().to_string();
    let paths = glob::glob(&text).map_err(|e| source_error(format!("path '{pattern}': {e}")))?;
    let files: BTreeSet<PathBuf> = paths
        .filter_map(|p| p.ok())
        .filter(|p| p.is_file())
        .collect();
    Ok(files.into_iter().collect())
}

/// How a file is remembered between runs: relative to the project when it is inside it.
pub(crate) fn file_label(project_dir: &Path, path: &Path) -> String {
    path.strip_prefix(project_dir)
        .unwrap_or(path)
        .display()
        .to_string()
}

pub(crate) fn read_files(paths: &[PathBuf], coercer: &InputCoercer) -> Result<Vec<RecordBatch>> {
    let mut batches = Vec::new();
    for path in paths {
        for batch in FileSource::open(path, coercer)? {
            batches.push(batch?);
        }
    }
    Ok(batches)
}
