//! Transcript normalisation: speaker turns, fillers, character width, whitespace and punctuation.
//!
//! Speech-to-text output and agent-typed notes disagree on almost every surface detail (full-width
//! digits, doubled punctuation, "嗯，" at every pause, speaker labels inline). The encoder and the
//! TF-IDF features should see one canonical form, so everything here is a pure function of the input
//! and never fails: malformed input degrades to less cleaning, not to an error.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

use super::sound::{word_sound, HeardText};

/// Who is talking in a turn, from the speaker label that opened it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Speaker {
    Agent,
    Caller,
    /// Text before the first label, or a transcript without labels.
    Unknown,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Turn {
    pub speaker: Speaker,
    pub text: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NormalizedTranscript {
    /// The turns' texts joined, without their speaker labels.
    pub text: String,
    pub turns: Vec<Turn>,
}

const AGENT_LABELS: &[&str] = &["坐席", "客服", "话务员", "接线员"];
const CALLER_LABELS: &[&str] = &["市民", "来电人", "来电者", "群众"];

/// A label candidate; whether it really is one depends on the character before it, which the
/// `regex` crate cannot look behind for, so that is checked by hand in [`split_turns`].
static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    let names: Vec<&str> = AGENT_LABELS.iter().chain(CALLER_LABELS).copied().collect();
    // The pattern is built from constants above; failing to compile it is a programming error.
    Regex::new(&format!(r"({})[ \t]*[：:]", names.join("|"))).expect("speaker label pattern")
});

/// Interjections dropped when they stand alone between clause boundaries. 额 doubles as 金额/额度,
/// and 啊 as a sentence-final particle (对啊), which is why they are only dropped when standalone.
const INTERJECTIONS: &[char] = &['嗯', '呃', '额', '啊'];

/// Multi-character fillers. 那个 is a real determiner too (那个小区), so it is only dropped when a
/// comma follows it; 就是说/然后呢 at the start of a clause carry no meaning even without a comma.
const FILLER_WORDS: &[(&str, bool)] = &[("就是说", true), ("然后呢", true), ("那个", false)];

pub fn normalize_transcript(raw: &str) -> NormalizedTranscript {
    let labelled = restore_line_labels(raw);
    let cleaned = clean_chars(&labelled);
    let mut turns = Vec::new();
    for (speaker, body) in split_turns(&cleaned) {
        let text = tidy_turn(body);
        // A turn of nothing but "嗯。" carries nothing once the filler is gone.
        if text.chars().any(char::is_alphanumeric) {
            turns.push(Turn { speaker, text });
        }
    }
    let text = join_turns(&turns);
    NormalizedTranscript { text, turns }
}

/// The caller's turns joined, for a dialogue (one with an operator's turn and a caller's); None
/// for a transcript with no operator or no caller, whose text is read whole.
pub fn caller_view(turns: &[Turn]) -> Option<String> {
    let callers = || turns.iter().filter(|t| t.speaker != Speaker::Agent);
    let has_agent = turns.iter().any(|t| t.speaker == Speaker::Agent);
    (has_agent && callers().next().is_some()).then(|| join_turns(callers()))
}

/// Joins turn texts so that turn boundaries stay sentence boundaries for the segmenter and encoder.
pub(crate) fn join_turns<'a>(turns: impl IntoIterator<Item = &'a Turn>) -> String {
    let mut text = String::new();
    for turn in turns {
        if let Some(last) = text.chars().next_back() {
            if !is_punct(last) {
                text.push('。');
            }
        }
        text.push_str(&turn.text);
    }
    text
}

/// Characters that show nothing and carry no meaning in a transcript: zero-width spaces and
/// joiners, direction marks, embeddings, overrides and isolates, the BOM, soft hyphens, and
/// control characters. They come from copy-paste out of web forms and split words.
pub fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}' | '\u{00AD}')
        || (c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
}

