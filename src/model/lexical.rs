//! Lexical features for the classifier heads: jieba words and word bigrams, character
//! 1–3-grams, and pairs of the characters' sounds, TF-IDF weighted. The encoder misses the
//! keywords that decide a department (油烟, 供热, 拖欠工资); these features carry them, and the
//! head learns how much to trust each.

use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};
use pinyin::ToPinyin;
use serde::{Deserialize, Serialize, Serializer};

/// A sparse, L2-normalised feature vector: (feature index, weight), indices ascending.
pub type SparseVector = Vec<(u32, f32)>;

/// The terms a head reads, with their IDF. Five heads keep about 370,000 terms between them,
/// so each term's text is stored once, back to back, and the lookup table holds indices only:
/// a `Vec<String>` beside a `HashMap<String, u32>` cost about 130 bytes a term, this about 25.
#[derive(Clone, Deserialize)]
#[serde(try_from = "VocabularyFile")]
pub struct LexicalVocabulary {
    /// Feature `i` is `text[offsets[i]..offsets[i + 1]]`: `w:油烟` (word), `b:楼下|油烟`
    /// (word bigram), `c:油烟扰` (characters), `p:you|yan` (two characters' toneless sounds).
    text: String,
    offsets: Vec<u32>,
    pub idf: Vec<f32>,
    pub documents: usize,
    index: HashTable<u32>,
    hasher: DefaultHashBuilder,
}

/// `vocabulary.json` as written: the terms in a list, their IDF in another.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VocabularyFile {
    features: Vec<String>,
    idf: Vec<f32>,
    documents: usize,
}

impl TryFrom<VocabularyFile> for LexicalVocabulary {
    type Error = String;

    fn try_from(file: VocabularyFile) -> Result<Self, String> {
        if file.idf.len() != file.features.len() {
            return Err(format!("{} features but {} idf values", file.features.len(), file.idf.len()));
        }
        LexicalVocabulary::new(&file.features, file.idf, file.documents)
    }
}

impl Serialize for LexicalVocabulary {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Borrowed<'a> {
            features: Vec<&'a str>,
            idf: &'a [f32],
            documents: usize,
        }
        Borrowed { features: (0..self.len()).map(|i| self.feature(i as u32)).collect(), idf: &self.idf, documents: self.documents }
            .serialize(serializer)
    }
}

impl fmt::Debug for LexicalVocabulary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LexicalVocabulary").field("features", &self.len()).field("documents", &self.documents).finish()
    }
}

/// The terms of one text, before vocabulary lookup.
pub fn terms(tokens: &[String], text: &str) -> Vec<String> {
    let words: Vec<&str> = tokens.iter().map(String::as_str).filter(|t| t.chars().any(char::is_alphanumeric)).collect();
    let mut out = Vec::with_capacity(words.len() * 2 + text.len());
    out.extend(words.iter().map(|w| format!("w:{w}")));
    out.extend(words.windows(2).map(|p| format!("b:{}|{}", p[0], p[1])));
    // Characters within runs of letters/ideographs only: n-grams across punctuation mean little.
    for run in text.split(|c: char| !c.is_alphanumeric()).filter(|r| !r.is_empty()) {
        let chars: Vec<char> = run.chars().collect();
        for n in 1..=3 {
            out.extend(chars.windows(n).map(|w| format!("c:{}", w.iter().collect::<String>())));
        }
        // A same-sound slip (无业 for 物业, 然气 for 燃气) changes the characters but not these.
        let sounds: Vec<Option<&str>> = chars.iter().map(|c| c.to_pinyin().map(|p| p.plain())).collect();
        out.extend(sounds.windows(2).filter_map(|w| Some(format!("p:{}|{}", w[0]?, w[1]?))));
    }
    out
}

/// Terms are normalised by family, as separate vectorisers would be: words and word bigrams,
/// characters, sounds.
fn family(feature: &str) -> usize {
    match feature.as_bytes().first() {
        Some(b'c') => 1,
        Some(b'p') => 2,
        _ => 0,
    }
}

