//! Recent cases in SQLite (the feedback database, its own table), each joined to a group of
//! the same matter when it arrives.
//!
//! Grouping is single-pass: a new case joins the group of its most similar related case, or
//! starts one. That is causal (a case is judged on what came before it, as an operator would
//! see it), costs one index search per case, and lets hot spots be counted with SQL.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, RwLock};

use chrono::{DateTime, Utc};
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};

use super::index::{CaseIndex, Scope};
use super::{CaseSettings, Related, RelatedCase};
use crate::feedback::store::{open_database, unit};
use crate::feedback::FeedbackError;
use crate::text::sites::Sites;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS cases (
    id           INTEGER PRIMARY KEY,
    case_id      TEXT NOT NULL UNIQUE,
    at           INTEGER NOT NULL,      -- unix seconds
    text         TEXT NOT NULL,         -- normalised and PII-masked
    topic        TEXT NOT NULL,
    department   TEXT NOT NULL,
    district     TEXT,
    street       TEXT,
    sites        TEXT NOT NULL,         -- JSON Sites
    keywords     TEXT NOT NULL,         -- JSON array of words
    grp          INTEGER NOT NULL,      -- the id of the group's first case
    duplicate_of TEXT,
    merged_into  TEXT,
    encoder      TEXT NOT NULL,
    code         BLOB NOT NULL,         -- SimHash code, see index.rs
    embedding    BLOB NOT NULL          -- unit vector as i8 (x127)
);
CREATE INDEX IF NOT EXISTS cases_at ON cases (at);
CREATE INDEX IF NOT EXISTS cases_grp_at ON cases (grp, at);
";

/// A case as the classifier saw it, ready to store.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub case_id: String,
    pub at: DateTime<Utc>,
    /// Already masked.
    pub text: String,
    pub topic: String,
    pub department: String,
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
}

