//! The case record over HTTP, with the real model: steps after dispatch are recorded once, in
//! order, with a clear code for each bad one, and the rates come back from `/v1/kpis`.

mod common;

use common::{http, post_json, Server};

fn post_event(port: u16, case: &str, body: serde_json::Value) -> common::Reply {
    post_json(port, &format!("/v1/cases/{case}/events"), &body.to_string())
}

#[test]
fn steps_are_recorded_once_in_order_and_the_rates_follow() {
    let server = Server::start_with(&[("TRIAGE_KPI_REFRESH_SECS", "1")]);
    let port = server.port;
    let call = serde_json::json!({"text": "市民：小区燃气管道有很大的燃气味，在楼道里都能闻到，希望燃气公司赶紧来查。", "id": "R-1", "submitted": "2026-11-20 09:00:00"});
    let answer = post_json(port, "/v1/classify", &call.to_string()).json();
    let first = answer["departments"][0]["id"].as_str().unwrap().to_string();

    let dispatched = serde_json::json!({"event_id": "ev-1", "type": "dispatched", "department": first, "operator_id": "op-9", "at": "2026-11-20 09:05:00"});
    let r = post_event(port, "R-1", dispatched.clone());
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["state"], "dispatched");
    let again = post_event(port, "R-1", dispatched);
    assert_eq!((again.status, again.json()["recorded"].as_bool()), (200, Some(false)), "the same event_id counts once: {}", again.body);

    let code = |r: common::Reply| (r.status, r.json()["error"]["code"].as_str().unwrap_or_default().to_string());
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "satisfaction", "rating": "满意"}))), (422, "event_out_of_order".into()));
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "redispatched", "department": "moon_office"}))), (422, "unknown_department".into()));
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "returned"}))), (422, "missing_reason".into()));
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "closed"}))), (422, "invalid_event_type".into()));
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "responded", "colour": "red"}))), (422, "unknown_field".into()));
    assert_eq!(code(post_event(port, "R-1", serde_json::json!({"event_id": "ev-2", "type": "responded", "at": "yesterday"}))), (422, "invalid_time".into()));
    assert_eq!(code(post_event(port, "nobody", serde_json::json!({"event_id": "ev-2", "type": "dispatched", "department": first}))), (404, "unknown_case".into()));
    let bad_json = http(port, "POST", "/v1/cases/R-1/events", Some("application/json"), b"{\"event_id\": ").unwrap();
    assert_eq!(bad_json.status, 400);

    for (id, kind, at) in [("ev-3", "responded", "2026-11-20 11:05:00"), ("ev-4", "resolved", "2026-11-21 09:05:00")] {
        let r = post_event(port, "R-1", serde_json::json!({"event_id": id, "type": kind, "at": at}));
        assert_eq!(r.status, 201, "{}", r.body);
    }
    let rated = post_event(port, "R-1", serde_json::json!({"event_id": "ev-5", "type": "satisfaction", "rating": "不满意"}));
    assert_eq!(rated.json()["state"], "rated");

    let history = http(port, "GET", "/v1/cases/R-1/events", None, b"").unwrap().json();
    assert_eq!(history["events"].as_array().unwrap().len(), 4, "{history:#}");
    assert_eq!(history["state"], "rated");

    let k = http(port, "GET", "/v1/kpis?from=2026-11-01%2000:00:00&to=2026-12-01%2000:00:00", None, b"").unwrap();
    assert_eq!(k.status, 200, "{}", k.body);
    let o = &k.json()["overall"];
    assert_eq!((o["cases"].as_u64(), o["dispatched"].as_u64()), (Some(1), Some(1)), "{o:#}");
    assert_eq!(o["first_dispatch_accuracy"], 1.0, "dispatched where the model said first");
    assert_eq!((o["response_rate"].as_f64(), o["resolution_rate"].as_f64(), o["satisfaction_rate"].as_f64()), (Some(1.0), Some(1.0), Some(0.0)));
    assert_eq!(o["median_hours_to_response"], 2.0);
    assert_eq!(o["median_hours_to_resolution"], 24.0);
    assert_eq!(k.json()["by_department"][0]["key"], first);
    let empty = http(port, "GET", "/v1/kpis?from=2026-10-01%2000:00:00&to=2026-10-02%2000:00:00", None, b"").unwrap().json();
    assert_eq!(empty["overall"]["cases"], 0);
    assert!(empty["overall"]["first_dispatch_accuracy"].is_null(), "no rate without cases");
    assert_eq!(http(port, "GET", "/v1/kpis?from=2026-12-01&to=2026-11-01", None, b"").unwrap().status, 422);
    assert_eq!(http(port, "GET", "/v1/kpis?department=moon_office", None, b"").unwrap().status, 422);

    // The gauges in /metrics cover the last 7 days: a case dispatched now shows up there.
    let now_call = serde_json::json!({"text": "市民：楼下饭店油烟太大了，要求城管查处。", "id": "R-2"});
    let now_first = post_json(port, "/v1/classify", &now_call.to_string()).json()["departments"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(post_event(port, "R-2", serde_json::json!({"event_id": "ev-9", "type": "dispatched", "department": now_first})).status, 201);
    let gauge = format!("triage_kpi_first_dispatch_accuracy{{department=\"{now_first}\"}} 1");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = http(port, "GET", "/metrics", None, b"").unwrap().body;
        if metrics.contains(&gauge) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no {gauge} in /metrics:\n{metrics}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    // Candidate heads are scored on the reported final departments before they go into service.
    let out = common::triage()
        .args(["cases", "eval-heads", "--heads", "models/heads", "--days", "60", "--db"])
        .arg(&server.feedback_db)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["cases"], 2, "{rows}");
    assert_eq!(rows[0]["department_first"], 1.0, "both were dispatched where the model said first: {rows}");
    assert_eq!(rows[0]["department_first"], rows[1]["department_first"], "the same heads score the same: {rows}");

    // Another ticket system's export, as JSON lines and as CSV: good rows are recorded, a row
    // seen before counts once, and every bad row goes to the errors file.
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("steps.jsonl");
    std::fs::write(&jsonl, "{\"case_id\": \"R-2\", \"event_id\": \"imp-1\", \"type\": \"responded\"}\n{\"case_id\": \"R-2\", \"event_id\": \"ev-9\", \"type\": \"dispatched\", \"department\": \"gas_group\"}\nnot json\n").unwrap();
    let csv = dir.path().join("steps.csv");
    std::fs::write(&csv, "case_id,event_id,type,department,operator_id,reason,rating,at\nR-2,imp-2,resolved,,,,,\nnobody,imp-3,dispatched,gas_group,,,,\n").unwrap();
    for (input, expected) in [(&jsonl, (3, 1, 1, 1)), (&csv, (2, 1, 0, 1))] {
        let errors = dir.path().join("errors.jsonl");
        let out = common::triage().args(["cases", "import", "--input"]).arg(input).arg("--errors").arg(&errors).arg("--db").arg(&server.feedback_db).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!((s["rows"].as_u64().unwrap(), s["recorded"].as_u64().unwrap(), s["repeats"].as_u64().unwrap(), s["errors"].as_u64().unwrap()), expected, "{s}");
        assert_eq!(std::fs::read_to_string(&errors).unwrap().lines().count() as u64, expected.3);
    }
    let history = http(port, "GET", "/v1/cases/R-2/events", None, b"").unwrap().json();
    assert_eq!(history["state"], "closed", "{history:#}");
}
