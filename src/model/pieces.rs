//! The tokenizer, optionally cut down to the pieces Chinese hotline text can use.
//!
//! XLM-R's Unigram vocabulary has 250,002 pieces for a hundred languages, and the tokenizers
//! crate holds them in about 245 MB (measured). A Unigram tokenizer only ever emits pieces that
//! are substrings of the (normalised) text, so for a text whose characters are all in a kept set,
//! a vocabulary holding every piece made of those characters gives exactly the same
//! segmentation. We keep Han, Latin, Greek, kana, CJK and full-width punctuation, symbols and
//! emoji: every character of the letters in ../shared/data is in the set
//! (137,257 of 250,002 pieces), and map each kept piece back to its original id, so the embedding table and
//! the model's checksum are untouched. A character outside the set (Hangul, Cyrillic, Arabic, ...)
//! becomes `<unk>` instead of its own piece; `encoder.prune_vocabulary = false` keeps everything.

use std::path::Path;

use tokenizers::Tokenizer;

use super::ModelError;

/// Characters whose pieces are kept.
pub fn kept_char(c: char) -> bool {
    matches!(c as u32,
        0x0000..=0x024F          // Latin, with accents (pinyin tones, units, names)
        | 0x0370..=0x03FF        // Greek (μg, Ω)
        | 0x2000..=0x206F        // general punctuation
        | 0x2100..=0x23FF        // letterlike symbols, number forms, arrows, maths (≤), technical
        | 0x2460..=0x24FF        // enclosed numbers ①
        | 0x2581                 // ▁, the word-start marker
        | 0x2500..=0x27BF        // box drawing, shapes, symbols, dingbats (★ ✓)
        | 0x2E80..=0x2FDF        // radicals
        | 0x3000..=0x303F        // CJK punctuation
        | 0x3040..=0x312F        // kana and bopomofo (stray ー ブ ㄎ in real letters)
        | 0x3200..=0x33FF        // enclosed CJK, compatibility
        | 0x3400..=0x4DBF        // Han extension A
        | 0x4E00..=0x9FFF        // Han
        | 0xF900..=0xFAFF        // Han compatibility
        | 0xFE30..=0xFE6F        // CJK compatibility and small forms (﹑ ﹝ ﹞)
        | 0xFF00..=0xFFEF        // full-width forms
        | 0x1F000..=0x1FAFF)     // emoji
}

pub struct PieceTokenizer {
    inner: Tokenizer,
    /// Pruned id -> the model's id; `None` when nothing was pruned.
    to_model: Option<Vec<u32>>,
}

fn tok_err(path: &Path, e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer { path: path.to_path_buf(), reason: e.to_string() }
}

impl PieceTokenizer {
    pub fn full(mut inner: Tokenizer) -> Result<Self, ModelError> {
        // Windows are cut by the encoder: a tokenizer that truncated on its own would silently
        // drop the end of long calls.
        inner.with_truncation(None).map_err(|e| ModelError::Encode(e.to_string()))?.with_padding(None);
        Ok(PieceTokenizer { inner, to_model: None })
    }

    /// Load a tokenizer.json, pruned to [`kept_char`] pieces when `prune` is set.
    pub fn load(path: &Path, prune: bool) -> Result<Self, ModelError> {
        if !prune {
            return Self::full(Tokenizer::from_file(path).map_err(|e| tok_err(path, e))?);
        }
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let mut json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| tok_err(path, e))?;
        let model = &mut json["model"];
        if model["type"] != "Unigram" {
            return Self::full(Tokenizer::from_bytes(&bytes).map_err(|e| tok_err(path, e))?);
        }
        let unk = model["unk_id"].as_u64().unwrap_or(0) as usize;
        let vocab = model["vocab"].as_array_mut().ok_or_else(|| tok_err(path, "Unigram model without a vocab"))?;
        let mut to_model = Vec::new();
        let mut kept = Vec::new();
        for (id, entry) in std::mem::take(vocab).into_iter().enumerate() {
            let piece = entry.get(0).and_then(|p| p.as_str()).unwrap_or("");
            // Specials (ids up to unk) keep their places, so unk_id stays valid.
            if id <= unk || piece.chars().all(kept_char) {
                to_model.push(id as u32);
                kept.push(entry);
            }
        }
        *vocab = kept;
        let new_id = |old: u64| to_model.binary_search(&(old as u32)).ok().map(|i| i as u64);
        if let Some(added) = json["added_tokens"].as_array_mut() {
            let mut keep = Vec::new();
            for mut t in std::mem::take(added) {
                if let Some(id) = t["id"].as_u64().and_then(new_id) {
                    t["id"] = id.into();
                    keep.push(t);
                }
            }
            *added = keep;
        }
        let rebuilt = serde_json::to_vec(&json).map_err(|e| tok_err(path, e))?;
        let mut me = Self::full(Tokenizer::from_bytes(&rebuilt).map_err(|e| tok_err(path, e))?)?;
        me.to_model = Some(to_model);
        Ok(me)
    }

    /// The model's ids for `text`, without special tokens.
    pub fn ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let enc = self.inner.encode(text, false).map_err(|e| ModelError::Encode(e.to_string()))?;
        Ok(match &self.to_model {
            Some(map) => enc.get_ids().iter().map(|&i| map.get(i as usize).copied().unwrap_or(i)).collect(),
            None => enc.get_ids().to_vec(),
        })
    }

    /// Pieces held in memory.
    pub fn len(&self) -> usize {
        self.inner.get_vocab_size(false)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
