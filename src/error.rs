//! The library's error type: each layer has its own typed error, gathered here so callers
//! (the CLI, the HTTP layer) can match on where a failure came from.

use crate::config::ConfigError;
use crate::model::ModelError;
use crate::text::TextError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Text(#[from] TextError),
    #[error(transparent)]
    Config(#[from] ConfigError),
}
