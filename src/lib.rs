//! hotline-triage: from a raw Chinese hotline transcript to a dispatch suggestion.
//!
//! The crate is laid out the way a request flows through it:
//! - [`text`]: normalisation, PII masking, jieba segmentation, keywords;
//! - [`model`]: the model folder (fetch, import, checks) and the BERT encoder;
//! - [`api`]: the HTTP transport;
//! - [`config`]: the one typed configuration struct.

pub mod api;
pub mod config;
pub mod error;
pub mod model;
pub mod text;

pub use error::Error;
