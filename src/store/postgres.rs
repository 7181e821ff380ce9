//! The shared engine: one PostgreSQL database for several replicas, through a connection pool.
//!
//! The client is the synchronous `postgres` crate: the stores are synchronous and the server
//! calls them on tokio's blocking threads, as it does SQLite. Writes are serialised by a
//! transaction-scoped advisory lock, so two replicas never start two groups for one new matter,
//! and change numbers become visible in the order they were taken.

use std::time::Duration;

use r2d2_postgres::postgres::{Config, NoTls, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;

use super::rows::*;
use super::{CaseTable, Database, EventTable, FeedbackTable, StoreError, StoreResult};

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Arbitrary constants, one advisory lock per table's writers.
const CASES_LOCK: i64 = 0x7472_6961_6765_0002;
const FEEDBACK_LOCK: i64 = 0x7472_6961_6765_0003;

/// How long a request waits for a connection before the database counts as unavailable.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);
const PING_TIMEOUT: Duration = Duration::from_millis(1000);

pub struct PostgresDatabase {
    pool: Pool,
    target: String,
}

/// `user@host:port/dbname`, never the password.
fn describe(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            r2d2_postgres::postgres::config::Host::Tcp(s) => s.clone(),
            #[cfg(unix)]
            r2d2_postgres::postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .collect();
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("postgres://{}@{}:{}/{}", config.get_user().unwrap_or(""), hosts.join(","), port, config.get_dbname().unwrap_or(""))
}

impl PostgresDatabase {
    /// Connect (failing within a few seconds when the server is away) and migrate.
    pub fn open(url: &str) -> StoreResult<Self> {
        let config: Config = url.parse().map_err(|e: r2d2_postgres::postgres::Error| StoreError::Open { target: "the database URL".into(), reason: e.to_string() })?;
        let target = describe(&config);
        let open_err = |reason: String| StoreError::Open { target: target.clone(), reason };
        let pool = r2d2::Pool::builder()
            .max_size(8)
            .min_idle(Some(1))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(PostgresConnectionManager::new(config, NoTls))
            .map_err(|e| open_err(e.to_string()))?;
        let mut client = pool.get().map_err(|e| open_err(e.to_string()))?;
        super::migrations::postgres(&mut client).map_err(|e| open_err(e.to_string()))?;
        drop(client);
        Ok(PostgresDatabase { pool, target })
    }

    fn run(&self, write: bool, lock: i64, work: impl FnOnce(&mut Transaction<'_>) -> StoreResult<()>) -> StoreResult<()> {
        let mut client = self.pool.get().map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut tx = client.transaction()?;
        if write {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&lock])?;
        }
        work(&mut tx)?;
        tx.commit()?;
        Ok(())
    }
}

impl Database for PostgresDatabase {
    fn engine(&self) -> &'static str {
        "postgres"
    }

    fn target(&self) -> String {
        self.target.clone()
    }

    fn shared(&self) -> bool {
        true
    }

    fn cases(&self, write: bool, work: &mut dyn FnMut(&mut dyn CaseTable) -> StoreResult<()>) -> StoreResult<()> {
        self.run(write, CASES_LOCK, |tx| work(&mut Pg(tx)))
    }

    fn feedback(&self, write: bool, work: &mut dyn FnMut(&mut dyn FeedbackTable) -> StoreResult<()>) -> StoreResult<()> {
        self.run(write, FEEDBACK_LOCK, |tx| work(&mut Pg(tx)))
    }

    fn events(&self, work: &mut dyn FnMut(&mut dyn EventTable) -> StoreResult<()>) -> StoreResult<()> {
        // No advisory lock: claims skip the rows another replica has locked.
        self.run(false, 0, |tx| work(&mut Pg(tx)))
    }

    fn ping(&self) -> StoreResult<()> {
        // Shorter than a readiness probe's timeout: a database that is away makes the replica
        // degraded, never unready.
        let mut client = self.pool.get_timeout(PING_TIMEOUT).map_err(|e| StoreError::Unavailable(e.to_string()))?;
        client.simple_query("SELECT 1")?;
        Ok(())
    }
}

