use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Text(#[from] crate::text::TextError),
}

impl DispatchError {
    pub(crate) fn invalid(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        DispatchError::Invalid { path: path.into(), reason: reason.into() }
    }
}
