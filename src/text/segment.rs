//! Word segmentation: jieba with the default dictionary plus the project's user dictionaries.
//!
//! Built once at start-up and shared behind an `Arc`: loading the default dictionary takes a
//! noticeable fraction of a second, segmentation itself only reads.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use jieba_rs::Jieba;
use regex::Regex;

use super::error::TextError;
use super::keywords::{Keyword, KeywordExtractor, IDF_FILE, STOPWORDS_FILE};
use super::pii::PiiKind;

/// PII placeholders; jieba would split them at the brackets, so they are cut out before it runs.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    let alternatives: Vec<String> = PiiKind::ALL
        .iter()
        .map(|k| regex::escape(k.placeholder()))
        .collect();
    Regex::new(&alternatives.join("|")).expect("placeholder pattern")
});

pub struct Segmenter {
    jieba: Jieba,
    keywords: KeywordExtractor,
}

impl std::fmt::Debug for Segmenter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Segmenter")
            .field("jieba", &self.jieba)
            .finish_non_exhaustive()
    }
}

impl Segmenter {
    /// jieba's default dictionary, every user dictionary (`*.txt` except `idf.txt` and
    /// `stopwords.txt`, in file-name order so later files win deterministically), the IDF table
    /// and the stopwords of `dir`.
    pub fn from_dict_dir(dir: &Path) -> Result<Segmenter, TextError> {
        let mut jieba = Jieba::new();
        for path in user_dict_files(dir)? {
            let content = read(&path)?;
            load_user_dict(&mut jieba, &path, &content)?;
        }
        let keywords = KeywordExtractor::from_dict_dir(dir)?;
        Ok(Segmenter { jieba, keywords })
    }

    /// jieba's default dictionary and IDF only, for tools and tests that run without `models/dict`.
    pub fn with_default_dict() -> Segmenter {
        Segmenter {
            jieba: Jieba::new(),
            keywords: KeywordExtractor::default_idf(),
        }
    }

    /// Words of `text`; PII placeholders stay one token each, whitespace and punctuation are dropped.
    pub fn cut(&self, text: &str) -> Vec<String> {
        let mut tokens = Vec::new();
        let mut last = 0;
        for m in PLACEHOLDER.find_iter(text) {
            self.cut_plain(&text[last..m.start()], &mut tokens);
            tokens.push(m.as_str().to_string());
            last = m.end();
        }
        self.cut_plain(&text[last..], &mut tokens);
        tokens
    }

    fn cut_plain(&self, text: &str, tokens: &mut Vec<String>) {
        if text.is_empty() {
            return;
        }
        // HMM on: callers' addresses and names are mostly out of vocabulary.
        for token in self.jieba.cut(text, true) {
            if token.word.chars().any(char::is_alphanumeric) {
                tokens.push(token.word.to_string());
            }
        }
    }

    /// The `top_k` TF-IDF keywords of `text`, best first. Stopwords, single characters, numbers
    /// and PII placeholders never appear.
    pub fn keywords(&self, text: &str, top_k: usize) -> Vec<Keyword> {
        // Placeholders become clause breaks so that their inner words (电话) are not counted.
        let without_placeholders = PLACEHOLDER.replace_all(text, "，");
        self.keywords
            .extract(&self.jieba, &without_placeholders, top_k)
    }

    pub(crate) fn is_stopword(&self, word: &str) -> bool {
        self.keywords.is_stopword(word)
    }
}

