//! Operators' decisions: which department a case really went to, against what the model
//! suggested. They are kept durably (SQLite or PostgreSQL, `crate::store`), summarised for supervisors, searched for similar
//! precedents, and exported as training rows so a city can retrain on its own dispatchers.
//!
//! - [`store`]: the decisions and their nearest-neighbour search;
//! - [`export`]: corrections as JSON lines that `triage train` reads.

pub mod export;
pub mod store;

use serde::{Deserialize, Serialize};

pub use store::FeedbackStore;

pub const DEFAULT_FEEDBACK_DB: &str = "data/feedback.sqlite3";

/// The stores' errors are the database's: SQLite and PostgreSQL fail the same few ways.
pub use crate::store::StoreError as FeedbackError;

/// One operator decision, as the console sends it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeedbackRecord {
    /// The call-centre's case id. Sending the same id again replaces the decision (the
    /// operator changed their mind) and counts a revision.
    pub case_id: String,
    /// The transcript; stored normalised and PII-masked.
    pub text: String,
    /// The department ids the model suggested, best first.
    pub suggested: Vec<String>,
    /// The department the case was dispatched to.
    pub chosen: String,
    pub operator_id: String,
    /// 1-based rank when the operator accepted a suggestion as shown; absent when they picked
    /// another department from the list.
    #[serde(default)]
    pub accepted_rank: Option<u32>,
    /// RFC 3339; the server's clock when absent.
    #[serde(default)]
    pub decided_at: Option<String>,
    /// The ticket as the operator saved it (pre-filled from the suggestion, then edited).
    #[serde(default)]
    pub ticket: Option<TicketForm>,
}

/// The ticket fields an operator saves with a decision; stored PII-masked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketForm {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
}

/// Longest ticket field accepted, in characters: a field, not a second transcript.
pub const MAX_TICKET_FIELD_CHARS: usize = 200;

impl TicketForm {
    pub fn fields(&self) -> [(&'static str, &Option<String>); 5] {
        [("address", &self.address), ("when", &self.when), ("subject", &self.subject), ("request", &self.request), ("summary", &self.summary)]
    }

    /// Every field passed through `mask` (PII masking), empty fields dropped.
    pub fn masked(&self, mask: impl Fn(&str) -> String) -> TicketForm {
        let m = |f: &Option<String>| f.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(&mask);
        TicketForm { address: m(&self.address), when: m(&self.when), subject: m(&self.subject), request: m(&self.request), summary: m(&self.summary) }
    }
}

/// A decision as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredFeedback {
    pub case_id: String,
    pub text: String,
    pub suggested: Vec<String>,
    pub chosen: String,
    pub operator_id: String,
    pub accepted_rank: Option<u32>,
    pub decided_at: String,
    pub revisions: u32,
    /// The ticket saved with the decision, masked.
    pub ticket: Option<TicketForm>,
}

/// How often operators follow the model, and where they do not.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FeedbackStats {
    pub cases: u64,
    /// Share of cases where the operator accepted one of the shown suggestions as is.
    pub acceptance_rate: f64,
    /// Share where the chosen department was the model's first suggestion.
    pub top1_agreement: f64,
    /// Share where it was among the first three.
    pub top3_agreement: f64,
    /// Departments the model suggested first and operators overruled, most often first.
    pub most_corrected: Vec<CorrectedDepartment>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CorrectedDepartment {
    /// The model's first suggestion that was overruled.
    pub department: String,
    pub corrections: u64,
    /// Where those cases went instead, most often first.
    pub corrected_to: Vec<DepartmentCount>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DepartmentCount {
    pub department: String,
    pub count: u64,
}

/// An earlier case like this one, and where it went.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SimilarCase {
    pub case_id: String,
    /// The start of its (masked) transcript.
    pub excerpt: String,
    pub department: String,
    pub decided_at: String,
    /// Cosine similarity of the two embeddings.
    pub similarity: f32,
}

/// Why a decision was refused: a stable code and a message for a person.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidFeedback {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidFeedback {
    InvalidFeedback { code, message: message.into() }
}

const MAX_ID_CHARS: usize = 128;

