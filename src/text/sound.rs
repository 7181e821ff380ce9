//! How a text sounds: the toneless pinyin readings of each character, so that a word can be
//! found where speech-to-text wrote a same-sound character instead (然气 for 燃气, 潮阳 for
//! 朝阳, 劲送 for 劲松).
//!
//! A word we look for may be said in any of its readings (朝阳 is chao yang, 长阳 chang yang),
//! so all of them count; a character of the call counts in its common reading only, since
//! that is the sound the engine heard when it chose it (otherwise 风汽 would pass for 丰台
//! through a rare reading of 汽).

use pinyin::{ToPinyin, ToPinyinMulti};

/// The distinct toneless readings of a character; empty for anything but a Chinese character.
pub fn readings(c: char) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    if let Some(multi) = c.to_pinyin_multi() {
        for p in multi {
            let plain = p.plain();
            if !out.contains(&plain) {
                out.push(plain);
            }
        }
    }
    out
}

/// A word's readings, one list per character, or None if any character has no reading.
pub fn word_readings(word: &str) -> Option<Vec<Vec<&'static str>>> {
    word.chars().map(|c| Some(readings(c)).filter(|r| !r.is_empty())).collect()
}

/// A word's common readings only, one per character: for phrases whose rare readings would
/// make them sound like everyday words (落水 read la shui is 拉水).
pub fn word_sound(word: &str) -> Option<Vec<Vec<&'static str>>> {
    word.chars().map(|c| c.to_pinyin().map(|p| vec![p.plain()])).collect()
}

/// A text as heard: its characters, their byte offsets and their common readings.
pub struct HeardText {
    chars: Vec<(usize, char)>,
    sounds: Vec<Option<&'static str>>,
    len: usize,
}

impl HeardText {
    pub fn new(text: &str) -> Self {
        let chars: Vec<(usize, char)> = text.char_indices().collect();
        let sounds = chars.iter().map(|&(_, c)| c.to_pinyin().map(|p| p.plain())).collect();
        HeardText { chars, sounds, len: text.len() }
    }

    pub fn char_count(&self) -> usize {
        self.chars.len()
    }

    /// Whether the characters from `at` on can sound like `word` (from [`word_readings`]).
    pub fn sounds_like(&self, at: usize, word: &[Vec<&'static str>]) -> bool {
        at + word.len() <= self.chars.len() && word.iter().enumerate().all(|(k, want)| self.sounds[at + k].is_some_and(|s| want.contains(&s)))
    }

    /// Byte range of `n` characters from character `at`.
    pub fn byte_range(&self, at: usize, n: usize) -> std::ops::Range<usize> {
        let start = self.chars[at].0;
        let end = self.chars.get(at + n).map_or(self.len, |c| c.0);
        start..end
    }

    /// Every character position where `word` can be heard.
    pub fn find_all<'a>(&'a self, word: &'a [Vec<&'static str>]) -> impl Iterator<Item = usize> + 'a {
        (0..self.chars.len()).filter(move |&i| self.sounds_like(i, word))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_sound_characters_are_heard_alike() {
        let heard = HeardText::new("我在潮阳这边");
        let word = word_readings("朝阳").unwrap();
        assert_eq!(heard.find_all(&word).collect::<Vec<_>>(), vec![2]);
        assert_eq!(&"我在潮阳这边"[heard.byte_range(2, 2)], "潮阳");
        assert!(word_readings("A栋").is_none());
        assert!(readings('长').contains(&"chang") && readings('长').contains(&"zhang"));
        // A rare reading of a character in the call does not count: 风汽 is not 丰台.
        assert_eq!(HeardText::new("东风汽车").find_all(&word_readings("丰台").unwrap()).count(), 0);
    }
}
