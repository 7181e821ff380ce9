//! Hostile input, table-driven, against one real server: every row must get its clear error
//! (or a normal answer), and the server must still be healthy afterwards.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{http, Server};

struct Case {
    name: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// The error code, when the answer is an error.
    code: Option<&'static str>,
}

fn json(name: &'static str, path: &'static str, body: String, status: u16, code: Option<&'static str>) -> Case {
    Case { name, path, content_type: Some("application/json"), body: body.into_bytes(), status, code }
}

fn cases() -> Vec<Case> {
    let mut nested_text = String::from(r#"{"text": "#);
    nested_text.push_str(&"[".repeat(5_000));
    nested_text.push_str(&"]".repeat(5_000));
    nested_text.push('}');
    let batch: Vec<String> = (0..10_000).map(|i| format!(r#"{{"id": "c{i}", "text": "楼下饭馆油烟很大"}}"#)).collect();
    vec![
        json("1 MB of text", "/v1/classify", format!(r#"{{"text": "{}"}}"#, "油".repeat(350_000)), 422, Some("text_too_long")),
        json("3 MB body", "/v1/classify", format!(r#"{{"text": "{}"}}"#, "a".repeat(3 << 20)), 413, Some("body_too_large")),
        json("100,000 nested arrays", "/v1/classify", "[".repeat(100_000), 422, Some("invalid_request")),
        json("100,000 nested objects in a batch item", "/v1/classify/batch", format!(r#"{{"items": [{}"#, r#"{"a":"#.repeat(100_000)), 400, Some("invalid_json")),
        json("nested arrays where the text should be", "/v1/classify", nested_text, 422, Some("invalid_request")),
        json("nested objects in a batch item", "/v1/classify/batch", format!(r#"{{"items": [{}{}]}}"#, r#"{"a":"#.repeat(200), "}".repeat(200)), 400, Some("invalid_json")),
        json("control characters", "/v1/classify", r#"{"text": "\u0000\u0007楼下饭馆\u001b[31m油烟\u0008很大\u007f"}"#.into(), 200, None),
        json("a lone surrogate escape", "/v1/classify", r#"{"text": "楼下饭馆油烟\ud800很大"}"#.into(), 400, Some("invalid_json")),
        json("a reversed surrogate pair", "/v1/classify", r#"{"text": "\udc00\ud800"}"#.into(), 400, Some("invalid_json")),
        json("RTL overrides and zero-width characters", "/v1/classify", "{\"text\": \"楼下\u{200b}饭馆\u{202e}油烟\u{2066}很大\u{feff}\u{200d}\u{2069}\"}".into(), 200, None),
        json("only zero-width characters", "/v1/classify", "{\"text\": \"\u{200b}\u{200c}\u{feff}\"}".into(), 422, Some("text_empty")),
        json("10,000 items in one batch", "/v1/classify/batch", format!(r#"{{"items": [{}]}}"#, batch.join(",")), 413, Some("batch_too_large")),
        json("10,000 texts to embed", "/v1/embed", format!(r#"{{"texts": [{}]}}"#, vec![r#""油烟""#; 10_000].join(",")), 413, Some("batch_too_large")),
        json("text is a number", "/v1/classify", r#"{"text": 12345}"#.into(), 422, Some("invalid_request")),
        json("an unknown field", "/v1/classify", r#"{"text": "油烟很大", "priority": "high"}"#.into(), 422, Some("unknown_field")),
        json("a huge top_k", "/v1/classify", r#"{"text": "油烟很大", "top_k": 18446744073709551615}"#.into(), 422, Some("invalid_top_k")),
        json("a negative top_k", "/v1/classify", r#"{"text": "油烟很大", "top_k": -1}"#.into(), 422, Some("invalid_request")),
        json("an empty body", "/v1/classify", String::new(), 400, Some("invalid_json")),
        Case { name: "invalid UTF-8", path: "/v1/classify", content_type: Some("application/json"), body: b"{\"text\": \"\xff\xfe\xc0\xaf\"}".to_vec(), status: 400, code: Some("invalid_json") },
        Case { name: "not JSON at all", path: "/v1/classify", content_type: Some("text/plain"), body: "楼下饭馆油烟很大".as_bytes().to_vec(), status: 415, code: Some("unsupported_media_type") },
        json("a case id full of control characters", "/v1/classify", r#"{"text": "油烟很大", "id": "a\u0000b"}"#.into(), 422, Some("invalid_id")),
        json("a time in the far future", "/v1/classify", r#"{"text": "油烟很大", "id": "f1", "submitted": "2999-01-01 00:00:00"}"#.into(), 422, Some("invalid_time")),
        json("merge with a nested value", "/v1/cases/merge", r#"{"case_id": {"a": [1, 2]}, "into": "x"}"#.into(), 422, Some("invalid_request")),
    ]
}

#[test]
fn every_hostile_request_gets_a_clear_answer_and_the_server_stays_up() {
    let server = Server::start_with(&[("TRIAGE_HEADER_READ_TIMEOUT_MS", "1500"), ("TRIAGE_BODY_READ_TIMEOUT_MS", "1500")]);
    let port = server.port;
    let mut failures = Vec::new();
    for case in cases() {
        let reply = match http(port, "POST", case.path, case.content_type, &case.body) {
            Ok(r) => r,
            Err(e) => {
                failures.push(format!("{}: no answer ({e})", case.name));
                continue;
            }
        };
        let code = serde_json::from_str::<serde_json::Value>(&reply.body).ok().and_then(|v| v["error"]["code"].as_str().map(String::from));
        if reply.status != case.status || code.as_deref() != case.code {
            failures.push(format!("{}: got {} {:?}, want {} {:?}: {}", case.name, reply.status, code, case.status, case.code, reply.body.chars().take(200).collect::<String>()));
        }
        if reply.status == 200 {
            // What comes back is normalised: no control or invisible formatting characters.
            let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            let words = v["keywords"].to_string();
            if words.chars().any(|c| c.is_control() || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')) {
                failures.push(format!("{}: keywords keep invisible characters: {words}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(http(port, "GET", "/healthz", None, b"").unwrap().status, 200);
    assert!(server.terminate().success(), "the server must stop cleanly after all that");
}

/// Slow-loris: clients that dribble their request head or body are cut off, and while they
/// hang on, everyone else is still served.
#[test]
fn slow_clients_are_cut_off_and_do_not_block_others() {
    let server = Server::start_with(&[("TRIAGE_HEADER_READ_TIMEOUT_MS", "1500"), ("TRIAGE_BODY_READ_TIMEOUT_MS", "1500")]);
    let port = server.port;
    // Twenty connections that send half a request head, then a byte now and then.
    let mut lorises: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").unwrap();
            s
        })
        .collect();
    // A normal caller meanwhile gets its answer.
    let r = common::post_json(port, "/v1/classify", r#"{"text": "楼下饭馆油烟太大了"}"#);
    assert_eq!(r.status, 200, "{}", r.body);

    let started = Instant::now();
    let mut cut_off = 0;
    for s in lorises.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(b"a");
        let mut buf = [0u8; 512];
        // The server answers 408 or just closes: either way the read ends, well before 10 s.
        match s.read(&mut buf) {
            Ok(n) if n == 0 || String::from_utf8_lossy(&buf[..n]).contains("408") => cut_off += 1,
            Ok(n) => panic!("unexpected answer to a half-sent head: {}", String::from_utf8_lossy(&buf[..n])),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => cut_off += 1,
            Err(e) => panic!("the connection was not cut off: {e}"),
        }
    }
    assert_eq!(cut_off, 20);
    assert!(started.elapsed() < Duration::from_secs(8), "cut off after {:?}", started.elapsed());

    // A complete head but a body that never finishes: 408 after the body deadline.
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\": \"").unwrap();
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408") && answer.contains("body_timeout"), "{answer}");

    assert_eq!(http(port, "GET", "/healthz", None, b"").unwrap().status, 200);
    assert!(server.terminate().success());
}
