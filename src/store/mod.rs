//! Where cases and operators' decisions are kept: one [`Database`] trait, two engines.
//!
//! - [`sqlite`]: the embedded default, one file on one machine;
//! - [`postgres`]: one database shared by several replicas;
//! - [`migrations`]: each engine's versioned schema, applied when it opens;
//! - [`rows`]: what goes in and comes out, the same for both engines.
//!
//! The case store and the feedback store keep their own logic (grouping, nearest neighbours)
//! and reach the tables only through [`CaseTable`] and [`FeedbackTable`], one transaction per
//! call. On PostgreSQL a writing transaction first takes an advisory lock, so replicas write
//! one at a time, and every write takes a `seq` from one sequence: a replica catches up with the
//! others by reading the rows whose `seq` is above the last it saw.

pub mod migrations;
pub mod postgres;
pub mod rows;
pub mod sqlite;

use std::path::Path;
use std::sync::Arc;

pub use rows::{CaseEventRow, CaseRecord, CaseRow, CodeRow, DecisionCounts, DecisionRecord, DeliveryCount, DueEvent, EmbeddingRow, EventRow, FeedbackRow, NeighbourRow, RecordRow};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {target}: {reason}")]
    Open { target: String, reason: String },
    /// Another process holds the write lock beyond the busy timeout: retry later.
    #[error("database is busy (locked by another writer); nothing was written")]
    Busy,
    /// The disk is full or the file cannot grow: nothing was written.
    #[error("database cannot grow (disk full?); nothing was written")]
    Full,
    /// The database server cannot be reached (down, restarting, pool exhausted): nothing was
    /// written, and the caller may retry.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("database: {0}")]
    Postgres(::postgres::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode as C;
        match e.sqlite_error_code() {
            Some(C::DatabaseBusy) | Some(C::DatabaseLocked) => StoreError::Busy,
            Some(C::DiskFull) => StoreError::Full,
            _ => StoreError::Sqlite(e),
        }
    }
}

