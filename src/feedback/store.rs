//! Operators' decisions in the service's database (`crate::store`), and brute-force nearest
//! neighbours over their embeddings.
//!
//! Embeddings are kept in memory as well as in the database: a similarity search must not read
//! every row's blob. Feedback grows by operator decisions (thousands a day, not millions), so a
//! flat scan of normalised vectors stays in the low milliseconds. On PostgreSQL each search
//! first reads the decisions other replicas wrote since the last one.

use std::path::Path;
use std::sync::{Arc, RwLock};

use super::{CorrectedDepartment, DepartmentCount, FeedbackError, FeedbackRecord, FeedbackStats, SimilarCase, StoredFeedback, TicketForm};
use crate::events::{self, EventKind, Outbox};
use crate::store::{Database, DecisionRecord, EmbeddingRow, FeedbackRow};

struct IndexedCase {
    case_id: String,
    /// Unit length, so a dot product is the cosine.
    vector: Vec<f32>,
}

#[derive(Default)]
struct Index {
    cases: Vec<IndexedCase>,
    /// The last change number seen (PostgreSQL; 0 on SQLite).
    seq: i64,
}

pub struct FeedbackStore {
    db: Arc<dyn Database>,
    index: RwLock<Index>,
    /// Only embeddings from this encoder are comparable with new ones.
    encoder: String,
    /// Write an event with every decision (None: write none).
    outbox: Option<Outbox>,
}

/// `v` scaled to unit length, so a dot product is the cosine.
pub(crate) fn unit(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter().map(|x| x / norm).collect()
    } else {
        v.to_vec()
    }
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl From<DecisionRecord> for StoredFeedback {
    fn from(r: DecisionRecord) -> Self {
        StoredFeedback {
            case_id: r.case_id,
            text: r.text,
            suggested: serde_json::from_str(&r.suggested).unwrap_or_default(),
            chosen: r.chosen,
            operator_id: r.operator_id,
            accepted_rank: r.accepted_rank,
            decided_at: r.decided_at,
            revisions: r.revisions,
            ticket: r.ticket.and_then(|t| serde_json::from_str(&t).ok()),
        }
    }
}

impl Index {
    /// Add a decision's embedding, when it has one from `encoder`.
    fn insert(&mut self, row: EmbeddingRow, encoder: &str) {
        self.seq = self.seq.max(row.seq);
        if let (Some(e), Some(blob)) = (row.encoder, row.embedding) {
            if e == encoder {
                self.cases.push(IndexedCase { case_id: row.case_id, vector: from_blob(&blob) });
            }
        }
    }

    /// Replace a decision's entry by what the database now holds for it.
    fn apply(&mut self, row: EmbeddingRow, encoder: &str) {
        self.cases.retain(|c| c.case_id != row.case_id);
        self.insert(row, encoder);
    }
}

impl FeedbackStore {
    /// Open the store on `db` and load the embedding index.
    pub fn open(db: Arc<dyn Database>, encoder: &str) -> Result<Self, FeedbackError> {
        let rows = db.with_feedback(false, |t| t.embeddings())?;
        let mut index = Index::default();
        for row in rows {
            index.insert(row, encoder);
        }
        Ok(FeedbackStore { db, index: RwLock::new(index), encoder: encoder.to_string(), outbox: None })
    }

    /// Write an event for downstream systems with every decision.
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    /// Open an SQLite file (the command-line tools' way in).
    pub fn open_file(path: &Path, encoder: &str) -> Result<Self, FeedbackError> {
        Self::open(crate::store::open_sqlite(path)?, encoder)
    }

