//! The one entry point the CLI and the server use to turn a raw transcript into model input.

use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::error::TextError;
use super::keywords::Keyword;
use super::normalize::{caller_view, normalize_transcript, Turn};
use super::pii::{mask_pii, PiiKind};
use super::segment::Segmenter;

/// How many keywords a prepared transcript carries; enough for a dispatcher to skim.
pub const KEYWORDS_PER_TRANSCRIPT: usize = 10;

#[derive(Debug, Clone)]
pub struct TextPipeline {
    segmenter: Arc<Segmenter>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PreparedTranscript {
    /// Normalised and masked: what the encoder sees, and the only form that may be logged or stored.
    pub text: String,
    /// Masked as well, turn by turn.
    pub turns: Vec<Turn>,
    /// Kinds of PII that were masked anywhere in the transcript, each once.
    pub pii: Vec<PiiKind>,
    pub tokens: Vec<String>,
    pub keywords: Vec<Keyword>,
}

impl PreparedTranscript {
    /// What the encoder reads. With `caller_turns` (the recipe of heads trained since
    /// 2026-12-07), a dialogue gives the caller's turns only: the encoder sees a call's first 128
    /// tokens, and an operator's greetings and questions (您好，12345; 请问您在哪里) fill them while
    /// the caller's matter, said late, falls outside. The lexical features still read every turn.
    /// A transcript without an operator's turn, or an older recipe, is read whole.
    pub fn encoder_text(&self, caller_turns: bool) -> Cow<'_, str> {
        match caller_view(&self.turns).filter(|_| caller_turns) {
            Some(callers) => Cow::Owned(callers),
            None => Cow::Borrowed(&self.text),
        }
    }
}

impl TextPipeline {
    pub fn new(segmenter: Arc<Segmenter>) -> Self {
        TextPipeline { segmenter }
    }

    pub fn from_dict_dir(dir: &Path) -> Result<Self, TextError> {
        Ok(TextPipeline::new(Arc::new(Segmenter::from_dict_dir(dir)?)))
    }

    pub fn segmenter(&self) -> &Arc<Segmenter> {
        &self.segmenter
    }

    /// Normalised and masked text only: what the encoder sees, without the segmentation and
    /// keywords that [`TextPipeline::prepare`] adds. Same text as `prepare(raw).text`.
    pub fn clean(&self, raw: &str) -> String {
        mask_pii(&normalize_transcript(raw).text).text
    }

