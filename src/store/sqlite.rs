//! The embedded engine: one SQLite file (WAL), one process. Cases and decisions each have a
//! connection, so a long statistics read never waits for a case being written.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};

use super::rows::*;
use super::{CaseTable, Database, EventTable, FeedbackTable, StoreError, StoreResult};

pub struct SqliteDatabase {
    path: PathBuf,
    cases: Mutex<Connection>,
    feedback: Mutex<Connection>,
    events: Mutex<Connection>,
}

fn connect(path: &Path) -> StoreResult<Connection> {
    let open_err = |e: rusqlite::Error| StoreError::Open { target: path.display().to_string(), reason: e.to_string() };
    let conn = Connection::open(path).map_err(open_err)?;
    // WAL: readers (stats, export) never block the writer. NORMAL sync is durable across a
    // process crash, which is what a server restart needs.
    conn.pragma_update(None, "journal_mode", "WAL").map_err(open_err)?;
    conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
    conn.busy_timeout(Duration::from_secs(5)).map_err(open_err)?;
    Ok(conn)
}

fn lock(m: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    // A panic while holding the lock cannot leave SQLite inconsistent (it has its own
    // transactions), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl SqliteDatabase {
    /// Open (creating the file and its folder if needed) and migrate.
    pub fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.display().to_string(), source })?;
        }
        let mut first = connect(path)?;
        super::migrations::sqlite(&mut first).map_err(|e| match e {
            StoreError::Sqlite(e) => StoreError::Open { target: path.display().to_string(), reason: e.to_string() },
            other => other,
        })?;
        Ok(SqliteDatabase { path: path.to_path_buf(), cases: Mutex::new(first), feedback: Mutex::new(connect(path)?), events: Mutex::new(connect(path)?) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn transaction(conn: &Connection, write: bool) -> StoreResult<rusqlite::Transaction<'_>> {
    // IMMEDIATE takes the write lock up front: a deferred transaction that reads and then
    // writes can fail half-way when another process wrote in between.
    let behavior = if write { TransactionBehavior::Immediate } else { TransactionBehavior::Deferred };
    Ok(rusqlite::Transaction::new_unchecked(conn, behavior)?)
}

impl Database for SqliteDatabase {
    fn engine(&self) -> &'static str {
        "sqlite"
    }

    fn target(&self) -> String {
        self.path.display().to_string()
    }

    fn shared(&self) -> bool {
        false
    }

    fn cases(&self, write: bool, work: &mut dyn FnMut(&mut dyn CaseTable) -> StoreResult<()>) -> StoreResult<()> {
        let conn = lock(&self.cases);
        let tx = transaction(&conn, write)?;
        work(&mut Sqlite(&tx))?;
        // An explicit commit: a failed one (disk full) must reach the caller, never be dropped.
        tx.commit()?;
        Ok(())
    }

    fn feedback(&self, write: bool, work: &mut dyn FnMut(&mut dyn FeedbackTable) -> StoreResult<()>) -> StoreResult<()> {
        let conn = lock(&self.feedback);
        let tx = transaction(&conn, write)?;
        work(&mut Sqlite(&tx))?;
        tx.commit()?;
        Ok(())
    }

    fn events(&self, work: &mut dyn FnMut(&mut dyn EventTable) -> StoreResult<()>) -> StoreResult<()> {
        let conn = lock(&self.events);
        let tx = transaction(&conn, true)?;
        work(&mut Sqlite(&tx))?;
        tx.commit()?;
        Ok(())
    }

    fn ping(&self) -> StoreResult<()> {
        lock(&self.feedback).query_row("SELECT 1", [], |_| Ok(()))?;
        Ok(())
    }
}

struct Sqlite<'c>(&'c Connection);

fn case_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseRecord> {
    Ok(CaseRecord {
        case_id: r.get(0)?,
        at: r.get(1)?,
        text: r.get(2)?,
        topic: r.get(3)?,
        district: r.get(4)?,
        street: r.get(5)?,
        sites: r.get(6)?,
        keywords: r.get(7)?,
        group: r.get(8)?,
    })
}

