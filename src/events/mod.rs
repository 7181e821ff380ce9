//! Events for downstream systems (a city's data platform): what happened to a case, as
//! versioned JSON. The schema is `docs/events.md` and `docs/events.schema.json`.
//!
//! The stores write an event in the same transaction as the change it describes (the
//! transactional outbox), so an event exists exactly when its change was committed; the
//! publisher (`crate::publish`) delivers it later, at least once, to each configured sink.
//! Payloads carry masked text and ids only, never raw PII.

use serde_json::{json, Value};

use crate::store::EventRow;

/// Bumped when a field changes meaning or disappears; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A call with an id was classified and stored.
    CaseClassified,
    /// An operator decided (or revised) where a case goes.
    DecisionRecorded,
    /// An operator merged a case into another's matter.
    CaseMerged,
    /// A step in the case's life after dispatch (dispatched, returned, resolved, rated...).
    CaseStep,
    /// A department's first-dispatch accuracy or return rate drifted (`crate::cases::kpis`).
    Drift,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::CaseClassified => "case.classified",
            EventKind::DecisionRecorded => "decision.recorded",
            EventKind::CaseMerged => "case.merged",
            EventKind::CaseStep => "case.step",
            EventKind::Drift => "kpi.drift",
        }
    }
}

/// Where events go: the sinks a delivery row is made for when an event is written. Stores
/// without an outbox (a throw-away replay, a test) write no events at all.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    pub sinks: Vec<String>,
}

/// A random (version 4) UUID: unique without coordination between replicas.
pub fn new_event_id() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// A UUID-shaped id that every replica derives alike from `key`, so that the same fact (a
/// day's drift alarm) is one event however many replicas notice it.
pub fn event_id_for(key: &str) -> String {
    use sha2::Digest;
    let mut b: [u8; 16] = sha2::Sha256::digest(key.as_bytes())[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// The event row for `kind`, its body wrapped in the common envelope.
pub fn event(kind: EventKind, body: Value) -> EventRow {
    event_with_id(kind, body, new_event_id())
}

/// The same, with a given id (see [`event_id_for`]).
pub fn event_with_id(kind: EventKind, body: Value, event_id: String) -> EventRow {
    let now = chrono::Utc::now();
    let mut payload = json!({
        "schema_version": SCHEMA_VERSION,
        "event_id": event_id,
        "type": kind.as_str(),
        "occurred_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    });
    if let (Some(envelope), Value::Object(fields)) = (payload.as_object_mut(), body) {
        envelope.extend(fields);
    }
    EventRow { event_id, kind: kind.as_str().to_string(), created_ms: now.timestamp_millis(), payload: payload.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuids_and_the_envelope_wraps_the_body() {
        let a = new_event_id();
        assert_eq!((a.len(), a.as_bytes()[14]), (36, b'4'));
        assert_ne!(a, new_event_id());
        let e = event(EventKind::CaseMerged, json!({"case": {"id": "c1"}}));
        let v: Value = serde_json::from_str(&e.payload).unwrap();
        assert_eq!((v["type"].as_str(), v["case"]["id"].as_str(), v["event_id"].as_str()), (Some("case.merged"), Some("c1"), Some(e.event_id.as_str())));
        assert_eq!(v["schema_version"], SCHEMA_VERSION);
    }
}