struct Pg<'a, 'b>(&'a mut Transaction<'b>);

fn code_row(r: &Row) -> CodeRow {
    CodeRow { row: r.get(0), seq: r.get(1), at: r.get(2), topic: r.get(3), encoder: r.get(4), code: r.get(5) }
}

fn case_record(r: &Row) -> CaseRecord {
    CaseRecord {
        case_id: r.get(0),
        at: r.get(1),
        text: r.get(2),
        topic: r.get(3),
        district: r.get(4),
        street: r.get(5),
        sites: r.get(6),
        keywords: r.get(7),
        group: r.get(8),
    }
}

impl CaseTable for Pg<'_, '_> {
    fn newest_at(&mut self) -> StoreResult<i64> {
        Ok(self.0.query_one("SELECT coalesce(max(at), 0)::bigint FROM cases", &[])?.get(0))
    }

    fn latest_seq(&mut self) -> StoreResult<i64> {
        Ok(self.0.query_one("SELECT coalesce(max(seq), 0)::bigint FROM cases", &[])?.get(0))
    }

    fn codes_since(&mut self, encoder: &str, since_at: i64) -> StoreResult<Vec<CodeRow>> {
        let rows = self.0.query("SELECT id, seq, at, topic, encoder, code FROM cases WHERE encoder = $1 AND at >= $2 ORDER BY at", &[&encoder, &since_at])?;
        Ok(rows.iter().map(code_row).collect())
    }

    fn changed_after(&mut self, seq: i64) -> StoreResult<Vec<CodeRow>> {
        let rows = self.0.query("SELECT id, seq, at, topic, encoder, code FROM cases WHERE seq > $1 ORDER BY seq", &[&seq])?;
        Ok(rows.iter().map(code_row).collect())
    }

    fn row_of(&mut self, case_id: &str) -> StoreResult<Option<i64>> {
        Ok(self.0.query_opt("SELECT id FROM cases WHERE case_id = $1", &[&case_id])?.map(|r| r.get(0)))
    }

