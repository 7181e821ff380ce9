use std::path::PathBuf;

/// Everything that can go wrong between a model file on disk and an embedding.
///
/// Each variant names the file involved, so that a broken model folder is reported as one
/// line a person can act on ("model.gguf: sha256 mismatch"), never as a panic.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },

    #[error("{path}: not a valid E5S1 model image at byte {offset}: {reason}")]
    Container { path: PathBuf, offset: u64, reason: String },

    #[error("{path}: missing; the model folder is incomplete (run `triage model fetch`)")]
    MissingFile { path: PathBuf },

    #[error("{path}: checksum mismatch (expected sha256 {expected}, found {actual}); the file is corrupt or truncated")]
    Checksum { path: PathBuf, expected: String, actual: String },

    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },

    #[error("{path}: cannot load tokenizer: {reason}")]
    Tokenizer { path: PathBuf, reason: String },

    #[error("tokenization failed: {0}")]
    Encode(String),

    #[error("tensor {name}: expected shape {expected:?}, found {actual:?}")]
    Shape { name: String, expected: Vec<usize>, actual: Vec<usize> },

    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),

    #[error("cannot obtain the encoder; tried:\n{}", attempts.iter().map(|a| format!("  - {a}")).collect::<Vec<_>>().join("\n"))]
    NoSource { attempts: Vec<String> },
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io { path: path.into(), source }
    }

    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        ModelError::Invalid { path: path.into(), reason: reason.into() }
    }
}
