//! The SQLite feedback store (WAL mode, one writer at a time) and brute-force nearest
//! neighbours over its embeddings.
//!
//! Embeddings are kept in memory as well as on disk: a similarity search must not read every
//! row's blob. Feedback grows by operator decisions (thousands a day, not millions), so a flat
//! scan of normalised vectors stays in the low milliseconds.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::{CorrectedDepartment, DepartmentCount, FeedbackError, FeedbackRecord, FeedbackStats, SimilarCase, StoredFeedback, TicketForm};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS feedback (
    case_id         TEXT PRIMARY KEY,
    text            TEXT NOT NULL,      -- normalised and PII-masked
    suggested       TEXT NOT NULL,      -- JSON array of department ids, best first
    suggested_first TEXT,
    chosen          TEXT NOT NULL,
    chosen_rank     INTEGER,            -- 1-based position of chosen in suggested, NULL if absent
    accepted_rank   INTEGER,
    operator_id     TEXT NOT NULL,
    decided_at      TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    revisions       INTEGER NOT NULL DEFAULT 1,
    encoder         TEXT,               -- the encoder version that made `embedding`
    embedding       BLOB,               -- little-endian f32
    ticket          TEXT                -- JSON TicketForm, PII-masked
);
CREATE INDEX IF NOT EXISTS feedback_decided_at ON feedback (decided_at);
";

struct IndexedCase {
    case_id: String,
    /// Unit length, so a dot product is the cosine.
    vector: Vec<f32>,
}

pub struct FeedbackStore {
    path: PathBuf,
    conn: Mutex<Connection>,
    index: RwLock<Vec<IndexedCase>>,
    /// Only embeddings from this encoder are comparable with new ones.
    encoder: String,
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

/// Open (creating the file and its folder if needed) the service's SQLite database, as both
/// the feedback and the case store use it.
pub(crate) fn open_database(path: &Path, schema: &str) -> Result<Connection, FeedbackError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| FeedbackError::Io { path: dir.display().to_string(), source })?;
    }
    let open_err = |source| FeedbackError::Open { path: path.display().to_string(), source };
    let conn = Connection::open(path).map_err(open_err)?;
    // WAL: readers (stats, export) never block the writer. NORMAL sync is durable across a
    // process crash, which is what a server restart needs.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
    conn.execute_batch(schema).map_err(open_err)?;
    Ok(conn)
}

/// Databases made before tickets were saved lack the column; adding it keeps their decisions.
fn add_ticket_column(conn: &Connection) -> rusqlite::Result<()> {
    let has: bool = conn.query_row("SELECT COUNT(*) FROM pragma_table_info('feedback') WHERE name = 'ticket'", [], |r| r.get::<_, i64>(0))? > 0;
    if !has {
        conn.execute_batch("ALTER TABLE feedback ADD COLUMN ticket TEXT")?;
    }
    Ok(())
}