pub struct CaseStore {
    conn: Mutex<Connection>,
    indexed: RwLock<Indexed>,
    settings: CaseSettings,
    encoder: String,
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

pub fn rfc3339(at: i64) -> String {
    DateTime::from_timestamp(at, 0).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl CaseStore {
    /// Open the store in `path` (the feedback database) and load the recent window's codes.
    pub fn open(path: &Path, encoder: &str, dim: usize, settings: CaseSettings) -> Result<Self, FeedbackError> {
        let conn = open_database(path, SCHEMA)?;
        let store = CaseStore {
            conn: Mutex::new(conn),
            indexed: RwLock::new(Indexed { index: CaseIndex::new(dim), topics: HashMap::new(), newest: 0, last_purge: 0 }),
            settings,
            encoder: encoder.to_string(),
        };
        store.load_index()?;
        Ok(store)
    }

    pub fn settings(&self) -> &CaseSettings {
        &self.settings
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn window(&self) -> i64 {
        self.settings.related_days as i64 * DAY
    }

    fn load_index(&self) -> Result<(), FeedbackError> {
        let conn = self.conn();
        let newest: i64 = conn.query_row("SELECT coalesce(max(at), 0) FROM cases", [], |r| r.get(0))?;
        let mut indexed = self.indexed.write().unwrap_or_else(|p| p.into_inner());
        indexed.newest = newest;
        let mut stmt = conn.prepare("SELECT id, at, topic, code FROM cases WHERE encoder = ?1 AND at >= ?2 ORDER BY at")?;
        let mut rows = stmt.query(params![self.encoder, newest - self.window()])?;
        while let Some(r) = rows.next()? {
            let topic: String = r.get(2)?;
            let next = indexed.topics.len() as u16;
            let t = *indexed.topics.entry(topic).or_insert(next);
            if let Some(code) = code_from_blob(&r.get::<_, Vec<u8>>(3)?) {
                indexed.index.insert_code(r.get(0)?, r.get(1)?, t, code);
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
        // One writer at a time: two copies of a new matter arriving together must not both
        // start a group.
        let mut indexed = self.indexed.write().unwrap_or_else(|p| p.into_inner());
        let conn = self.conn();
        let existing: Option<i64> = conn.query_row("SELECT id FROM cases WHERE case_id = ?1", [&case.case_id], |r| r.get(0)).optional()?;
        if let Some(row) = existing {
            indexed.index.remove(row);
        }
        let next = indexed.topics.len() as u16;
        let topic = *indexed.topics.entry(case.topic.clone()).or_insert(next);
        let code = indexed.index.code(&query);
        let since = at - self.window();
        let scope = Scope { since, topic: self.settings.same_topic.then_some(topic) };
        let candidates = indexed.index.search(&code, scope, self.settings.candidates);
        let neighbours = self.rerank(&conn, &query, &candidates, case, at)?;

        // A repeat joins the matter's group and names the matter's first case; a look-alike
        // that cannot join (see `group_to_join`) is listed as related only.
        let joined = self.group_to_join(&conn, &neighbours, since)?;
        let group_of_best = joined.map(|n| n.group);
        let duplicate_of = joined.map(|n| n.root.clone());
        let sites = serde_json::to_string(&case.sites).unwrap_or_else(|_| "{}".into());
        let keywords = serde_json::to_string(&case.keywords).unwrap_or_else(|_| "[]".into());
        let tx = conn.unchecked_transaction()?;
        let row: i64 = tx.query_row(
            "INSERT INTO cases (case_id, at, text, topic, department, district, street, sites, keywords, grp, duplicate_of, encoder, code, embedding)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12, ?13)
             ON CONFLICT(case_id) DO UPDATE SET
                at = excluded.at, text = excluded.text, topic = excluded.topic, department = excluded.department,
                district = excluded.district, street = excluded.street, sites = excluded.sites, keywords = excluded.keywords,
                duplicate_of = coalesce(cases.merged_into, excluded.duplicate_of), encoder = excluded.encoder,
                code = excluded.code, embedding = excluded.embedding
             RETURNING id",
            params![
                case.case_id,
                at,
                case.text,
                case.topic,
                case.department,
                case.district,
                case.street,
                sites,
                keywords,
                duplicate_of,
                self.encoder,
                code_blob(&code),
                quantize(&query)
            ],
            |r| r.get(0),
        )?;
        // A case an operator merged stays in the group it was merged into.
        let merged_group: Option<i64> = tx
            .query_row("SELECT g.grp FROM cases c JOIN cases g ON g.case_id = c.merged_into WHERE c.id = ?1", [row], |r| r.get(0))
            .optional()?;
        let group = merged_group.or(group_of_best).unwrap_or(row);
        tx.execute("UPDATE cases SET grp = ?1 WHERE id = ?2", params![group, row])?;
        let group_size: i64 = tx.query_row("SELECT count(*) FROM cases WHERE grp = ?1 AND at >= ?2", params![group, since], |r| r.get(0))?;
        tx.commit()?;

        indexed.index.insert_code(row, at, topic, code);
        indexed.newest = indexed.newest.max(at);
        if indexed.newest - indexed.last_purge > 3600 {
            let newest = indexed.newest;
            indexed.index.evict_before(newest - self.window());
            conn.execute("DELETE FROM cases WHERE at < ?1", [newest - self.settings.retention_days as i64 * DAY])?;
            indexed.last_purge = newest;
        }
        Ok(Related {
            cases: neighbours.iter().take(10).map(|n| RelatedCase { case_id: n.case_id.clone(), similarity: n.similarity, at: rfc3339(n.at) }).collect(),
            group_size: group_size.max(1) as u64,
            duplicate_of,
            group,
        })
    }

    /// The group a new case joins: that of its most similar same-matter case (duplicate
    /// threshold), provided the group's first case, if still in the window, is related to the
    /// new case too. Joining on a single link would chain: A like B like C, with A and C
    /// about different things; anchoring on the first case keeps a group about one matter.
    fn group_to_join<'n>(&self, conn: &Connection, neighbours: &'n [Neighbour], since: i64) -> Result<Option<&'n Neighbour>, FeedbackError> {
        for n in neighbours.iter().take_while(|n| n.similarity >= self.settings.duplicate_threshold) {
            if neighbours.iter().any(|m| m.row == n.group) {
                return Ok(Some(n));
            }
            let root_at: Option<i64> = conn.query_row("SELECT at FROM cases WHERE id = ?1", [n.group], |r| r.get(0)).optional()?;
            if root_at.is_none_or(|at| at < since) {
                return Ok(Some(n));
            }
        }
        Ok(None)
    }

    /// Exact cosine for the scan's candidates, keeping those that pass the threshold, the
    /// window and the place check, most similar first.
    fn rerank(&self, conn: &Connection, query: &[f32], candidates: &[super::index::Candidate], case: &NewCase, at: i64) -> Result<Vec<Neighbour>, FeedbackError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; candidates.len()].join(",");
        let mut stmt = conn.prepare(&format!(
            "SELECT id, case_id, at, grp, coalesce(merged_into, duplicate_of, case_id), sites, district, street, embedding FROM cases WHERE id IN ({marks})"
        ))?;
        let mut rows = stmt.query(params_from_iter(candidates.iter().map(|c| c.row)))?;
        let mut out = Vec::new();
        let since = at - self.window();
        while let Some(r) = rows.next()? {
            let case_id: String = r.get(1)?;
            let their_at: i64 = r.get(2)?;
            if case_id == case.case_id || their_at < since {
                continue;
            }
            let similarity = cosine_q(query, &r.get::<_, Vec<u8>>(8)?);
            if similarity < self.settings.related_threshold {
                continue;
            }
            if self.settings.same_place {
                let sites: Sites = serde_json::from_str(&r.get::<_, String>(5)?).unwrap_or_default();
                let (district, street): (Option<String>, Option<String>) = (r.get(6)?, r.get(7)?);
                if !case.place_agrees(&sites, district.as_deref(), street.as_deref()) {
                    continue;
                }
            }
            out.push(Neighbour { row: r.get(0)?, case_id, at: their_at, group: r.get(3)?, root: r.get(4)?, similarity });
        }
        out.sort_by(|a, b| b.similarity.total_cmp(&a.similarity).then(a.row.cmp(&b.row)));
        Ok(out)
    }

    /// An operator says `case_id` is the same matter as `into`: it joins that group for good.
    pub fn merge(&self, case_id: &str, into: &str) -> Result<Option<i64>, FeedbackError> {
        let _indexed = self.indexed.write().unwrap_or_else(|p| p.into_inner());
        let conn = self.conn();
        let target: Option<(i64, String)> = conn
            .query_row("SELECT grp, coalesce(merged_into, duplicate_of, case_id) FROM cases WHERE case_id = ?1", [into], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((group, root)) = target else { return Ok(None) };
        let n = conn.execute("UPDATE cases SET grp = ?1, merged_into = ?2, duplicate_of = ?2 WHERE case_id = ?3", params![group, root, case_id])?;
        Ok((n == 1).then_some(group))
    }

    pub fn contains(&self, case_id: &str) -> Result<bool, FeedbackError> {
        Ok(self.conn().query_row("SELECT 1 FROM cases WHERE case_id = ?1", [case_id], |_| Ok(())).optional()?.is_some())
    }

    /// Cases per group in `[from, to)`, largest first.
    pub fn group_counts(&self, from: i64, to: i64, min_count: u64) -> Result<Vec<(i64, u64)>, FeedbackError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT grp, count(*) FROM cases WHERE at >= ?1 AND at < ?2 GROUP BY grp HAVING count(*) >= ?3 ORDER BY count(*) DESC")?;
        let rows = stmt.query_map(params![from, to, min_count as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn group_count(&self, group: i64, from: i64, to: i64) -> Result<u64, FeedbackError> {
        let n: i64 = self.conn().query_row("SELECT count(*) FROM cases WHERE grp = ?1 AND at >= ?2 AND at < ?3", params![group, from, to], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    /// A group's cases in `[from, to)`, oldest first.
    pub fn members(&self, group: i64, from: i64, to: i64) -> Result<Vec<StoredCase>, FeedbackError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT case_id, at, text, topic, district, street, sites, keywords, grp FROM cases WHERE grp = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id")?;
        let rows = stmt.query_map(params![group, from, to], stored_case)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Every case's (group, time, topic, district), oldest first: the timeline `triage hotspots` scans.
    pub fn timeline(&self) -> Result<Vec<(i64, i64, String, Option<String>)>, FeedbackError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT grp, at, topic, district FROM cases ORDER BY at, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn is_empty(&self) -> Result<bool, FeedbackError> {
        Ok(self.conn().query_row("SELECT NOT EXISTS (SELECT 1 FROM cases)", [], |r| r.get(0))?)
    }

    /// The group and duplicate root the store holds for a case.
    pub fn grouping(&self, case_id: &str) -> Result<Option<(i64, Option<String>)>, FeedbackError> {
        Ok(self.conn().query_row("SELECT grp, duplicate_of FROM cases WHERE case_id = ?1", [case_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    /// The newest case time (unix seconds), 0 when empty.
    pub fn newest(&self) -> i64 {
        self.indexed.read().unwrap_or_else(|p| p.into_inner()).newest
    }
}

fn stored_case(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredCase> {
    Ok(StoredCase {
        case_id: r.get(0)?,
        at: r.get(1)?,
        text: r.get(2)?,
        topic: r.get(3)?,
        district: r.get(4)?,
        street: r.get(5)?,
        sites: serde_json::from_str(&r.get::<_, String>(6)?).unwrap_or_default(),
        keywords: serde_json::from_str(&r.get::<_, String>(7)?).unwrap_or_default(),
        group: r.get(8)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::sites::find_sites;

    fn case(id: &str, day: i64, text: &str, topic: &str, v: &[f32]) -> NewCase {
        NewCase {
            case_id: id.into(),
            at: DateTime::from_timestamp(1_700_000_000 + day * DAY, 0).unwrap(),
            text: text.into(),
            topic: topic.into(),
            department: "urban_enforcement".into(),
            district: None,
            street: None,
            sites: find_sites(text),
            keywords: vec!["油烟".into()],
            embedding: v.to_vec(),
        }
    }

    #[test]
    fn repeats_join_one_group_and_conflicting_places_or_topics_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.sqlite3");
        let settings = CaseSettings { related_threshold: 0.9, duplicate_threshold: 0.95, same_topic: true, ..CaseSettings::default() };
        let store = CaseStore::open(&path, "enc", 3, settings.clone()).unwrap();
        let a = store.observe(&case("a", 0, "魅力之城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert!(a.cases.is_empty() && a.duplicate_of.is_none() && a.group_size == 1);
        let b = store.observe(&case("b", 1, "魅力之城小区油烟还是很大", "environment", &[1.0, 0.12, 0.0])).unwrap();
        assert_eq!(b.duplicate_of.as_deref(), Some("a"));
        assert_eq!((b.group, b.group_size), (a.group, 2));
        // Close in meaning, but another estate: a different matter.
        let c = store.observe(&case("c", 1, "丽发新城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.01])).unwrap();
        assert!(c.cases.is_empty() && c.group != a.group);
        // Same words, another topic: not related either.
        let d = store.observe(&case("d", 2, "魅力之城小区油烟", "housing", &[1.0, 0.1, 0.0])).unwrap();
        assert_ne!(d.group, a.group);
        // Related but below the duplicate threshold: listed, but neither a duplicate nor in the group.
        let e = store.observe(&case("e", 2, "魅力之城小区的饭店", "environment", &[1.0, 0.5, 0.1])).unwrap();
        assert_eq!(e.cases.len(), 2);
        assert!(e.group != a.group && e.duplicate_of.is_none() && e.group_size == 1);
        // Beyond the related window the matter starts over.
        let f = store.observe(&case("f", 60, "魅力之城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert!(f.cases.is_empty() && f.group != a.group);
        // An operator merges d into a: it counts in a's group from then on, even when replaced.
        assert_eq!(store.merge("d", "b").unwrap(), Some(a.group));
        assert!(store.merge("d", "nobody").unwrap().is_none());
        let d2 = store.observe(&case("d", 2, "魅力之城小区油烟", "housing", &[1.0, 0.1, 0.0])).unwrap();
        assert_eq!(d2.group, a.group);
        assert_eq!(store.grouping("d").unwrap().unwrap().1.as_deref(), Some("a"));
        assert_eq!(store.group_count(a.group, 0, i64::MAX).unwrap(), 3);

        // Reopening restores the index: a new repeat still finds its group.
        drop(store);
        let store = CaseStore::open(&path, "enc", 3, settings).unwrap();
        assert_eq!(store.indexed_len(), 1, "only the related window is indexed");
        let g = store.observe(&case("g", 61, "魅力之城小区油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert_eq!(g.duplicate_of.as_deref(), Some("f"));
    }

    #[test]
    fn a_chain_of_look_alikes_does_not_drift_into_one_group() {
        let dir = tempfile::tempdir().unwrap();
        let settings = CaseSettings { related_threshold: 0.9, duplicate_threshold: 0.95, ..CaseSettings::default() };
        let store = CaseStore::open(&dir.path().join("f.sqlite3"), "enc", 3, settings).unwrap();
        let x0 = store.observe(&case("x0", 0, "油烟", "environment", &[1.0, 0.0, 0.0])).unwrap();
        let x1 = store.observe(&case("x1", 0, "油烟", "environment", &[1.0, 0.3, 0.0])).unwrap();
        assert_eq!(x1.group, x0.group, "cosine 0.958 to the first case");
        // Like x1 (0.966), but not like the group's first case (0.85): a matter of its own.
        let x2 = store.observe(&case("x2", 0, "油烟", "environment", &[1.0, 0.62, 0.0])).unwrap();
        assert_ne!(x2.group, x0.group);
        assert_eq!(x2.duplicate_of, None);
        assert_eq!(x2.cases[0].case_id, "x1", "listed as related all the same");
    }
}
