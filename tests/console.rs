//! The operator console and the feedback loop, end to end: real server, real Chromium, real
//! SQLite.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{http, post_json, repo_root, Server};

/// Debian's Chromium and playwright-core, installed here if absent (as `.ci/run` does), so the
/// README's test command works on a fresh machine. Missing tools fail the test; they never skip it.
fn browser_tools() -> (PathBuf, PathBuf) {
    let chromium = PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    if !chromium.exists() {
        let ok = Command::new("sh")
            .args(["-c", "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null"])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok && chromium.exists(), "Chromium is needed at {} (apt-get install chromium)", chromium.display());
    }
    let dir = repo_root().join("tests/browser");
    if !dir.join("node_modules/playwright-core").is_dir() {
        let ok = Command::new("npm").args(["ci", "--no-audit", "--no-fund", "--silent"]).current_dir(&dir).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "npm ci in tests/browser failed (node and npm are needed)");
    }
    (chromium, dir)
}

fn decision(case: &str, text: &str, suggested: &[&str], chosen: &str, rank: Option<u32>) -> String {
    serde_json::json!({
        "case_id": case, "text": text, "suggested": suggested, "chosen": chosen,
        "operator_id": "A1023", "accepted_rank": rank,
    })
    .to_string()
}

fn row(db: &Path, case: &str) -> Option<(String, String, Option<i64>, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row("SELECT chosen, operator_id, accepted_rank, text FROM feedback WHERE case_id = ?1", [case], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
    })
    .ok()
}

const BARBECUE_CALLS: [&str; 5] = [
    "市民：我是朝阳区望京街道的，小区楼下新开了一家烧烤店，每天晚上油烟特别大，开不了窗。",
    "市民：朝阳区望京街道我们小区楼下那家烧烤店，油烟太大了，半夜还很吵，孩子睡不好。",
    "坐席：您好。市民：望京街道这边小区楼下的烧烤店每晚油烟呛人，一直到凌晨两三点。",
    "市民：投诉朝阳区望京街道小区楼下烧烤店油烟扰民，晚上开到半夜，噪音也大。",
    "市民：我们望京街道小区楼下新开的烧烤店，油烟特别大，呛得开不了窗，还吵到半夜。",
];