impl LexicalVocabulary {
    /// Keep `max_features` terms found in at least `min_df` documents: a third from each family
    /// ([`family`]), the terms said most often first. One ranking for all families by document
    /// frequency kept mostly single characters and sounds, which are in nearly every text, and
    /// left out most words and word pairs. On the tipdm letters' dev split the lexical head went
    /// from 0.912 to 0.916 accuracy with this choice, and a logistic regression on these terms
    /// from 0.923 to 0.927 (docs/accuracy.md, "Lexical terms").
    pub fn fit(documents: &[Vec<String>], max_features: usize, min_df: usize) -> Self {
        // (documents, occurrences) of each term.
        let mut counts: HashMap<&str, (usize, usize)> = HashMap::new();
        for doc in documents {
            let mut seen: Vec<&str> = doc.iter().map(String::as_str).collect();
            seen.sort_unstable();
            for (i, t) in seen.iter().enumerate() {
                let c = counts.entry(t).or_default();
                c.1 += 1;
                if i == 0 || seen[i - 1] != *t {
                    c.0 += 1;
                }
            }
        }
        let mut by_family: [Vec<(&str, (usize, usize))>; 3] = Default::default();
        for (t, c) in counts.into_iter().filter(|(_, (d, _))| *d >= min_df.max(1)) {
            by_family[family(t)].push((t, c));
        }
        let share = max_features.div_ceil(3);
        let mut kept: Vec<(&str, (usize, usize))> = Vec::with_capacity(max_features);
        for mut terms in by_family {
            // Most occurrences first, ties by the string so the vocabulary is reproducible.
            terms.sort_unstable_by(|a, b| b.1 .1.cmp(&a.1 .1).then(a.0.cmp(b.0)));
            terms.truncate(share.min(max_features - kept.len()));
            kept.extend(terms);
        }
        kept.sort_unstable_by(|a, b| a.0.cmp(b.0));
        let n = documents.len() as f32;
        let features: Vec<&str> = kept.iter().map(|(t, _)| *t).collect();
        let idf = kept.iter().map(|(_, (d, _))| ((1.0 + n) / (1.0 + *d as f32)).ln() + 1.0).collect();
        LexicalVocabulary::new(&features, idf, documents.len()).expect("document frequencies count each term once")
    }

    /// Lay the terms out and index them; a term given twice is an error.
    fn new(features: &[impl AsRef<str>], idf: Vec<f32>, documents: usize) -> Result<Self, String> {
        let bytes: usize = features.iter().map(|f| f.as_ref().len()).sum();
        if u32::try_from(bytes).is_err() {
            return Err(format!("{bytes} bytes of terms is more than a vocabulary holds"));
        }
        let mut v = LexicalVocabulary {
            text: String::with_capacity(bytes),
            offsets: Vec::with_capacity(features.len() + 1),
            idf,
            documents,
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
        };
        v.offsets.push(0);
        for f in features {
            v.text.push_str(f.as_ref());
            v.offsets.push(v.text.len() as u32);
        }
        // Built beside `v`, which stays readable while the table grows.
        let mut index = HashTable::with_capacity(features.len());
        for i in 0..features.len() as u32 {
            let term = v.feature(i);
            let hash = v.hasher.hash_one(term);
            if index.find(hash, |&j| v.feature(j) == term).is_some() {
                return Err(format!("the term {term:?} is listed twice"));
            }
            index.insert_unique(hash, i, |&j| v.hasher.hash_one(v.feature(j)));
        }
        v.index = index;
        Ok(v)
    }

    /// The text of feature `i`.
    pub fn feature(&self, i: u32) -> &str {
        &self.text[self.offsets[i as usize] as usize..self.offsets[i as usize + 1] as usize]
    }

