//! The case and feedback stores on both engines: the same scenarios on SQLite and on a real
//! PostgreSQL, then what only a shared database can do: two replicas that see each other's
//! cases and decisions, and concurrent calls about one new matter that end in one group.

mod common;

use std::sync::{Arc, Barrier};

use chrono::DateTime;
use hotline_triage::cases::{CaseSettings, CaseStore, NewCase};
use hotline_triage::feedback::{FeedbackRecord, FeedbackStore, TicketForm};
use hotline_triage::store::{self, Database, StoreError};
use hotline_triage::text::sites::find_sites;

const DAY: i64 = 86_400;

fn case(id: &str, day: i64, text: &str, topic: &str, v: &[f32]) -> NewCase {
    NewCase {
        case_id: id.into(),
        at: DateTime::from_timestamp(1_700_000_000 + day * DAY, 0).unwrap(),
        text: text.into(),
        topic: topic.into(),
        department: "urban_enforcement".into(),
        suggested: vec!["urban_enforcement".into(), "ecology_environment".into()],
        district: None,
        street: None,
        sites: find_sites(text),
        keywords: vec!["油烟".into()],
        embedding: v.to_vec(),
    }
}

fn settings() -> CaseSettings {
    CaseSettings { related_threshold: 0.9, duplicate_threshold: 0.95, same_topic: true, ..CaseSettings::default() }
}

/// Each engine, freshly made: (name, database, and what keeps it alive).
fn engines() -> Vec<(&'static str, Arc<dyn Database>, Box<dyn std::any::Any>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = store::open(&dir.path().join("t.sqlite3").display().to_string()).unwrap();
    let pg = common::PgDatabase::create();
    let postgres = store::open(&pg.url).unwrap();
    assert_eq!((sqlite.engine(), postgres.engine()), ("sqlite", "postgres"));
    vec![("sqlite", sqlite, Box::new(dir)), ("postgres", postgres, Box::new(pg))]
}

