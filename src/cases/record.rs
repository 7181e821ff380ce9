//! The case record: what happened to a case after the service suggested where it goes.
//!
//! A call centre reports each step as an event (`POST /v1/cases/{id}/events`, or `triage cases
//! import`): dispatched, returned (退单), redispatched (改派), responded, resolved or unresolved,
//! and the caller's satisfaction. Each carries the sender's `event_id`, so a step sent twice
//! counts once. Steps must come in an order a case can live: nothing is resolved before it
//! was dispatched, and a case is rated only once it was closed.

use serde::{Deserialize, Serialize};

use crate::store::CaseEventRow;

/// A step as the API and the import read it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaseEvent {
    /// The sender's id for this step: the same id again is accepted once, not counted twice.
    pub event_id: String,
    /// dispatched, returned, redispatched, responded, resolved, unresolved or satisfaction.
    #[serde(rename = "type")]
    pub kind: String,
    /// dispatched and redispatched: where it went (required); returned: who sent it back.
    #[serde(default)]
    pub department: Option<String>,
    #[serde(default)]
    pub operator_id: Option<String>,
    /// returned: why (required).
    #[serde(default)]
    pub reason: Option<String>,
    /// satisfaction: 满意, 基本满意 or 不满意 (or satisfied, basically_satisfied, dissatisfied).
    #[serde(default)]
    pub rating: Option<String>,
    /// When it happened: RFC 3339 or `2026-11-27 08:00:00` (city time); now when absent.
    #[serde(default)]
    pub at: Option<String>,
}

pub const KINDS: [&str; 7] = ["dispatched", "returned", "redispatched", "responded", "resolved", "unresolved", "satisfaction"];

/// Where a case stands, from the steps recorded so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseState {
    /// Suggested, not dispatched yet.
    New,
    Dispatched,
    Returned,
    Responded,
    Closed,
    Rated,
}

/// A step refused, with the code the API answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidEvent {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidEvent {
    InvalidEvent { code, message: message.into() }
}

/// The rating as stored: the Chinese word 12345 centres use.
pub fn normalise_rating(r: &str) -> Option<&'static str> {
    match r.trim() {
        "满意" | "satisfied" => Some("满意"),
        "基本满意" | "basically_satisfied" => Some("基本满意"),
        "不满意" | "dissatisfied" => Some("不满意"),
        _ => None,
    }
}

/// The state after `events`, in the order they arrived.
pub fn state_of(events: &[CaseEventRow]) -> CaseState {
    events.iter().fold(CaseState::New, |s, e| step(s, &e.kind).unwrap_or(s))
}

/// The state after `kind` from `state`, or why that step cannot happen now.
fn step(state: CaseState, kind: &str) -> Result<CaseState, &'static str> {
    use CaseState::*;
    match (kind, state) {
        ("dispatched", New) => Ok(Dispatched),
        ("dispatched", _) => Err("the case was dispatched already; send redispatched to move it"),
        ("returned", Dispatched | Responded) => Ok(Returned),
        ("returned", _) => Err("only a dispatched, open case can be returned"),
        ("redispatched", Dispatched | Returned | Responded) => Ok(Dispatched),
        ("redispatched", _) => Err("only a dispatched, open case can be redispatched"),
        ("responded", Dispatched | Responded) => Ok(Responded),
        ("responded", _) => Err("a case is responded to after it is dispatched and before it is closed"),
        ("resolved" | "unresolved", Dispatched | Responded) => Ok(Closed),
        ("resolved" | "unresolved", _) => Err("a case is resolved after it is dispatched, once"),
        ("satisfaction", Closed) => Ok(Rated),
        ("satisfaction", _) => Err("a case is rated once, after it is resolved or unresolved"),
        _ => Err("unknown event type"),
    }
}