impl From<::postgres::Error> for StoreError {
    fn from(e: ::postgres::Error) -> Self {
        // An error the server did not send (closed socket, refused connection) means the
        // server is away, not that the statement was wrong.
        if e.as_db_error().is_none() {
            StoreError::Unavailable(e.to_string())
        } else {
            StoreError::Postgres(e)
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The tables of recent cases, as the case store reads and writes them.
pub trait CaseTable {
    /// The newest case time (unix seconds), 0 when empty.
    fn newest_at(&mut self) -> StoreResult<i64>;
    /// The highest change number; 0 on an engine that one process owns.
    fn latest_seq(&mut self) -> StoreResult<i64>;
    /// Codes of `encoder`'s cases from `since_at` on, oldest first.
    fn codes_since(&mut self, encoder: &str, since_at: i64) -> StoreResult<Vec<CodeRow>>;
    /// Cases written (inserted or replaced) after change `seq`, by this or another replica.
    fn changed_after(&mut self, seq: i64) -> StoreResult<Vec<CodeRow>>;
    fn row_of(&mut self, case_id: &str) -> StoreResult<Option<i64>>;
    fn neighbours(&mut self, rows: &[i64]) -> StoreResult<Vec<NeighbourRow>>;
    fn at_of(&mut self, row: i64) -> StoreResult<Option<i64>>;
    /// Insert or replace by `case_id`; returns the row and its change number.
    fn upsert(&mut self, case: &CaseRow) -> StoreResult<(i64, i64)>;
    /// The group of the case this row was merged into, if an operator merged it.
    fn merged_group(&mut self, row: i64) -> StoreResult<Option<i64>>;
    fn set_group(&mut self, row: i64, group: i64) -> StoreResult<()>;
    fn group_size(&mut self, group: i64, since: i64) -> StoreResult<i64>;
    fn purge_before(&mut self, at: i64) -> StoreResult<()>;
    /// `case_id` joins `into`'s group for good; the group, or None when `into` is unknown.
    fn merge(&mut self, case_id: &str, into: &str) -> StoreResult<Option<i64>>;
    fn contains(&mut self, case_id: &str) -> StoreResult<bool>;
    /// Cases per group in `[from, to)`, largest first.
    fn group_counts(&mut self, from: i64, to: i64, min_count: u64) -> StoreResult<Vec<(i64, u64)>>;
    fn group_count(&mut self, group: i64, from: i64, to: i64) -> StoreResult<u64>;
    /// A group's cases in `[from, to)`, oldest first.
    fn members(&mut self, group: i64, from: i64, to: i64) -> StoreResult<Vec<CaseRecord>>;
    /// Every case's (group, time, topic, district), oldest first.
    fn timeline(&mut self) -> StoreResult<Vec<(i64, i64, String, Option<String>)>>;
    fn is_empty(&mut self) -> StoreResult<bool>;
    /// A case's group and duplicate root.
    fn grouping(&mut self, case_id: &str) -> StoreResult<Option<(i64, Option<String>)>>;
    /// Record an event, due at once for each of `sinks` (see [`EventTable`]).
    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()>;
    /// The same, unless an event with this id exists (another replica wrote it): whether it was new.
    fn append_event_once(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<bool>;
    /// A case's life after the suggestion, in the order the steps arrived.
    fn case_events(&mut self, case_id: &str) -> StoreResult<Vec<CaseEventRow>>;
    /// The case a step with this id was recorded for, if it was.
    fn case_event_owner(&mut self, event_id: &str) -> StoreResult<Option<String>>;
    fn append_case_event(&mut self, event: &CaseEventRow) -> StoreResult<()>;
    /// Cases that came in during `[from, to)` (unix seconds).
    fn records(&mut self, from: i64, to: i64) -> StoreResult<Vec<RecordRow>>;
    /// The steps of the cases that came in during `[from, to)`, in arrival order.
    fn record_events(&mut self, from: i64, to: i64) -> StoreResult<Vec<CaseEventRow>>;
    /// (masked text, final department) of the dispatched cases that came in during `[from, to)`.
    fn final_departments(&mut self, from: i64, to: i64) -> StoreResult<Vec<(String, String)>>;
}

/// The table of operators' decisions, as the feedback store reads and writes it.
pub trait FeedbackTable {
    /// Insert or replace by `case_id`; returns the revision count and the change number.
    fn record(&mut self, row: &FeedbackRow) -> StoreResult<(u32, i64)>;
    fn decision(&mut self, case_id: &str) -> StoreResult<Option<DecisionRecord>>;
    /// Every decision, oldest first.
    fn decisions(&mut self) -> StoreResult<Vec<DecisionRecord>>;
    fn counts(&mut self) -> StoreResult<DecisionCounts>;
    /// (suggested first, chosen, count) for every correction, grouped.
    fn corrections(&mut self) -> StoreResult<Vec<(String, String, i64)>>;
    /// Every decision's embedding (or its absence), with its change number.
    fn embeddings(&mut self) -> StoreResult<Vec<EmbeddingRow>>;
    /// Decisions written after change `seq`; empty on an engine that one process owns.
    fn embeddings_after(&mut self, seq: i64) -> StoreResult<Vec<EmbeddingRow>>;
    /// (case_id, text, chosen, decided_at) of these decisions, in one query, in no order.
    fn excerpts(&mut self, case_ids: &[String]) -> StoreResult<Vec<(String, String, String, String)>>;
    /// (topic, district, street, group) of a stored case, for the decision's event.
    fn case_context(&mut self, case_id: &str) -> StoreResult<Option<(String, Option<String>, Option<String>, i64)>>;
    fn append_event(&mut self, event: &EventRow, sinks: &[String]) -> StoreResult<()>;
}

/// The outbox: events and their delivery to each sink, at least once. A publisher claims due
/// deliveries with a lease; on PostgreSQL, `FOR UPDATE SKIP LOCKED` keeps two replicas from
/// claiming the same one, and a lease that runs out (its replica died) makes it due again.
pub trait EventTable {
    /// Lease up to `limit` deliveries of `sink` that are due at `now_ms`, until `lease_until_ms`.
    fn claim(&mut self, sink: &str, now_ms: i64, lease_until_ms: i64, limit: i64) -> StoreResult<Vec<DueEvent>>;
    fn delivered(&mut self, row: i64, sink: &str, now_ms: i64) -> StoreResult<()>;
    /// A failed try: due again at `next_ms`, or dead (no more tries) when `dead`.
    fn failed(&mut self, row: i64, sink: &str, error: &str, next_ms: i64, dead: bool) -> StoreResult<()>;
    /// Make every event created from `since_ms` on due again for `sink`; returns how many.
    fn replay(&mut self, sink: &str, since_ms: i64) -> StoreResult<u64>;
    fn delivery_counts(&mut self) -> StoreResult<Vec<DeliveryCount>>;
    /// Events (and their deliveries) created before `before_ms`.
    fn purge_events(&mut self, before_ms: i64) -> StoreResult<u64>;
}

type CaseWork<'a> = &'a mut dyn FnMut(&mut dyn CaseTable) -> StoreResult<()>;
type FeedbackWork<'a> = &'a mut dyn FnMut(&mut dyn FeedbackTable) -> StoreResult<()>;
type EventWork<'a> = &'a mut dyn FnMut(&mut dyn EventTable) -> StoreResult<()>;

/// One database engine. Each call runs `work` in one transaction, committed when it returns
/// Ok; `write` transactions are serialised across every process that shares the database.
pub trait Database: Send + Sync {
    /// "sqlite" or "postgres".
    fn engine(&self) -> &'static str;
    /// The file, or the server and database (never the password), for logs.
    fn target(&self) -> String;
    /// Whether other processes (replicas) write to it too, so readers must catch up on their
    /// changes; an SQLite file has one writer, this process.
    fn shared(&self) -> bool;
    fn cases(&self, write: bool, work: CaseWork<'_>) -> StoreResult<()>;
    fn feedback(&self, write: bool, work: FeedbackWork<'_>) -> StoreResult<()>;
    fn events(&self, work: EventWork<'_>) -> StoreResult<()>;
    /// Whether the database answers now (`/readyz`).
    fn ping(&self) -> StoreResult<()>;
}

impl dyn Database {
    /// [`Database::cases`] with a result.
    pub fn with_cases<T>(&self, write: bool, work: impl FnOnce(&mut dyn CaseTable) -> StoreResult<T>) -> StoreResult<T> {
        let (mut work, mut out) = (Some(work), None);
        self.cases(write, &mut |t| {
            if let Some(w) = work.take() {
                out = Some(w(t)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::Unavailable("the transaction ran no work".into()))
    }

    /// [`Database::events`] with a result.
    pub fn with_events<T>(&self, work: impl FnOnce(&mut dyn EventTable) -> StoreResult<T>) -> StoreResult<T> {
        let (mut work, mut out) = (Some(work), None);
        self.events(&mut |t| {
            if let Some(w) = work.take() {
                out = Some(w(t)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::Unavailable("the transaction ran no work".into()))
    }

    /// [`Database::feedback`] with a result.
    pub fn with_feedback<T>(&self, write: bool, work: impl FnOnce(&mut dyn FeedbackTable) -> StoreResult<T>) -> StoreResult<T> {
        let (mut work, mut out) = (Some(work), None);
        self.feedback(write, &mut |t| {
            if let Some(w) = work.take() {
                out = Some(w(t)?);
            }
            Ok(())
        })?;
        out.ok_or_else(|| StoreError::Unavailable("the transaction ran no work".into()))
    }
}

/// Whether `target` names a PostgreSQL server rather than a file.
pub fn is_postgres_url(target: &str) -> bool {
    target.starts_with("postgres://") || target.starts_with("postgresql://")
}

/// Open the database `target` names: a `postgres://` URL, or else an SQLite file (created,
/// with its folder, if absent). Migrations run before it is returned.
pub fn open(target: &str) -> StoreResult<Arc<dyn Database>> {
    if is_postgres_url(target) {
        Ok(Arc::new(postgres::PostgresDatabase::open(target)?))
    } else {
        Ok(Arc::new(sqlite::SqliteDatabase::open(Path::new(target))?))
    }
}

/// Open an SQLite file.
pub fn open_sqlite(path: &Path) -> StoreResult<Arc<dyn Database>> {
    Ok(Arc::new(sqlite::SqliteDatabase::open(path)?))
}