/// Width folding, invisible character removal, whitespace unification.
fn clean_chars(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    for c in raw.chars() {
        match c {
            c if is_invisible(c) => {}
            '\n' | '\r' | '\t' | '\u{3000}' => out.push(' '),
            c if c.is_whitespace() => out.push(' '),
            // Full-width forms of ！，：；？（） are the normal Chinese punctuation: keep them.
            '！' | '，' | '：' | '；' | '？' | '（' | '）' => out.push(c),
            '\u{FF01}'..='\u{FF5E}' => {
                // In range, so the subtraction cannot underflow and the result is printable ASCII.
                out.push(char::from_u32(c as u32 - 0xFEE0).unwrap_or(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// Speech-to-text drops the colon after a speaker label and may write the label itself with
/// same-sound characters (接线源, 师民), but it keeps each turn on its own line. Where at least one
/// line opens with an agent's label and another with a caller's, such openings are labels again,
/// so that the turns (and the caller's view the heads read) survive the engine. One line that
/// opens with 市民 is a note (市民反映...), not a dialogue, and is left alone.
fn restore_line_labels(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\n') {
        return Cow::Borrowed(raw);
    }
    let lines: Vec<&str> = raw.split('\n').collect();
    let found: Vec<Option<(Speaker, usize)>> = lines.iter().map(|line| line_label(line)).collect();
    let has = |who: Speaker| found.iter().flatten().any(|&(s, _)| s == who);
    if !(has(Speaker::Agent) && has(Speaker::Caller)) {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len() + lines.len() * 3);
    for (k, (line, label)) in lines.iter().zip(&found).enumerate() {
        if k > 0 {
            out.push('\n');
        }
        match label {
            Some((speaker, end)) => {
                let name = if *speaker == Speaker::Agent { AGENT_LABELS[0] } else { CALLER_LABELS[0] };
                out.push_str(name);
                out.push('：');
                out.push_str(line[*end..].trim_start_matches([' ', '\t', '：', ':']));
            }
            None => out.push_str(line),
        }
    }
    Cow::Owned(out)
}

/// The speaker whose label, written or heard, opens `line`, and the byte offset in `line` where
/// the label ends.
fn line_label(line: &str) -> Option<(Speaker, usize)> {
    let body = line.trim_start();
    let lead = line.len() - body.len();
    // Only the line's opening can be a label: the readings of the rest are not needed.
    let longest = AGENT_LABELS.iter().chain(CALLER_LABELS).map(|l| l.chars().count()).max().unwrap_or(0);
    let opening = body.char_indices().nth(longest).map_or(body.len(), |(at, _)| at);
    let heard = HeardText::new(&body[..opening]);
    for (labels, speaker) in [(AGENT_LABELS, Speaker::Agent), (CALLER_LABELS, Speaker::Caller)] {
        for label in labels {
            let Some(sound) = word_sound(label) else { continue };
            if heard.sounds_like(0, &sound) {
                return Some((speaker, lead + heard.byte_range(0, sound.len()).end));
            }
        }
    }
    None
}

/// Splits at speaker labels. A label counts only at the start of the text or after punctuation or
/// whitespace, so that "尊敬的市民：" or "群众：" inside a word is not taken for a speaker change.
fn split_turns(text: &str) -> Vec<(Speaker, &str)> {
    let mut turns = Vec::new();
    let mut speaker = Speaker::Unknown;
    let mut body_start = 0;
    for m in LABEL.captures_iter(text) {
        let (Some(whole), Some(name)) = (m.get(0), m.get(1)) else {
            continue;
        };
        let before = text[..whole.start()].chars().next_back();
        if before.is_some_and(|c| !(is_punct(c) || c.is_whitespace())) {
            continue;
        }
        turns.push((speaker, &text[body_start..whole.start()]));
        speaker = if AGENT_LABELS.contains(&name.as_str()) {
            Speaker::Agent
        } else {
            Speaker::Caller
        };
        body_start = whole.end();
    }
    turns.push((speaker, &text[body_start..]));
    turns
}

/// Everything done within one turn, in an order where each step sees the previous one's output:
/// whitespace first so fillers see clean boundaries, punctuation last so a removed filler's
/// leftover comma merges with its neighbour.
fn tidy_turn(body: &str) -> String {
    let spaced = collapse_whitespace(body);
    let unfilled = strip_fillers(&spaced);
    let punct = collapse_punct(&unfilled);
    // Removing a filler can leave a clause that starts with a comma.
    punct
        .trim_start_matches(|c: char| c.is_whitespace() || is_clause_punct(c))
        .trim_end()
        .to_string()
}

/// One space for any run of whitespace, and none next to CJK text or punctuation, where a space is
/// an artefact of speech-to-text pauses rather than a word boundary.
fn collapse_whitespace(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            let mut j = i;
            while j < chars.len() && chars[j].is_whitespace() {
                j += 1;
            }
            let prev = out.chars().next_back();
            let next = chars.get(j).copied();
            let keep = match (prev, next) {
                (Some(p), Some(n)) => !(is_wide(p) || is_wide(n)),
                _ => false,
            };
            if keep {
                out.push(' ');
            }
            i = j;
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn strip_fillers(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    'scan: while i < chars.len() {
        let at_clause_start = out
            .chars()
            .next_back()
            .is_none_or(|c| is_punct(c) || c.is_whitespace());

        if at_clause_start && INTERJECTIONS.contains(&chars[i]) {
            let mut j = i;
            while j < chars.len() && INTERJECTIONS.contains(&chars[j]) {
                j += 1;
            }
            // Standalone: the interjection is a clause on its own ("嗯，" "呃。" or the end).
            match chars.get(j) {
                None => break 'scan,
                Some(&next) if is_punct(next) || next.is_whitespace() => {
                    i = j + 1;
                    continue 'scan;
                }
                Some(_) => {}
            }
        }

        for &(word, drop_at_clause_start) in FILLER_WORDS {
            let len = word.chars().count();
            if !starts_with_at(&chars, i, word) {
                continue;
            }
            let next = chars.get(i + len).copied();
            if next.is_some_and(is_comma) {
                i += len + 1;
                continue 'scan;
            }
            // Only when something follows: a turn that is just "就是说" is left alone.
            if drop_at_clause_start && at_clause_start && next.is_some_and(|c| !is_punct(c)) {
                i += len;
                continue 'scan;
            }
        }

        out.push(chars[i]);
        i += 1;
    }
    out
}

/// Runs of clause punctuation become one mark: the first sentence end in the run if there is one
/// ("，。" → "。", "？？？" → "？"), else the first mark. Runs of dots become one ellipsis.
fn collapse_punct(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        if !is_clause_punct(chars[i]) {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let mut j = i;
        while j < chars.len() && is_clause_punct(chars[j]) {
            j += 1;
        }
        let run = &chars[i..j];
        if run.len() == 1 {
            // A single "." may be a decimal point or part of a URL: leave it as it is.
            out.push(run[0]);
        } else if run.iter().all(|&c| c == '.' || c == '…' || c == '。')
            && run.iter().any(|&c| c != '。')
        {
            out.push('…');
        } else if let Some(&end) = run.iter().find(|&&c| is_sentence_end(c)) {
            out.push(end);
        } else {
            out.push(run[0]);
        }
        i = j;
    }
    out
}

fn starts_with_at(chars: &[char], at: usize, word: &str) -> bool {
    (at..)
        .zip(word.chars())
        .all(|(k, w)| chars.get(k) == Some(&w))
}

fn is_comma(c: char) -> bool {
    matches!(c, '，' | '、' | ',')
}

fn is_sentence_end(c: char) -> bool {
    matches!(c, '。' | '！' | '？' | '!' | '?' | '…')
}

/// Punctuation that ends a clause or sentence, the kind speech-to-text doubles up.
fn is_clause_punct(c: char) -> bool {
    is_comma(c) || is_sentence_end(c) || matches!(c, '；' | '：' | ';' | ':' | '.')
}

/// Any punctuation, for deciding where clauses and turns start.
pub(crate) fn is_punct(c: char) -> bool {
    is_clause_punct(c)
        || matches!(
            c,
            '“' | '”'
                | '‘'
                | '’'
                | '（'
                | '）'
                | '《'
                | '》'
                | '【'
                | '】'
                | '「'
                | '」'
                | '—'
                | '～'
                | '·'
        )
        || c.is_ascii_punctuation()
}

/// CJK characters and full-width punctuation, next to which a space is never a word separator.
fn is_wide(c: char) -> bool {
    matches!(c as u32,
        0x2E80..=0x2FFF | 0x3000..=0x303F | 0x3040..=0x9FFF | 0xF900..=0xFAFF | 0xFF00..=0xFFEF | 0x20000..=0x3FFFF)
        || matches!(c, '…' | '“' | '”' | '‘' | '’' | '—')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize_transcript(s).text
    }

    #[test]
    fn speaker_labels_become_turns() {
        let n = normalize_transcript("坐席：您好。市民：我家楼下烧烤店油烟太大了");
        assert_eq!(n.turns.len(), 2);
        assert_eq!(n.turns[0].speaker, Speaker::Agent);
        assert_eq!(n.turns[0].text, "您好。");
        assert_eq!(n.turns[1].speaker, Speaker::Caller);
        assert_eq!(n.turns[1].text, "我家楼下烧烤店油烟太大了");
        assert_eq!(n.text, "您好。我家楼下烧烤店油烟太大了");
        assert!(!n.text.contains("坐席") && !n.text.contains("市民"));
    }

    #[test]
    fn all_labels_and_both_colons() {
        let n = normalize_transcript(
            "客服: 请讲\n来电人：路灯不亮 话务员:好的 来电者：谢谢 接线员：不客气 群众：再见",
        );
        let speakers: Vec<Speaker> = n.turns.iter().map(|t| t.speaker).collect();
        use Speaker::*;
        assert_eq!(speakers, vec![Agent, Caller, Agent, Caller, Agent, Caller]);
        assert_eq!(n.turns[1].text, "路灯不亮");
        // Turns that do not end in punctuation are joined with a full stop.
        assert_eq!(n.text, "请讲。路灯不亮。好的。谢谢。不客气。再见");
    }

    #[test]
    fn heard_labels_at_line_starts_become_turns() {
        // As asr_noise.py leaves a dialogue: no colons, one label heard as 接线源, 市民 as 师民.
        let n = normalize_transcript("接线源您好12345\n师民我们楼下饭店油烟太大\n接线员在哪个区\n市民朝阳区望京");
        let speakers: Vec<Speaker> = n.turns.iter().map(|t| t.speaker).collect();
        assert_eq!(speakers, [Speaker::Agent, Speaker::Caller, Speaker::Agent, Speaker::Caller]);
        assert_eq!(n.turns[1].text, "我们楼下饭店油烟太大");
        assert_eq!(n.turns[3].text, "朝阳区望京");
    }

    #[test]
    fn a_note_or_one_speaker_keeps_its_words() {
        // Lines that open with 市民 alone make no dialogue: the words stay in the text.
        assert_eq!(norm("市民反映楼下饭店油烟太大\n市民要求查处"), "市民反映楼下饭店油烟太大市民要求查处");
        assert!(normalize_transcript("市民反映楼下饭店油烟\n市民要求查处").turns.iter().all(|t| t.speaker == Speaker::Unknown));
    }

    #[test]
    fn label_inside_a_sentence_is_not_a_speaker() {
        let n = normalize_transcript("尊敬的市民：您好");
        assert_eq!(n.turns.len(), 1);
        assert_eq!(n.turns[0].speaker, Speaker::Unknown);
        assert_eq!(n.text, "尊敬的市民：您好");
    }

    #[test]
    fn text_before_the_first_label_is_unknown() {
        let n = normalize_transcript("通话开始。坐席：您好");
        assert_eq!(n.turns[0].speaker, Speaker::Unknown);
        assert_eq!(n.turns[0].text, "通话开始。");
        assert_eq!(n.turns[1].speaker, Speaker::Agent);
    }

    #[test]
    fn full_width_forms_fold_but_chinese_punctuation_stays() {
        assert_eq!(norm("ＡＢＣ１２３"), "ABC123");
        assert_eq!(
            norm("你好，请问？好的！（备注）：是；"),
            "你好，请问？好的！（备注）：是；"
        );
        assert_eq!(norm("电话＃１２"), "电话#12");
    }

    #[test]
    fn ideographic_space_and_whitespace_collapse() {
        assert_eq!(norm("Hello\u{3000}\u{3000}  world"), "Hello world");
        assert_eq!(norm("我家 \n 楼下"), "我家楼下");
        assert_eq!(norm("  WiFi   密码  "), "WiFi密码");
    }

    #[test]
    fn repeated_punctuation_collapses() {
        assert_eq!(norm("好的。。。"), "好的。");
        assert_eq!(norm("不热，，暖气"), "不热，暖气");
        assert_eq!(norm("太吵了！！！"), "太吵了！");
        assert_eq!(norm("为什么？？？"), "为什么？");
        assert_eq!(norm("然后......没人管"), "然后…没人管");
        assert_eq!(norm("不热，。"), "不热。");
        assert_eq!(norm("温度3.5度"), "温度3.5度");
    }

    #[test]
    fn zero_width_and_control_characters_vanish() {
        assert_eq!(norm("油\u{200B}烟\u{FEFF}扰\u{2060}民\u{0007}"), "油烟扰民");
        assert_eq!(norm("楼下\u{202E}饭馆\u{2066}油烟\u{2069}\u{00AD}"), "楼下饭馆油烟", "direction controls too");
        assert_eq!(norm("\u{200C}\u{200D}"), "");
    }

    #[test]
    fn fillers_are_removed_conservatively() {
        assert_eq!(norm("嗯，我家"), "我家");
        assert_eq!(norm("呃。我家楼下"), "我家楼下");
        assert_eq!(norm("我家楼下，嗯嗯，有烧烤"), "我家楼下，有烧烤");
        assert_eq!(norm("那个，我家"), "我家");
        assert_eq!(norm("就是说我家没暖气"), "我家没暖气");
        assert_eq!(norm("然后呢，物业不管"), "物业不管");
        // Real words that share characters with fillers.
        assert_eq!(norm("那个小区"), "那个小区");
        assert_eq!(norm("对啊，是的"), "对啊，是的");
        assert_eq!(norm("额度不够"), "额度不够");
        assert_eq!(norm("金额，不对"), "金额，不对");
        assert_eq!(norm("啊"), "");
    }

    #[test]
    fn filler_only_turns_are_dropped() {
        let n = normalize_transcript("坐席：嗯。市民：停水了");
        assert_eq!(n.turns.len(), 1);
        assert_eq!(n.turns[0].speaker, Speaker::Caller);
        assert_eq!(n.text, "停水了");
    }

    #[test]
    fn garbage_never_panics() {
        let long = "。".repeat(10_000) + &"！？".repeat(5_000);
        let inputs = [
            "",
            "\u{0000}\u{0001}\u{001F}\u{007F}\u{0085}",
            "\u{0301}\u{0308}a\u{0301}",
            "😀🙈👨‍👩‍👧 坐席：😀",
            long.as_str(),
            "坐席：",
            "：:：",
            "市民：坐席：客服：",
            "\u{FF5E}\u{FF01}\u{FF5F}\u{10FFFF}",
        ];
        for input in inputs {
            let n = normalize_transcript(input);
            assert!(n.text.chars().count() <= input.chars().count() + n.turns.len());
        }
        // Punctuation-only text has no turn left, but the collapse itself must hold for long runs.
        assert_eq!(norm(&long), "");
        assert_eq!(collapse_punct(&long), "。");
    }
}
