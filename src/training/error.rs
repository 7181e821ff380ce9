use std::path::PathBuf;

use crate::model::ModelError;
use crate::text::TextError;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: {reason}")]
    Data { path: PathBuf, reason: String },
    #[error("invalid training option: {0}")]
    Options(String),
    #[error("{path}: not a usable head: {reason}")]
    Head { path: PathBuf, reason: String },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("training failed: {0}")]
    Compute(#[from] candle_core::Error),
    #[error(transparent)]
    Report(#[from] crate::chart::ReportError),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        TrainError::Io { path: path.into(), source }
    }
}
