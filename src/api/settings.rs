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
    /// Keys for `/admin/*` (reloading the model), one per line; unset refuses those routes.
    pub admin_key_file: Option<PathBuf>,
    /// Origins allowed to call the API from a browser. Empty (the default) sends no CORS
    /// headers, so browsers on other origins are refused.
    pub cors_allowed_origins: Vec<String>,
    /// The SQLite file of operators' decisions and recent cases (created if absent, WAL mode),
    /// used when `database_url` is unset.
    pub feedback_db: PathBuf,
    /// `postgres://user:password@host:port/dbname`: keep cases and decisions in PostgreSQL,
    /// shared by every replica, instead of the SQLite file.
    pub database_url: Option<String>,
    /// A client must send its request head within this time (slow-loris clients are cut off).
    pub header_read_timeout_ms: u64,
    /// ... and its body within this time.
    pub body_read_timeout_ms: u64,
}

impl ServerSettings {
    /// The database the service keeps cases and decisions in: the PostgreSQL URL when set,
    /// else the SQLite file.
    pub fn database(&self) -> String {
        match &self.database_url {
            Some(url) if !url.trim().is_empty() => url.trim().to_string(),
            _ => self.feedback_db.display().to_string(),
        }
    }
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
            admin_key_file: None,
            cors_allowed_origins: Vec::new(),
            feedback_db: PathBuf::from(crate::feedback::DEFAULT_FEEDBACK_DB),
            database_url: None,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 30_000,
        }
    }
}