fn read(path: &Path) -> Result<String, TextError> {
    fs::read_to_string(path).map_err(|source| TextError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn user_dict_files(dir: &Path) -> Result<Vec<PathBuf>, TextError> {
    let dir_error = |source| TextError::DictDir {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(dir_error)? {
        let path = entry.map_err(dir_error)?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && name.ends_with(".txt") && name != IDF_FILE && name != STOPWORDS_FILE {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Parses `word freq [tag]` lines (blank lines and `#` comments allowed) and adds them to `jieba`.
/// jieba's own loader would accept a missing frequency or a zero one silently; a user dictionary
/// with such a line is almost certainly mis-edited, so it is reported with its file and line.
fn load_user_dict(jieba: &mut Jieba, path: &Path, content: &str) -> Result<(), TextError> {
    for (index, raw_line) in content.lines().enumerate() {
        let line = raw_line.trim().trim_start_matches('\u{FEFF}');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = |reason: &str| TextError::MalformedLine {
            path: path.to_path_buf(),
            line: index + 1,
            content: raw_line.to_string(),
            reason: reason.to_string(),
        };
        let fields: Vec<&str> = line.split_whitespace().collect();
        let (word, freq, tag) = match fields.as_slice() {
            [word, freq] => (*word, *freq, None),
            [word, freq, tag] => (*word, *freq, Some(*tag)),
            [_] => {
                return Err(malformed(
                    "expected `word freq [tag]`, the frequency is missing",
                ))
            }
            _ => {
                return Err(malformed(
                    "expected `word freq [tag]`, found more than three fields",
                ))
            }
        };
        let freq: usize = freq
            .parse()
            .ok()
            .filter(|&f| f > 0)
            .ok_or_else(|| malformed("the frequency is not a positive integer"))?;
        jieba.add_word(word, Some(freq), tag);
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// The project's own dictionaries, loaded once for all tests of the text layer.
    pub(crate) fn project_segmenter() -> &'static Segmenter {
        static SEGMENTER: OnceLock<Segmenter> = OnceLock::new();
        SEGMENTER.get_or_init(|| {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::text::DEFAULT_DICT_DIR);
            match Segmenter::from_dict_dir(&dir) {
                Ok(s) => s,
                Err(e) => panic!("project dictionaries must load: {e}"),
            }
        })
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

    fn temp_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, content) in files {
            fs::write(dir.path().join(name), content).expect("write dict");
        }
        dir
    }

    #[test]
    fn segmenter_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Segmenter>();
    }

    #[test]
    fn hotline_terms_stay_whole() {
        let s = project_segmenter();
        let tokens = s.cut("楼下烧烤店油烟扰民，还有群租房和占道经营，接诉即办");
        for word in ["油烟扰民", "群租房", "占道经营", "接诉即办"] {
            assert!(
                tokens.iter().any(|t| t == word),
                "{word} missing from {tokens:?}"
            );
        }
    }

    #[test]
    fn places_stay_whole() {
        let s = project_segmenter();
        let tokens = s.cut("我住在朝阳区望京街道，东华门街道也有");
        for word in ["朝阳区", "望京街道", "东华门街道"] {
            assert!(
                tokens.iter().any(|t| t == word),
                "{word} missing from {tokens:?}"
            );
        }
    }

    #[test]
    fn placeholders_are_one_token_and_punctuation_is_dropped() {
        let s = project_segmenter();
        let tokens = s.cut("电话[电话]，身份证[身份证号]。车[车牌号]！ ");
        assert!(tokens.contains(&"[电话]".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"[身份证号]".to_string()), "{tokens:?}");
        assert!(tokens.contains(&"[车牌号]".to_string()), "{tokens:?}");
        assert!(tokens
            .iter()
            .all(|t| !t.trim().is_empty() && t != "，" && t != "。" && t != "["));
    }

    #[test]
    fn malformed_line_names_file_and_line() {
        let dir = temp_dir(&[(
            "zz_custom.txt",
            "油烟扰民 20000 n\n\n# comment\n群租房 lots n\n",
        )]);
        let err = Segmenter::from_dict_dir(dir.path()).expect_err("must fail");
        let message = err.to_string();
        assert!(message.contains("zz_custom.txt:4"), "{message}");
        assert!(message.contains("群租房 lots n"), "{message}");
        assert!(matches!(err, TextError::MalformedLine { line: 4, .. }));

        let dir = temp_dir(&[("a.txt", "只有词\n")]);
        assert!(matches!(
            Segmenter::from_dict_dir(dir.path()),
            Err(TextError::MalformedLine { line: 1, .. })
        ));
        let dir = temp_dir(&[("a.txt", "词 0\n")]);
        assert!(matches!(
            Segmenter::from_dict_dir(dir.path()),
            Err(TextError::MalformedLine { line: 1, .. })
        ));
    }

    #[test]
    fn missing_dir_is_an_error_and_missing_idf_falls_back() {
        assert!(matches!(
            Segmenter::from_dict_dir(Path::new("/nonexistent/hotline/dict")),
            Err(TextError::DictDir { .. })
        ));
        // No idf.txt and no stopwords.txt: jieba's default IDF still yields keywords.
        let dir = temp_dir(&[("words.txt", "飞线充电 20000 n\n")]);
        let s = Segmenter::from_dict_dir(dir.path()).expect("loads");
        let keywords = s.keywords("小区里有人飞线充电，飞线充电很危险", 3);
        assert_eq!(keywords.first().map(|k| k.word.as_str()), Some("飞线充电"));
    }

    #[test]
    fn garbage_never_panics() {
        let s = project_segmenter();
        let long = "！".repeat(10_000);
        for input in [
            "",
            "\u{0000}\u{0301}",
            "😀😀[电话",
            "[电话]]]",
            "[[电话]",
            long.as_str(),
            "\u{10FFFF}",
        ] {
            let _ = s.cut(input);
            let _ = s.keywords(input, 5);
        }
        assert!(s.cut(&long).is_empty());
    }
}