impl CaseTable for Sqlite<'_> {
    fn newest_at(&mut self) -> StoreResult<i64> {
        Ok(self.0.query_row("SELECT coalesce(max(at), 0) FROM cases", [], |r| r.get(0))?)
    }

    fn latest_seq(&mut self) -> StoreResult<i64> {
        Ok(0)
    }

    fn codes_since(&mut self, encoder: &str, since_at: i64) -> StoreResult<Vec<CodeRow>> {
        let mut stmt = self.0.prepare("SELECT id, at, topic, encoder, code FROM cases WHERE encoder = ?1 AND at >= ?2 ORDER BY at")?;
        let rows = stmt.query_map(params![encoder, since_at], |r| {
            Ok(CodeRow { row: r.get(0)?, seq: 0, at: r.get(1)?, topic: r.get(2)?, encoder: r.get(3)?, code: r.get(4)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn changed_after(&mut self, _seq: i64) -> StoreResult<Vec<CodeRow>> {
        // One process owns the file: it has seen every write.
        Ok(Vec::new())
    }

    fn row_of(&mut self, case_id: &str) -> StoreResult<Option<i64>> {
        Ok(self.0.query_row("SELECT id FROM cases WHERE case_id = ?1", [case_id], |r| r.get(0)).optional()?)
    }

    fn neighbours(&mut self, rows: &[i64]) -> StoreResult<Vec<NeighbourRow>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; rows.len()].join(",");
        let mut stmt = self.0.prepare(&format!(
            "SELECT id, case_id, at, grp, coalesce(merged_into, duplicate_of, case_id), sites, district, street, embedding FROM cases WHERE id IN ({marks})"
        ))?;
        let out = stmt.query_map(params_from_iter(rows.iter()), |r| {
            Ok(NeighbourRow {
                row: r.get(0)?,
                case_id: r.get(1)?,
                at: r.get(2)?,
                group: r.get(3)?,
                root: r.get(4)?,
                sites: r.get(5)?,
                district: r.get(6)?,
                street: r.get(7)?,
                embedding: r.get(8)?,
            })
        })?;
        Ok(out.collect::<Result<_, _>>()?)
    }

    fn at_of(&mut self, row: i64) -> StoreResult<Option<i64>> {
        Ok(self.0.query_row("SELECT at FROM cases WHERE id = ?1", [row], |r| r.get(0)).optional()?)
    }

    fn upsert(&mut self, c: &CaseRow) -> StoreResult<(i64, i64)> {
        let row: i64 = self.0.query_row(
            "INSERT INTO cases (case_id, at, text, topic, department, district, street, sites, keywords, grp, duplicate_of, encoder, code, embedding, suggested)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12, ?13, ?14)
             ON CONFLICT(case_id) DO UPDATE SET
                at = excluded.at, text = excluded.text, topic = excluded.topic, department = excluded.department,
                district = excluded.district, street = excluded.street, sites = excluded.sites, keywords = excluded.keywords,
                duplicate_of = coalesce(cases.merged_into, excluded.duplicate_of), encoder = excluded.encoder,
                code = excluded.code, embedding = excluded.embedding, suggested = excluded.suggested
             RETURNING id",
            params![c.case_id, c.at, c.text, c.topic, c.department, c.district, c.street, c.sites, c.keywords, c.duplicate_of, c.encoder, c.code, c.embedding, c.suggested],
            |r| r.get(0),
        )?;
        Ok((row, 0))
    }

    fn merged_group(&mut self, row: i64) -> StoreResult<Option<i64>> {
        Ok(self.0.query_row("SELECT g.grp FROM cases c JOIN cases g ON g.case_id = c.merged_into WHERE c.id = ?1", [row], |r| r.get(0)).optional()?)
    }

    fn set_group(&mut self, row: i64, group: i64) -> StoreResult<()> {
        self.0.execute("UPDATE cases SET grp = ?1 WHERE id = ?2", params![group, row])?;
        Ok(())
    }

    fn group_size(&mut self, group: i64, since: i64) -> StoreResult<i64> {
        Ok(self.0.query_row("SELECT count(*) FROM cases WHERE grp = ?1 AND at >= ?2", params![group, since], |r| r.get(0))?)
    }

    fn purge_before(&mut self, at: i64) -> StoreResult<()> {
        self.0.execute("DELETE FROM cases WHERE at < ?1", [at])?;
        self.0.execute("DELETE FROM case_events WHERE at < ?1", [at])?;
        Ok(())
    }

    fn merge(&mut self, case_id: &str, into: &str) -> StoreResult<Option<i64>> {
        let target: Option<(i64, String)> = self
            .0
            .query_row("SELECT grp, coalesce(merged_into, duplicate_of, case_id) FROM cases WHERE case_id = ?1", [into], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((group, root)) = target else { return Ok(None) };
        let n = self.0.execute("UPDATE cases SET grp = ?1, merged_into = ?2, duplicate_of = ?2 WHERE case_id = ?3", params![group, root, case_id])?;
        Ok((n == 1).then_some(group))
    }

    fn contains(&mut self, case_id: &str) -> StoreResult<bool> {
        Ok(self.0.query_row("SELECT 1 FROM cases WHERE case_id = ?1", [case_id], |_| Ok(())).optional()?.is_some())
    }

    fn group_counts(&mut self, from: i64, to: i64, min_count: u64) -> StoreResult<Vec<(i64, u64)>> {
        let mut stmt = self.0.prepare("SELECT grp, count(*) FROM cases WHERE at >= ?1 AND at < ?2 GROUP BY grp HAVING count(*) >= ?3 ORDER BY count(*) DESC, grp")?;
        let rows = stmt.query_map(params![from, to, min_count as i64], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?.max(0) as u64)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn group_count(&mut self, group: i64, from: i64, to: i64) -> StoreResult<u64> {
        let n: i64 = self.0.query_row("SELECT count(*) FROM cases WHERE grp = ?1 AND at >= ?2 AND at < ?3", params![group, from, to], |r| r.get(0))?;
        Ok(n.max(0) as u64)
    }

    fn members(&mut self, group: i64, from: i64, to: i64) -> StoreResult<Vec<CaseRecord>> {
        let mut stmt = self.0.prepare("SELECT case_id, at, text, topic, district, street, sites, keywords, grp FROM cases WHERE grp = ?1 AND at >= ?2 AND at < ?3 ORDER BY at, id")?;
        let rows = stmt.query_map(params![group, from, to], case_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn timeline(&mut self) -> StoreResult<Vec<(i64, i64, String, Option<String>)>> {
        let mut stmt = self.0.prepare("SELECT grp, at, topic, district FROM cases ORDER BY at, id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn is_empty(&mut self) -> StoreResult<bool> {
        Ok(self.0.query_row("SELECT NOT EXISTS (SELECT 1 FROM cases)", [], |r| r.get(0))?)
    }

    fn grouping(&mut self, case_id: &str) -> StoreResult<Option<(i64, Option<String>)>> {
        Ok(self.0.query_row("SELECT grp, duplicate_of FROM cases WHERE case_id = ?1", [case_id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?)
    }

    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()> {
        append_event(self.0, event, sinks)
    }

    fn append_event_once(&mut self, e: &EventRow, sinks: &[String]) -> StoreResult<bool> {
        if self.0.query_row("SELECT 1 FROM events WHERE event_id = ?1", [&e.event_id], |_| Ok(())).optional()?.is_some() {
            return Ok(false);
        }
        append_event(self.0, e, sinks)?;
        Ok(true)
    }

    fn case_events(&mut self, case_id: &str) -> StoreResult<Vec<CaseEventRow>> {
        let mut stmt = self.0.prepare(&format!("{CASE_EVENT} WHERE case_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map([case_id], case_event_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn case_event_owner(&mut self, event_id: &str) -> StoreResult<Option<String>> {
        Ok(self.0.query_row("SELECT case_id FROM case_events WHERE event_id = ?1", [event_id], |r| r.get(0)).optional()?)
    }

    fn append_case_event(&mut self, e: &CaseEventRow) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO case_events (event_id, case_id, kind, department, operator_id, reason, rating, at, received_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![e.event_id, e.case_id, e.kind, e.department, e.operator_id, e.reason, e.rating, e.at, e.received_ms],
        )?;
        Ok(())
    }

    fn records(&mut self, from: i64, to: i64) -> StoreResult<Vec<RecordRow>> {
        let mut stmt = self.0.prepare("SELECT case_id, at, topic, district, department, suggested FROM cases WHERE at >= ?1 AND at < ?2 ORDER BY at, id")?;
        let rows = stmt.query_map(params![from, to], |r| {
            Ok(RecordRow { case_id: r.get(0)?, at: r.get(1)?, topic: r.get(2)?, district: r.get(3)?, department: r.get(4)?, suggested: r.get(5)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn final_departments(&mut self, from: i64, to: i64) -> StoreResult<Vec<(String, String)>> {
        let mut stmt = self.0.prepare(
            "SELECT c.text, e.department FROM cases c JOIN case_events e ON e.case_id = c.case_id
             WHERE c.at >= ?1 AND c.at < ?2 AND e.department IS NOT NULL
               AND e.id = (SELECT max(x.id) FROM case_events x WHERE x.case_id = c.case_id AND x.kind IN ('dispatched', 'redispatched'))
             ORDER BY c.at, c.id",
        )?;
        let rows = stmt.query_map(params![from, to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn record_events(&mut self, from: i64, to: i64) -> StoreResult<Vec<CaseEventRow>> {
        let mut stmt = self.0.prepare(
            "SELECT e.event_id, e.case_id, e.kind, e.department, e.operator_id, e.reason, e.rating, e.at, e.received_ms
             FROM case_events e JOIN cases c ON c.case_id = e.case_id WHERE c.at >= ?1 AND c.at < ?2 ORDER BY e.id",
        )?;
        let rows = stmt.query_map(params![from, to], case_event_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const CASE_EVENT: &str = "SELECT event_id, case_id, kind, department, operator_id, reason, rating, at, received_ms FROM case_events";

fn case_event_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CaseEventRow> {
    Ok(CaseEventRow {
        event_id: r.get(0)?,
        case_id: r.get(1)?,
        kind: r.get(2)?,
        department: r.get(3)?,
        operator_id: r.get(4)?,
        reason: r.get(5)?,
        rating: r.get(6)?,
        at: r.get(7)?,
        received_ms: r.get(8)?,
    })
}

fn append_event(conn: &Connection, e: &EventRow, sinks: &[String]) -> StoreResult<()> {
    let row: i64 = conn.query_row(
        "INSERT INTO events (event_id, kind, created_ms, payload) VALUES (?1, ?2, ?3, ?4) RETURNING id",
        params![e.event_id, e.kind, e.created_ms, e.payload],
        |r| r.get(0),
    )?;
    for sink in sinks {
        conn.execute("INSERT INTO deliveries (event, sink) VALUES (?1, ?2)", params![row, sink])?;
    }
    Ok(())
}

impl EventTable for Sqlite<'_> {
    fn claim(&mut self, sink: &str, now_ms: i64, lease_until_ms: i64, limit: i64) -> StoreResult<Vec<DueEvent>> {
        let mut stmt = self.0.prepare(
            "SELECT d.event, e.event_id, e.kind, e.payload, d.attempts FROM deliveries d JOIN events e ON e.id = d.event
             WHERE d.sink = ?1 AND d.state = 'pending' AND d.next_ms <= ?2 AND d.lease_ms <= ?2 ORDER BY d.event LIMIT ?3",
        )?;
        let due: Vec<DueEvent> = stmt
            .query_map(params![sink, now_ms, limit], |r| Ok(DueEvent { row: r.get(0)?, event_id: r.get(1)?, kind: r.get(2)?, payload: r.get(3)?, attempts: r.get(4)? }))?
            .collect::<Result<_, _>>()?;
        for d in &due {
            self.0.execute("UPDATE deliveries SET lease_ms = ?1 WHERE event = ?2 AND sink = ?3", params![lease_until_ms, d.row, sink])?;
        }
        Ok(due)
    }

    fn delivered(&mut self, row: i64, sink: &str, now_ms: i64) -> StoreResult<()> {
        self.0.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_ms = ?1, lease_ms = 0, last_error = NULL WHERE event = ?2 AND sink = ?3",
            params![now_ms, row, sink],
        )?;
        Ok(())
    }

    fn failed(&mut self, row: i64, sink: &str, error: &str, next_ms: i64, dead: bool) -> StoreResult<()> {
        self.0.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = ?1, next_ms = ?2, lease_ms = 0,
                state = CASE WHEN ?3 THEN 'dead' ELSE 'pending' END WHERE event = ?4 AND sink = ?5",
            params![error, next_ms, dead, row, sink],
        )?;
        Ok(())
    }

    fn replay(&mut self, sink: &str, since_ms: i64) -> StoreResult<u64> {
        let n = self.0.execute(
            "INSERT INTO deliveries (event, sink) SELECT id, ?1 FROM events WHERE created_ms >= ?2
             ON CONFLICT (event, sink) DO UPDATE SET state = 'pending', attempts = 0, next_ms = 0, lease_ms = 0, last_error = NULL, delivered_ms = NULL",
            params![sink, since_ms],
        )?;
        Ok(n as u64)
    }

    fn delivery_counts(&mut self) -> StoreResult<Vec<DeliveryCount>> {
        let mut stmt = self.0.prepare("SELECT sink, state, count(*) FROM deliveries GROUP BY sink, state ORDER BY sink, state")?;
        let rows = stmt.query_map([], |r| Ok(DeliveryCount { sink: r.get(0)?, state: r.get(1)?, count: r.get::<_, i64>(2)?.max(0) as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn purge_events(&mut self, before_ms: i64) -> StoreResult<u64> {
        // SQLite enforces no foreign keys unless asked: the deliveries go explicitly.
        self.0.execute("DELETE FROM deliveries WHERE event IN (SELECT id FROM events WHERE created_ms < ?1)", [before_ms])?;
        Ok(self.0.execute("DELETE FROM events WHERE created_ms < ?1", [before_ms])? as u64)
    }
}

const DECISION: &str = "SELECT case_id, text, suggested, chosen, operator_id, accepted_rank, decided_at, revisions, ticket FROM feedback";

fn decision_record(r: &rusqlite::Row<'_>) -> rusqlite::Result<DecisionRecord> {
    Ok(DecisionRecord {
        case_id: r.get(0)?,
        text: r.get(1)?,
        suggested: r.get(2)?,
        chosen: r.get(3)?,
        operator_id: r.get(4)?,
        accepted_rank: r.get(5)?,
        decided_at: r.get(6)?,
        revisions: r.get(7)?,
        ticket: r.get(8)?,
    })
}

impl FeedbackTable for Sqlite<'_> {
    fn record(&mut self, f: &FeedbackRow) -> StoreResult<(u32, i64)> {
        let revisions: u32 = self.0.query_row(
            "INSERT INTO feedback (case_id, text, suggested, suggested_first, chosen, chosen_rank, accepted_rank, operator_id, decided_at, received_at, encoder, embedding, ticket)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT(case_id) DO UPDATE SET
                text = excluded.text, suggested = excluded.suggested, suggested_first = excluded.suggested_first,
                chosen = excluded.chosen, chosen_rank = excluded.chosen_rank, accepted_rank = excluded.accepted_rank,
                operator_id = excluded.operator_id, decided_at = excluded.decided_at, received_at = excluded.received_at,
                encoder = excluded.encoder, embedding = excluded.embedding, ticket = excluded.ticket, revisions = feedback.revisions + 1
             RETURNING revisions",
            params![
                f.case_id,
                f.text,
                f.suggested,
                f.suggested_first,
                f.chosen,
                f.chosen_rank,
                f.accepted_rank,
                f.operator_id,
                f.decided_at,
                f.received_at,
                f.encoder,
                f.embedding,
                f.ticket
            ],
            |r| r.get(0),
        )?;
        Ok((revisions, 0))
    }

    fn decision(&mut self, case_id: &str) -> StoreResult<Option<DecisionRecord>> {
        Ok(self.0.query_row(&format!("{DECISION} WHERE case_id = ?1"), [case_id], decision_record).optional()?)
    }

    fn decisions(&mut self) -> StoreResult<Vec<DecisionRecord>> {
        let mut stmt = self.0.prepare(&format!("{DECISION} ORDER BY decided_at, case_id"))?;
        let rows = stmt.query_map([], decision_record)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn counts(&mut self) -> StoreResult<DecisionCounts> {
        Ok(self.0.query_row(
            "SELECT count(*), count(accepted_rank), coalesce(sum(chosen_rank = 1), 0), coalesce(sum(chosen_rank <= 3), 0) FROM feedback",
            [],
            |r| Ok(DecisionCounts { cases: r.get(0)?, accepted: r.get(1)?, top1: r.get(2)?, top3: r.get(3)? }),
        )?)
    }

    fn corrections(&mut self) -> StoreResult<Vec<(String, String, i64)>> {
        let mut stmt = self.0.prepare(
            "SELECT suggested_first, chosen, count(*) FROM feedback
             WHERE suggested_first IS NOT NULL AND chosen <> suggested_first
             GROUP BY suggested_first, chosen ORDER BY suggested_first, count(*) DESC, chosen",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn embeddings(&mut self) -> StoreResult<Vec<EmbeddingRow>> {
        let mut stmt = self.0.prepare("SELECT case_id, encoder, embedding FROM feedback")?;
        let rows = stmt.query_map([], |r| Ok(EmbeddingRow { seq: 0, case_id: r.get(0)?, encoder: r.get(1)?, embedding: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn embeddings_after(&mut self, _seq: i64) -> StoreResult<Vec<EmbeddingRow>> {
        Ok(Vec::new())
    }

    fn excerpts(&mut self, case_ids: &[String]) -> StoreResult<Vec<(String, String, String, String)>> {
        if case_ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; case_ids.len()].join(",");
        let mut stmt = self.0.prepare(&format!("SELECT case_id, text, chosen, decided_at FROM feedback WHERE case_id IN ({marks})"))?;
        let rows = stmt.query_map(params_from_iter(case_ids.iter()), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn case_context(&mut self, case_id: &str) -> StoreResult<Option<(String, Option<String>, Option<String>, i64)>> {
        Ok(self.0.query_row("SELECT topic, district, street, grp FROM cases WHERE case_id = ?1", [case_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))).optional()?)
    }

    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()> {
        append_event(self.0, event, sinks)
    }
}
