//! TF-IDF keywords: the stopword list, the IDF table, and building that table from a corpus.
//!
//! Keywords are shown to dispatchers next to a suggestion, so they must be words a person would
//! underline: no function words, no hotline boilerplate (您好, 反映, 问题), no numbers, no PII
//! placeholders.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use jieba_rs::{Jieba, KeywordExtract, KeywordExtractConfig, TfIdf};
use serde::Serialize;

use super::error::TextError;
use super::normalize::normalize_transcript;
use super::pii::{mask_pii, PiiKind};
use super::segment::{read_optional, Segmenter, IDF_FILE, STOPWORDS_FILE};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Keyword {
    pub word: String,
    pub weight: f64,
}

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

/// The IDF table and stopwords of one dictionary folder.
pub(crate) struct KeywordExtractor {
    tfidf: TfIdf,
    stopwords: HashSet<String>,
}

impl KeywordExtractor {
    /// `dir/idf.txt` if present (jieba's default IDF otherwise) and `dir/stopwords.txt` if present.
    pub(crate) fn from_dict_dir(dir: &Path) -> Result<KeywordExtractor, TextError> {
        let stopwords = match read_optional(&dir.join(STOPWORDS_FILE))? {
            Some(content) => parse_stopwords(&content),
            None => {
                tracing::warn!(dir = %dir.display(), "no {STOPWORDS_FILE}: keywords will include function words");
                HashSet::new()
            }
        };
        let idf_path = dir.join(IDF_FILE);
        let tfidf = match read_optional(&idf_path)? {
            Some(content) => {
                let table = validate_idf(&idf_path, &content)?;
                let mut tfidf = TfIdf::new(None::<&mut std::io::Empty>, extract_config(&stopwords));
                tfidf
                    .load_dict(&mut table.as_bytes())
                    .map_err(|source| TextError::Read {
                        path: idf_path.clone(),
                        source,
                    })?;
                tfidf
            }
            None => {
                tracing::info!(dir = %dir.display(), "no {IDF_FILE}: using jieba's default IDF table");
                default_tfidf(&stopwords)
            }
        };
        Ok(KeywordExtractor { tfidf, stopwords })
    }

    pub(crate) fn default_idf() -> KeywordExtractor {
        let stopwords = HashSet::new();
        KeywordExtractor {
            tfidf: default_tfidf(&stopwords),
            stopwords,
        }
    }

    pub(crate) fn is_stopword(&self, word: &str) -> bool {
        self.stopwords.contains(word)
    }

    pub(crate) fn extract(&self, jieba: &Jieba, text: &str, top_k: usize) -> Vec<Keyword> {
        if top_k == 0 || text.is_empty() {
            return Vec::new();
        }
        // Ask for every candidate: numbers are filtered only here, and asking for exactly top_k
        // would come back short whenever a number ranked high. A transcript has few distinct words.
        self.tfidf
            .extract_keywords(jieba, text, usize::MAX, Vec::new())
            .into_iter()
            .filter(|k| is_candidate(&k.keyword, &self.stopwords))
            .take(top_k)
            .map(|k| Keyword {
                word: k.keyword,
                weight: k.weight,
            })
            .collect()
    }
}

fn extract_config(stopwords: &HashSet<String>) -> KeywordExtractConfig {
    KeywordExtractConfig::builder()
        .set_stop_words(stopwords.iter().cloned().collect::<BTreeSet<String>>())
        .min_keyword_length(2)
        .use_hmm(true)
        .build()
}

fn default_tfidf(stopwords: &HashSet<String>) -> TfIdf {
    let mut tfidf = TfIdf::default();
    *tfidf.config_mut() = extract_config(stopwords);
    tfidf
}