    /// The index of a term, if the vocabulary keeps it.
    pub fn lookup(&self, term: &str) -> Option<u32> {
        self.index.find(self.hasher.hash_one(term), |&i| self.feature(i) == term).copied()
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Sublinear TF × IDF; unknown terms are ignored. Each family of terms ([`family`]) is
    /// L2-normalised on its own: a text has several times more character n-grams than words,
    /// and one shared norm would drown the words.
    pub fn transform(&self, terms: &[String]) -> SparseVector {
        let mut counts: HashMap<u32, f32> = HashMap::new();
        for t in terms {
            if let Some(i) = self.lookup(t) {
                *counts.entry(i).or_default() += 1.0;
            }
        }
        let mut v: SparseVector = counts.into_iter().map(|(i, tf)| (i, (1.0 + tf.ln()) * self.idf[i as usize])).collect();
        v.sort_unstable_by_key(|(i, _)| *i);
        let family_of = |i: u32| family(self.feature(i));
        let mut norms = [0f32; 3];
        for &(i, x) in &v {
            norms[family_of(i)] += x * x;
        }
        for (i, x) in v.iter_mut() {
            let norm = norms[family_of(*i)].sqrt();
            if norm > 0.0 {
                *x /= norm;
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<String> {
        s.split(' ').map(String::from).collect()
    }

    #[test]
    fn terms_cover_words_bigrams_and_characters() {
        let t = terms(&toks("楼下 油烟 ，"), "楼下油烟，");
        for want in ["w:油烟", "b:楼下|油烟", "c:油", "c:下油", "c:下油烟", "p:xia|you", "p:you|yan"] {
            assert!(t.contains(&want.to_string()), "{want} missing from {t:?}");
        }
        assert!(!t.iter().any(|x| x.contains('，')), "punctuation is not a term: {t:?}");
    }

    #[test]
    fn a_same_sound_slip_keeps_the_sound_terms() {
        let sounds = |text: &str| terms(&[], text).into_iter().filter(|t| t.starts_with("p:")).collect::<Vec<_>>();
        assert_eq!(sounds("找物业"), sounds("找无业"));
        assert_eq!(sounds("找物业"), vec!["p:zhao|wu", "p:wu|ye"]);
        assert!(sounds("12345").is_empty(), "digits have no sound");
    }

    #[test]
    fn vocabulary_keeps_frequent_terms_and_each_family_has_unit_norm() {
        let docs = vec![terms(&toks("油烟 扰民"), "油烟扰民"), terms(&toks("油烟 太大"), "油烟太大"), terms(&toks("供热"), "供热")];
        let v = LexicalVocabulary::fit(&docs, 1000, 2);
        assert!(v.lookup("w:油烟").is_some());
        assert!(v.lookup("w:供热").is_none(), "df 1 < min_df 2");
        let x = v.transform(&docs[0]);
        let norm = |prefix: &str| x.iter().filter(|(i, _)| v.feature(*i).starts_with(prefix)).map(|(_, w)| w * w).sum::<f32>().sqrt();
        assert!((norm("c:") - 1.0).abs() < 1e-5, "character terms have unit norm");
        assert!((norm("w:") - 1.0).abs() < 1e-5, "word terms have unit norm (no bigram of 油烟 扰民 survives min_df here)");
        assert!((norm("p:") - 1.0).abs() < 1e-5, "sound terms have unit norm");
        assert!(v.transform(&terms(&toks("完全 无关"), "完全无关")).is_empty());
    }

    #[test]
    fn each_family_keeps_a_third_of_the_vocabulary_most_said_first() {
        // Characters and sounds are in every text; words would lose a single ranking to them.
        let docs: Vec<Vec<String>> = (0..4).map(|i| terms(&toks(&format!("油烟 扰民 {}", ["太大", "严重", "每天", "晚上"][i])), "油烟扰民油烟")).collect();
        let v = LexicalVocabulary::fit(&docs, 6, 1);
        let kept = |prefix: &str| (0..v.len() as u32).filter(|&i| v.feature(i).starts_with(prefix)).count();
        assert_eq!(v.len(), 6);
        assert_eq!(kept("c:"), 2);
        assert_eq!(kept("p:"), 2);
        assert_eq!(kept("w:") + kept("b:"), 2);
        assert!(v.lookup("c:油").is_some() && v.lookup("c:油烟").is_some(), "said twice in each text, they beat 扰 and 民");
    }

    #[test]
    fn vocabulary_file_round_trips_and_refuses_bad_lists() {
        let docs = vec![terms(&toks("油烟 扰民"), "油烟扰民"), terms(&toks("油烟 太大"), "油烟太大")];
        let v = LexicalVocabulary::fit(&docs, 1000, 1);
        let json = serde_json::to_string(&v).unwrap();
        let back: LexicalVocabulary = serde_json::from_str(&json).unwrap();
        assert_eq!(back.len(), v.len());
        for i in 0..v.len() as u32 {
            assert_eq!(back.lookup(v.feature(i)), Some(i));
        }
        assert_eq!(back.transform(&docs[1]), v.transform(&docs[1]));
        let twice = r#"{"features": ["w:a", "w:a"], "idf": [1.0, 1.0], "documents": 2}"#;
        assert!(serde_json::from_str::<LexicalVocabulary>(twice).unwrap_err().to_string().contains("twice"));
        let short = r#"{"features": ["w:a", "w:b"], "idf": [1.0], "documents": 2}"#;
        assert!(serde_json::from_str::<LexicalVocabulary>(short).unwrap_err().to_string().contains("idf"));
    }
}
