//! Text layer: what happens to a transcript before the encoder sees it.
//!
//! The order matters and is fixed by [`TextPipeline::prepare`]: normalise (speaker turns, fillers,
//! width, punctuation), then mask PII, then segment and extract keywords. Masking comes before
//! segmentation so that no token, keyword or log line can ever carry a phone or ID number.

mod error;
pub mod idf;
pub mod keywords;
pub mod normalize;
pub mod pii;
pub mod pipeline;
pub mod places;
pub mod sites;
pub mod segment;
pub mod sound;

pub use error::TextError;
pub use idf::{build_idf_table, IdfStats};
pub use keywords::Keyword;
pub use normalize::{caller_view, normalize_transcript, NormalizedTranscript, Speaker, Turn};
pub use pii::{mask_pii, MaskedText, PiiKind};
pub use pipeline::{PreparedTranscript, TextPipeline};
pub use places::{Gazetteer, Location, DEFAULT_GAZETTEER};
pub use segment::Segmenter;

/// Dictionary folder, relative to the project root: user dictionaries (`*.txt`), `idf.txt`, `stopwords.txt`.
pub const DEFAULT_DICT_DIR: &str = "models/dict";