    /// normalise -> mask PII -> segment -> keywords. Never fails: any input yields some output.
    pub fn prepare(&self, raw: &str) -> PreparedTranscript {
        let normalized = normalize_transcript(raw);
        // Masking the joined text rather than concatenating masked turns: a number read out across
        // a turn boundary is still one number. Turns are masked separately for their own fields.
        let masked = mask_pii(&normalized.text);
        let mut pii = masked.found;
        let turns = normalized
            .turns
            .into_iter()
            .map(|turn| {
                let m = mask_pii(&turn.text);
                for kind in m.found {
                    if !pii.contains(&kind) {
                        pii.push(kind);
                    }
                }
                Turn {
                    speaker: turn.speaker,
                    text: m.text,
                }
            })
            .collect();
        let tokens = self.segmenter.cut(&masked.text);
        let keywords = self
            .segmenter
            .keywords(&masked.text, KEYWORDS_PER_TRANSCRIPT);
        PreparedTranscript {
            text: masked.text,
            turns,
            pii,
            tokens,
            keywords,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn clean_is_the_text_prepare_gives() {
        let p = super::TextPipeline::from_dict_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/dict")).unwrap();
        let raw = "坐席：您好。市民：嗯，我家楼下烧烤店油烟太大了，电话13812345678";
        assert_eq!(p.clean(raw), p.prepare(raw).text);
    }

    use super::*;
    use crate::text::Speaker;

    fn pipeline() -> TextPipeline {
        // The shared test segmenter is a &'static; the pipeline owns an Arc, so it loads its own once.
        static PIPELINE: std::sync::OnceLock<TextPipeline> = std::sync::OnceLock::new();
        PIPELINE
            .get_or_init(|| {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(crate::text::DEFAULT_DICT_DIR);
                match TextPipeline::from_dict_dir(&dir) {
                    Ok(p) => p,
                    Err(e) => panic!("project dictionaries must load: {e}"),
                }
            })
            .clone()
    }

    #[test]
    fn the_encoder_reads_the_callers_turns_of_a_dialogue() {
        let p = pipeline().prepare("坐席：您好，12345，请问您在哪个区？市民：朝阳望京。坐席：请讲。市民：楼下烧烤店油烟太大了，电话13812345678");
        assert_eq!(p.encoder_text(true), "朝阳望京。楼下烧烤店油烟太大了，电话[电话]");
        assert_eq!(p.encoder_text(false), p.text, "an older recipe reads the whole call");
        // No operator's turn: the whole text, as it is.
        for raw in ["我家楼下烧烤店油烟太大了", "市民：楼下烧烤店油烟太大了", "坐席：您好，请讲。"] {
            let p = pipeline().prepare(raw);
            assert_eq!(p.encoder_text(true), p.text, "{raw}");
        }
    }

    #[test]
    fn issue_example_end_to_end() {
        let p = pipeline().prepare("坐席：您好。市民：我家楼下烧烤店油烟太大了，电话13812345678");
        assert_eq!(p.turns.len(), 2);
        assert_eq!(p.turns[0].speaker, Speaker::Agent);
        assert_eq!(p.turns[0].text, "您好。");
        assert_eq!(p.turns[1].speaker, Speaker::Caller);
        assert_eq!(p.turns[1].text, "我家楼下烧烤店油烟太大了，电话[电话]");
        assert_eq!(p.text, "您好。我家楼下烧烤店油烟太大了，电话[电话]");
        assert!(
            !p.text.contains("坐席") && !p.text.contains("市民") && !p.text.contains("13812345678")
        );
        assert_eq!(p.pii, vec![PiiKind::Phone]);
        assert!(p.tokens.contains(&"油烟".to_string()), "{:?}", p.tokens);
        assert!(p.tokens.contains(&"[电话]".to_string()), "{:?}", p.tokens);
        assert!(
            p.keywords.iter().any(|k| k.word == "油烟"),
            "{:?}",
            p.keywords
        );
        assert!(p
            .keywords
            .iter()
            .all(|k| k.word != "[电话]" && k.word != "您好"));
    }

    #[test]
    fn nothing_personal_survives_in_any_field() {
        let raw = "市民：身份证１１０１０５１９９００３０７１２３４，卡号6222021234567890123，车京A·12345，打过12345";
        let p = pipeline().prepare(raw);
        let json = serde_json::to_string(&p).expect("serialises");
        for secret in [
            "110105199003071234",
            "6222021234567890123",
            "京A",
            "12345，",
        ] {
            assert!(!json.contains(secret), "{secret} leaked: {json}");
        }
        assert!(p.text.ends_with("打过12345"), "{}", p.text);
        assert_eq!(
            p.pii,
            vec![PiiKind::Plate, PiiKind::IdCard, PiiKind::BankCard]
        );
        assert!(json.contains("\"speaker\":\"caller\""));
    }

    #[test]
    fn garbage_never_panics() {
        let p = pipeline();
        let long = "？".repeat(10_000);
        let mixed = "坐席：\u{0000}嗯\u{0301}😀，，，。。。".repeat(500);
        for input in [
            "",
            "\u{FEFF}",
            "\u{0301}\u{0302}",
            "😀👨‍👩‍👧",
            long.as_str(),
            mixed.as_str(),
            "：",
            "[电话]",
        ] {
            let out = p.prepare(input);
            assert!(out.keywords.len() <= KEYWORDS_PER_TRANSCRIPT);
        }
    }
}