    /// The database the decisions are kept in.
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    /// Store one decision (`text` and `ticket` already masked). Returns its revision count: 1
    /// for a new case, more when the case was decided before.
    pub fn record(&self, r: &FeedbackRecord, masked_text: &str, masked_ticket: Option<&TicketForm>, decided_at: &str, embedding: Option<&[f32]>) -> Result<u32, FeedbackError> {
        let vector = embedding.map(unit);
        let row = FeedbackRow {
            case_id: r.case_id.clone(),
            text: masked_text.to_string(),
            suggested: serde_json::to_string(&r.suggested).unwrap_or_else(|_| "[]".into()),
            suggested_first: r.suggested.first().cloned(),
            chosen: r.chosen.clone(),
            chosen_rank: r.suggested.iter().position(|d| d == &r.chosen).map(|i| i as i64 + 1),
            accepted_rank: r.accepted_rank,
            operator_id: r.operator_id.clone(),
            decided_at: decided_at.to_string(),
            received_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            encoder: vector.as_ref().map(|_| self.encoder.clone()),
            embedding: vector.as_deref().map(to_blob),
            ticket: masked_ticket.and_then(|t| serde_json::to_string(t).ok()),
        };
        let (revisions, seq) = self.db.with_feedback(true, |t| {
            let (revisions, seq) = t.record(&row)?;
            if let Some(outbox) = &self.outbox {
                let (topic, district, street, group) = t.case_context(&r.case_id)?.map_or((None, None, None, None), |(t, d, s, g)| (Some(t), d, s, Some(g)));
                let body = serde_json::json!({
                    "case": {"id": r.case_id, "text": row.text, "suggested": r.suggested, "final_department": r.chosen,
                             "topic": topic, "district": district, "street": street, "group": group},
                    "decision": {"operator_id": r.operator_id, "decided_at": row.decided_at, "accepted_rank": r.accepted_rank, "revision": revisions},
                });
                t.append_event(&events::event(EventKind::DecisionRecorded, body), &outbox.sinks)?;
            }
            Ok((revisions, seq))
        })?;
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        index.apply(EmbeddingRow { seq, case_id: row.case_id, encoder: row.encoder, embedding: row.embedding }, &self.encoder);
        Ok(revisions)
    }

    pub fn get(&self, case_id: &str) -> Result<Option<StoredFeedback>, FeedbackError> {
        Ok(self.db.with_feedback(false, |t| t.decision(case_id))?.map(StoredFeedback::from))
    }

    /// Every decision, oldest first (for export).
    pub fn all(&self) -> Result<Vec<StoredFeedback>, FeedbackError> {
        Ok(self.db.with_feedback(false, |t| t.decisions())?.into_iter().map(StoredFeedback::from).collect())
    }

    pub fn stats(&self, top_corrected: usize) -> Result<FeedbackStats, FeedbackError> {
        let (counts, rows) = self.db.with_feedback(false, |t| Ok((t.counts()?, t.corrections()?)))?;
        let mut corrected: Vec<CorrectedDepartment> = Vec::new();
        for (from, to, n) in rows {
            let n = n.max(0) as u64;
            match corrected.last_mut() {
                Some(c) if c.department == from => {
                    c.corrections += n;
                    c.corrected_to.push(DepartmentCount { department: to, count: n });
                }
                _ => corrected.push(CorrectedDepartment { department: from, corrections: n, corrected_to: vec![DepartmentCount { department: to, count: n }] }),
            }
        }
        corrected.sort_by(|a, b| b.corrections.cmp(&a.corrections).then_with(|| a.department.cmp(&b.department)));
        corrected.truncate(top_corrected);
        let cases = counts.cases;
        let share = |n: i64| if cases <= 0 { 0.0 } else { n as f64 / cases as f64 };
        Ok(FeedbackStats {
            cases: cases.max(0) as u64,
            acceptance_rate: share(counts.accepted),
            top1_agreement: share(counts.top1),
            top3_agreement: share(counts.top3),
            most_corrected: corrected,
        })
    }

    /// The `k` stored cases nearest to `vector`, leaving out `exclude` (the case itself).
    pub fn similar(&self, vector: &[f32], k: usize, exclude: Option<&str>) -> Result<Vec<SimilarCase>, FeedbackError> {
        let query = unit(vector);
        // Other replicas' decisions first; a database this process alone writes has none.
        let seq = self.index.read().unwrap_or_else(|p| p.into_inner()).seq;
        let changed = if self.db.shared() { self.db.with_feedback(false, |t| t.embeddings_after(seq))? } else { Vec::new() };
        if !changed.is_empty() {
            let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
            for row in changed {
                if row.seq > index.seq {
                    index.apply(row, &self.encoder);
                }
            }
        }
        let best: Vec<(f32, String)> = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            let mut scored: Vec<(f32, String)> = index
                .cases
                .iter()
                .filter(|c| Some(c.case_id.as_str()) != exclude && c.vector.len() == query.len())
                .map(|c| (c.vector.iter().zip(&query).map(|(a, b)| a * b).sum(), c.case_id.clone()))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
            scored.truncate(k);
            scored
        };
        if best.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<String> = best.iter().map(|(_, id)| id.clone()).collect();
        let found = self.db.with_feedback(false, |t| t.excerpts(&ids))?;
        let by_id: std::collections::HashMap<String, (String, String, String)> = found.into_iter().map(|(id, text, chosen, at)| (id, (text, chosen, at))).collect();
        Ok(best
            .into_iter()
            .filter_map(|(similarity, case_id)| {
                let (text, department, decided_at) = by_id.get(&case_id)?.clone();
                Some(SimilarCase { case_id, excerpt: text.chars().take(80).collect(), department, decided_at, similarity })
            })
            .collect())
    }
}
