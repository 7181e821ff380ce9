//! Faults the service must survive with a clear answer: a locked or full feedback database,
//! a broken model folder, a taxonomy that names a department it never defines. (SIGTERM
//! with requests in flight is in tests/http.rs.)

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{http, post_json, Server};

fn decision(case: &str) -> String {
    serde_json::json!({
        "case_id": case, "text": "楼下饭馆油烟很大，窗户都打不开", "suggested": ["urban_enforcement", "ecology_environment"],
        "chosen": "urban_enforcement", "operator_id": "A1023", "accepted_rank": 1,
    })
    .to_string()
}

fn stored_cases(db: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn.prepare("SELECT case_id FROM feedback ORDER BY case_id").unwrap();
    stmt.query_map([], |r| r.get(0)).unwrap().collect::<Result<_, _>>().unwrap()
}

#[test]
fn a_locked_feedback_database_is_a_503_then_the_retry_is_stored() {
    let server = Server::start();
    let port = server.port;
    assert_eq!(post_json(port, "/v1/feedback", &decision("L-1")).status, 201);
    // Another process takes the write lock and keeps it past the server's busy timeout (5 s).
    let locker = rusqlite::Connection::open(&server.feedback_db).unwrap();
    locker.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let r = post_json(port, "/v1/feedback", &decision("L-2"));
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.json()["error"]["code"], "feedback_store_busy");
    assert!(r.headers.to_ascii_lowercase().contains("retry-after: 1"), "{}", r.headers);
    // Classification does not depend on the history store: it still answers, without `related`.
    let c = post_json(port, "/v1/classify", r#"{"text": "楼下饭馆油烟很大", "id": "L-3"}"#);
    assert_eq!(c.status, 200, "{}", c.body);
    assert!(c.json().get("related").is_none(), "{}", c.body);
    locker.execute_batch("COMMIT").unwrap();
    drop(locker);
    // The console retries: nothing was lost.
    assert_eq!(post_json(port, "/v1/feedback", &decision("L-2")).status, 201);
    assert_eq!(stored_cases(&server.feedback_db), ["L-1", "L-2"]);
    assert!(server.terminate().success());
}

