//! Errors of the text layer: all of them come from loading or writing dictionary files.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("cannot read dictionary folder {path}: {source}")]
    DictDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A line that is not `word freq [tag]` (user dictionaries), `word idf` (idf.txt) or a
    /// gazetteer row.
    #[error("{path}:{line}: {reason}: `{content}`")]
    MalformedLine {
        path: PathBuf,
        line: usize,
        content: String,
        reason: String,
    },
}