/// Check `event` against the case's recorded steps and return the row to store.
pub fn validate(event: &CaseEvent, case_id: &str, history: &[CaseEventRow], at: i64, is_department: impl Fn(&str) -> bool) -> Result<CaseEventRow, InvalidEvent> {
    if event.event_id.trim().is_empty() || !crate::feedback::printable_id(&event.event_id) {
        return Err(invalid("invalid_event_id", "event_id must be 1 to 128 printable characters"));
    }
    if !KINDS.contains(&event.kind.as_str()) {
        return Err(invalid("invalid_event_type", format!("type {:?} is not one of {}", event.kind, KINDS.join(", "))));
    }
    let department = match (&event.department, event.kind.as_str()) {
        (None, "dispatched" | "redispatched") => return Err(invalid("missing_department", format!("{} needs the department it went to", event.kind))),
        (Some(d), _) if !is_department(d) => return Err(invalid("unknown_department", format!("department {d:?} is not in the taxonomy"))),
        (d, _) => d.clone(),
    };
    let reason = event.reason.as_ref().map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
    if event.kind == "returned" && reason.is_none() {
        return Err(invalid("missing_reason", "returned needs the reason it was sent back"));
    }
    if reason.as_ref().is_some_and(|r| r.chars().count() > 500) {
        return Err(invalid("reason_too_long", "reason is at most 500 characters"));
    }
    let rating = match (&event.rating, event.kind.as_str()) {
        (Some(r), "satisfaction") => Some(normalise_rating(r).ok_or_else(|| invalid("invalid_rating", format!("rating {r:?} is not 满意, 基本满意 or 不满意")))?.to_string()),
        (None, "satisfaction") => return Err(invalid("invalid_rating", "satisfaction needs a rating: 满意, 基本满意 or 不满意")),
        (Some(_), _) => return Err(invalid("invalid_rating", "only a satisfaction event carries a rating")),
        (None, _) => None,
    };
    if let Some(op) = &event.operator_id {
        if !crate::feedback::printable_id(op) {
            return Err(invalid("invalid_operator_id", "operator_id must be 1 to 128 printable characters"));
        }
    }
    step(state_of(history), &event.kind).map_err(|why| invalid("event_out_of_order", format!("{}: {why} (case is {:?})", event.kind, state_of(history))))?;
    // A return without a department is a return by the department that has the case.
    let department = department.or_else(|| (event.kind == "returned").then(|| current_department(history)).flatten());
    Ok(CaseEventRow {
        event_id: event.event_id.clone(),
        case_id: case_id.to_string(),
        kind: event.kind.clone(),
        department,
        operator_id: event.operator_id.clone(),
        reason,
        rating,
        at,
        received_ms: chrono::Utc::now().timestamp_millis(),
    })
}

/// The department that has the case now: the last one it was dispatched to.
pub fn current_department<'e>(events: impl IntoIterator<Item = &'e CaseEventRow, IntoIter: DoubleEndedIterator>) -> Option<String> {
    events.into_iter().rev().find(|e| e.kind == "dispatched" || e.kind == "redispatched").and_then(|e| e.department.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, kind: &str, department: Option<&str>) -> CaseEvent {
        CaseEvent { event_id: id.into(), kind: kind.into(), department: department.map(Into::into), operator_id: None, reason: None, rating: None, at: None }
    }

    #[test]
    fn a_case_lives_in_order_and_out_of_order_steps_are_refused_with_a_code() {
        let ok = |_: &str| true;
        let mut history = Vec::new();
        let resolved_first = validate(&ev("e0", "resolved", None), "c", &history, 0, ok).unwrap_err();
        assert_eq!(resolved_first.code, "event_out_of_order");
        for e in [ev("e1", "dispatched", Some("gas_group")), CaseEvent { reason: Some("不属于我单位职责".into()), ..ev("e2", "returned", None) }, ev("e3", "redispatched", Some("fire_rescue")), ev("e4", "responded", None), ev("e5", "resolved", None)] {
            history.push(validate(&e, "c", &history, 0, ok).unwrap());
        }
        assert_eq!(history[1].department.as_deref(), Some("gas_group"), "a return names who returned it");
        assert_eq!(current_department(&history).as_deref(), Some("fire_rescue"));
        assert_eq!(state_of(&history), CaseState::Closed);
        let rated = validate(&CaseEvent { rating: Some("basically_satisfied".into()), ..ev("e6", "satisfaction", None) }, "c", &history, 0, ok).unwrap();
        assert_eq!(rated.rating.as_deref(), Some("基本满意"));
        history.push(rated);
        assert_eq!(validate(&CaseEvent { rating: Some("满意".into()), ..ev("e7", "satisfaction", None) }, "c", &history, 0, ok).unwrap_err().code, "event_out_of_order");
    }

    #[test]
    fn missing_and_wrong_fields_each_have_their_code() {
        let only_gas = |d: &str| d == "gas_group";
        let code = |e: CaseEvent| validate(&e, "c", &[], 0, only_gas).unwrap_err().code;
        assert_eq!(code(ev("e", "dispatched", None)), "missing_department");
        assert_eq!(code(ev("e", "dispatched", Some("moon_office"))), "unknown_department");
        assert_eq!(code(ev("e", "closed", None)), "invalid_event_type");
        assert_eq!(code(ev(" ", "dispatched", Some("gas_group"))), "invalid_event_id");
        assert_eq!(code(CaseEvent { rating: Some("ok".into()), ..ev("e", "satisfaction", None) }), "invalid_rating");
        assert_eq!(code(CaseEvent { rating: Some("满意".into()), ..ev("e", "dispatched", Some("gas_group")) }), "invalid_rating");
        let dispatched = validate(&ev("e1", "dispatched", Some("gas_group")), "c", &[], 0, only_gas).unwrap();
        assert_eq!(validate(&ev("e2", "returned", None), "c", &[dispatched], 0, only_gas).unwrap_err().code, "missing_reason");
    }
}
