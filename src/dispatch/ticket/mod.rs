//! The ticket, filled in from the call (智能填单): where, when, about whom or what, what the caller
//! asks for, sums, people, and a one-line summary in the 12345 style.
//!
//! Every field is read from the masked text by rules, extractively: a field the call does not
//! state is absent, never guessed. Each carries its span (character offsets in the masked text),
//! so a page can highlight where it came from.
//!
//! - [`address`]: district and street (the gazetteer), estate, road and number, building, landmark;
//! - [`phrases`]: time, subject, request, sums, people, vulnerable callers;
//! - [`matters`]: the matter as a ticket names it (油烟扰民, 暖气不热), from the list of matters or,
//!   where the list finds none, from the matter head's reading of the whole call;
//! - [`summary`]: place + matter + request, at most [`summary::MAX_CHARS`] characters.

pub mod address;
pub mod matters;
pub mod phrases;
pub mod summary;

use std::ops::Range;

use serde::Serialize;

use crate::text::{caller_view, Keyword, Location, PiiKind, Speaker, Turn};

pub use address::TicketAddress;

/// A piece of the masked text: its words and where they are (character offsets, end exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Span {
    pub text: String,
    pub start: usize,
    pub end: usize,
}

impl Span {
    /// The span of the byte range `start..end` of `text`, in characters.
    pub(crate) fn of(text: &str, start: usize, end: usize) -> Span {
        let chars_before = text[..start].chars().count();
        let inner = &text[start..end];
        Span { text: inner.to_string(), start: chars_before, end: chars_before + inner.chars().count() }
    }
}

/// Someone the call says needs particular care.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Vulnerable {
    /// Someone living alone, usually elderly: a welfare check may be needed.
    ElderlyAlone,
    Elderly,
    Children,
    Disabled,
    Pregnant,
}

/// The fields an operator would otherwise type. Missing fields are left out of the JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<TicketAddress>,
    /// When it happened, or how often and since when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<Span>,
    /// The shop, company, estate management, project or facility the call is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<Span>,
    /// What the caller asks for (诉求): the action asked (尽快派人把路灯修好), without who asks,
    /// the ask word or an office that is only the one asked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Span>,
    /// Sums owed, lost or paid, with their unit, as said.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub amounts: Vec<Span>,
    /// Counts of people, as said (二十多个工人).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub people: Vec<Span>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub vulnerable: Vec<Vulnerable>,
    /// The kinds of contact the caller gave (a phone, an ID number), masked in the text: the
    /// operator knows it was said without seeing it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub contact: Vec<PiiKind>,
    /// What the call is about, as a ticket names it (油烟扰民), and where that name came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matter: Option<Matter>,
    /// One line, place + matter + request, in the 12345 ticket style.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// The matter of a call, as the summary states it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Matter {
    pub name: String,
    pub source: MatterSource,
    /// The matter head's probability, for a learned matter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

/// Where a matter's name came from, most trusted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MatterSource {
    /// The operator restated it to the caller (您反映的是……的问题).
    Restated,
    /// The call says the words of a matter on the list ([`matters`]).
    Listed,
    /// The matter head read it from the whole call, where the list found none.
    Learned,
    /// The call's own key clause, where nothing named one.
    Clause,
}

/// The matter head's reading of a call: its best matter and that matter's probability.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnedMatter {
    pub name: String,
    pub score: f32,
}

/// Fill the ticket from the masked text, its turns (masked, as joined into the text; empty for a
/// text without speaker labels), the place the gazetteer found, the PII that was masked, the
/// call's keywords (best first), its appeal type when known ("consultation", "praise" ...) and
/// the matter head's reading when there is a matter head.
pub fn fill(masked: &str, turns: &[Turn], location: &Location, pii: &[PiiKind], keywords: &[Keyword], appeal: Option<&str>, learned: Option<&LearnedMatter>) -> Ticket {
    let address = address::find(masked, location);
    let request = phrases::request(masked, &turn_ranges(masked, turns));
    let subject = phrases::subject(masked, &location.evidence);
    let contact: Vec<PiiKind> = [PiiKind::Phone, PiiKind::IdCard].into_iter().filter(|k| pii.contains(k)).collect();
    let mut ticket = Ticket {
        when: phrases::when(masked),
        amounts: phrases::amounts(masked),
        people: phrases::people(masked),
        vulnerable: phrases::vulnerable(masked),
        contact,
        matter: None,
        summary: None,
        address,
        subject,
        request,
    };
    // The caller's words, as the encoder reads a dialogue.
    let caller = caller_view(turns);
    let caller = caller.as_deref().unwrap_or(masked);
    ticket.matter = summary::matter_of(masked, caller, &ticket, keywords, learned);
    ticket.summary = summary::compose(caller, &ticket, appeal);
    ticket
}

/// Who speaks where: each turn's speaker and byte range in the joined text, found in order (the
/// text is the turns joined, with a full stop between turns that lack one).
fn turn_ranges(text: &str, turns: &[Turn]) -> Vec<(Speaker, Range<usize>)> {
    let mut from = 0;
    let mut ranges = Vec::with_capacity(turns.len());
    for turn in turns {
        if let Some(i) = text[from..].find(turn.text.as_str()) {
            let start = from + i;
            from = start + turn.text.len();
            ranges.push((turn.speaker, start..from));
        }
    }
    ranges
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::TextPipeline;

    /// What filling the ticket costs a call, against preparing its text (which every call does
    /// anyway), in one invocation over the ticket sets:
    /// `cargo test --release --lib -- --ignored ticket_cost --nocapture`
    #[test]
    #[ignore]
    fn ticket_cost() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let pipeline = TextPipeline::from_dict_dir(&root.join(crate::text::DEFAULT_DICT_DIR)).unwrap();
        let gazetteer = crate::text::Gazetteer::load(&root.join(crate::text::DEFAULT_GAZETTEER)).unwrap();
        let mut texts = Vec::new();
        for file in ["tickets.jsonl", "tickets_dev.jsonl", "tickets_test.jsonl"] {
            for line in std::fs::read_to_string(root.join("models/examples").join(file)).unwrap().lines() {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                texts.push(row["text"].as_str().unwrap().to_string());
            }
        }
        let started = std::time::Instant::now();
        let prepared: Vec<_> = texts.iter().map(|t| pipeline.prepare(t)).collect();
        let prepare = started.elapsed();
        let located: Vec<_> = prepared.iter().map(|p| gazetteer.locate(&p.text)).collect();
        let started = std::time::Instant::now();
        let filled = prepared.iter().zip(&located).filter(|(p, l)| fill(&p.text, &p.turns, l, &p.pii, &p.keywords, None, None).summary.is_some()).count();
        let ticket = started.elapsed();
        let per = |d: std::time::Duration| d.as_secs_f64() * 1e3 / texts.len() as f64;
        eprintln!("{} calls: prepare {:.3} ms a call, ticket {:.3} ms a call ({filled} summaries)", texts.len(), per(prepare), per(ticket));
    }
}
