//! TF-IDF keywords: the stopword list and the IDF table of a dictionary folder ([`super::idf`] builds the table).
//!
//! Keywords are shown to dispatchers next to a suggestion, so they must be words a person would
//! underline: no function words, no hotline boilerplate (您好, 反映, 问题), no numbers, no PII
//! placeholders.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::path::Path;

use jieba_rs::{Jieba, KeywordExtract, KeywordExtractConfig, TfIdf};
use serde::Serialize;

use super::error::TextError;
use super::pii::PiiKind;

/// Files in the dictionary folder that are not `word freq [tag]` user dictionaries.
pub(crate) const IDF_FILE: &str = "idf.txt";
pub(crate) const STOPWORDS_FILE: &str = "stopwords.txt";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Keyword {
    pub word: String,
    pub weight: f64,
}

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

pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, TextError> {
    match fs::read_to_string(path) {
        Ok(content) => Ok(Some(content)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(TextError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
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
pub(crate) fn is_candidate(word: &str, stopwords: &HashSet<String>) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn malformed_idf_line_names_file_and_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join(IDF_FILE), "油烟 3.2\n噪音 high\n").expect("write");
        let err = KeywordExtractor::from_dict_dir(dir.path()).err().expect("must fail");
        assert!(
            matches!(err, TextError::MalformedLine { line: 2, .. }),
            "{err}"
        );
        assert!(err.to_string().contains("idf.txt:2"), "{err}");
    }

}
