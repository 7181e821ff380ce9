//! The transport's own settings: address, limits, batching, keys and timeouts. They are one part of
//! the service's configuration (`crate::config::Settings::server`), which reads them from a file,
//! the environment and flags.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::batcher::BatchSettings;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSettings {
    pub addr: String,
    /// Longer transcripts are refused with 422 rather than tying up the encoder.
    pub max_text_chars: usize,
    pub max_body_bytes: usize,
    pub max_batch_items: usize,
    /// Dynamic batching, queue bound and per-request timeout.
    pub batching: BatchSettings,
    /// A file of API keys, one per line (`#` comments). When set, every `/v1` route needs
    /// `Authorization: Bearer KEY`; health, readiness and metrics stay open.
    pub api_key_file: Option<PathBuf>,
    /// Origins allowed to call the API from a browser. Empty (the default) sends no CORS
    /// headers, so browsers on other origins are refused.
    pub cors_allowed_origins: Vec<String>,
    /// The SQLite file of operators' decisions (created if absent, WAL mode).
    pub feedback_db: PathBuf,
    /// A client must send its request head within this time (slow-loris clients are cut off).
    pub header_read_timeout_ms: u64,
    /// ... and its body within this time.
    pub body_read_timeout_ms: u64,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            addr: "127.0.0.1:8080".into(),
            max_text_chars: 20_000,
            max_body_bytes: 2 << 20,
            max_batch_items: 64,
            batching: BatchSettings::default(),
            api_key_file: None,
            cors_allowed_origins: Vec::new(),
            feedback_db: PathBuf::from(crate::feedback::DEFAULT_FEEDBACK_DB),
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
        }
    }
}