#[test]
fn an_operator_types_a_call_presses_1_and_the_decision_is_in_sqlite() {
    let (chromium, dir) = browser_tools();
    let server = Server::start();
    // Earlier today five neighbours called about the same barbecue: a hot spot, and the call
    // the operator takes is a repeat the page offers to merge.
    for (i, t) in BARBECUE_CALLS.iter().enumerate() {
        let r = common::post_json(server.port, "/v1/classify", &serde_json::json!({"text": t, "id": format!("EARLIER-{i}")}).to_string());
        assert_eq!(r.status, 200, "{}", r.body);
    }
    // CONSOLE_SCREENSHOT=docs/console.png refreshes the README's screenshot.
    let shot = std::env::var("CONSOLE_SCREENSHOT").ok();
    let mut cmd = Command::new("node");
    cmd.arg(dir.join("console.mjs")).arg(format!("http://127.0.0.1:{}", server.port)).env("CHROMIUM", &chromium);
    if let Some(s) = &shot {
        cmd.arg(repo_root().join(s));
    }
    let out = cmd.output().expect("node must run");
    assert!(out.status.success(), "browser run failed:\n{}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let case = seen["case_id"].as_str().unwrap();
    let first = seen["suggested"][0].as_str().unwrap();
    assert_eq!(seen["chosen"], first, "key 1 accepts the first suggestion");
    // The call is about restaurant fumes and noise at night: a city-management matter.
    assert!(["urban_enforcement", "ecology_environment"].contains(&first), "{seen}");

    let (chosen, operator, rank, text) = row(&server.feedback_db, case).expect("the decision is stored");
    assert_eq!((chosen.as_str(), operator.as_str(), rank), (first, "OP-E2E", Some(1)));
    assert!(text.contains("烧烤店"), "{text}");
    assert!(seen["hot_spots"][0].as_str().unwrap().contains("件"), "{seen}");
    // A fraud still in progress goes to the police at once: the banner says 110.
    let banner = seen["urgent_banner"].as_str().unwrap();
    assert!(banner.contains("诈骗正在发生") && banner.contains("公安 110"), "{banner}");
    // The ticket, pre-filled and amended by keyboard, is stored with the decision as the page
    // showed it; typing its fields instead would have cost more keys than amending them did.
    let stored: String = rusqlite::Connection::open(&server.feedback_db).unwrap().query_row("SELECT ticket FROM feedback WHERE case_id = ?1", [case], |r| r.get(0)).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    for (field, value) in seen["ticket"].as_object().unwrap() {
        if !value.as_str().unwrap().is_empty() {
            assert_eq!(&stored[field], value, "ticket.{field}: {stored}");
        }
    }
    assert!(stored["address"].as_str().unwrap().contains("朝阳区"), "{stored}");
    // Each pre-filled span field (when, subject, request) is marked in the text where it was read.
    let marks: Vec<&str> = seen["ticket_marks"].as_array().unwrap().iter().map(|m| m.as_str().unwrap()).collect();
    let spans: Vec<&str> = [1, 2, 3].iter().map(|&i| seen["ticket_prefilled"][i].as_str().unwrap()).filter(|v| !v.is_empty()).collect();
    assert!(!spans.is_empty() && spans.iter().all(|v| marks.contains(v)), "pre-filled {spans:?}, marked {marks:?}");
    let (prefilled, keys) = (seen["ticket_prefilled_chars"].as_u64().unwrap(), seen["ticket_keys"].as_u64().unwrap());
    assert!(prefilled > keys, "pre-filling saved nothing: {prefilled} characters pre-filled, {keys} keys pressed");
    eprintln!("ticket: {prefilled} characters pre-filled, {keys} keys pressed to check and amend it: {} keys saved at one key a character", prefilled - keys);
    // Alt+M merged the call into an earlier one: the store says so.
    let conn = rusqlite::Connection::open(&server.feedback_db).unwrap();
    let merged: Option<String> = conn.query_row("SELECT merged_into FROM cases WHERE case_id = ?1", [case], |r| r.get(0)).unwrap();
    assert!(merged.is_some_and(|m| m.starts_with("EARLIER-")), "{seen}");
    assert!(server.terminate().success());
}

#[test]
fn the_page_and_its_assets_are_served_from_the_binary() {
    let server = Server::start();
    let page = http(server.port, "GET", "/", None, b"").unwrap();
    assert_eq!(page.status, 200);
    assert!(page.headers.to_ascii_lowercase().contains("content-security-policy: default-src 'self'"), "{}", page.headers);
    assert!(page.body.contains("lang=\"zh-CN\"") && page.body.contains("/console/console.js") && page.body.contains("/console/api.js"));
    for asset in ["api.js", "console.js", "console.css"] {
        let r = http(server.port, "GET", &format!("/console/{asset}"), None, b"").unwrap();
        assert_eq!(r.status, 200, "{asset}");
        assert!(!r.body.contains("http://") && !r.body.contains("https://"), "{asset} must load nothing from elsewhere");
    }
    assert_eq!(http(server.port, "GET", "/console/../Cargo.toml", None, b"").unwrap().status, 404);
    assert_eq!(http(server.port, "GET", "/console/app.js", None, b"").unwrap().status, 404);
    assert!(server.terminate().success());
}

#[test]
fn decisions_are_checked_kept_across_restarts_summarised_and_found_as_precedents() {
    let server = Server::start();
    let p = server.port;
    let fumes = "坐席：您好。市民：我们楼下的烧烤店油烟太大了，天天晚上熏得开不了窗户。";
    let r = post_json(p, "/v1/feedback", &decision("BJ-1", fumes, &["ecology_environment", "urban_enforcement"], "urban_enforcement", Some(2)));
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.json()["revision"], 1);
    let gas = "市民：楼道里一股煤气味，我的电话是13812345678，快来看看。";
    assert_eq!(post_json(p, "/v1/feedback", &decision("BJ-2", gas, &["gas_group", "fire_rescue"], "gas_group", Some(1))).status, 201);
    let heat = "市民：我家暖气一点都不热，屋里才十五度。";
    assert_eq!(post_json(p, "/v1/feedback", &decision("BJ-3", heat, &["heating_group"], "housing_commission", None)).status, 201);

    // Bad decisions get a clear error and store nothing.
    for (body, status, code) in [
        (decision("BJ-9", fumes, &["ecology_environment"], "mayor_office", None), 422, "unknown_department"),
        (decision("BJ-9", fumes, &["ecology_environment"], "urban_enforcement", Some(1)), 422, "invalid_request"),
        (decision("", fumes, &[], "urban_enforcement", None), 422, "field_empty"),
        (decision("BJ-9", " ", &[], "urban_enforcement", None), 422, "text_empty"),
        (r#"{"case_id": "BJ-9", "text": "x", "suggested": [], "chosen": "gas_group", "operator_id": "a", "mood": "bad"}"#.to_string(), 422, "unknown_field"),
        (r#"{"case_id": "BJ-9", "text": "#.to_string(), 400, "invalid_json"),
        (r#"{"case_id": "BJ-9", "text": "x", "suggested": [], "chosen": "gas_group", "operator_id": "a", "decided_at": "昨天"}"#.to_string(), 422, "invalid_time"),
    ] {
        let r = post_json(p, "/v1/feedback", &body);
        assert_eq!((r.status, r.json()["error"]["code"].as_str().unwrap().to_string()), (status, code.to_string()), "{body}");
    }
    assert!(row(&server.feedback_db, "BJ-9").is_none());
    // Stored masked: the phone number never reaches the database.
    assert!(!row(&server.feedback_db, "BJ-2").unwrap().3.contains("13812345678"));

    // Restart on the same database: nothing lost, and a changed decision is a revision.
    let dir = server.stop_keep_dir();
    let server = Server::start_in(dir, &[]);
    let p = server.port;
    let r = post_json(p, "/v1/feedback", &decision("BJ-2", gas, &["gas_group", "fire_rescue"], "fire_rescue", Some(2)));
    assert_eq!(r.json()["revision"], 2, "{}", r.body);
    let stats = http(p, "GET", "/v1/feedback/stats", None, b"").unwrap().json();
    assert_eq!(stats["cases"], 3, "{stats}");
    assert!((stats["acceptance_rate"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9, "{stats}");
    assert_eq!(stats["top1_agreement"], 0.0);
    assert!((stats["top3_agreement"].as_f64().unwrap() - 2.0 / 3.0).abs() < 1e-9);
    let corrected: Vec<&str> = stats["most_corrected"].as_array().unwrap().iter().map(|c| c["department"].as_str().unwrap()).collect();
    assert_eq!(corrected.len(), 3, "{stats}");

    // A new call about fumes finds the fumes case first, with where it went.
    let r = post_json(p, "/v1/classify", r#"{"text": "市民：小区门口那家饭馆的油烟呛死人了，晚上窗户都不敢开。", "similar": 2}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    let similar = r.json()["similar_cases"].clone();
    assert_eq!(similar.as_array().unwrap().len(), 2, "{similar}");
    assert_eq!(similar[0]["case_id"], "BJ-1");
    assert_eq!(similar[0]["department"], "urban_enforcement");
    assert_eq!(post_json(p, "/v1/classify", r#"{"text": "油烟", "similar": 11}"#).json()["error"]["code"], "invalid_similar");

    // Export: the corrections as training rows.
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("corrections.jsonl");
    let export = common::triage()
        .args(["feedback", "export", "--only-corrections", "--db"])
        .arg(&server.feedback_db)
        .arg("--out")
        .arg(&file)
        .output()
        .unwrap();
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&file).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 3, "every decision here overruled the first suggestion");
    assert!(rows.iter().any(|r| r["id"] == "BJ-1" && r["label"] == "urban_enforcement" && r["suggested"] == "ecology_environment" && r["corrected"] == true));
    let missing = common::triage().args(["feedback", "export", "--db", "/nonexistent/f.sqlite3", "--out"]).arg(&file).output().unwrap();
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("no feedback database"));
    assert!(server.terminate().success());
}

#[test]
fn a_decision_on_a_call_just_classified_reuses_its_embedding() {
    let server = Server::start();
    let p = server.port;
    let call = "市民：我家楼下的路灯坏了一个月了，晚上黑漆漆的，我电话13812345678。";
    let body = serde_json::json!({"text": call}).to_string();
    assert_eq!(post_json(p, "/v1/classify", &body).status, 200);
    let r = post_json(p, "/v1/feedback", &decision("RE-1", call, &["urban_management_commission"], "urban_management_commission", Some(1)));
    assert_eq!(r.status, 201, "{}", r.body);
    // A text nobody classified is embedded as before.
    let r = post_json(p, "/v1/feedback", &decision("RE-2", "市民：暖气一点都不热。", &["heating_group"], "heating_group", Some(1)));
    assert_eq!(r.status, 201, "{}", r.body);
    let metrics = http(p, "GET", "/metrics", None, b"").unwrap().body;
    assert!(metrics.contains("triage_feedback_embeddings_reused_total 1\n"), "{metrics}");
    // The embedding kept is the encoder's for that text: the same call finds it as its twin.
    let r = post_json(p, "/v1/classify", &serde_json::json!({"text": call, "similar": 1}).to_string()).json();
    assert_eq!(r["similar_cases"][0]["case_id"], "RE-1", "{r}");
    assert!(r["similar_cases"][0]["similarity"].as_f64().unwrap() > 0.999, "{r}");
    assert!(server.terminate().success());
}

/// A supervisor opens the 考核 page: the tiles, the department rows and the weekly chart show
/// what `/v1/kpis` computed, and a department whose returns jumped this week is flagged.
#[test]
fn a_supervisor_reads_the_rates_and_a_drift_alarm_on_the_kpis_page() {
    let (chromium, dir) = browser_tools();
    let server = Server::start();
    let port = server.port;
    let now = chrono::Utc::now();
    let text = "市民：我们小区楼道里有很大的燃气味，已经好几天了，希望燃气公司赶紧派人来查一下管道。";
    let mut first = String::new();
    // 25 cases over the month before last week, one returned; 12 this week, 8 returned.
    let plan: Vec<(i64, bool)> = (0..25).map(|i| (8 * 24 + i * 20, i == 3)).chain((0..12).map(|i| (2 + i * 12, i < 8))).collect();
    for (n, (hours_ago, returned)) in plan.iter().enumerate() {
        let id = format!("K-{n}");
        let at = (now - chrono::Duration::hours(*hours_ago)).to_rfc3339();
        let answer = post_json(port, "/v1/classify", &serde_json::json!({"text": text, "id": id, "submitted": at}).to_string()).json();
        let suggested: Vec<String> = answer["departments"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_string()).collect();
        first = suggested[0].clone();
        let other = if first == "fire_rescue" { "emergency_management" } else { "fire_rescue" };
        let event = |eid: String, body: serde_json::Value| {
            let r = post_json(port, &format!("/v1/cases/{id}/events"), &body.to_string());
            assert_eq!(r.status, 201, "{eid}: {}", r.body);
        };
        event(format!("{id}-d"), serde_json::json!({"event_id": format!("{id}-d"), "type": "dispatched", "department": first, "at": at}));
        if *returned {
            event(format!("{id}-r"), serde_json::json!({"event_id": format!("{id}-r"), "type": "returned", "reason": "非本单位职责", "at": at}));
            event(format!("{id}-x"), serde_json::json!({"event_id": format!("{id}-x"), "type": "redispatched", "department": other, "at": at}));
        }
        event(format!("{id}-z"), serde_json::json!({"event_id": format!("{id}-z"), "type": "resolved", "at": at}));
    }
    let offset = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let to = (now.with_timezone(&offset) + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let from = (now.with_timezone(&offset) - chrono::Duration::days(34)).format("%Y-%m-%d").to_string();
    let api = http(port, "GET", &format!("/v1/kpis?from={from}%2000:00:00&to={to}%2000:00:00"), None, b"").unwrap().json();

    let mut cmd = Command::new("node");
    cmd.arg(dir.join("kpis.mjs")).arg(format!("http://127.0.0.1:{port}")).arg(&from).arg(&to).env("CHROMIUM", &chromium);
    if let Ok(shot) = std::env::var("KPIS_SCREENSHOT") {
        cmd.arg(shot);
    }
    let out = cmd.output().expect("node must run");
    assert!(out.status.success(), "kpis.mjs failed: {}", String::from_utf8_lossy(&out.stderr));
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(page["errors"].as_array().unwrap().is_empty(), "{page:#}");
    assert_eq!(page["tiles"][0], serde_json::json!(["案件", "37"]), "{page:#}");
    assert_eq!(api["overall"]["cases"], 37);
    // Each department row shows the same counts as the API.
    for g in api["by_department"].as_array().unwrap() {
        let row = page["rows"].as_array().unwrap().iter().find(|r| r["department"] == g["key"]).unwrap_or_else(|| panic!("no row for {}: {page:#}", g["key"]));
        assert_eq!(row["cells"][1], g["rates"]["cases"].to_string());
    }
    // The weekly chart: a line per rate, a point per week that has one.
    let lines = page["lines"].as_array().unwrap();
    assert_eq!(lines.iter().map(|l| l["rate"].as_str().unwrap()).collect::<Vec<_>>(), ["first_dispatch_accuracy", "return_rate", "resolution_rate"], "{page:#}");
    assert!(lines[0]["points"].as_u64().unwrap() >= 4, "{page:#}");
    // The alarm: the department's returns jumped from 1 in 25 to 8 in 12.
    let alarm = api["drift"].as_array().unwrap().iter().find(|a| a["department"] == first.as_str() && a["metric"] == "return_rate").unwrap_or_else(|| panic!("{api:#}"));
    assert_eq!(alarm["direction"], "worse");
    let shown = &page["drift"].as_array().unwrap();
    assert!(shown.iter().any(|d| d["worse"] == true && d["text"].as_str().unwrap().contains("退单率")), "{page:#}");
}