    fn neighbours(&mut self, rows: &[i64]) -> StoreResult<Vec<NeighbourRow>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<i64> = rows.to_vec();
        let found = self.0.query(
            "SELECT id, case_id, at, grp, coalesce(merged_into, duplicate_of, case_id), sites, district, street, embedding FROM cases WHERE id = ANY($1)",
            &[&ids],
        )?;
        Ok(found
            .iter()
            .map(|r| NeighbourRow {
                row: r.get(0),
                case_id: r.get(1),
                at: r.get(2),
                group: r.get(3),
                root: r.get(4),
                sites: r.get(5),
                district: r.get(6),
                street: r.get(7),
                embedding: r.get(8),
            })
            .collect())
    }

    fn at_of(&mut self, row: i64) -> StoreResult<Option<i64>> {
        Ok(self.0.query_opt("SELECT at FROM cases WHERE id = $1", &[&row])?.map(|r| r.get(0)))
    }

    fn upsert(&mut self, c: &CaseRow) -> StoreResult<(i64, i64)> {
        let r = self.0.query_one(
            "INSERT INTO cases (case_id, at, text, topic, department, district, street, sites, keywords, grp, duplicate_of, encoder, code, embedding, suggested)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, $12, $13, $14)
             ON CONFLICT (case_id) DO UPDATE SET
                at = excluded.at, text = excluded.text, topic = excluded.topic, department = excluded.department,
                district = excluded.district, street = excluded.street, sites = excluded.sites, keywords = excluded.keywords,
                duplicate_of = coalesce(cases.merged_into, excluded.duplicate_of), encoder = excluded.encoder,
                code = excluded.code, embedding = excluded.embedding, suggested = excluded.suggested, seq = nextval('triage_change_seq')
             RETURNING id, seq",
            &[&c.case_id, &c.at, &c.text, &c.topic, &c.department, &c.district, &c.street, &c.sites, &c.keywords, &c.duplicate_of, &c.encoder, &c.code, &c.embedding, &c.suggested],
        )?;
        Ok((r.get(0), r.get(1)))
    }

    fn merged_group(&mut self, row: i64) -> StoreResult<Option<i64>> {
        Ok(self.0.query_opt("SELECT g.grp FROM cases c JOIN cases g ON g.case_id = c.merged_into WHERE c.id = $1", &[&row])?.map(|r| r.get(0)))
    }

    fn set_group(&mut self, row: i64, group: i64) -> StoreResult<()> {
        self.0.execute("UPDATE cases SET grp = $1 WHERE id = $2", &[&group, &row])?;
        Ok(())
    }

    fn group_size(&mut self, group: i64, since: i64) -> StoreResult<i64> {
        Ok(self.0.query_one("SELECT count(*) FROM cases WHERE grp = $1 AND at >= $2", &[&group, &since])?.get(0))
    }

    fn purge_before(&mut self, at: i64) -> StoreResult<()> {
        self.0.execute("DELETE FROM cases WHERE at < $1", &[&at])?;
        self.0.execute("DELETE FROM case_events WHERE at < $1", &[&at])?;
        Ok(())
    }

    fn merge(&mut self, case_id: &str, into: &str) -> StoreResult<Option<i64>> {
        let target = self.0.query_opt("SELECT grp, coalesce(merged_into, duplicate_of, case_id) FROM cases WHERE case_id = $1", &[&into])?;
        let Some(target) = target else { return Ok(None) };
        let (group, root): (i64, String) = (target.get(0), target.get(1));
        let n = self.0.execute("UPDATE cases SET grp = $1, merged_into = $2, duplicate_of = $2 WHERE case_id = $3", &[&group, &root, &case_id])?;
        Ok((n == 1).then_some(group))
    }

    fn contains(&mut self, case_id: &str) -> StoreResult<bool> {
        Ok(self.0.query_opt("SELECT 1 FROM cases WHERE case_id = $1", &[&case_id])?.is_some())
    }

    fn group_counts(&mut self, from: i64, to: i64, min_count: u64) -> StoreResult<Vec<(i64, u64)>> {
        let rows = self.0.query(
            "SELECT grp, count(*) FROM cases WHERE at >= $1 AND at < $2 GROUP BY grp HAVING count(*) >= $3 ORDER BY count(*) DESC, grp",
            &[&from, &to, &(min_count as i64)],
        )?;
        Ok(rows.iter().map(|r| (r.get::<_, i64>(0), r.get::<_, i64>(1).max(0) as u64)).collect())
    }

    fn group_count(&mut self, group: i64, from: i64, to: i64) -> StoreResult<u64> {
        let n: i64 = self.0.query_one("SELECT count(*) FROM cases WHERE grp = $1 AND at >= $2 AND at < $3", &[&group, &from, &to])?.get(0);
        Ok(n.max(0) as u64)
    }

    fn members(&mut self, group: i64, from: i64, to: i64) -> StoreResult<Vec<CaseRecord>> {
        let rows = self.0.query(
            "SELECT case_id, at, text, topic, district, street, sites, keywords, grp FROM cases WHERE grp = $1 AND at >= $2 AND at < $3 ORDER BY at, id",
            &[&group, &from, &to],
        )?;
        Ok(rows.iter().map(case_record).collect())
    }

    fn timeline(&mut self) -> StoreResult<Vec<(i64, i64, String, Option<String>)>> {
        let rows = self.0.query("SELECT grp, at, topic, district FROM cases ORDER BY at, id", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    fn is_empty(&mut self) -> StoreResult<bool> {
        Ok(self.0.query_one("SELECT NOT EXISTS (SELECT 1 FROM cases)", &[])?.get(0))
    }

    fn grouping(&mut self, case_id: &str) -> StoreResult<Option<(i64, Option<String>)>> {
        Ok(self.0.query_opt("SELECT grp, duplicate_of FROM cases WHERE case_id = $1", &[&case_id])?.map(|r| (r.get(0), r.get(1))))
    }

    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()> {
        append_event(self.0, event, sinks)
    }

    fn append_event_once(&mut self, e: &EventRow, sinks: &[String]) -> StoreResult<bool> {
        // Under the case writers' advisory lock: two replicas cannot both find it absent.
        if self.0.query_opt("SELECT 1 FROM events WHERE event_id = $1", &[&e.event_id])?.is_some() {
            return Ok(false);
        }
        append_event(self.0, e, sinks)?;
        Ok(true)
    }

    fn case_events(&mut self, case_id: &str) -> StoreResult<Vec<CaseEventRow>> {
        Ok(self.0.query(&format!("{CASE_EVENT} WHERE case_id = $1 ORDER BY id"), &[&case_id])?.iter().map(case_event_row).collect())
    }

    fn case_event_owner(&mut self, event_id: &str) -> StoreResult<Option<String>> {
        Ok(self.0.query_opt("SELECT case_id FROM case_events WHERE event_id = $1", &[&event_id])?.map(|r| r.get(0)))
    }

    fn append_case_event(&mut self, e: &CaseEventRow) -> StoreResult<()> {
        self.0.execute(
            "INSERT INTO case_events (event_id, case_id, kind, department, operator_id, reason, rating, at, received_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[&e.event_id, &e.case_id, &e.kind, &e.department, &e.operator_id, &e.reason, &e.rating, &e.at, &e.received_ms],
        )?;
        Ok(())
    }

    fn records(&mut self, from: i64, to: i64) -> StoreResult<Vec<RecordRow>> {
        let rows = self.0.query("SELECT case_id, at, topic, district, department, suggested FROM cases WHERE at >= $1 AND at < $2 ORDER BY at, id", &[&from, &to])?;
        Ok(rows.iter().map(|r| RecordRow { case_id: r.get(0), at: r.get(1), topic: r.get(2), district: r.get(3), department: r.get(4), suggested: r.get(5) }).collect())
    }

    fn final_departments(&mut self, from: i64, to: i64) -> StoreResult<Vec<(String, String)>> {
        let rows = self.0.query(
            "SELECT c.text, e.department FROM cases c JOIN case_events e ON e.case_id = c.case_id
             WHERE c.at >= $1 AND c.at < $2 AND e.department IS NOT NULL
               AND e.id = (SELECT max(x.id) FROM case_events x WHERE x.case_id = c.case_id AND x.kind IN ('dispatched', 'redispatched'))
             ORDER BY c.at, c.id",
            &[&from, &to],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn record_events(&mut self, from: i64, to: i64) -> StoreResult<Vec<CaseEventRow>> {
        let rows = self.0.query(
            "SELECT e.event_id, e.case_id, e.kind, e.department, e.operator_id, e.reason, e.rating, e.at, e.received_ms
             FROM case_events e JOIN cases c ON c.case_id = e.case_id WHERE c.at >= $1 AND c.at < $2 ORDER BY e.id",
            &[&from, &to],
        )?;
        Ok(rows.iter().map(case_event_row).collect())
    }
}

const CASE_EVENT: &str = "SELECT event_id, case_id, kind, department, operator_id, reason, rating, at, received_ms FROM case_events";

fn case_event_row(r: &Row) -> CaseEventRow {
    CaseEventRow {
        event_id: r.get(0),
        case_id: r.get(1),
        kind: r.get(2),
        department: r.get(3),
        operator_id: r.get(4),
        reason: r.get(5),
        rating: r.get(6),
        at: r.get(7),
        received_ms: r.get(8),
    }
}

fn append_event(tx: &mut Transaction<'_>, e: &EventRow, sinks: &[String]) -> StoreResult<()> {
    let row: i64 = tx
        .query_one("INSERT INTO events (event_id, kind, created_ms, payload) VALUES ($1, $2, $3, $4) RETURNING id", &[&e.event_id, &e.kind, &e.created_ms, &e.payload])?
        .get(0);
    for sink in sinks {
        tx.execute("INSERT INTO deliveries (event, sink) VALUES ($1, $2)", &[&row, sink])?;
    }
    Ok(())
}

impl EventTable for Pg<'_, '_> {
    fn claim(&mut self, sink: &str, now_ms: i64, lease_until_ms: i64, limit: i64) -> StoreResult<Vec<DueEvent>> {
        let rows: Vec<i64> = self
            .0
            .query(
                "SELECT event FROM deliveries WHERE sink = $1 AND state = 'pending' AND next_ms <= $2 AND lease_ms <= $2
                 ORDER BY event LIMIT $3 FOR UPDATE SKIP LOCKED",
                &[&sink, &now_ms, &limit],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        self.0.execute("UPDATE deliveries SET lease_ms = $1 WHERE sink = $2 AND event = ANY($3)", &[&lease_until_ms, &sink, &rows])?;
        let due = self.0.query(
            "SELECT d.event, e.event_id, e.kind, e.payload, d.attempts FROM deliveries d JOIN events e ON e.id = d.event
             WHERE d.sink = $1 AND d.event = ANY($2) ORDER BY d.event",
            &[&sink, &rows],
        )?;
        Ok(due
            .iter()
            .map(|r| DueEvent { row: r.get(0), event_id: r.get(1), kind: r.get(2), payload: r.get(3), attempts: r.get::<_, i32>(4).max(0) as u32 })
            .collect())
    }

    fn delivered(&mut self, row: i64, sink: &str, now_ms: i64) -> StoreResult<()> {
        self.0.execute(
            "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_ms = $1, lease_ms = 0, last_error = NULL WHERE event = $2 AND sink = $3",
            &[&now_ms, &row, &sink],
        )?;
        Ok(())
    }

    fn failed(&mut self, row: i64, sink: &str, error: &str, next_ms: i64, dead: bool) -> StoreResult<()> {
        self.0.execute(
            "UPDATE deliveries SET attempts = attempts + 1, last_error = $1, next_ms = $2, lease_ms = 0,
                state = CASE WHEN $3 THEN 'dead' ELSE 'pending' END WHERE event = $4 AND sink = $5",
            &[&error, &next_ms, &dead, &row, &sink],
        )?;
        Ok(())
    }

    fn replay(&mut self, sink: &str, since_ms: i64) -> StoreResult<u64> {
        Ok(self.0.execute(
            "INSERT INTO deliveries (event, sink) SELECT id, $1 FROM events WHERE created_ms >= $2
             ON CONFLICT (event, sink) DO UPDATE SET state = 'pending', attempts = 0, next_ms = 0, lease_ms = 0, last_error = NULL, delivered_ms = NULL",
            &[&sink, &since_ms],
        )?)
    }

    fn delivery_counts(&mut self) -> StoreResult<Vec<DeliveryCount>> {
        let rows = self.0.query("SELECT sink, state, count(*) FROM deliveries GROUP BY sink, state ORDER BY sink, state", &[])?;
        Ok(rows.iter().map(|r| DeliveryCount { sink: r.get(0), state: r.get(1), count: r.get::<_, i64>(2).max(0) as u64 }).collect())
    }

    fn purge_events(&mut self, before_ms: i64) -> StoreResult<u64> {
        Ok(self.0.execute("DELETE FROM events WHERE created_ms < $1", &[&before_ms])?)
    }
}

const DECISION: &str = "SELECT case_id, text, suggested, chosen, operator_id, accepted_rank, decided_at, revisions, ticket FROM feedback";

fn decision_record(r: &Row) -> DecisionRecord {
    DecisionRecord {
        case_id: r.get(0),
        text: r.get(1),
        suggested: r.get(2),
        chosen: r.get(3),
        operator_id: r.get(4),
        accepted_rank: r.get::<_, Option<i64>>(5).map(|v| v.clamp(0, u32::MAX as i64) as u32),
        decided_at: r.get(6),
        revisions: r.get::<_, i32>(7).max(0) as u32,
        ticket: r.get(8),
    }
}

fn embedding_row(r: &Row) -> EmbeddingRow {
    EmbeddingRow { seq: r.get(0), case_id: r.get(1), encoder: r.get(2), embedding: r.get(3) }
}

impl FeedbackTable for Pg<'_, '_> {
    fn record(&mut self, f: &FeedbackRow) -> StoreResult<(u32, i64)> {
        let accepted = f.accepted_rank.map(i64::from);
        let r = self.0.query_one(
            "INSERT INTO feedback (case_id, text, suggested, suggested_first, chosen, chosen_rank, accepted_rank, operator_id, decided_at, received_at, encoder, embedding, ticket)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             ON CONFLICT (case_id) DO UPDATE SET
                text = excluded.text, suggested = excluded.suggested, suggested_first = excluded.suggested_first,
                chosen = excluded.chosen, chosen_rank = excluded.chosen_rank, accepted_rank = excluded.accepted_rank,
                operator_id = excluded.operator_id, decided_at = excluded.decided_at, received_at = excluded.received_at,
                encoder = excluded.encoder, embedding = excluded.embedding, ticket = excluded.ticket,
                revisions = feedback.revisions + 1, seq = nextval('triage_change_seq')
             RETURNING revisions, seq",
            &[
                &f.case_id,
                &f.text,
                &f.suggested,
                &f.suggested_first,
                &f.chosen,
                &f.chosen_rank,
                &accepted,
                &f.operator_id,
                &f.decided_at,
                &f.received_at,
                &f.encoder,
                &f.embedding,
                &f.ticket,
            ],
        )?;
        Ok((r.get::<_, i32>(0).max(0) as u32, r.get(1)))
    }

    fn decision(&mut self, case_id: &str) -> StoreResult<Option<DecisionRecord>> {
        Ok(self.0.query_opt(&format!("{DECISION} WHERE case_id = $1"), &[&case_id])?.as_ref().map(decision_record))
    }

    fn decisions(&mut self) -> StoreResult<Vec<DecisionRecord>> {
        Ok(self.0.query(&format!("{DECISION} ORDER BY decided_at, case_id"), &[])?.iter().map(decision_record).collect())
    }

    fn counts(&mut self) -> StoreResult<DecisionCounts> {
        let r = self.0.query_one(
            "SELECT count(*), count(accepted_rank), count(*) FILTER (WHERE chosen_rank = 1), count(*) FILTER (WHERE chosen_rank <= 3) FROM feedback",
            &[],
        )?;
        Ok(DecisionCounts { cases: r.get(0), accepted: r.get(1), top1: r.get(2), top3: r.get(3) })
    }

    fn corrections(&mut self) -> StoreResult<Vec<(String, String, i64)>> {
        let rows = self.0.query(
            "SELECT suggested_first, chosen, count(*) FROM feedback
             WHERE suggested_first IS NOT NULL AND chosen <> suggested_first
             GROUP BY suggested_first, chosen ORDER BY suggested_first, count(*) DESC, chosen",
            &[],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn embeddings(&mut self) -> StoreResult<Vec<EmbeddingRow>> {
        Ok(self.0.query("SELECT seq, case_id, encoder, embedding FROM feedback ORDER BY seq", &[])?.iter().map(embedding_row).collect())
    }

    fn embeddings_after(&mut self, seq: i64) -> StoreResult<Vec<EmbeddingRow>> {
        Ok(self.0.query("SELECT seq, case_id, encoder, embedding FROM feedback WHERE seq > $1 ORDER BY seq", &[&seq])?.iter().map(embedding_row).collect())
    }

    fn excerpts(&mut self, case_ids: &[String]) -> StoreResult<Vec<(String, String, String, String)>> {
        let ids: Vec<String> = case_ids.to_vec();
        let rows = self.0.query("SELECT case_id, text, chosen, decided_at FROM feedback WHERE case_id = ANY($1)", &[&ids])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))).collect())
    }

    fn case_context(&mut self, case_id: &str) -> StoreResult<Option<(String, Option<String>, Option<String>, i64)>> {
        Ok(self.0.query_opt("SELECT topic, district, street, grp FROM cases WHERE case_id = $1", &[&case_id])?.map(|r| (r.get(0), r.get(1), r.get(2), r.get(3))))
    }

    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()> {
        append_event(self.0, event, sinks)
    }
}