fn to_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn from_blob(b: &[u8]) -> Vec<f32> {
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

impl FeedbackStore {
    /// Open (creating the file and its folder if needed) and load the embedding index.
    pub fn open(path: &Path, encoder: &str) -> Result<Self, FeedbackError> {
        let conn = open_database(path, SCHEMA)?;
        add_ticket_column(&conn).map_err(|source| FeedbackError::Open { path: path.display().to_string(), source })?;
        let store = FeedbackStore { path: path.to_path_buf(), conn: Mutex::new(conn), index: RwLock::new(Vec::new()), encoder: encoder.to_string() };
        store.load_index()?;
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
        // transactions), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn load_index(&self) -> Result<(), FeedbackError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT case_id, embedding FROM feedback WHERE encoder = ?1 AND embedding IS NOT NULL")?;
        let rows = stmt.query_map([&self.encoder], |r| Ok(IndexedCase { case_id: r.get(0)?, vector: from_blob(&r.get::<_, Vec<u8>>(1)?) }))?;
        let loaded: Vec<IndexedCase> = rows.collect::<Result<_, _>>()?;
        *self.index.write().unwrap_or_else(|p| p.into_inner()) = loaded;
        Ok(())
    }

    /// Store one decision (`text` and `ticket` already masked). Returns its revision count: 1
    /// for a new case, more when the case was decided before.
    pub fn record(&self, r: &FeedbackRecord, masked_text: &str, masked_ticket: Option<&TicketForm>, decided_at: &str, embedding: Option<&[f32]>) -> Result<u32, FeedbackError> {
        let chosen_rank = r.suggested.iter().position(|d| d == &r.chosen).map(|i| i as i64 + 1);
        let vector = embedding.map(unit);
        let suggested = serde_json::to_string(&r.suggested).unwrap_or_else(|_| "[]".into());
        let received_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let revisions: u32 = {
            let conn = self.conn();
            // An explicit transaction: with RETURNING, an autocommit statement commits when it is
            // reset, and a failed commit there (disk full) is silently dropped by query_row. The
            // client would get 201 for a decision that was never stored.
            let tx = conn.unchecked_transaction()?;
            let revisions = tx.query_row(
                "INSERT INTO feedback (case_id, text, suggested, suggested_first, chosen, chosen_rank, accepted_rank, operator_id, decided_at, received_at, encoder, embedding, ticket)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                 ON CONFLICT(case_id) DO UPDATE SET
                    text = excluded.text, suggested = excluded.suggested, suggested_first = excluded.suggested_first,
                    chosen = excluded.chosen, chosen_rank = excluded.chosen_rank, accepted_rank = excluded.accepted_rank,
                    operator_id = excluded.operator_id, decided_at = excluded.decided_at, received_at = excluded.received_at,
                    encoder = excluded.encoder, embedding = excluded.embedding, ticket = excluded.ticket, revisions = feedback.revisions + 1
                 RETURNING revisions",
                params![
                    r.case_id,
                    masked_text,
                    suggested,
                    r.suggested.first(),
                    r.chosen,
                    chosen_rank,
                    r.accepted_rank,
                    r.operator_id,
                    decided_at,
                    received_at,
                    vector.as_ref().map(|_| self.encoder.as_str()),
                    vector.as_deref().map(to_blob),
                    masked_ticket.and_then(|t| serde_json::to_string(t).ok()),
                ],
                |row| row.get(0),
            )?;
            tx.commit()?;
            revisions
        };
        let mut index = self.index.write().unwrap_or_else(|p| p.into_inner());
        index.retain(|c| c.case_id != r.case_id);
        if let Some(vector) = vector {
            index.push(IndexedCase { case_id: r.case_id.clone(), vector });
        }
        Ok(revisions)
    }

    pub fn get(&self, case_id: &str) -> Result<Option<StoredFeedback>, FeedbackError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT case_id, text, suggested, chosen, operator_id, accepted_rank, decided_at, revisions, ticket FROM feedback WHERE case_id = ?1",
                [case_id],
                stored_row,
            )
            .optional()?)
    }

    /// Every decision, oldest first (for export).
    pub fn all(&self) -> Result<Vec<StoredFeedback>, FeedbackError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT case_id, text, suggested, chosen, operator_id, accepted_rank, decided_at, revisions, ticket FROM feedback ORDER BY decided_at, case_id",
        )?;
        let rows = stmt.query_map([], stored_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn stats(&self, top_corrected: usize) -> Result<FeedbackStats, FeedbackError> {
        let conn = self.conn();
        let (cases, accepted, top1, top3): (i64, i64, i64, i64) = conn.query_row(
            "SELECT count(*), count(accepted_rank), coalesce(sum(chosen_rank = 1), 0), coalesce(sum(chosen_rank <= 3), 0) FROM feedback",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
        let mut stmt = conn.prepare(
            "SELECT suggested_first, chosen, count(*) FROM feedback
             WHERE suggested_first IS NOT NULL AND chosen <> suggested_first
             GROUP BY suggested_first, chosen ORDER BY suggested_first, count(*) DESC, chosen",
        )?;
        let mut corrected: Vec<CorrectedDepartment> = Vec::new();
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))? {
            let (from, to, n) = row?;
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
        let share = |n: i64| if cases <= 0 { 0.0 } else { n as f64 / cases as f64 };
        Ok(FeedbackStats { cases: cases.max(0) as u64, acceptance_rate: share(accepted), top1_agreement: share(top1), top3_agreement: share(top3), most_corrected: corrected })
    }

    /// The `k` stored cases nearest to `vector`, leaving out `exclude` (the case itself).
    pub fn similar(&self, vector: &[f32], k: usize, exclude: Option<&str>) -> Result<Vec<SimilarCase>, FeedbackError> {
        let query = unit(vector);
        let mut best: Vec<(f32, String)> = {
            let index = self.index.read().unwrap_or_else(|p| p.into_inner());
            let mut scored: Vec<(f32, String)> = index
                .iter()
                .filter(|c| Some(c.case_id.as_str()) != exclude && c.vector.len() == query.len())
                .map(|c| (c.vector.iter().zip(&query).map(|(a, b)| a * b).sum(), c.case_id.clone()))
                .collect();
            scored.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.truncate(k);
            scored
        };
        let conn = self.conn();
        let mut out = Vec::with_capacity(best.len());
        for (similarity, case_id) in best.drain(..) {
            let row = conn
                .query_row("SELECT text, chosen, decided_at FROM feedback WHERE case_id = ?1", [&case_id], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?))
                })
                .optional()?;
            if let Some((text, department, decided_at)) = row {
                let excerpt: String = text.chars().take(80).collect();
                out.push(SimilarCase { case_id, excerpt, department, decided_at, similarity });
            }
        }
        Ok(out)
    }
}

