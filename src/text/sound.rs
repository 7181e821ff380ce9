//! How a text sounds: the toneless pinyin readings of each character, so that a word can be
//! found where speech-to-text wrote a same-sound character instead (然气 for 燃气, 潮阳 for
//! 朝阳, 劲送 for 劲松).
//!
//! Characters count in their common reading: that is the sound the engine heard when it chose
//! the character, and the rare readings a dictionary lists make everyday words sound like
//! places and dangers (风汽 would pass for 丰台 through a rare reading of 汽). A caller of a word
//! that has a reading of its own (朝阳 is chao yang) adds it ([`super::places`]).

use pinyin::ToPinyin;

/// Whether `written` can be a speech-to-text slip of `word`: they differ, but in no more than
/// one character in three (at least one). An engine swaps a character here and there; when most
/// of a word is other characters, it is another word that happens to sound alike (青花园 is not
/// 清华园, 言轻 not 延庆).
pub fn slip_of(written: &str, word: &str) -> bool {
    let d = differing(written, word);
    d >= 1 && d <= (word.chars().count() / 3).max(1)
}

/// How many characters of `written` differ from `word`'s, position by position.
pub fn differing(written: &str, word: &str) -> usize {
    written.chars().zip(word.chars()).filter(|(a, b)| a != b).count()
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

    /// Whether the characters from `at` on can sound like `word` (readings per character, as
    /// [`word_sound`] gives them).
    pub fn sounds_like(&self, at: usize, word: &[Vec<&'static str>]) -> bool {
        at + word.len() <= self.chars.len() && word.iter().enumerate().all(|(k, want)| self.sounds[at + k].is_some_and(|s| want.contains(&s)))
    }

    /// The common reading of the character at `at`, if it is a Chinese character.
    pub fn sound_at(&self, at: usize) -> Option<&'static str> {
        self.sounds.get(at).copied().flatten()
    }

    /// Byte range of `n` characters from character `at`.
    pub fn byte_range(&self, at: usize, n: usize) -> std::ops::Range<usize> {
        let start = self.chars[at].0;
        let end = self.chars.get(at + n).map_or(self.len, |c| c.0);
        start..end
    }

    /// Where `word` is written with a same-sound slip ([`slip_of`]): the byte range in `text` (the
    /// text this was built from) of each place, first to last.
    pub fn slips<'a>(&'a self, text: &'a str, word: &'a str) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
        let sound = word_sound(word);
        let n = word.chars().count();
        (0..self.chars.len())
            .filter(move |&i| sound.as_ref().is_some_and(|s| self.sounds_like(i, s)))
            .map(move |i| self.byte_range(i, n))
            .filter(move |r| slip_of(&text[r.clone()], word))
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
        let heard = HeardText::new("楼道里然气味很大");
        let word = word_sound("燃气味").unwrap();
        assert_eq!(heard.find_all(&word).collect::<Vec<_>>(), vec![3]);
        assert_eq!(&"楼道里然气味很大"[heard.byte_range(3, 3)], "然气味");
        assert!(word_sound("A栋").is_none());
        assert!(slip_of("潮阳", "朝阳") && slip_of("然气味", "燃气味") && !slip_of("朝阳", "朝阳"));
        assert!(!slip_of("青花园", "清华园") && !slip_of("言轻", "延庆"));
        // A rare reading of a character in the call does not count: 风汽 is not 丰台.
        assert_eq!(HeardText::new("东风汽车").find_all(&word_sound("丰台").unwrap()).count(), 0);
    }
}
