//! Rows as both engines write and read them. JSON columns (sites, keywords, suggested, ticket)
//! stay text here: the stores above own their meaning.

/// A case to insert or replace.
#[derive(Debug, Clone)]
pub struct CaseRow {
    pub case_id: String,
    pub at: i64,
    /// Normalised and PII-masked.
    pub text: String,
    pub topic: String,
    pub department: String,
    pub district: Option<String>,
    pub street: Option<String>,
    pub sites: String,
    pub keywords: String,
    pub duplicate_of: Option<String>,
    /// JSON array of the suggested department ids, best first.
    pub suggested: String,
    pub encoder: String,
    /// SimHash code, little-endian words.
    pub code: Vec<u8>,
    /// Unit vector as i8 (x127).
    pub embedding: Vec<u8>,
}

/// What the case index needs of a row.
#[derive(Debug, Clone)]
pub struct CodeRow {
    pub row: i64,
    pub seq: i64,
    pub at: i64,
    pub topic: String,
    pub encoder: String,
    pub code: Vec<u8>,
}

/// A candidate for "related": what reranking and the place check read.
#[derive(Debug, Clone)]
pub struct NeighbourRow {
    pub row: i64,
    pub case_id: String,
    pub at: i64,
    pub group: i64,
    /// The case the matter started with: merged_into, else duplicate_of, else itself.
    pub root: String,
    pub sites: String,
    pub district: Option<String>,
    pub street: Option<String>,
    pub embedding: Vec<u8>,
}

/// A stored case, as hot spots and reports read it.
#[derive(Debug, Clone)]
pub struct CaseRecord {
    pub case_id: String,
    pub at: i64,
    pub text: String,
    pub topic: String,
    pub district: Option<String>,
    pub street: Option<String>,
    pub sites: String,
    pub keywords: String,
    pub group: i64,
}

/// An operator's decision to insert or replace.
#[derive(Debug, Clone)]
pub struct FeedbackRow {
    pub case_id: String,
    pub text: String,
    pub suggested: String,
    pub suggested_first: Option<String>,
    pub chosen: String,
    /// 1-based position of `chosen` in the suggestion, None when absent.
    pub chosen_rank: Option<i64>,
    pub accepted_rank: Option<u32>,
    pub operator_id: String,
    pub decided_at: String,
    pub received_at: String,
    pub encoder: Option<String>,
    /// Little-endian f32, unit length.
    pub embedding: Option<Vec<u8>>,
    pub ticket: Option<String>,
}

/// A stored decision.
#[derive(Debug, Clone)]
pub struct DecisionRecord {
    pub case_id: String,
    pub text: String,
    pub suggested: String,
    pub chosen: String,
    pub operator_id: String,
    pub accepted_rank: Option<u32>,
    pub decided_at: String,
    pub revisions: u32,
    pub ticket: Option<String>,
}

/// A decision's embedding for the similar-case index; None when it has none.
#[derive(Debug, Clone)]
pub struct EmbeddingRow {
    pub seq: i64,
    pub case_id: String,
    pub encoder: Option<String>,
    pub embedding: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct DecisionCounts {
    pub cases: i64,
    pub accepted: i64,
    pub top1: i64,
    pub top3: i64,
}

/// An event for downstream systems, written in the transaction of the change it describes.
#[derive(Debug, Clone)]
pub struct EventRow {
    /// Unique; the idempotency key a receiver deduplicates on.
    pub event_id: String,
    pub kind: String,
    pub created_ms: i64,
    /// Versioned JSON (docs/events.md).
    pub payload: String,
}

/// An event due for delivery to one sink, leased to the publisher that claimed it.
#[derive(Debug, Clone)]
pub struct DueEvent {
    pub row: i64,
    pub event_id: String,
    pub kind: String,
    pub payload: String,
    pub attempts: u32,
}

/// Deliveries per sink and state.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryCount {
    pub sink: String,
    pub state: String,
    pub count: u64,
}

/// One step in a case's life after the suggestion (dispatched, returned, ...), as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEventRow {
    pub event_id: String,
    pub case_id: String,
    pub kind: String,
    pub department: Option<String>,
    pub operator_id: Option<String>,
    pub reason: Option<String>,
    pub rating: Option<String>,
    /// Unix seconds.
    pub at: i64,
    pub received_ms: i64,
}

/// A stored case as the rates read it.
#[derive(Debug, Clone)]
pub struct RecordRow {
    pub case_id: String,
    pub at: i64,
    pub topic: String,
    pub district: Option<String>,
    /// The first suggested department.
    pub department: String,
    /// JSON array, best first; None for cases stored before it was kept.
    pub suggested: Option<String>,
}