fn stored_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredFeedback> {
    let suggested: String = r.get(2)?;
    Ok(StoredFeedback {
        case_id: r.get(0)?,
        text: r.get(1)?,
        suggested: serde_json::from_str(&suggested).unwrap_or_default(),
        chosen: r.get(3)?,
        operator_id: r.get(4)?,
        accepted_rank: r.get(5)?,
        decided_at: r.get(6)?,
        revisions: r.get(7)?,
        ticket: r.get::<_, Option<String>>(8)?.and_then(|t| serde_json::from_str(&t).ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(case: &str, suggested: &[&str], chosen: &str, accepted: Option<u32>) -> FeedbackRecord {
        FeedbackRecord {
            case_id: case.into(),
            text: "楼下饭馆油烟很大".into(),
            suggested: suggested.iter().map(|s| s.to_string()).collect(),
            chosen: chosen.into(),
            operator_id: "op-7".into(),
            accepted_rank: accepted,
            decided_at: None,
            ticket: None,
        }
    }

    #[test]
    fn decisions_survive_a_reopen_and_add_up_in_the_stats() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/feedback.sqlite3");
        {
            let store = FeedbackStore::open(&path, "enc-a").unwrap();
            let now = "2026-11-27T08:00:00Z";
            assert_eq!(store.record(&record("c1", &["gas_group", "fire_rescue"], "gas_group", Some(1)), "t1", None, now, Some(&[1.0, 0.0])).unwrap(), 1);
            store.record(&record("c2", &["urban_enforcement", "ecology_environment"], "ecology_environment", Some(2)), "t2", None, now, Some(&[0.0, 1.0])).unwrap();
            store.record(&record("c3", &["urban_enforcement", "ecology_environment", "water_authority"], "housing_commission", None), "t3", None, now, None).unwrap();
            // The operator changed their mind on c1: one case, two revisions.
            assert_eq!(store.record(&record("c1", &["gas_group", "fire_rescue"], "fire_rescue", Some(2)), "t1", None, now, Some(&[1.0, 0.1])).unwrap(), 2);
        }
        let store = FeedbackStore::open(&path, "enc-a").unwrap();
        let s = store.stats(10).unwrap();
        assert_eq!(s.cases, 3);
        assert!((s.acceptance_rate - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.top1_agreement, 0.0);
        assert!((s.top3_agreement - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.most_corrected[0].department, "urban_enforcement");
        assert_eq!(s.most_corrected[0].corrections, 2);
        assert_eq!(store.get("c1").unwrap().unwrap().chosen, "fire_rescue");

        let near = store.similar(&[0.9, 0.2], 3, None).unwrap();
        assert_eq!(near.len(), 2, "c3 has no embedding");
        assert_eq!(near[0].case_id, "c1");
        assert!(near[0].similarity > near[1].similarity);
        assert!(store.similar(&[0.9, 0.2], 3, Some("c1")).unwrap().iter().all(|c| c.case_id != "c1"));
        // Vectors from another encoder are not comparable.
        assert!(FeedbackStore::open(&path, "enc-b").unwrap().similar(&[1.0, 0.0], 3, None).unwrap().is_empty());
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feedback.sqlite3");
        std::fs::write(&path, b"this is not sqlite, just text that fills the header and more of it").unwrap();
        let err = FeedbackStore::open(&path, "enc").err().expect("must refuse");
        assert!(err.to_string().contains("feedback.sqlite3"), "{err}");
    }

    #[test]
    fn a_ticket_is_kept_with_its_decision_and_old_databases_gain_the_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            // A database from before tickets: the same table without the column, one decision in it.
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(&SCHEMA.replace(",\n    ticket          TEXT                -- JSON TicketForm, PII-masked", "")).unwrap();
            conn.execute("INSERT INTO feedback (case_id, text, suggested, chosen, operator_id, decided_at, received_at) VALUES ('old', 't', '[]', 'gas_group', 'op', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", []).unwrap();
        }
        let store = FeedbackStore::open(&path, "enc").unwrap();
        assert!(store.get("old").unwrap().unwrap().ticket.is_none(), "the old decision is still there");
        let ticket = TicketForm { address: Some("朝阳区望京西园三区".into()), summary: Some("楼下烧烤店油烟扰民，要求查处".into()), ..TicketForm::default() };
        store.record(&record("new", &["urban_enforcement"], "urban_enforcement", Some(1)), "t", Some(&ticket), "2026-01-02T00:00:00Z", None).unwrap();
        assert_eq!(store.get("new").unwrap().unwrap().ticket, Some(ticket));
        drop(store);
        assert!(FeedbackStore::open(&path, "enc").is_ok(), "opening twice adds the column once");
    }
}
