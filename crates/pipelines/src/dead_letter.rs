//! Messages a streaming pipeline could not use, with the reason, appended
//! to `.sluice/pipelines/NAME/dead_letter.ndjson` so the stream keeps going.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::{Error, Result};

/// One unusable message or event.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct DeadLetter {
    /// The stream sequence of the message; none for an event found late after SQL.
    pub sequence: Option<u64>,
    pub reason: String,
    pub payload: String,
}

pub(crate) struct DeadLetterFile {
    path: PathBuf,
    file: File,
}

impl DeadLetterFile {
    pub fn open(dir: &Path) -> Result<Self> {
        let path = dir.join("dead_letter.ndjson");
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        Ok(Self { path, file })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends and syncs, so that the letters are durable before their messages are acknowledged.
    pub fn append(&mut self, letters: &[DeadLetter]) -> Result<()> {
        if letters.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for letter in letters {
            text.push_str(&serde_json::to_string(letter).expect("plain struct serializes"));
            text.push('\n');
        }
        let io = |source| Error::Io {
            path: self.path.clone(),
            source,
        };
        self.file.write_all(text.as_bytes()).map_err(io)?;
        self.file.sync_data().map_err(io)
    }
}