fn parse_stopwords(content: &str) -> HashSet<String> {
    content
        .lines()
        .map(|l| l.trim().trim_start_matches('\u{FEFF}'))
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// jieba skips unparsable IDF lines silently; a broken table would silently flatten every weight
/// to the median, so it is rejected here with the file and line.
fn validate_idf(path: &Path, content: &str) -> Result<String, TextError> {
    let mut table = String::with_capacity(content.len());
    for (index, raw_line) in content.lines().enumerate() {
        let line = raw_line.trim().trim_start_matches('\u{FEFF}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let valid = match fields.as_slice() {
            [_, idf] => idf.parse::<f64>().is_ok_and(|v| v.is_finite() && v >= 0.0),
            _ => false,
        };
        if !valid {
            return Err(TextError::MalformedLine {
                path: path.to_path_buf(),
                line: index + 1,
                content: raw_line.to_string(),
                reason: "expected `word idf` with a finite, non-negative idf".to_string(),
            });
        }
        table.push_str(line);
        table.push('\n');
    }
    Ok(table)
}

/// Whether a word may be a keyword (stopwords aside, which the caller's set decides).
fn is_candidate(word: &str, stopwords: &HashSet<String>) -> bool {
    word.chars().count() >= 2
        && !stopwords.contains(word)
        && !is_number(word)
        && !PiiKind::ALL.iter().any(|k| k.placeholder() == word)
        && word.chars().any(char::is_alphanumeric)
}

/// Arabic or Chinese numerals (3.5, 三十, 二〇二三, 50%), and ASCII tokens with a digit in them:
/// house numbers, dates, measures and anonymised numbers (1-12-3-501, 2019-01, 15cm, 0000-00000000)
/// that are specific to one letter and never what it is about.
fn is_number(word: &str) -> bool {
    let has_digit = word
        .chars()
        .any(|c| c.is_ascii_digit() || is_chinese_numeral(c));
    let numeral_only = word.chars().all(|c| {
        c.is_ascii_digit() || is_chinese_numeral(c) || matches!(c, '.' | '%' | ',' | '点')
    });
    let ascii_code = word.is_ascii() && word.chars().any(|c| c.is_ascii_digit());
    has_digit && (numeral_only || ascii_code)
}

fn is_chinese_numeral(c: char) -> bool {
    matches!(
        c,
        '零' | '〇'
            | '一'
            | '二'
            | '两'
            | '三'
            | '四'
            | '五'
            | '六'
            | '七'
            | '八'
            | '九'
            | '十'
            | '百'
            | '千'
            | '万'
            | '亿'
    )
}

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
    use crate::text::segment::tests::project_segmenter;

    #[test]
    fn numbers_placeholders_and_single_chars_are_not_candidates() {
        let none = HashSet::new();
        for word in [
            "2023",
            "3.5",
            "三十",
            "二〇二三",
            "50%",
            "1-12-3-501",
            "15cm",
            "[电话]",
            "楼",
            "，，",
        ] {
            assert!(!is_candidate(word, &none), "{word}");
        }
        for word in ["油烟", "一直", "12345热线", "WiFi", "A3区"] {
            assert!(is_candidate(word, &none), "{word}");
        }
    }

    #[test]
    fn keywords_skip_stopwords_and_boilerplate() {
        let s = project_segmenter();
        let text = "您好，我想反映一个问题，尊敬的领导，我家楼下烧烤店油烟扰民，油烟扰民很严重，电话[电话]，2023年";
        let keywords = s.keywords(text, 10);
        let words: Vec<&str> = keywords.iter().map(|k| k.word.as_str()).collect();
        assert_eq!(words.first(), Some(&"油烟扰民"), "{words:?}");
        for banned in [
            "您好", "反映", "问题", "领导", "尊敬", "[电话]", "电话", "2023",
        ] {
            assert!(!words.contains(&banned), "{banned} in {words:?}");
        }
        assert!(keywords.windows(2).all(|w| w[0].weight >= w[1].weight));
        assert!(s.keywords(text, 2).len() <= 2);
        assert!(s.keywords(text, 0).is_empty());
    }

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
        assert!(validate_idf(&out, &table).is_ok());
    }

    #[test]
    fn malformed_idf_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(IDF_FILE), "油烟 3.2\n噪音 high\n").expect("write");
        let err = Segmenter::from_dict_dir(dir.path()).expect_err("must fail");
        assert!(
            matches!(err, TextError::MalformedLine { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("idf.txt:2"), "{err}");
    }

    /// Regenerates models/dict/idf.txt from the train splits under ../shared/data (never copied
    /// into the repository). `cargo test --release --lib text::keywords -- --ignored regenerate`
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
