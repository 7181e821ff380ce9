//! The resume point of a batch job: how far the input was read and how long the output and
//! errors files were when everything before that point had been written and synced.
//!
//! The order of a commit is what makes a kill -9 safe at any instant: output and errors are
//! flushed and fsynced first, then the checkpoint is written to a temporary file, fsynced and
//! renamed over the old one. On resume both files are cut back to the recorded lengths, which
//! drops any rows written after the last checkpoint, and reading continues at the recorded
//! byte offset: every row ends up in the output exactly once.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::cases::reader::Position;
use super::{BatchError, RowCounts};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// What the job reads and how; a resume with other settings would mix two jobs' rows.
    pub job: String,
    /// sha256 of the input's first 64 KiB: the same file, not just the same name.
    pub input_fingerprint: String,
    pub position: Position,
    pub counts: RowCounts,
    pub output_bytes: u64,
    pub errors_bytes: u64,
    pub complete: bool,
}

pub fn path_for(output: &Path) -> PathBuf {
    let mut name = output.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".checkpoint.json");
    output.with_file_name(name)
}

pub fn fingerprint(input: &Path) -> Result<String, BatchError> {
    let io = |source| BatchError::Io { path: input.display().to_string(), source };
    let mut head = Vec::with_capacity(1 << 16);
    std::fs::File::open(input).map_err(io)?.take(1 << 16).read_to_end(&mut head).map_err(io)?;
    Ok(hex::encode(Sha256::digest(&head)))
}

pub fn load(path: &Path) -> Result<Option<Checkpoint>, BatchError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| BatchError::Input { path: path.display().to_string(), reason: format!("unreadable checkpoint ({e}); delete it to start over") }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BatchError::Io { path: path.display().to_string(), source }),
    }
}

/// Atomically replace the checkpoint at `path`.
pub fn save(path: &Path, checkpoint: &Checkpoint) -> Result<(), BatchError> {
    let io = |source| BatchError::Io { path: path.display().to_string(), source };
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp).map_err(io)?;
        f.write_all(&serde_json::to_vec_pretty(checkpoint).unwrap_or_default()).map_err(io)?;
        f.sync_all().map_err(io)?;
    }
    std::fs::rename(&tmp, path).map_err(io)?;
    // The rename itself must survive a crash too.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
