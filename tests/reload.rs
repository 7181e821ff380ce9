//! New heads without downtime: under a steady load of classify calls, the heads are changed on
//! disk and reloaded twice, by `POST /admin/reload` and by SIGHUP. No request fails, and the
//! answers' `model` field shows the new heads once reloaded.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{http, post_json, Server};

/// Give the department head a new training date: a new version, same weights.
fn bump(heads: &std::path::Path, date: u64) {
    let path = heads.join("department/head.json");
    let mut head: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    head["training"]["date_unix"] = serde_json::json!(date);
    std::fs::write(&path, serde_json::to_string(&head).unwrap()).unwrap();
}

fn heads_version(port: u16) -> String {
    let r = post_json(port, "/v1/classify", r#"{"text": "市民：楼下饭店油烟太大。"}"#);
    r.json()["model"]["heads"].as_str().unwrap().to_string()
}

#[test]
fn heads_reload_under_load_with_no_failed_request() {
    let dir = tempfile::tempdir().unwrap();
    let heads = dir.path().join("heads");
    for head in std::fs::read_dir(common::repo_root().join("models/heads")).unwrap() {
        let head = head.unwrap().path();
        if head.is_dir() {
            common::copy_folder(&head, &heads.join(head.file_name().unwrap()));
        }
    }
    let keys = dir.path().join("admin.keys");
    std::fs::write(&keys, "admin-key-for-the-reload-test\n").unwrap();
    let (heads_s, keys_s) = (heads.display().to_string(), keys.display().to_string());
    let server = Server::start_with(&[("TRIAGE_HEADS_DIR", heads_s.as_str()), ("TRIAGE_ADMIN_KEY_FILE", keys_s.as_str())]);
    let port = server.port;
    let before = heads_version(port);

    let (stop, ok, failed) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let load: Vec<_> = (0..4)
        .map(|i| {
            let (stop, ok, failed) = (stop.clone(), ok.clone(), failed.clone());
            std::thread::spawn(move || {
                let body = serde_json::json!({"text": format!("市民：小区{i}号楼暖气不热，屋里才十五度，希望尽快维修。")}).to_string();
                while !stop.load(Ordering::SeqCst) {
                    let r = post_json(port, "/v1/classify", &body);
                    if r.status == 200 { ok.fetch_add(1, Ordering::SeqCst) } else { failed.fetch_add(1, Ordering::SeqCst) };
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(500));

    // Refused without the admin key, or with the wrong one.
    assert_eq!(http(port, "POST", "/admin/reload", None, b"").unwrap().status, 401);
    bump(&heads, 1_900_000_000);
    let reload = |key: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        use std::io::{Read, Write};
        write!(s, "POST /admin/reload HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    assert!(reload("wrong").starts_with("HTTP/1.1 403"));
    let answer = reload("admin-key-for-the-reload-test");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("1900000000"), "the new heads' version: {answer}");
    // A batch that took the old model finishes with it; the next ones take the new.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while heads_version(port) == before {
        assert!(std::time::Instant::now() < deadline, "the reloaded heads never answered");
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGHUP, with another change.
    bump(&heads, 1_900_000_001);
    std::process::Command::new("kill").args(["-HUP", &server.child.id().to_string()]).status().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !heads_version(port).contains("1900000001") {
        assert!(std::time::Instant::now() < deadline, "SIGHUP did not reload the heads");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A broken head is refused and the model in service stays.
    std::fs::write(heads.join("department/head.json"), b"{ not json").unwrap();
    assert!(reload("admin-key-for-the-reload-test").starts_with("HTTP/1.1 500"));
    assert!(heads_version(port).contains("1900000001"));

    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::SeqCst);
    for t in load {
        t.join().unwrap();
    }
    assert_eq!(failed.load(Ordering::SeqCst), 0, "no request failed during the reloads");
    assert!(ok.load(Ordering::SeqCst) > 20, "the load ran: {}", ok.load(Ordering::SeqCst));
}
