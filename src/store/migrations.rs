//! Each engine's schema as numbered migrations, applied in order when a database opens, each
//! once. SQLite counts them in `PRAGMA user_version`; PostgreSQL in `schema_migrations`, under an
//! advisory lock, so replicas that start together apply each migration once.

use super::{StoreError, StoreResult};

/// SQLite. Version 1 is the schema from before migrations were counted, written so that it
/// also runs harmlessly on such a database.
const SQLITE: &[(&str, &str)] = &[
    (
        "cases and feedback",
        "
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
    code         BLOB NOT NULL,         -- SimHash code, see cases/index.rs
    embedding    BLOB NOT NULL          -- unit vector as i8 (x127)
);
CREATE INDEX IF NOT EXISTS cases_at ON cases (at);
CREATE INDEX IF NOT EXISTS cases_grp_at ON cases (grp, at);
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
    embedding       BLOB                -- little-endian f32
);
CREATE INDEX IF NOT EXISTS feedback_decided_at ON feedback (decided_at);
",
    ),
    // Tickets saved with decisions (issue 20). A database from before it gains the column.
    ("feedback.ticket", "ALTER TABLE feedback ADD COLUMN ticket TEXT; -- JSON TicketForm, PII-masked"),
    // The transactional outbox (issue 18): events written with the change they describe, and
    // their delivery to each sink.
    (
        "events and deliveries",
        "
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    event_id   TEXT NOT NULL UNIQUE,    -- the idempotency key downstream
    kind       TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    payload    TEXT NOT NULL            -- versioned JSON, docs/events.md; masked, no raw PII
);
CREATE INDEX events_created ON events (created_ms);
CREATE TABLE deliveries (
    event        INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sink         TEXT NOT NULL,         -- webhook | nats
    state        TEXT NOT NULL DEFAULT 'pending',   -- pending | delivered | dead
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ms      INTEGER NOT NULL DEFAULT 0,
    lease_ms     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_ms INTEGER,
    PRIMARY KEY (event, sink)
);
CREATE INDEX deliveries_due ON deliveries (sink, state, next_ms);
",
    ),
    // The case record (issue 19): what happened to each case after it was suggested.
    (
        "case record",
        "
ALTER TABLE cases ADD COLUMN suggested TEXT;   -- JSON array of department ids, best first
CREATE TABLE case_events (
    id          INTEGER PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,           -- the sender's id: the same one again is not counted twice
    case_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,                  -- dispatched, returned, redispatched, responded, resolved, unresolved, satisfaction
    department  TEXT,
    operator_id TEXT,
    reason      TEXT,
    rating      TEXT,
    at          INTEGER NOT NULL,               -- unix seconds, when it happened
    received_ms INTEGER NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, at);
CREATE INDEX case_events_at ON case_events (at);
",
    ),
];

const POSTGRES: &[(&str, &str)] = &[
    (
        "cases and feedback",
    "
CREATE SEQUENCE triage_change_seq;
CREATE TABLE cases (
    id           BIGSERIAL PRIMARY KEY,
    case_id      TEXT NOT NULL UNIQUE,
    at           BIGINT NOT NULL,
    text         TEXT NOT NULL,
    topic        TEXT NOT NULL,
    department   TEXT NOT NULL,
    district     TEXT,
    street       TEXT,
    sites        TEXT NOT NULL,
    keywords     TEXT NOT NULL,
    grp          BIGINT NOT NULL,
    duplicate_of TEXT,
    merged_into  TEXT,
    encoder      TEXT NOT NULL,
    code         BYTEA NOT NULL,
    embedding    BYTEA NOT NULL,
    seq          BIGINT NOT NULL DEFAULT nextval('triage_change_seq')
);
CREATE INDEX cases_at ON cases (at);
CREATE INDEX cases_grp_at ON cases (grp, at);
CREATE INDEX cases_seq ON cases (seq);
CREATE TABLE feedback (
    case_id         TEXT PRIMARY KEY,
    text            TEXT NOT NULL,
    suggested       TEXT NOT NULL,
    suggested_first TEXT,
    chosen          TEXT NOT NULL,
    chosen_rank     BIGINT,
    accepted_rank   BIGINT,
    operator_id     TEXT NOT NULL,
    decided_at      TEXT NOT NULL,
    received_at     TEXT NOT NULL,
    revisions       INTEGER NOT NULL DEFAULT 1,
    encoder         TEXT,
    embedding       BYTEA,
    ticket          TEXT,
    seq             BIGINT NOT NULL DEFAULT nextval('triage_change_seq')
);
CREATE INDEX feedback_decided_at ON feedback (decided_at);
CREATE INDEX feedback_seq ON feedback (seq);
",
    ),
    (
        "events and deliveries",
        "
CREATE TABLE events (
    id         BIGSERIAL PRIMARY KEY,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    payload    TEXT NOT NULL
);
CREATE INDEX events_created ON events (created_ms);
CREATE TABLE deliveries (
    event        BIGINT NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    sink         TEXT NOT NULL,
    state        TEXT NOT NULL DEFAULT 'pending',
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_ms      BIGINT NOT NULL DEFAULT 0,
    lease_ms     BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT,
    delivered_ms BIGINT,
    PRIMARY KEY (event, sink)
);
CREATE INDEX deliveries_due ON deliveries (sink, state, next_ms);
",
    ),
    (
        "case record",
        "
ALTER TABLE cases ADD COLUMN suggested TEXT;
CREATE TABLE case_events (
    id          BIGSERIAL PRIMARY KEY,
    event_id    TEXT NOT NULL UNIQUE,
    case_id     TEXT NOT NULL,
    kind        TEXT NOT NULL,
    department  TEXT,
    operator_id TEXT,
    reason      TEXT,
    rating      TEXT,
    at          BIGINT NOT NULL,
    received_ms BIGINT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, at);
CREATE INDEX case_events_at ON case_events (at);
",
    ),
];

/// How many migrations each engine has: the version a fully migrated database reports.
pub fn latest(engine: &str) -> usize {
    match engine {
        "postgres" => POSTGRES.len(),
        _ => SQLITE.len(),
    }
}

pub(crate) fn sqlite(conn: &mut rusqlite::Connection) -> StoreResult<usize> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for (i, (name, sql)) in SQLITE.iter().enumerate().skip(version.max(0) as usize) {
        let done = if i == 1 { has_column(&tx, "feedback", "ticket")? } else { false };
        if !done {
            tx.execute_batch(sql).map_err(|e| StoreError::Open { target: format!("migration {} ({name})", i + 1), reason: e.to_string() })?;
        }
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
    }
    tx.commit()?;
    Ok(SQLITE.len())
}

/// A database from before migrations were counted may have the ticket column already.
fn has_column(conn: &rusqlite::Connection, table: &str, column: &str) -> StoreResult<bool> {
    let n: i64 = conn.query_row("SELECT count(*) FROM pragma_table_info(?1) WHERE name = ?2", [table, column], |r| r.get(0))?;
    Ok(n > 0)
}

/// An arbitrary constant: the advisory lock that serialises migrations across replicas.
const MIGRATION_LOCK: i64 = 0x7472_6961_6765_0001;

pub(crate) fn postgres(client: &mut postgres::Client) -> StoreResult<usize> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())")?;
    let applied: i32 = tx.query_one("SELECT coalesce(max(version), 0) FROM schema_migrations", &[])?.get(0);
    for (i, (name, sql)) in POSTGRES.iter().enumerate().skip(applied.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", &[&((i + 1) as i32), name])?;
    }
    tx.commit()?;
    Ok(POSTGRES.len())
}
