//! hotline-triage: from a raw Chinese hotline transcript to a dispatch suggestion.
//!
//! The crate is laid out the way a request flows through it:
//! - [`text`]: normalisation, PII masking, jieba segmentation, keywords;
//! - [`model`]: the model folder (fetch, import, checks) and the BERT encoder;
//! - [`dispatch`]: taxonomy, ranking, jurisdiction and urgency: the dispatch suggestion;
//! - [`training`]: learning classifier heads from labelled history, and evaluating them;
//! - [`batch`]: reclassifying files of historical cases, resumable and sharded;
//! - [`feedback`]: operators' decisions: SQLite store, stats, similar cases, export;
//! - [`cases`]: recent cases: repeated calls grouped as they arrive, hot spots;
//! - [`api`]: the HTTP transport and the operator console;
//! - [`config`]: the one typed configuration struct;
//! - [`chart`] and [`progress`]: the reports' charts and long jobs' progress, used by every layer.

pub mod api;
pub mod batch;
pub mod cases;
pub mod chart;
pub mod config;
pub mod dispatch;
pub mod error;
pub mod events;
pub mod feedback;
pub mod model;
pub mod progress;
pub mod publish;
pub mod store;
pub mod text;
pub mod training;

pub use error::Error;
