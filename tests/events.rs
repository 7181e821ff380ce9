//! Events for downstream systems, end to end with the real model and real parts: a webhook
//! receiver that goes away and comes back, a nats-server that is stopped and restarted, and a
//! replica killed with SIGKILL while it publishes. Every event arrives at least once, signed,
//! with its event id as the idempotency key; none is lost.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{post_json, PgDatabase, Server};

const SECRET: &str = "a-test-key-for-hmac-signatures";
/// Short leases and backoffs, so that retries and take-overs happen within a test.
const FAST: &str = "[events]\nlease_ms = 3000\nbackoff_initial_ms = 200\nbackoff_max_ms = 1000\npoll_ms = 50\ntimeout_ms = 20000\n";

const CALLS: [&str; 4] = [
    "市民：我家楼下新开的烧烤店天天晚上油烟特别大，呛得开不了窗，我电话13912345678，要求查处。",
    "市民：小区里暖气一直不热，屋里才十四度，老人孩子都冻感冒了，希望热力公司尽快来修。",
    "市民：网上买的洗衣机不脱水，商家不给换也不给退，想投诉这个商家。",
    "市民：我们村口那段路全是大坑，下雨积水，电动车天天有人摔倒，希望尽快修路。",
];

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Answer 200.
    Up = 0,
    /// Read the request and never answer.
    Hang = 1,
    /// Not listening: connections are refused.
    Down = 2,
}

/// A webhook receiver on a fixed port that a test can take down, hang and bring back.
struct Receiver {
    port: u16,
    mode: Arc<AtomicU8>,
    received: Arc<Mutex<Vec<(BTreeMap<String, String>, String)>>>,
}

impl Receiver {
    fn start() -> Receiver {
        let r = Receiver { port: common::free_port(), mode: Arc::new(AtomicU8::new(Mode::Up as u8)), received: Default::default() };
        r.listen();
        r
    }

