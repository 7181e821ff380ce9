//! Building the IDF table that keywords are weighted by, from a corpus of past cases.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::Path;

use serde::Serialize;

use super::error::TextError;
use super::keywords::is_candidate;
use super::normalize::normalize_transcript;
use super::pii::mask_pii;
use super::segment::Segmenter;

/// What [`build_idf_table`] did, for the CLI to report.
#[derive(Debug, Clone, Serialize)]
pub struct IdfStats {
    pub documents: usize,
    /// Distinct keyword candidates seen in any document.
    pub candidates: usize,
    /// Words written, those with document frequency >= `min_df`.
    pub words: usize,
    pub min_df: usize,
}

/// A word seen in a single document has an IDF that says more about that document than about the
/// language; dropping those also keeps the table small enough to commit.
pub const IDF_MIN_DF: usize = 2;

/// Builds the IDF table from `documents` and writes it to `out` as sorted `word idf` lines.
///
/// Each document goes through the same normalisation, masking and segmentation as a live
/// transcript, so the table's words are the words keywords are looked up by. idf = ln(N / df),
/// as in jieba's own table; only keyword candidates with df >= [`IDF_MIN_DF`] are kept.
pub fn build_idf_table(
    documents: impl Iterator<Item = String>,
    segmenter: &Segmenter,
    out: &Path,
) -> Result<IdfStats, TextError> {
    let no_stopwords = HashSet::new();
    let mut df: BTreeMap<String, usize> = BTreeMap::new();
    let mut n_docs = 0usize;
    for document in documents {
        n_docs += 1;
        let normalized = normalize_transcript(&document);
        let masked = mask_pii(&normalized.text);
        let words: HashSet<String> = segmenter
            .cut(&masked.text)
            .into_iter()
            .filter(|w| is_candidate(w, &no_stopwords) && !segmenter.is_stopword(w))
            .collect();
        for word in words {
            *df.entry(word).or_insert(0) += 1;
        }
    }

    let candidates = df.len();
    let mut table = String::new();
    let mut words = 0;
    for (word, count) in &df {
        if *count < IDF_MIN_DF {
            continue;
        }
        let idf = (n_docs as f64 / *count as f64).ln();
        table.push_str(&format!("{word} {idf:.6}\n"));
        words += 1;
    }
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|source| TextError::Write {
            path: parent.to_path_buf(),
            source,
        })?;
    }
    fs::write(out, table).map_err(|source| TextError::Write {
        path: out.to_path_buf(),
        source,
    })?;
    Ok(IdfStats {
        documents: n_docs,
        candidates,
        words,
        min_df: IDF_MIN_DF,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::keywords::IDF_FILE;
    use crate::text::segment::tests::project_segmenter;

    #[test]
    fn idf_table_round_trip() {
        let s = project_segmenter();
        let dir = tempfile::tempdir().expect("temp dir");
        let out = dir.path().join("idf.txt");
        let docs = [
            "小区油烟扰民",
            "油烟扰民严重，拖欠工资",
            "拖欠工资三个月",
            "暖气不热",
        ]
        .map(String::from);
        let stats = build_idf_table(docs.into_iter(), s, &out).expect("builds");
        assert_eq!(stats.documents, 4);
        let table = fs::read_to_string(&out).expect("written");
        // df 2 of 4 → ln 2; df 1 words (暖气不热, 小区) are dropped.
        assert!(table.contains("油烟扰民 0.693147\n"), "{table}");
        assert!(table.contains("拖欠工资 0.693147\n"), "{table}");
        assert!(!table.contains("暖气不热"), "{table}");
        assert_eq!(stats.words, table.lines().count());
        let mut lines: Vec<&str> = table.lines().collect();
        lines.sort();
        assert_eq!(lines, table.lines().collect::<Vec<_>>());
        // The written table loads back as a valid IDF file.
        assert!(Segmenter::from_dict_dir(dir.path()).is_ok());
    }

    /// Regenerates models/dict/idf.txt from the train splits under ../shared/data (never copied
    /// into the repository). `cargo test --release --lib text::idf -- --ignored regenerate`
    #[test]
    #[ignore]
    fn regenerate_project_idf_table() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let data = root.join("../shared/data");
        let mut documents = Vec::new();
        for file in [
            "tipdm2020_messages.jsonl",
            "jiamusi_letters.jsonl",
            "dalian_letters.jsonl",
        ] {
            let content = fs::read_to_string(data.join(file)).expect("shared data present");
            for line in content.lines() {
                let Ok(row) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue;
                };
                if row["split"] != "train" {
                    continue;
                }
                let title = row["title"].as_str().unwrap_or("");
                let text = row["text"].as_str().unwrap_or("");
                documents.push(format!("{title}。{text}"));
            }
        }
        let out = root.join(crate::text::DEFAULT_DICT_DIR).join(IDF_FILE);
        let stats =
            build_idf_table(documents.into_iter(), project_segmenter(), &out).expect("builds");
        eprintln!("{stats:?}");
    }
}