/// A case or operator id the service will store: at most 128 characters, none of them control
/// characters. (Empty ids are each caller's own error.)
pub fn printable_id(value: &str) -> bool {
    value.chars().count() <= MAX_ID_CHARS && !value.chars().any(char::is_control)
}

impl FeedbackRecord {
    /// Check a decision before it is stored. Returns its time as RFC 3339 UTC.
    pub fn validate(&self, is_department: impl Fn(&str) -> bool) -> Result<String, InvalidFeedback> {
        for (field, value) in [("case_id", &self.case_id), ("operator_id", &self.operator_id)] {
            if value.trim().is_empty() {
                return Err(invalid("field_empty", format!("{field} is empty")));
            }
            if !printable_id(value) {
                return Err(invalid("invalid_id", format!("{field} must be at most {MAX_ID_CHARS} printable characters")));
            }
        }
        if self.text.trim().is_empty() {
            return Err(invalid("text_empty", "text is empty"));
        }
        if !is_department(&self.chosen) {
            return Err(invalid("unknown_department", format!("chosen department {:?} is not in the taxonomy", self.chosen)));
        }
        if let Some(bad) = self.suggested.iter().find(|d| !is_department(d)) {
            return Err(invalid("unknown_department", format!("suggested department {bad:?} is not in the taxonomy")));
        }
        if self.suggested.len() > 25 {
            return Err(invalid("invalid_request", "suggested holds more than 25 departments"));
        }
        if let Some(rank) = self.accepted_rank {
            let at = usize::try_from(rank).ok().filter(|r| *r >= 1).and_then(|r| self.suggested.get(r - 1));
            if at != Some(&self.chosen) {
                return Err(invalid("invalid_request", format!("accepted_rank {rank} does not point at the chosen department in suggested")));
            }
        }
        if let Some(ticket) = &self.ticket {
            for (field, value) in ticket.fields() {
                if value.as_ref().is_some_and(|v| v.chars().count() > MAX_TICKET_FIELD_CHARS) {
                    return Err(invalid("invalid_ticket", format!("ticket.{field} is longer than {MAX_TICKET_FIELD_CHARS} characters")));
                }
            }
        }
        match &self.decided_at {
            None => Ok(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            Some(t) => chrono::DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&chrono::Utc).to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .map_err(|e| invalid("invalid_time", format!("decided_at {t:?} is not RFC 3339: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> FeedbackRecord {
        FeedbackRecord {
            case_id: "BJ-1".into(),
            text: "燃气味很大".into(),
            suggested: vec!["gas_group".into(), "fire_rescue".into()],
            chosen: "fire_rescue".into(),
            operator_id: "op".into(),
            accepted_rank: Some(2),
            decided_at: Some("2026-11-27T16:30:00+08:00".into()),
            ticket: None,
        }
    }

    #[test]
    fn a_decision_is_checked_field_by_field() {
        let known = |d: &str| ["gas_group", "fire_rescue"].contains(&d);
        assert_eq!(decision().validate(known).unwrap(), "2026-11-27T08:30:00.000Z");
        let cases: Vec<(Box<dyn Fn(&mut FeedbackRecord)>, &str)> = vec![
            (Box::new(|r| r.case_id = " ".into()), "field_empty"),
            (Box::new(|r| r.operator_id = "a\u{0}b".into()), "invalid_id"),
            (Box::new(|r| r.text = "".into()), "text_empty"),
            (Box::new(|r| r.chosen = "mayor".into()), "unknown_department"),
            (Box::new(|r| r.suggested.push("nobody".into())), "unknown_department"),
            (Box::new(|r| r.accepted_rank = Some(1)), "invalid_request"),
            (Box::new(|r| r.accepted_rank = Some(0)), "invalid_request"),
            (Box::new(|r| r.decided_at = Some("yesterday".into())), "invalid_time"),
            (Box::new(|r| r.ticket = Some(TicketForm { summary: Some("长".repeat(201)), ..TicketForm::default() })), "invalid_ticket"),
        ];
        for (change, code) in cases {
            let mut r = decision();
            change(&mut r);
            assert_eq!(r.validate(known).unwrap_err().code, code, "{r:?}");
        }
    }
}
