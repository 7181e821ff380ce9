//! Recent cases (masked), each joined to a group of the same matter when it arrives, in the
//! service's database (SQLite, or PostgreSQL shared by replicas: `crate::store`).
//!
//! Grouping is single-pass: a new case joins the group of its most similar related case, or
//! starts one. That is causal (a case is judged on what came before it, as an operator would
//! see it), costs one index search per case, and lets hot spots be counted with SQL.
//!
//! With several replicas on one PostgreSQL, each keeps its own in-memory index and, inside the
//! write transaction that serialises case writes, first catches up with the cases the others
//! wrote: so a repeat finds its matter whichever replica took the first call.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockWriteGuard};

use chrono::{DateTime, Utc};

use super::index::{CaseIndex, Scope};
use super::{CaseSettings, Related, RelatedCase};
use crate::events::{self, EventKind, Outbox};
use crate::feedback::store::unit;
use crate::feedback::FeedbackError;
use super::record::{self, CaseEvent, CaseState, InvalidEvent};
use crate::store::{CaseRecord, CaseRow, CaseTable, CodeRow, Database, StoreError};
use crate::text::sites::Sites;

/// A case as the classifier saw it, ready to store.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub case_id: String,
    pub at: DateTime<Utc>,
    /// Already masked.
    pub text: String,
    pub topic: String,
    pub department: String,
    /// The suggested departments, best first (the event carries them).
    pub suggested: Vec<String>,
    pub district: Option<String>,
    pub street: Option<String>,
    pub sites: Sites,
    pub keywords: Vec<String>,
    pub embedding: Vec<f32>,
}

impl NewCase {
    /// The case a classification describes.
    pub fn from_suggestion(case_id: &str, at: DateTime<Utc>, e: &crate::dispatch::EmbeddedSuggestion) -> Self {
        let s = &e.suggestion;
        NewCase {
            case_id: case_id.to_string(),
            at,
            text: e.text.clone(),
            topic: s.topics.first().map(|t| t.id.clone()).unwrap_or_default(),
            department: s.dispatch.department.clone(),
            suggested: s.departments.iter().map(|d| d.id.clone()).collect(),
            // A district written after its city (`A市A5区`, `北京市朝阳区`) is the strongest
            // evidence; the gazetteer's short forms come next (and are all a city outside it has).
            district: e.sites.district.clone().or_else(|| s.dispatch.district.clone()),
            street: s.dispatch.street.clone(),
            sites: e.sites.clone(),
            keywords: s.keywords.iter().map(|k| k.word.clone()).collect(),
            embedding: e.embedding.clone(),
        }
    }

    /// Whether another case's place can be this one's: no conflicting district or street, and
    /// named sites that overlap when both name some. Silence is never a conflict.
    pub fn place_agrees(&self, sites: &Sites, district: Option<&str>, street: Option<&str>) -> bool {
        let conflict = |a: &Option<String>, b: Option<&str>| matches!((a, b), (Some(a), Some(b)) if a != b);
        self.sites.agree(sites) && !conflict(&self.district, district) && !conflict(&self.street, street)
    }
}

/// A stored case, as hot spots and reports read it.
#[derive(Debug, Clone)]
pub struct StoredCase {
    pub case_id: String,
    pub at: i64,
    pub text: String,
    pub topic: String,
    pub district: Option<String>,
    pub street: Option<String>,
    pub sites: Sites,
    pub keywords: Vec<String>,
    pub group: i64,
}

impl From<CaseRecord> for StoredCase {
    fn from(r: CaseRecord) -> Self {
        StoredCase {
            case_id: r.case_id,
            at: r.at,
            text: r.text,
            topic: r.topic,
            district: r.district,
            street: r.street,
            sites: serde_json::from_str(&r.sites).unwrap_or_default(),
            keywords: serde_json::from_str(&r.keywords).unwrap_or_default(),
            group: r.group,
        }
    }
}

/// Why a case step was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum CaseEventError {
    #[error("no case {0:?}: classify it with this id first")]
    UnknownCase(String),
    #[error("{}", .0.message)]
    Invalid(InvalidEvent),
    #[error("event_id {0:?} was already recorded for another case")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A case step accepted: new (and where the case now stands), or a repeat of one recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    New(CaseState),
    Repeat,
}