/// A full disk, made with a file-size limit (RLIMIT_FSIZE) on the server: every write past it
/// fails as a full disk does. SIGXFSZ is ignored, as a service on a full volume would not get it.
#[test]
fn a_full_disk_is_a_clear_error_and_every_acknowledged_decision_survives() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("feedback.sqlite3");
    let port = common::free_port();
    let bin = env!("CARGO_BIN_EXE_triage");
    let script = format!(
        "trap '' XFSZ; ulimit -f 1024; exec '{bin}' --model-dir '{}' serve --addr 127.0.0.1:{port}",
        common::real_model().dir.display()
    );
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut guard = KillOnDrop(Command::new("sh")
        .args(["-c", &script])
        .current_dir(common::repo_root())
        .env("TRIAGE_FEEDBACK_DB", &db)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap());
    let child = &mut guard.0;
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while http(port, "GET", "/readyz", None, b"").map(|r| r.status).ok() != Some(200) {
        assert!(std::time::Instant::now() < deadline, "server not ready");
        assert!(child.try_wait().unwrap().is_none(), "server exited early");
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut acknowledged = Vec::new();
    let mut refusal = None;
    let long_text = "楼下饭馆油烟很大，窗户都打不开，".repeat(60);
    for i in 0..400 {
        let body = serde_json::json!({
            "case_id": format!("F-{i:03}"), "text": long_text, "suggested": ["urban_enforcement"],
            "chosen": "urban_enforcement", "operator_id": "A1023",
        });
        let r = post_json(port, "/v1/feedback", &body.to_string());
        match r.status {
            201 => acknowledged.push(format!("F-{i:03}")),
            _ => {
                refusal = Some(r);
                break;
            }
        }
    }
    let r = refusal.expect("a 512 KB file limit must be reached within 400 decisions");
    assert!([507, 503].contains(&r.status), "{} {}", r.status, r.body);
    let code = r.json()["error"]["code"].as_str().unwrap().to_string();
    assert!(code == "feedback_store_full" || code == "feedback_store_unavailable", "{code}");
    // Still serving, and classification unaffected.
    assert_eq!(http(port, "GET", "/healthz", None, b"").unwrap().status, 200);
    assert_eq!(post_json(port, "/v1/classify", r#"{"text": "暖气不热"}"#).status, 200);
    assert!(child.try_wait().unwrap().is_none(), "the server must not crash on a full disk");
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let _ = child.wait();
    // Room again: every decision that got a 201 is there.
    let stored = stored_cases(&db);
    assert!(acknowledged.len() >= 5, "{acknowledged:?}");
    for case in &acknowledged {
        assert!(stored.contains(case), "{case} was acknowledged but lost");
    }
}

fn serve_fails(args: &[&str], model_dir: &Path) -> String {
    let dir = tempfile::tempdir().unwrap();
    let mut child = common::triage()
        .arg("--model-dir")
        .arg(model_dir)
        .args(args)
        .args(["serve", "--addr", &format!("127.0.0.1:{}", common::free_port())])
        .env("TRIAGE_FEEDBACK_DB", dir.path().join("f.sqlite3"))
        .env("TRIAGE_SKIP_HUB", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(std::time::Instant::now() < deadline, "the server started on a broken model");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    // The reason is one line of its own, after any log lines.
    let reason = err.lines().rev().find(|l| l.starts_with("error: ")).unwrap_or_else(|| panic!("no error line: {err}"));
    reason.to_string()
}

#[test]
fn a_broken_model_folder_stops_the_server_with_a_one_line_reason() {
    let real = &common::real_model().dir;
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing-weights");
    common::copy_folder(real, &missing);
    std::fs::remove_file(missing.join("model.gguf")).unwrap();
    let reason = serve_fails(&[], &missing);
    assert!(reason.contains("model.gguf"), "{reason}");

    let truncated = dir.path().join("truncated");
    common::copy_folder(real, &truncated);
    let bytes = std::fs::read(truncated.join("model.gguf")).unwrap();
    std::fs::write(truncated.join("model.gguf"), &bytes[..bytes.len() / 2]).unwrap();
    let reason = serve_fails(&[], &truncated);
    assert!(reason.contains("model.gguf") && reason.contains("truncated"), "{reason}");

    let wrong_shape = dir.path().join("wrong-shape");
    common::copy_folder(real, &wrong_shape);
    let config = std::fs::read_to_string(wrong_shape.join("config.json")).unwrap().replace("\"hidden_size\": 384", "\"hidden_size\": 512");
    assert!(config.contains("512"), "config.json changed format: {config}");
    std::fs::write(wrong_shape.join("config.json"), config).unwrap();
    let reason = serve_fails(&[], &wrong_shape);
    assert!(reason.contains("384") || reason.contains("512") || reason.contains("shape"), "{reason}");

    let garbage = dir.path().join("garbage-tokenizer");
    common::copy_folder(real, &garbage);
    std::fs::write(garbage.join("tokenizer.json"), b"{\"not\": \"a tokenizer\"").unwrap();
    let reason = serve_fails(&[], &garbage);
    assert!(reason.contains("tokenizer.json"), "{reason}");
}

#[test]
fn a_taxonomy_naming_an_unknown_department_stops_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let taxonomy = std::fs::read_to_string(common::repo_root().join("models/taxonomy.toml")).unwrap();
    // The housing topic now routes to a department the file never defines.
    let broken = taxonomy.replacen("\"housing_commission\"", "\"mayors_office\"", 1);
    assert_ne!(broken, taxonomy, "taxonomy.toml changed format");
    let path = dir.path().join("taxonomy.toml");
    std::fs::write(&path, broken).unwrap();
    let reason = serve_fails(&["--taxonomy", path.to_str().unwrap()], &common::real_model().dir);
    assert!(reason.contains("mayors_office") && reason.contains("taxonomy.toml"), "{reason}");
}
