//! The service over real HTTP: a spawned `triage serve` on a loopback port.

mod common;

use common::{http, post_json, Server};

#[test]
fn serves_embeddings_refuses_bad_input_and_stops_cleanly() {
    let server = Server::start();
    let p = server.port;

    assert_eq!(http(p, "GET", "/healthz", None, b"").unwrap().status, 200);

    let r = post_json(p, "/v1/embed", r#"{"texts": ["小区楼下餐馆油烟扰民", "饭店排放油烟影响居民休息", "孩子上学入学手续怎么办理"]}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["dimension"], 384);
    let vecs: Vec<Vec<f32>> = v["embeddings"].as_array().unwrap().iter().map(|e| e["vector"].as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()).collect();
    let cos = |a: &[f32], b: &[f32]| hotline_triage::model::cosine(a, b);
    assert!(cos(&vecs[0], &vecs[1]) > cos(&vecs[0], &vecs[2]));

    let r = post_json(p, "/v1/segment", r#"{"text": "市民：电话13812345678，楼下油烟扰民"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.json()["text"].as_str().unwrap().contains("[电话]"));

    // One error shape for every kind of bad input.
    let long = format!(r#"{{"text": "{}"}}"#, "油".repeat(5001));
    let too_many = format!(r#"{{"texts": [{}]}}"#, vec!["\"油烟\""; 65].join(","));
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (Some("application/json"), b"{\"text\": ".to_vec(), 400, "invalid_json"),
        (Some("application/json"), br#"{"text": "x", "colour": 1}"#.to_vec(), 422, "unknown_field"),
        (Some("application/json"), br#"{"text": "   "}"#.to_vec(), 422, "text_empty"),
        (Some("application/json"), br#"{"text": 5}"#.to_vec(), 422, "invalid_request"),
        (Some("text/plain"), br#"{"text": "x"}"#.to_vec(), 415, "unsupported_media_type"),
        (Some("application/json"), b"{\"text\": \"\xff\xfe\"}".to_vec(), 400, "invalid_json"),
        (Some("application/json"), long.into_bytes(), 422, "text_too_long"),
    ];
    for (ct, body, status, code) in cases {
        let r = http(p, "POST", "/v1/segment", ct, &body).unwrap();
        assert_eq!(r.status, status, "{}: {}", String::from_utf8_lossy(&body).chars().take(40).collect::<String>(), r.body);
        assert_eq!(r.json()["error"]["code"], code, "{}", r.body);
        assert!(!r.json()["error"]["message"].as_str().unwrap().is_empty());
    }
    let huge = format!(r#"{{"text": "{}"}}"#, "a".repeat(3 << 20));
    let r = post_json(p, "/v1/segment", &huge);
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (413, "body_too_large"), "{}", r.body);
    let r = post_json(p, "/v1/embed", r#"{"texts": []}"#);
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (422, "texts_empty"));
    let r = post_json(p, "/v1/classify/batch", r#"{"items": []}"#);
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (422, "items_empty"));
    let r = post_json(p, "/v1/embed", &too_many);
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (413, "batch_too_large"));

    let status = server.terminate();
    assert!(status.success(), "SIGTERM should end the server with 0, got {status:?}");
}

#[test]
fn classify_endpoints_answer_in_order_and_report_bad_items() {
    let server = Server::start();
    let p = server.port;

    let r = post_json(p, "/v1/classify", r#"{"id": "call-1", "text": "市民：我是朝阳区望京的，楼下饭店油烟太大了", "top_k": 2}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["id"], "call-1");
    // At most top_k; fewer when the second is not plausible (`[ranking] min_score`).
    assert!((1..=2).contains(&v["departments"].as_array().unwrap().len()), "{v}");
    assert_eq!(v["dispatch"]["district"], "朝阳区");
    assert!(v["dispatch"]["department"].as_str().is_some());

    let r = post_json(p, "/v1/classify/batch", r#"{"items": [{"id": "a", "text": "暖气不热"}, 7, {"id": "c", "text": ""}, {"id": "d", "text": "孩子入学怎么办理"}]}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let results = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["id"], "a");
    assert!(results[0]["departments"].is_array());
    assert_eq!(results[1]["error"]["code"], "invalid_item");
    assert_eq!(results[2]["error"]["code"], "text_empty");
    assert_eq!(results[3]["id"], "d");

    let r = post_json(p, "/v1/classify", r#"{"text": "x", "top_k": 0}"#);
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (422, "invalid_top_k"));

    let r = http(p, "GET", "/v1/taxonomy", None, b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["departments"].as_array().unwrap().len(), 25);
    assert!(server.terminate().success());
}

#[test]
fn concurrent_requests_are_batched_and_counted_in_metrics() {
    let server = Server::start();
    let p = server.port;
    let texts = ["暖气不热，家里才十五度", "楼下饭店油烟扰民", "孩子入学怎么办理", "小区停水了", "拖欠工资三个月", "公交车太少了"];
    let threads: Vec<_> = texts
        .iter()
        .map(|t| {
            let body = format!(r#"{{"text": "{t}"}}"#);
            std::thread::spawn(move || post_json(p, "/v1/classify", &body).status)
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let r = http(p, "GET", "/metrics", None, b"").unwrap();
    assert_eq!(r.status, 200);
    let m = r.body;
    assert!(m.contains(r#"triage_http_requests_total{route="/v1/classify",status="200"} 6"#), "{m}");
    assert!(m.contains("triage_batch_size_count"), "{m}");
    assert!(m.contains("triage_batch_tokens_sum"), "{m}");
    assert!(m.contains("triage_http_request_duration_seconds_bucket"), "{m}");
    assert!(m.contains("triage_inference_duration_seconds_sum"), "{m}");
    assert!(m.contains("triage_queue_depth"), "{m}");
    // The server says which kernels run the encoder (by default bf16 on a CPU with AVX-512
    // BF16, else f32).
    let kernels = m.lines().find(|l| l.starts_with("triage_encoder_kernel_info{")).unwrap_or_else(|| panic!("no kernel info in {m}"));
    #[cfg(target_arch = "x86_64")]
    let bf16 = std::arch::is_x86_feature_detected!("avx512bf16") && std::arch::is_x86_feature_detected!("avx512f");
    #[cfg(not(target_arch = "x86_64"))]
    let bf16 = false;
    let weights = if bf16 { "bf16" } else { "f32" };
    assert!(kernels.contains(&format!(r#"weights="{weights}""#)) && kernels.ends_with(" 1"), "{kernels}");
    let matrix = ["avx512_bf16", "avx512f", "avx2_fma", "portable"].iter().find(|k| kernels.contains(&format!(r#"matrix="{k}""#)));
    assert!(matrix.is_some(), "{kernels}");
    assert!(server.terminate().success());
}

#[test]
fn a_full_queue_answers_429_with_retry_after_and_slow_answers_time_out() {
    let server = Server::start_with(&[("TRIAGE_QUEUE_CAPACITY", "1")]);
    let p = server.port;
    let long = "市民：楼下饭店油烟扰民，晚上还很吵，".repeat(60);
    let threads: Vec<_> = (0..24)
        .map(|_| {
            let body = format!(r#"{{"text": "{long}"}}"#);
            std::thread::spawn(move || post_json(p, "/v1/classify", &body))
        })
        .collect();
    let replies: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused: Vec<_> = replies.iter().filter(|r| r.status == 429).collect();
    assert_eq!(ok + refused.len(), replies.len(), "only 200 or 429 under overload: {:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    assert!(ok >= 1 && !refused.is_empty(), "{ok} answered, {} refused", refused.len());
    assert!(refused[0].headers.to_ascii_lowercase().contains("retry-after: 1"), "{}", refused[0].headers);
    assert_eq!(refused[0].json()["error"]["code"], "overloaded");
    assert!(server.terminate().success());

    let server = Server::start_with(&[("TRIAGE_REQUEST_TIMEOUT_MS", "1")]);
    let r = post_json(server.port, "/v1/classify", &format!(r#"{{"text": "{long}"}}"#));
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (504, "timeout"));
    assert!(server.terminate().success());
}

#[test]
fn api_keys_guard_v1_routes_but_not_health_or_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.txt");
    std::fs::write(&keys, "# operators\nsecret-key-1\n").unwrap();
    let server = Server::start_with(&[("TRIAGE_API_KEY_FILE", keys.to_str().unwrap()), ("TRIAGE_CORS_ALLOWED_ORIGINS", "https://console.example")]);
    let p = server.port;
    let body = r#"{"text": "暖气不热"}"#.as_bytes();
    let r = http(p, "POST", "/v1/classify", Some("application/json"), body).unwrap();
    assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap()), (401, "unauthorized"));
    let send = |auth: &str| {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", p)).unwrap();
        use std::io::{Read, Write};
        write!(s, "POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nOrigin: https://console.example\r\nAuthorization: {auth}\r\nContent-Length: {}\r\n\r\n", body.len()).unwrap();
        s.write_all(body).unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let wrong = send("Bearer nope");
    assert!(wrong.starts_with("HTTP/1.1 403"), "{wrong}");
    let right = send("Bearer secret-key-1");
    assert!(right.starts_with("HTTP/1.1 200"), "{right}");
    let lower = right.to_ascii_lowercase();
    assert!(lower.contains("access-control-allow-origin: https://console.example"), "{right}");
    assert!(lower.contains("x-request-id:"), "{right}");
    assert_eq!(http(p, "GET", "/healthz", None, b"").unwrap().status, 200);
    assert_eq!(http(p, "GET", "/metrics", None, b"").unwrap().status, 200);
    assert!(server.terminate().success());
}

#[test]
fn cors_is_closed_by_default() {
    let server = Server::start();
    let mut s = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    use std::io::{Read, Write};
    write!(s, "GET /v1/taxonomy HTTP/1.1\r\nHost: x\r\nConnection: close\r\nOrigin: https://evil.example\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200"));
    assert!(!out.to_ascii_lowercase().contains("access-control-allow-origin"), "{out}");
    assert!(server.terminate().success());
}

#[test]
fn sigterm_with_requests_in_flight_loses_none() {
    let server = Server::start();
    let p = server.port;
    let long = "市民：小区暖气不热，家里只有十五度，老人孩子都冻感冒了，".repeat(40);
    let threads: Vec<_> = (0..6)
        .map(|_| {
            let body = format!(r#"{{"text": "{long}"}}"#);
            std::thread::spawn(move || post_json(p, "/v1/classify", &body).status)
        })
        .collect();
    // Let the requests reach the server, then ask it to stop while they are being served.
    std::thread::sleep(std::time::Duration::from_millis(150));
    let status = server.terminate();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200, "an accepted request was dropped at shutdown");
    }
    assert!(status.success());
}

/// The validator comes from PyPI, like the model; install it on first use.
fn openapi_validator_available() -> bool {
    let has = || std::process::Command::new("python3").args(["-c", "import openapi_spec_validator"]).status().map(|s| s.success()).unwrap_or(false);
    if has() {
        return true;
    }
    let _ = std::process::Command::new("python3").args(["-m", "pip", "install", "-q", "openapi-spec-validator"]).status();
    has()
}

#[test]
fn openapi_json_describes_every_route_and_validates() {
    let server = Server::start();
    let r = http(server.port, "GET", "/openapi.json", None, b"").unwrap();
    assert_eq!(r.status, 200);
    let doc = r.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/healthz", "/readyz", "/metrics", "/v1/segment", "/v1/embed", "/v1/classify", "/v1/classify/batch", "/v1/taxonomy", "/v1/hotspots", "/v1/cases/merge"] {
        assert!(doc["paths"].get(path).is_some(), "{path} is not documented");
    }
    // Every reference points at a schema that exists.
    let text = r.body.clone();
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = piece.split('"').next().unwrap();
        assert!(doc["components"]["schemas"].get(name).is_some(), "dangling $ref {name}");
    }
    assert!(openapi_validator_available(), "python3 -m pip install openapi-spec-validator failed");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &text).unwrap();
    let out = std::process::Command::new("python3").args(["-m", "openapi_spec_validator"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(server.terminate().success());
}