struct Neighbour {
    row: i64,
    case_id: String,
    at: i64,
    group: i64,
    root: String,
    similarity: f32,
}

struct Indexed {
    index: CaseIndex,
    topics: HashMap<String, u16>,
    /// The newest case time seen: the store's clock (imports replay history).
    newest: i64,
    last_purge: i64,
    /// The last change number seen (PostgreSQL; always 0 on SQLite).
    seq: i64,
}

impl Indexed {
    fn topic(&mut self, topic: &str) -> u16 {
        let next = self.topics.len() as u16;
        *self.topics.entry(topic.to_string()).or_insert(next)
    }
}

pub struct CaseStore {
    db: Arc<dyn Database>,
    indexed: RwLock<Indexed>,
    settings: CaseSettings,
    encoder: String,
    /// Write an event with every stored case and merge (None: write none).
    outbox: Option<Outbox>,
}

fn quantize(unit: &[f32]) -> Vec<u8> {
    unit.iter().map(|x| (x * 127.0).round().clamp(-127.0, 127.0) as i8 as u8).collect()
}

fn cosine_q(query: &[f32], stored: &[u8]) -> f32 {
    let (mut dot, mut norm) = (0f32, 0f32);
    for (q, s) in query.iter().zip(stored) {
        let s = *s as i8 as f32;
        dot += q * s;
        norm += s * s;
    }
    if norm > 0.0 {
        dot / norm.sqrt()
    } else {
        0.0
    }
}

