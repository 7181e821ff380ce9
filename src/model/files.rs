//! Files a model folder or an adapter is made of: their checksums, and reading their JSON.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ModelError;

/// A file as a manifest records it, so a truncated or altered copy is caught by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileEntry {
    pub sha256: String,
    pub bytes: u64,
}

pub fn sha256_file(path: &Path) -> Result<FileEntry, ModelError> {
    let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| ModelError::io(path, e))?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok(FileEntry { sha256: hex::encode(hasher.finalize()), bytes })
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ModelError> {
    let bytes = std::fs::read(path).map_err(|e| if e.kind() == std::io::ErrorKind::NotFound { ModelError::MissingFile { path: path.to_path_buf() } } else { ModelError::io(path, e) })?;
    serde_json::from_slice(&bytes).map_err(|e| ModelError::invalid(path, format!("not valid JSON for this file: {e}")))
}
