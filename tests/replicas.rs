//! Two `triage serve` replicas on one PostgreSQL, with the real model: a repeat call sent to
//! either replica finds the first call, whichever replica took it; decisions and hot spots read
//! the same from both. And with PostgreSQL away, calls are still classified, `/readyz` says
//! the store is degraded, and writes are refused with 503, never acknowledged and lost.

mod common;

use common::{http, post_json, PgDatabase, Relay, Server};

const FIRST: &str = "市民：望京西园三区南门外那个工地，这一个星期天天夜里十二点以后还在施工，电锯声音特别大，孩子根本睡不着，要求城管查处。";
const REPEAT: &str = "市民：我是望京西园三区的，南门外工地天天半夜十二点以后还在施工，电锯声特别大，孩子睡不了觉，希望城管去查处一下。";

/// The database's URL with its port replaced (to reach it through a relay).
fn via_port(url: &str, port: u16) -> String {
    let (head, rest) = url.split_once("@127.0.0.1:").expect("a loopback URL");
    let (_, db) = rest.split_once('/').unwrap();
    format!("{head}@127.0.0.1:{port}/{db}")
}

fn port_of(url: &str) -> u16 {
    url.split_once("@127.0.0.1:").unwrap().1.split('/').next().unwrap().parse().unwrap()
}

fn classify(port: u16, body: serde_json::Value) -> serde_json::Value {
    let r = post_json(port, "/v1/classify", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn a_repeat_sent_to_the_second_replica_links_to_the_first_call() {
    let pg = PgDatabase::create();
    let env = [("TRIAGE_DATABASE_URL", pg.url.as_str())];
    let (one, two) = (Server::start_with(&env), Server::start_with(&env));
    let ready = http(two.port, "GET", "/readyz", None, b"").unwrap().json();
    assert_eq!(ready["store"]["engine"], "postgres", "{ready}");

    let first = classify(one.port, serde_json::json!({"text": FIRST, "id": "WJ-1", "submitted": "2026-11-27 08:30:00"}));
    assert!(first["related"]["cases"].as_array().unwrap().is_empty());
    let repeat = classify(two.port, serde_json::json!({"text": REPEAT, "id": "WJ-2", "submitted": "2026-11-27 09:30:00"}));
    let related = &repeat["related"];
    assert!(related["cases"].as_array().unwrap().iter().any(|c| c["case_id"] == "WJ-1"), "{repeat:#}");
    assert_eq!(related["group"], first["related"]["group"], "{repeat:#}");
    assert_eq!(related["duplicate_of"], "WJ-1");

    // An operator's decision on one replica is in the other's statistics and similar cases.
    let decision = serde_json::json!({"case_id": "WJ-1", "text": FIRST, "suggested": ["urban_enforcement"], "chosen": "urban_enforcement", "operator_id": "op-1", "accepted_rank": 1});
    assert_eq!(post_json(one.port, "/v1/feedback", &decision.to_string()).status, 201);
    let stats = |port| http(port, "GET", "/v1/feedback/stats", None, b"").unwrap().body;
    assert_eq!(stats(one.port), stats(two.port));
    let similar = classify(two.port, serde_json::json!({"text": REPEAT, "similar": 3}));
    assert_eq!(similar["similar_cases"][0]["case_id"], "WJ-1", "{similar:#}");
    let hot = |port| http(port, "GET", "/v1/hotspots?since=2026-11-27%2000:00:00&until=2026-11-28%2000:00:00", None, b"").unwrap().body;
    assert_eq!(hot(one.port), hot(two.port));
}

#[test]
fn with_postgres_away_calls_are_classified_and_writes_refused() {
    let pg = PgDatabase::create();
    let relay = Relay::start(port_of(&pg.url));
    let url = via_port(&pg.url, relay.port);
    let server = Server::start_with(&[("TRIAGE_DATABASE_URL", url.as_str())]);
    let decision = |id: &str| serde_json::json!({"case_id": id, "text": FIRST, "suggested": ["urban_enforcement"], "chosen": "urban_enforcement", "operator_id": "op-1"}).to_string();
    assert_eq!(post_json(server.port, "/v1/feedback", &decision("before")).status, 201);

    relay.cut();
    let answer = classify(server.port, serde_json::json!({"text": FIRST, "id": "DOWN-1", "similar": 3}));
    assert_eq!(answer["departments"][0]["id"], "urban_enforcement", "{answer:#}");
    assert!(answer.get("related").is_none() && answer.get("similar_cases").is_none(), "{answer:#}");
    let ready = http(server.port, "GET", "/readyz", None, b"").unwrap();
    assert_eq!(ready.status, 200);
    assert_eq!(ready.json()["status"], "degraded", "{}", ready.body);
    let refused = post_json(server.port, "/v1/feedback", &decision("during"));
    assert_eq!(refused.status, 503, "{}", refused.body);
    assert_eq!(refused.json()["error"]["code"], "store_unavailable", "{}", refused.body);
    assert!(refused.headers.to_ascii_lowercase().contains("retry-after"), "{}", refused.headers);

    relay.restore();
    assert_eq!(post_json(server.port, "/v1/feedback", &decision("during")).status, 201, "the retried write lands");
    assert_eq!(http(server.port, "GET", "/readyz", None, b"").unwrap().json()["status"], "ready");
    let mut client = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
    let ids: Vec<String> = client.query("SELECT case_id FROM feedback ORDER BY case_id", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(ids, ["before", "during"], "nothing acknowledged was lost, nothing refused was half-written");
}