#[test]
fn cases_group_the_same_way_on_both_engines() {
    for (engine, db, _keep) in engines() {
        let store = CaseStore::open(db.clone(), "enc", 3, settings()).unwrap();
        let a = store.observe(&case("a", 0, "魅力之城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert!(a.cases.is_empty() && a.duplicate_of.is_none() && a.group_size == 1, "{engine}");
        let b = store.observe(&case("b", 1, "魅力之城小区油烟还是很大", "environment", &[1.0, 0.12, 0.0])).unwrap();
        assert_eq!(b.duplicate_of.as_deref(), Some("a"), "{engine}");
        assert_eq!((b.group, b.group_size), (a.group, 2), "{engine}");
        // Another estate, or another topic: another matter.
        let c = store.observe(&case("c", 1, "丽发新城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.01])).unwrap();
        assert!(c.cases.is_empty() && c.group != a.group, "{engine}");
        let d = store.observe(&case("d", 2, "魅力之城小区油烟", "housing", &[1.0, 0.1, 0.0])).unwrap();
        assert_ne!(d.group, a.group, "{engine}");
        // An operator merges d into a's matter; replacing d keeps it there.
        assert_eq!(store.merge("d", "b").unwrap(), Some(a.group), "{engine}");
        assert!(store.merge("d", "nobody").unwrap().is_none(), "{engine}");
        let d2 = store.observe(&case("d", 2, "魅力之城小区油烟", "housing", &[1.0, 0.1, 0.0])).unwrap();
        assert_eq!(d2.group, a.group, "{engine}");
        assert_eq!(store.grouping("d").unwrap().unwrap().1.as_deref(), Some("a"), "{engine}");
        assert_eq!(store.group_count(a.group, 0, i64::MAX).unwrap(), 3, "{engine}");
        assert_eq!(store.group_counts(0, i64::MAX, 2).unwrap(), vec![(a.group, 3)], "{engine}");
        let members = store.members(a.group, 0, i64::MAX).unwrap();
        assert_eq!(members.iter().map(|m| m.case_id.as_str()).collect::<Vec<_>>(), ["a", "b", "d"], "{engine}");
        assert!(!members[0].sites.names.is_empty(), "{engine}: sites survive the round trip");
        assert_eq!(store.timeline().unwrap().len(), 4, "{engine}");
        // Beyond the related window the matter starts over; reopening restores the window.
        let f = store.observe(&case("f", 60, "魅力之城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert!(f.cases.is_empty() && f.group != a.group, "{engine}");
        drop(store);
        let store = CaseStore::open(db, "enc", 3, settings()).unwrap();
        assert_eq!(store.indexed_len(), 1, "{engine}: only the related window is indexed");
        let g = store.observe(&case("g", 61, "魅力之城小区油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        assert_eq!(g.duplicate_of.as_deref(), Some("f"), "{engine}");
    }
}

fn decision(case: &str, suggested: &[&str], chosen: &str, accepted: Option<u32>) -> FeedbackRecord {
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
fn decisions_add_up_the_same_way_on_both_engines() {
    for (engine, db, _keep) in engines() {
        let store = FeedbackStore::open(db.clone(), "enc-a").unwrap();
        let now = "2026-11-27T08:00:00Z";
        assert_eq!(store.record(&decision("c1", &["gas_group", "fire_rescue"], "gas_group", Some(1)), "t1", None, now, Some(&[1.0, 0.0])).unwrap(), 1);
        store.record(&decision("c2", &["urban_enforcement", "ecology_environment"], "ecology_environment", Some(2)), "t2", None, now, Some(&[0.0, 1.0])).unwrap();
        let ticket = TicketForm { address: Some("朝阳区望京西园三区".into()), ..TicketForm::default() };
        store.record(&decision("c3", &["urban_enforcement", "ecology_environment", "water_authority"], "housing_commission", None), "t3", Some(&ticket), now, None).unwrap();
        assert_eq!(store.record(&decision("c1", &["gas_group", "fire_rescue"], "fire_rescue", Some(2)), "t1", None, now, Some(&[1.0, 0.1])).unwrap(), 2, "{engine}");

        let store = FeedbackStore::open(db.clone(), "enc-a").unwrap();
        let s = store.stats(10).unwrap();
        assert_eq!(s.cases, 3, "{engine}");
        assert!((s.acceptance_rate - 2.0 / 3.0).abs() < 1e-9, "{engine}");
        assert_eq!(s.top1_agreement, 0.0, "{engine}");
        assert!((s.top3_agreement - 2.0 / 3.0).abs() < 1e-9, "{engine}");
        assert_eq!((s.most_corrected[0].department.as_str(), s.most_corrected[0].corrections), ("urban_enforcement", 2), "{engine}");
        let c1 = store.get("c1").unwrap().unwrap();
        assert_eq!((c1.chosen.as_str(), c1.revisions, c1.accepted_rank), ("fire_rescue", 2, Some(2)), "{engine}");
        assert_eq!(store.get("c3").unwrap().unwrap().ticket, Some(ticket.clone()), "{engine}");
        assert_eq!(store.all().unwrap().len(), 3, "{engine}");
        let near = store.similar(&[0.9, 0.2], 3, None).unwrap();
        assert_eq!(near.iter().map(|n| n.case_id.as_str()).collect::<Vec<_>>(), ["c1", "c2"], "{engine}: c3 has no embedding");
        assert!(FeedbackStore::open(db, "enc-b").unwrap().similar(&[1.0, 0.0], 3, None).unwrap().is_empty(), "{engine}: another encoder's vectors");
    }
}

#[test]
fn migrations_are_counted_and_run_once() {
    let pg = common::PgDatabase::create();
    for _ in 0..3 {
        store::open(&pg.url).unwrap();
    }
    let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let versions: Vec<i32> = client.query("SELECT version FROM schema_migrations ORDER BY version", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(versions, (1..=store::migrations::latest("postgres") as i32).collect::<Vec<_>>());
    // Replicas starting together: each migration still runs once.
    let pg = common::PgDatabase::create();
    let handles: Vec<_> = (0..4).map(|_| { let url = pg.url.clone(); std::thread::spawn(move || store::open(&url).map(|_| ())) }).collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let n: i64 = client.query_one("SELECT count(*) FROM schema_migrations", &[]).unwrap().get(0);
    assert_eq!(n as usize, store::migrations::latest("postgres"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.sqlite3");
    store::open_sqlite(&path).unwrap();
    store::open_sqlite(&path).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version as usize, store::migrations::latest("sqlite"));
}

#[test]
fn a_database_that_is_away_or_misnamed_is_a_clear_error() {
    let port = common::free_port();
    let started = std::time::Instant::now();
    let err = store::open(&format!("postgres://triage:secret@127.0.0.1:{port}/triage")).err().expect("nothing listens there");
    assert!(started.elapsed().as_secs() < 15, "fails fast, not after minutes");
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("secret"), "the password never reaches a log: {text}");
    assert!(matches!(store::open("postgres://127.0.0.1:notaport/x"), Err(StoreError::Open { .. })));
}

#[test]
fn two_replicas_on_one_postgres_see_each_others_cases_and_decisions() {
    let pg = common::PgDatabase::create();
    let (one, two) = (store::open(&pg.url).unwrap(), store::open(&pg.url).unwrap());
    let first = CaseStore::open(one.clone(), "enc", 3, settings()).unwrap();
    let second = CaseStore::open(two.clone(), "enc", 3, settings()).unwrap();
    let a = first.observe(&case("a", 0, "魅力之城小区楼下餐馆油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
    // The repeat reaches the other replica, whose index has never seen "a".
    let b = second.observe(&case("b", 1, "魅力之城小区油烟还是很大", "environment", &[1.0, 0.12, 0.0])).unwrap();
    assert_eq!(b.duplicate_of.as_deref(), Some("a"));
    assert_eq!((b.group, b.group_size), (a.group, 2));
    // And back: the first replica learns of "b" too.
    let c = first.observe(&case("c", 1, "魅力之城小区油烟", "environment", &[1.0, 0.11, 0.0])).unwrap();
    assert_eq!(c.group, a.group);
    assert!(c.cases.iter().any(|r| r.case_id == "b"), "{:?}", c.cases);
    assert_eq!(first.group_counts(0, i64::MAX, 1).unwrap(), second.group_counts(0, i64::MAX, 1).unwrap());

    let f1 = FeedbackStore::open(one, "enc").unwrap();
    let f2 = FeedbackStore::open(two, "enc").unwrap();
    f1.record(&decision("x", &["gas_group"], "gas_group", Some(1)), "燃气味", None, "2026-11-27T08:00:00Z", Some(&[1.0, 0.0])).unwrap();
    let near = f2.similar(&[1.0, 0.05], 3, None).unwrap();
    assert_eq!(near.first().map(|n| n.case_id.as_str()), Some("x"), "a decision made on one replica is a precedent on the other");
    // A revision on the second replica replaces the first one's entry everywhere.
    f2.record(&decision("x", &["gas_group"], "fire_rescue", None), "燃气味", None, "2026-11-27T09:00:00Z", Some(&[0.0, 1.0])).unwrap();
    let near = f1.similar(&[0.0, 1.0], 3, None).unwrap();
    assert_eq!((near.len(), near[0].department.as_str()), (1, "fire_rescue"));
    assert_eq!(f1.stats(5).unwrap().cases, f2.stats(5).unwrap().cases);
}

#[test]
fn concurrent_calls_about_one_new_matter_end_in_one_group() {
    let pg = common::PgDatabase::create();
    let replicas: Vec<Arc<CaseStore>> = (0..2).map(|_| Arc::new(CaseStore::open(store::open(&pg.url).unwrap(), "enc", 3, settings()).unwrap())).collect();
    let callers = 8;
    let barrier = Arc::new(Barrier::new(callers));
    let handles: Vec<_> = (0..callers)
        .map(|i| {
            let (store, barrier) = (replicas[i % 2].clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let v = [1.0, 0.1 + i as f32 * 0.002, 0.0];
                store.observe(&case(&format!("n{i}"), 5, "魅力之城小区楼下餐馆油烟", "environment", &v)).unwrap()
            })
        })
        .collect();
    let related: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let groups: std::collections::BTreeSet<i64> = related.iter().map(|r| r.group).collect();
    assert_eq!(groups.len(), 1, "one matter, one group: {related:?}");
    assert_eq!(related.iter().filter(|r| r.duplicate_of.is_none()).count(), 1, "exactly one call started the matter");
    assert_eq!(related.iter().map(|r| r.group_size).max(), Some(callers as u64));
}

#[test]
fn the_outbox_claims_leases_retries_and_replays_on_both_engines() {
    use hotline_triage::events::Outbox;
    for (engine, db, _keep) in engines() {
        let outbox = Outbox { sinks: vec!["webhook".into(), "nats".into()] };
        let cases = CaseStore::open(db.clone(), "enc", 3, settings()).unwrap().with_outbox(outbox.clone());
        let feedback = FeedbackStore::open(db.clone(), "enc").unwrap().with_outbox(outbox);
        cases.observe(&case("a", 0, "魅力之城小区油烟", "environment", &[1.0, 0.1, 0.0])).unwrap();
        cases.observe(&case("b", 0, "魅力之城小区油烟大", "environment", &[1.0, 0.11, 0.0])).unwrap();
        feedback.record(&decision("a", &["urban_enforcement"], "urban_enforcement", Some(1)), "t", None, "2026-11-27T08:00:00Z", None).unwrap();
        cases.merge("b", "a").unwrap();
        let counts = db.with_events(|t| t.delivery_counts()).unwrap();
        assert_eq!(counts.iter().map(|c| (c.sink.as_str(), c.state.as_str(), c.count)).collect::<Vec<_>>(), [("nats", "pending", 4), ("webhook", "pending", 4)], "{engine}");

        let now = 1_000_000;
        let claimed = db.with_events(|t| t.claim("webhook", now, now + 30_000, 3)).unwrap();
        assert_eq!(claimed.len(), 3, "{engine}");
        let kinds: Vec<&str> = claimed.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["case.classified", "case.classified", "decision.recorded"], "{engine}: in the order written");
        let decision_event: serde_json::Value = serde_json::from_str(&claimed[2].payload).unwrap();
        assert_eq!(decision_event["case"]["topic"], "environment", "{engine}: the stored case's topic rides along");
        // Leased: another publisher gets only the rest, until the lease runs out.
        let rest = db.with_events(|t| t.claim("webhook", now + 1, now + 30_000, 10)).unwrap();
        assert_eq!(rest.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["case.merged"], "{engine}");
        assert!(db.with_events(|t| t.claim("webhook", now + 2, now + 30_000, 10)).unwrap().is_empty(), "{engine}");
        assert_eq!(db.with_events(|t| t.claim("webhook", now + 30_001, now + 60_000, 10)).unwrap().len(), 4, "{engine}: expired leases are due again");

        // Delivered, retried later, dead.
        let later = now + 60_001;
        db.with_events(|t| t.delivered(claimed[0].row, "webhook", later)).unwrap();
        db.with_events(|t| t.failed(claimed[1].row, "webhook", "HTTP 500", later + 5_000, false)).unwrap();
        db.with_events(|t| t.failed(claimed[2].row, "webhook", "HTTP 500", later, true)).unwrap();
        let due = db.with_events(|t| t.claim("webhook", later, later + 100_000, 10)).unwrap();
        assert_eq!(due.iter().map(|e| e.row).collect::<Vec<_>>(), [rest[0].row], "{engine}: the retry waits, the dead one is done");
        let retry = db.with_events(|t| t.claim("webhook", later + 5_000, later + 6_000, 10)).unwrap();
        assert_eq!((retry.len(), retry[0].attempts), (1, 1), "{engine}");
        let states = db.with_events(|t| t.delivery_counts()).unwrap();
        assert!(states.iter().any(|c| c.sink == "webhook" && c.state == "dead" && c.count == 1), "{engine}: {states:?}");

        // Replay makes every event due again, the delivered and the dead alike.
        assert_eq!(db.with_events(|t| t.replay("webhook", 0)).unwrap(), 4, "{engine}");
        assert_eq!(db.with_events(|t| t.claim("webhook", later + 10_000, later + 20_000, 10)).unwrap().len(), 4, "{engine}");
        // Purging removes events and their deliveries.
        assert_eq!(db.with_events(|t| t.purge_events(i64::MAX)).unwrap(), 4, "{engine}");
        assert!(db.with_events(|t| t.delivery_counts()).unwrap().is_empty(), "{engine}");
    }
}

#[test]
fn a_chain_of_look_alikes_does_not_drift_into_one_group() {
    for (engine, db, _keep) in engines() {
        let settings = CaseSettings { related_threshold: 0.9, duplicate_threshold: 0.95, ..CaseSettings::default() };
        let store = CaseStore::open(db, "enc", 3, settings).unwrap();
        let x0 = store.observe(&case("x0", 0, "油烟", "environment", &[1.0, 0.0, 0.0])).unwrap();
        let x1 = store.observe(&case("x1", 0, "油烟", "environment", &[1.0, 0.3, 0.0])).unwrap();
        assert_eq!(x1.group, x0.group, "{engine}: cosine 0.958 to the first case");
        // Like x1 (0.966), but not like the group's first case (0.85): a matter of its own.
        let x2 = store.observe(&case("x2", 0, "油烟", "environment", &[1.0, 0.62, 0.0])).unwrap();
        assert_ne!(x2.group, x0.group, "{engine}");
        assert_eq!(x2.duplicate_of, None, "{engine}");
        assert_eq!(x2.cases[0].case_id, "x1", "{engine}: listed as related all the same");
    }
}

#[test]
fn a_file_that_is_not_a_database_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feedback.sqlite3");
    std::fs::write(&path, b"this is not sqlite, just text that fills the header and more of it").unwrap();
    let err = FeedbackStore::open_file(&path, "enc").err().expect("must refuse");
    assert!(err.to_string().contains("feedback.sqlite3"), "{err}");
}

#[test]
fn an_sqlite_file_from_before_migrations_keeps_its_decisions_and_gains_the_new_tables() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.sqlite3");
    {
        // A database from before tickets and migrations: the feedback table without the ticket
        // column, one decision in it.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE feedback (case_id TEXT PRIMARY KEY, text TEXT NOT NULL, suggested TEXT NOT NULL,
             suggested_first TEXT, chosen TEXT NOT NULL, chosen_rank INTEGER, accepted_rank INTEGER, operator_id TEXT NOT NULL,
             decided_at TEXT NOT NULL, received_at TEXT NOT NULL, revisions INTEGER NOT NULL DEFAULT 1, encoder TEXT, embedding BLOB)",
        )
        .unwrap();
        conn.execute("INSERT INTO feedback (case_id, text, suggested, chosen, operator_id, decided_at, received_at) VALUES ('old', 't', '[]', 'gas_group', 'op', '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')", []).unwrap();
    }
    let store = FeedbackStore::open_file(&path, "enc").unwrap();
    assert!(store.get("old").unwrap().unwrap().ticket.is_none(), "the old decision is still there");
    let ticket = TicketForm { address: Some("朝阳区望京西园三区".into()), summary: Some("楼下烧烤店油烟扰民，要求查处".into()), ..TicketForm::default() };
    store.record(&decision("new", &["urban_enforcement"], "urban_enforcement", Some(1)), "t", Some(&ticket), "2026-01-02T00:00:00Z", None).unwrap();
    assert_eq!(store.get("new").unwrap().unwrap().ticket, Some(ticket));
    drop(store);
    assert!(FeedbackStore::open_file(&path, "enc").is_ok(), "opening twice migrates once");
    assert_eq!(store::open_sqlite(&path).unwrap().with_events(|t| t.delivery_counts()).unwrap(), vec![], "the outbox tables exist");
}

fn step(id: &str, kind: &str, department: Option<&str>) -> hotline_triage::cases::record::CaseEvent {
    hotline_triage::cases::record::CaseEvent {
        event_id: id.into(),
        kind: kind.into(),
        department: department.map(Into::into),
        operator_id: Some("op-3".into()),
        reason: (kind == "returned").then(|| "不属于本单位职责".into()),
        rating: (kind == "satisfaction").then(|| "满意".into()),
        at: None,
    }
}

#[test]
fn the_case_record_takes_each_step_once_in_order_on_both_engines() {
    use hotline_triage::cases::record::CaseState;
    use hotline_triage::cases::store::{CaseEventError, Recorded};
    let known = |d: &str| ["gas_group", "fire_rescue", "urban_enforcement"].contains(&d);
    for (engine, db, _keep) in engines() {
        let store = CaseStore::open(db, "enc", 3, settings()).unwrap();
        store.observe(&case("c1", 0, "燃气味", "utilities", &[1.0, 0.0, 0.0])).unwrap();
        let t0 = 1_700_000_000;
        assert!(matches!(store.record_event("nobody", &step("e0", "dispatched", Some("gas_group")), t0, known), Err(CaseEventError::UnknownCase(_))), "{engine}");
        let early = store.record_event("c1", &step("e0", "resolved", None), t0, known);
        assert!(matches!(early, Err(CaseEventError::Invalid(ref i)) if i.code == "event_out_of_order"), "{engine}: {early:?}");
        assert_eq!(store.record_event("c1", &step("e1", "dispatched", Some("gas_group")), t0, known).unwrap(), Recorded::New(CaseState::Dispatched), "{engine}");
        assert_eq!(store.record_event("c1", &step("e1", "dispatched", Some("gas_group")), t0, known).unwrap(), Recorded::Repeat, "{engine}: the same id counts once");
        assert_eq!(store.record_event("c1", &step("e2", "returned", None), t0 + 600, known).unwrap(), Recorded::New(CaseState::Returned), "{engine}");
        assert_eq!(store.record_event("c1", &step("e3", "redispatched", Some("fire_rescue")), t0 + 700, known).unwrap(), Recorded::New(CaseState::Dispatched), "{engine}");
        assert_eq!(store.record_event("c1", &step("e4", "resolved", None), t0 + 7_900, known).unwrap(), Recorded::New(CaseState::Closed), "{engine}");
        assert_eq!(store.record_event("c1", &step("e5", "satisfaction", None), t0 + 8_000, known).unwrap(), Recorded::New(CaseState::Rated), "{engine}");
        store.observe(&case("c2", 0, "燃气味", "utilities", &[1.0, 0.0, 0.0])).unwrap();
        assert!(matches!(store.record_event("c2", &step("e1", "dispatched", Some("gas_group")), t0, known), Err(CaseEventError::Conflict(_))), "{engine}: another case's event id");
        let steps = store.case_events("c1").unwrap().expect("c1 is stored");
        assert!(store.case_events("nobody").unwrap().is_none(), "{engine}");
        assert_eq!(steps.iter().map(|s| s.kind.as_str()).collect::<Vec<_>>(), ["dispatched", "returned", "redispatched", "resolved", "satisfaction"], "{engine}");
        assert_eq!(steps[1].department.as_deref(), Some("gas_group"), "{engine}: returned by the department that had it");
        assert_eq!(store.final_departments(0, i64::MAX).unwrap(), [("燃气味".to_string(), "fire_rescue".to_string())], "{engine}: c2 was never dispatched");
    }
}

#[test]
fn kpis_count_the_rates_and_raise_a_drift_alarm_on_an_injected_shift_on_both_engines() {
    use hotline_triage::cases::kpis::KpiFilter;
    let known = |_: &str| true;
    for (engine, db, _keep) in engines() {
        let store = CaseStore::open(db.clone(), "enc", 3, CaseSettings { retention_days: 3650, ..settings() }).unwrap();
        // 40 days of gas calls, one a day at first and then three a day: the model's first
        // suggestion is right 9 times in 10 until a week ago, then 2 in 10 (a new matter
        // it does not know).
        let mut n = 0;
        for day in 0..40 {
            let recent = day >= 33;
            for j in 0..(if recent { 3 } else { 1 }) {
                n += 1;
                let id = format!("g{n}");
                let right = if recent { n % 5 == 0 } else { n % 10 != 0 };
                let mut c = case(&id, day, &format!("燃气味{n}"), "utilities", &[1.0, n as f32, j as f32]);
                c.suggested = if right { vec!["gas_group".into(), "fire_rescue".into()] } else { vec!["urban_enforcement".into(), "fire_rescue".into(), "gas_group".into()] };
                c.department = c.suggested[0].clone();
                store.observe(&c).unwrap();
                let at = c.at.timestamp();
                store.record_event(&id, &step(&format!("{id}-d"), "dispatched", Some(&c.department)), at, known).unwrap();
                if !right {
                    store.record_event(&id, &step(&format!("{id}-r"), "returned", None), at + 1800, known).unwrap();
                    store.record_event(&id, &step(&format!("{id}-x"), "redispatched", Some("gas_group")), at + 3600, known).unwrap();
                }
                store.record_event(&id, &step(&format!("{id}-p"), "responded", None), at + 7200, known).unwrap();
                store.record_event(&id, &step(&format!("{id}-z"), "resolved", None), at + 36_000, known).unwrap();
            }
        }
        let start = 1_700_000_000;
        let to = start + 40 * DAY;
        let report = store.kpis(&KpiFilter { from: start, to, ..KpiFilter::default() }, 8 * 3600, 0.01).unwrap();
        let o = &report.overall;
        assert_eq!((o.cases, o.dispatched), (n as u64, n as u64), "{engine}");
        let wrong = o.return_rate.unwrap();
        assert!((o.first_dispatch_accuracy.unwrap() - (1.0 - wrong)).abs() < 1e-9, "{engine}: every wrong first suggestion was returned and moved");
        assert_eq!(o.top3_agreement, Some(1.0), "{engine}: gas_group was always in the top 3");
        assert_eq!((o.response_rate, o.resolution_rate), (Some(1.0), Some(1.0)), "{engine}");
        assert_eq!(o.median_hours_to_response, Some(2.0), "{engine}");
        assert_eq!(report.by_department.iter().map(|g| g.key.as_str()).collect::<Vec<_>>(), ["gas_group"], "{engine}: grouped by final department");
        assert!(report.by_week.len() >= 6, "{engine}");
        let alarm = report.drift.iter().find(|a| a.department == "gas_group" && a.metric == "first_dispatch_accuracy").unwrap_or_else(|| panic!("{engine}: {:?}", report.drift));
        assert_eq!(alarm.direction, "worse", "{engine}");
        assert!(alarm.recent < 0.3 && alarm.baseline > 0.8 && alarm.p_value < 0.01, "{engine}: {alarm:?}");
        // The department wrongly sent them returned every one, before and after: more returns,
        // but no change in its rate.
        assert!(report.drift.iter().all(|a| a.department != "urban_enforcement"), "{engine}: {:?}", report.drift);
        // Before the shift there is nothing to report.
        let calm = store.kpis(&KpiFilter { from: start, to: start + 30 * DAY, ..KpiFilter::default() }, 8 * 3600, 0.01).unwrap();
        assert!(calm.drift.is_empty(), "{engine}: {:?}", calm.drift);
        // Filters.
        let one = store.kpis(&KpiFilter { from: start, to, department: Some("fire_rescue".into()), ..KpiFilter::default() }, 0, 0.01).unwrap();
        assert_eq!(one.overall.cases, 0, "{engine}");
        // Downstream systems hear of each alarm once a day, however many replicas find it.
        let outbox = hotline_triage::events::Outbox { sinks: vec!["webhook".into()] };
        let replicas: Vec<CaseStore> = (0..2).map(|_| CaseStore::open(db.clone(), "enc", 3, settings()).unwrap().with_outbox(outbox.clone())).collect();
        assert_eq!(replicas[0].publish_drift(&report.drift, "2023-12-29").unwrap(), report.drift.len(), "{engine}");
        assert_eq!(replicas[1].publish_drift(&report.drift, "2023-12-29").unwrap(), 0, "{engine}");
        assert_eq!(replicas[1].publish_drift(&report.drift, "2023-12-30").unwrap(), report.drift.len(), "{engine}: a new day, a new event");
        let due = db.with_events(|t| t.claim("webhook", i64::MAX / 2, i64::MAX / 2, 100)).unwrap();
        let drift_events: Vec<_> = due.iter().filter(|e| e.kind == "kpi.drift").collect();
        assert_eq!(drift_events.len(), 2 * report.drift.len(), "{engine}");
        let body: serde_json::Value = serde_json::from_str(&drift_events[0].payload).unwrap();
        assert_eq!(body["drift"]["department"], "gas_group", "{engine}: {body}");
    }
}