    fn listen(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (mode, received) = (self.mode.clone(), self.received.clone());
        std::thread::spawn(move || {
            let mut held = Vec::new();
            loop {
                if mode.load(Ordering::SeqCst) == Mode::Down as u8 {
                    return; // the listener closes
                }
                match listener.accept() {
                    Ok((stream, _)) => {
                        stream.set_nonblocking(false).unwrap();
                        if let Some(s) = serve_one(stream, &mode, &received) {
                            held.push(s);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
    }

    fn set(&self, m: Mode) {
        let was = self.mode.swap(m as u8, Ordering::SeqCst);
        if was == Mode::Down as u8 && m != Mode::Down {
            self.listen();
        }
        if m == Mode::Down {
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn events(&self) -> Vec<(BTreeMap<String, String>, String)> {
        self.received.lock().unwrap().clone()
    }
}

/// Read one request; answer it unless hanging (then hand the stream back to keep it open).
fn serve_one(mut stream: TcpStream, mode: &AtomicU8, received: &Mutex<Vec<(BTreeMap<String, String>, String)>>) -> Option<TcpStream> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let (head_end, length) = loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap())).unwrap_or(0);
            break (i + 4, length);
        }
    };
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    if mode.load(Ordering::SeqCst) == Mode::Hang as u8 {
        return Some(stream);
    }
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers = head.lines().skip(1).filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())).collect();
    received.lock().unwrap().push((headers, String::from_utf8(buf[head_end..head_end + length].to_vec()).unwrap()));
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    None
}

fn classify(port: u16, id: &str, text: &str) {
    let r = post_json(port, "/v1/classify", &serde_json::json!({"text": text, "id": id}).to_string());
    assert_eq!(r.status, 200, "{}", r.body);
}

/// The event ids the database holds, from the outbox itself.
fn stored_event_ids(url: &str) -> BTreeSet<String> {
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.query("SELECT event_id FROM events", &[]).unwrap().iter().map(|r| r.get(0)).collect()
}

/// Every body must validate against docs/events.schema.json (Python's jsonschema, installed
/// with pip if absent, as the OpenAPI check does).
fn validate_against_schema(bodies: &[String]) {
    let has = std::process::Command::new("python3").args(["-c", "import jsonschema"]).status().unwrap().success();
    if !has {
        assert!(std::process::Command::new("python3").args(["-m", "pip", "install", "-q", "jsonschema"]).status().unwrap().success(), "pip install jsonschema");
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, bodies.join("\n")).unwrap();
    let check = "import json,sys,jsonschema\nschema=json.load(open(sys.argv[1]))\nv=jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker())\nn=0\nfor l in open(sys.argv[2]):\n    v.validate(json.loads(l)); n+=1\nprint(n)";
    let out = std::process::Command::new("python3").args(["-c", check]).arg(common::repo_root().join("docs/events.schema.json")).arg(&file).output().unwrap();
    assert!(out.status.success(), "events do not match docs/events.schema.json: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), bodies.len().to_string());
}

fn wait_for(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn webhook_events_arrive_signed_and_complete_across_a_receiver_outage() {
    let receiver = Receiver::start();
    let pg = PgDatabase::create();
    let hook = format!("http://127.0.0.1:{}/hook", receiver.port);
    let env = [("TRIAGE_DATABASE_URL", pg.url.as_str()), ("TRIAGE_WEBHOOK_URL", hook.as_str()), ("TRIAGE_WEBHOOK_SECRET", SECRET)];
    let server = Server::start_configured(tempfile::tempdir().unwrap(), &env, FAST);
    for (i, t) in CALLS.iter().enumerate() {
        classify(server.port, &format!("W-{i}"), t);
    }
    // The receiver goes away mid-stream; cases, a decision and a merge keep coming.
    receiver.set(Mode::Down);
    for (i, t) in CALLS.iter().enumerate() {
        classify(server.port, &format!("W-{}", i + 4), t);
    }
    let decision = serde_json::json!({"case_id": "W-0", "text": CALLS[0], "suggested": ["urban_enforcement"], "chosen": "urban_enforcement", "operator_id": "op-1", "accepted_rank": 1});
    assert_eq!(post_json(server.port, "/v1/feedback", &decision.to_string()).status, 201);
    let merge = post_json(server.port, "/v1/cases/merge", r#"{"case_id": "W-5", "into": "W-0"}"#);
    assert_eq!(merge.status, 200, "{}", merge.body);
    std::thread::sleep(Duration::from_secs(2));
    receiver.set(Mode::Up);

    let expected = stored_event_ids(&pg.url);
    assert_eq!(expected.len(), 10, "8 cases, 1 decision, 1 merge");
    wait_for("every event at the receiver", Duration::from_secs(60), || {
        receiver.events().iter().map(|(_, b)| serde_json::from_str::<serde_json::Value>(b).unwrap()["event_id"].as_str().unwrap().to_string()).collect::<BTreeSet<_>>() == expected
    });
    let mut kinds = BTreeMap::new();
    for (headers, body) in receiver.events() {
        let event: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(headers["x-hotline-signature"], hotline_triage::publish::webhook::signature(SECRET.as_bytes(), body.as_bytes()), "signed");
        assert_eq!(headers["idempotency-key"], event["event_id"].as_str().unwrap(), "a retry carries the same key");
        assert_eq!(headers["x-hotline-event"], event["type"].as_str().unwrap());
        assert_eq!(event["schema_version"], 1);
        assert!(!body.contains("13912345678"), "no raw phone number leaves: {body}");
        *kinds.entry(event["type"].as_str().unwrap().to_string()).or_insert(0) += 1;
        if event["type"] == "case.classified" {
            let case = &event["case"];
            assert!(case["id"].as_str().unwrap().starts_with("W-") && case["department"].is_string() && case["group"].is_i64(), "{event:#}");
        }
        if event["type"] == "decision.recorded" {
            assert_eq!(event["case"]["final_department"], "urban_enforcement");
            assert!(event["case"]["topic"].is_string(), "the stored case's topic rides along: {event:#}");
        }
    }
    assert!(kinds["case.classified"] >= 8 && kinds["decision.recorded"] >= 1 && kinds["case.merged"] >= 1, "{kinds:?}");
    validate_against_schema(&receiver.events().into_iter().map(|(_, b)| b).collect::<Vec<_>>());

    // Replay resends what was delivered, under the same ids.
    let before = receiver.events().len();
    let out = common::triage().args(["events", "replay", "--since", "2000-01-01T00:00:00Z", "--sink", "webhook", "--db", &pg.url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    wait_for("the replayed events", Duration::from_secs(30), || receiver.events().len() >= before + 10);
    wait_for("nothing pending", Duration::from_secs(30), || {
        let out = common::triage().args(["events", "status", "--db", &pg.url]).output().unwrap();
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        s.as_array().unwrap().iter().all(|r| r["state"] == "delivered") && s[0]["count"] == 10
    });
}

#[test]
fn a_replica_killed_while_publishing_leaves_its_events_to_another() {
    let receiver = Receiver::start();
    receiver.set(Mode::Hang);
    let pg = PgDatabase::create();
    let hook = format!("http://127.0.0.1:{}/hook", receiver.port);
    let env = [("TRIAGE_DATABASE_URL", pg.url.as_str()), ("TRIAGE_WEBHOOK_URL", hook.as_str()), ("TRIAGE_WEBHOOK_SECRET", SECRET)];
    let mut first = Server::start_configured(tempfile::tempdir().unwrap(), &env, FAST);
    for i in 0..6 {
        classify(first.port, &format!("K-{i}"), CALLS[i % CALLS.len()]);
    }
    // The first replica has claimed the events and hangs on the receiver: kill it outright.
    wait_for("a delivery in flight", Duration::from_secs(20), || {
        let mut c = postgres::Client::connect(&pg.url, postgres::NoTls).unwrap();
        c.query_one("SELECT count(*) FROM deliveries WHERE lease_ms > 0", &[]).unwrap().get::<_, i64>(0) > 0
    });
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    receiver.set(Mode::Up);
    let _second = Server::start_configured(tempfile::tempdir().unwrap(), &env, FAST);
    let expected = stored_event_ids(&pg.url);
    assert_eq!(expected.len(), 6);
    wait_for("the second replica to finish the outbox", Duration::from_secs(60), || {
        receiver.events().iter().map(|(h, _)| h["idempotency-key"].clone()).collect::<BTreeSet<_>>() == expected
    });
}

/// A JetStream server on loopback, with its store in `dir`, so a restart keeps the stream.
fn nats_server(port: u16, dir: &std::path::Path) -> std::process::Child {
    let child = std::process::Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("nats-server (apt-get install nats-server)");
    wait_for("nats-server", Duration::from_secs(10), || TcpStream::connect(("127.0.0.1", port)).is_ok());
    child
}

#[test]
fn nats_events_all_arrive_across_a_nats_restart() {
    let dir = tempfile::tempdir().unwrap();
    let port = common::free_port();
    let mut nats = nats_server(port, dir.path());
    let pg = PgDatabase::create();
    let url = format!("nats://127.0.0.1:{port}");
    let env = [("TRIAGE_DATABASE_URL", pg.url.as_str()), ("TRIAGE_NATS_URL", url.as_str())];
    let server = Server::start_configured(tempfile::tempdir().unwrap(), &env, FAST);
    for (i, t) in CALLS.iter().enumerate() {
        classify(server.port, &format!("N-{i}"), t);
    }
    nats.kill().unwrap();
    nats.wait().unwrap();
    for (i, t) in CALLS.iter().enumerate() {
        classify(server.port, &format!("N-{}", i + 4), t);
    }
    std::thread::sleep(Duration::from_secs(1));
    let mut nats = nats_server(port, dir.path());

    let expected = stored_event_ids(&pg.url);
    assert_eq!(expected.len(), 8);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let stream_ids = || {
        runtime.block_on(async {
            let Ok(client) = async_nats::connect(url.as_str()).await else { return BTreeSet::new() };
            let js = async_nats::jetstream::new(client);
            let Ok(mut stream) = js.get_stream("HOTLINE_EVENTS").await else { return BTreeSet::new() };
            let last = stream.info().await.map(|i| i.state.last_sequence).unwrap_or(0);
            let mut ids = BTreeSet::new();
            for seq in 1..=last {
                if let Ok(m) = stream.get_raw_message(seq).await {
                    let v: serde_json::Value = serde_json::from_slice(&m.payload).unwrap();
                    ids.insert(v["event_id"].as_str().unwrap().to_string());
                }
            }
            ids
        })
    };
    wait_for("every event in the stream", Duration::from_secs(60), || stream_ids() == expected);
    nats.kill().unwrap();
    let _ = nats.wait();
}