fn code_blob(code: &[u64]) -> Vec<u8> {
    code.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn code_from_blob(b: &[u8]) -> Option<[u64; super::index::CODE_BITS / 64]> {
    let mut code = [0u64; super::index::CODE_BITS / 64];
    if b.len() != code.len() * 8 {
        return None;
    }
    for (w, c) in code.iter_mut().zip(b.chunks_exact(8)) {
        *w = u64::from_le_bytes(c.try_into().ok()?);
    }
    Some(code)
}

const DAY: i64 = 86_400;

use super::time::rfc3339;

impl CaseStore {
    /// Open the store on `db` and load the recent window's codes.
    pub fn open(db: Arc<dyn Database>, encoder: &str, dim: usize, settings: CaseSettings) -> Result<Self, FeedbackError> {
        let store = CaseStore {
            db,
            indexed: RwLock::new(Indexed { index: CaseIndex::new(dim), topics: HashMap::new(), newest: 0, last_purge: 0, seq: 0 }),
            settings,
            encoder: encoder.to_string(),
            outbox: None,
        };
        store.load_index()?;
        Ok(store)
    }

    /// Write an event for downstream systems with every case stored and every merge.
    pub fn with_outbox(mut self, outbox: Outbox) -> Self {
        self.outbox = Some(outbox);
        self
    }

    pub fn settings(&self) -> &CaseSettings {
        &self.settings
    }

    /// The database the cases are kept in.
    pub fn database(&self) -> &Arc<dyn Database> {
        &self.db
    }

    fn window(&self) -> i64 {
        self.settings.related_days as i64 * DAY
    }

    fn write_index(&self) -> RwLockWriteGuard<'_, Indexed> {
        self.indexed.write().unwrap_or_else(|p| p.into_inner())
    }

    fn load_index(&self) -> Result<(), FeedbackError> {
        let mut indexed = self.write_index();
        let window = self.window();
        let (newest, seq, rows) = self.db.with_cases(false, |t| {
            let newest = t.newest_at()?;
            // The change number first: a case written meanwhile is then caught up, not missed.
            let seq = t.latest_seq()?;
            Ok((newest, seq, t.codes_since(&self.encoder, newest - window)?))
        })?;
        indexed.newest = newest;
        indexed.seq = seq;
        for r in rows {
            self.index_row(&mut indexed, &r);
        }
        Ok(())
    }

    fn index_row(&self, indexed: &mut Indexed, r: &CodeRow) {
        if r.encoder != self.encoder {
            return;
        }
        let topic = indexed.topic(&r.topic);
        if let Some(code) = code_from_blob(&r.code) {
            indexed.index.insert_code(r.row, r.at, topic, code);
        }
    }

    /// Apply the cases other replicas wrote since this one last looked.
    fn catch_up(&self, t: &mut dyn CaseTable, indexed: &mut Indexed) -> Result<(), FeedbackError> {
        for r in t.changed_after(indexed.seq)? {
            indexed.index.remove(r.row);
            indexed.seq = indexed.seq.max(r.seq);
            indexed.newest = indexed.newest.max(r.at);
            if r.at >= indexed.newest - self.window() {
                self.index_row(indexed, &r);
            }
        }
        Ok(())
    }

    /// How many cases the index holds (the related window).
    pub fn indexed_len(&self) -> usize {
        self.indexed.read().unwrap_or_else(|p| p.into_inner()).index.len()
    }

    /// Store a case (the same `case_id` again replaces it) and find its related cases.
    pub fn observe(&self, case: &NewCase) -> Result<Related, FeedbackError> {
        let query = unit(&case.embedding);
        let at = case.at.timestamp();
        // One writer at a time, here and (through the database's write lock) across replicas:
        // two copies of a new matter arriving together must not both start a group.
        let mut indexed = self.write_index();
        let since = at - self.window();
        let row = CaseRow {
            case_id: case.case_id.clone(),
            at,
            text: case.text.clone(),
            topic: case.topic.clone(),
            department: case.department.clone(),
            district: case.district.clone(),
            street: case.street.clone(),
            sites: serde_json::to_string(&case.sites).unwrap_or_else(|_| "{}".into()),
            keywords: serde_json::to_string(&case.keywords).unwrap_or_else(|_| "[]".into()),
            duplicate_of: None,
            suggested: serde_json::to_string(&case.suggested).unwrap_or_else(|_| "[]".into()),
            encoder: self.encoder.clone(),
            code: Vec::new(),
            embedding: quantize(&query),
        };
        let indexed = &mut *indexed;
        let (related, row_id, seq, code, topic, purged) = self.db.with_cases(true, |t| {
            if self.db.shared() {
                self.catch_up(t, indexed)?;
            }
            if let Some(existing) = t.row_of(&case.case_id)? {
                indexed.index.remove(existing);
            }
            let topic = indexed.topic(&case.topic);
            let code = indexed.index.code(&query);
            let scope = Scope { since, topic: self.settings.same_topic.then_some(topic) };
            let candidates = indexed.index.search(&code, scope, self.settings.candidates);
            let neighbours = self.rerank(t, &query, &candidates, case, at)?;

            // A repeat joins the matter's group and names the matter's first case; a look-alike
            // that cannot join (see `group_to_join`) is listed as related only.
            let joined = self.group_to_join(t, &neighbours, since)?;
            let duplicate_of = joined.map(|n| n.root.clone());
            let (row_id, seq) = t.upsert(&CaseRow { duplicate_of: duplicate_of.clone(), code: code_blob(&code), ..row.clone() })?;
            // A case an operator merged stays in the group it was merged into.
            let group = t.merged_group(row_id)?.or(joined.map(|n| n.group)).unwrap_or(row_id);
            t.set_group(row_id, group)?;
            let group_size = t.group_size(group, since)?;
            // Hourly, by the store's clock: old cases leave the database here, the index below.
            let newest = indexed.newest.max(at);
            let purged = newest - indexed.last_purge > 3600;
            if purged {
                t.purge_before(newest - self.settings.retention_days as i64 * DAY)?;
            }
            if let Some(outbox) = &self.outbox {
                let body = serde_json::json!({"case": {
                    "id": case.case_id, "submitted_at": rfc3339(at), "text": case.text, "topic": case.topic,
                    "department": case.department, "suggested": case.suggested, "district": case.district,
                    "street": case.street, "group": group, "duplicate_of": duplicate_of,
                }});
                t.append_event(&events::event(EventKind::CaseClassified, body), &outbox.sinks)?;
            }
            let related = Related {
                cases: neighbours.iter().take(10).map(|n| RelatedCase { case_id: n.case_id.clone(), similarity: n.similarity, at: rfc3339(n.at) }).collect(),
                group_size: group_size.max(1) as u64,
                duplicate_of,
                group,
            };
            Ok((related, row_id, seq, code, topic, purged))
        })?;

        indexed.index.insert_code(row_id, at, topic, code);
        indexed.seq = indexed.seq.max(seq);
        indexed.newest = indexed.newest.max(at);
        if purged {
            let newest = indexed.newest;
            indexed.index.evict_before(newest - self.window());
            indexed.last_purge = newest;
        }
        Ok(related)
    }

    /// The group a new case joins: that of its most similar same-matter case (duplicate
    /// threshold), provided the group's first case, if still in the window, is related to the
    /// new case too. Joining on a single link would chain: A like B like C, with A and C
    /// about different things; anchoring on the first case keeps a group about one matter.
    fn group_to_join<'n>(&self, t: &mut dyn CaseTable, neighbours: &'n [Neighbour], since: i64) -> Result<Option<&'n Neighbour>, FeedbackError> {
        for n in neighbours.iter().take_while(|n| n.similarity >= self.settings.duplicate_threshold) {
            if neighbours.iter().any(|m| m.row == n.group) {
                return Ok(Some(n));
            }
            if t.at_of(n.group)?.is_none_or(|at| at < since) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// Exact cosine for the scan's candidates, keeping those that pass the threshold, the
    /// window and the place check, most similar first.
    fn rerank(&self, t: &mut dyn CaseTable, query: &[f32], candidates: &[super::index::Candidate], case: &NewCase, at: i64) -> Result<Vec<Neighbour>, FeedbackError> {
        let rows: Vec<i64> = candidates.iter().map(|c| c.row).collect();
        let since = at - self.window();
        let mut out = Vec::new();
        for r in t.neighbours(&rows)? {
            if r.case_id == case.case_id || r.at < since {
                continue;
            }
            let similarity = cosine_q(query, &r.embedding);
            if similarity < self.settings.related_threshold {
                continue;
            }
            if self.settings.same_place {
                let sites: Sites = serde_json::from_str(&r.sites).unwrap_or_default();
                if !case.place_agrees(&sites, r.district.as_deref(), r.street.as_deref()) {
                    continue;
                }
            }
            out.push(Neighbour { row: r.row, case_id: r.case_id, at: r.at, group: r.group, root: r.root, similarity });
        }
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.row.cmp(&b.row)));
        Ok(out)
    }

    /// An operator says `case_id` is the same matter as `into`: it joins that group for good.
    pub fn merge(&self, case_id: &str, into: &str) -> Result<Option<i64>, FeedbackError> {
        let _indexed = self.write_index();
        Ok(self.db.with_cases(true, |t| {
            let group = t.merge(case_id, into)?;
            if let (Some(outbox), Some(group)) = (&self.outbox, group) {
                let body = serde_json::json!({"case": {"id": case_id, "group": group}, "merged_into": into});
                t.append_event(&events::event(EventKind::CaseMerged, body), &outbox.sinks)?;
            }
            Ok(group)
        })?)
    }

    /// Record a step of `case_id`'s life (`at`: unix seconds), once per `event_id`.
    pub fn record_event(&self, case_id: &str, event: &CaseEvent, at: i64, is_department: impl Fn(&str) -> bool) -> Result<Recorded, CaseEventError> {
        let outcome = self.db.with_cases(true, |t| {
            if !t.contains(case_id)? {
                return Ok(Err(CaseEventError::UnknownCase(case_id.to_string())));
            }
            if let Some(owner) = t.case_event_owner(&event.event_id)? {
                return Ok(if owner == case_id { Ok(Recorded::Repeat) } else { Err(CaseEventError::Conflict(event.event_id.clone())) });
            }
            let mut history = t.case_events(case_id)?;
            let row = match record::validate(event, case_id, &history, at, &is_department) {
                Ok(row) => row,
                Err(e) => return Ok(Err(CaseEventError::Invalid(e))),
            };
            t.append_case_event(&row)?;
            if let Some(outbox) = &self.outbox {
                let body = serde_json::json!({"case": {"id": case_id}, "step": {
                    "event_id": row.event_id, "type": row.kind, "department": row.department, "operator_id": row.operator_id,
                    "reason": row.reason, "rating": row.rating, "at": rfc3339(row.at),
                }});
                t.append_event(&events::event(EventKind::CaseStep, body), &outbox.sinks)?;
            }
            history.push(row);
            Ok(Ok(Recorded::New(record::state_of(&history))))
        })?;
        outcome
    }

    /// The rates for `filter`, with drift alarms at `filter.to` (see [`super::kpis`]).
    pub fn kpis(&self, filter: &super::kpis::KpiFilter, offset_secs: i64, alpha: f64) -> Result<super::kpis::KpiReport, FeedbackError> {
        let from = filter.from.min(filter.to - 35 * DAY);
        let (records, events) = self.db.with_cases(false, |t| Ok((t.records(from, filter.to)?, t.record_events(from, filter.to)?)))?;
        Ok(super::kpis::report(&records, &events, filter, offset_secs, alpha))
    }

    /// Publish each drift alarm once a day (city date `day`), whichever replica finds it first.
    /// Returns how many were new. Nothing is written without an outbox.
    pub fn publish_drift(&self, alarms: &[super::kpis::DriftAlarm], day: &str) -> Result<usize, FeedbackError> {
        let Some(outbox) = &self.outbox else { return Ok(0) };
        if alarms.is_empty() {
            return Ok(0);
        }
        Ok(self.db.with_cases(true, |t| {
            let mut new = 0;
            for a in alarms {
                let id = events::event_id_for(&format!("kpi.drift|{day}|{}|{}|{}", a.department, a.metric, a.direction));
                let body = serde_json::json!({"day": day, "drift": a});
                new += t.append_event_once(&events::event_with_id(EventKind::Drift, body, id), &outbox.sinks)? as usize;
            }
            Ok(new)
        })?)
    }

    /// (masked text, final department) of the dispatched cases that came in during `[from, to)`:
    /// the labels `triage cases eval-heads` scores candidate heads on.
    pub fn final_departments(&self, from: i64, to: i64) -> Result<Vec<(String, String)>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.final_departments(from, to))?)
    }

    /// A case's recorded steps, in the order they arrived; None when no such case is stored.
    pub fn case_events(&self, case_id: &str) -> Result<Option<Vec<crate::store::CaseEventRow>>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| if t.contains(case_id)? { t.case_events(case_id).map(Some) } else { Ok(None) })?)
    }

    pub fn contains(&self, case_id: &str) -> Result<bool, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.contains(case_id))?)
    }

    /// Cases per group in `[from, to)`, largest first.
    pub fn group_counts(&self, from: i64, to: i64, min_count: u64) -> Result<Vec<(i64, u64)>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.group_counts(from, to, min_count))?)
    }

    pub fn group_count(&self, group: i64, from: i64, to: i64) -> Result<u64, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.group_count(group, from, to))?)
    }

    /// A group's cases in `[from, to)`, oldest first.
    pub fn members(&self, group: i64, from: i64, to: i64) -> Result<Vec<StoredCase>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.members(group, from, to))?.into_iter().map(StoredCase::from).collect())
    }

    /// Every case's (group, time, topic, district), oldest first: the timeline `triage hotspots` scans.
    pub fn timeline(&self) -> Result<Vec<(i64, i64, String, Option<String>)>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.timeline())?)
    }

    pub fn is_empty(&self) -> Result<bool, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.is_empty())?)
    }

    /// The group and duplicate root the store holds for a case.
    pub fn grouping(&self, case_id: &str) -> Result<Option<(i64, Option<String>)>, FeedbackError> {
        Ok(self.db.with_cases(false, |t| t.grouping(case_id))?)
    }

    /// The newest case time (unix seconds), 0 when empty.
    pub fn newest(&self) -> i64 {
        self.indexed.read().unwrap_or_else(|p| p.into_inner()).newest
    }
}
