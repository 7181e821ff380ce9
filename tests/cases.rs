//! Recent cases with the real model: duplicate detection on the labelled pairs, related cases
//! and merging over HTTP, hot spots on line and from a file.

mod common;

use hotline_triage::cases::{pairs, CaseSettings};

/// The same matter, called in by six people in their own words: night work at one site.
const NIGHT_WORK: [&str; 6] = [
    "坐席：您好，12345。市民：我住朝阳区望京西园三区，旁边那个建筑工地天天夜里施工，凌晨一两点还在打桩，吵得根本睡不着。",
    "市民：望京西园三区旁边的工地晚上施工太吵了，半夜还在打桩，孩子都被吵醒了，你们管不管？",
    "坐席：请讲。市民：就是望京西园三区边上那个工地，夜里一直施工打桩，噪音特别大，已经好几天了。",
    "市民：我要投诉望京西园三区旁边工地夜间施工扰民，晚上十二点以后还在打桩。",
    "市民：朝阳望京西园三区旁边的建筑工地夜间施工，打桩声音太大，整晚睡不好，请尽快处理。",
    "坐席：您好。市民：那个，望京西园三区附近的工地，晚上还在施工打桩，吵死了，能不能让他们晚上停工？",
];

/// Ordinary calls about other things, as the background.
const OTHER_CALLS: [&str; 6] = [
    "市民：海淀区学院路小区暖气不热，屋里才十五度，物业也不管。",
    "市民：西城区金融街附近的公交车老是不按时来，等了四十分钟。",
    "市民：我们公司拖欠工资三个月了，老板联系不上，在丰台区。",
    "市民：东城区某超市卖过期牛奶，我买了一箱都过期了。",
    "市民：通州区梨园镇路灯坏了一个月没人修，晚上很黑。",
    "市民：孩子明年上小学，入学登记需要准备哪些材料？",
];

#[test]
fn duplicate_thresholds_hold_on_the_held_out_half_and_match_the_defaults() {
    let root = common::repo_root();
    let labelled = pairs::load_pairs(&root.join("tests/data/duplicate_pairs.jsonl")).unwrap();
    assert!(labelled.len() >= 200, "the issue asks for at least 200 labelled pairs");
    let out = common::triage()
        .arg("--model-dir")
        .arg(&common::real_model().dir)
        .args(["duplicates", "eval", "--source", "../shared/data/tipdm2020_hotspot_messages.jsonl"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let result = &v["result"];
    assert_eq!(result["pairs"].as_u64(), Some(labelled.len() as u64));
    let chosen_name = result["chosen"]["name"].as_str().unwrap();
    let chosen = result["rules"].as_array().unwrap().iter().find(|r| r["rule"]["name"] == chosen_name).unwrap();
    let test = &chosen["test"];
    assert!(test["precision"].as_f64().unwrap() >= 0.9 && test["recall"].as_f64().unwrap() >= 0.9, "held-out half: {chosen:#}");
    // The shipped defaults are what the tuning half chose.
    let defaults = CaseSettings::default();
    assert_eq!((defaults.same_topic, defaults.same_place), (result["chosen"]["same_topic"] == true, result["chosen"]["same_place"] == true));
    let near = |a: f32, b: &serde_json::Value| (a as f64 - b.as_f64().unwrap()).abs() < 0.002;
    assert!(near(defaults.duplicate_threshold, &chosen["threshold"]), "{} vs {}", defaults.duplicate_threshold, chosen["threshold"]);
    assert!(near(defaults.related_threshold, &result["related_threshold"]), "{} vs {}", defaults.related_threshold, result["related_threshold"]);
}

fn classify(port: u16, body: serde_json::Value) -> serde_json::Value {
    let r = common::post_json(port, "/v1/classify", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[test]
fn repeats_are_related_merged_and_surface_as_a_hot_spot() {
    let server = common::Server::start();
    let port = server.port;
    // Yesterday: the ordinary background.
    for (i, t) in OTHER_CALLS.iter().enumerate() {
        classify(port, serde_json::json!({"text": t, "id": format!("BG-{i}"), "submitted": format!("2026-11-26 {:02}:10:00", 9 + i)}));
    }
    // Today: six callers about one site's night work.
    let mut answers = Vec::new();
    for (i, t) in NIGHT_WORK.iter().enumerate() {
        answers.push(classify(port, serde_json::json!({"text": t, "id": format!("NW-{i}"), "submitted": format!("2026-11-27 {:02}:30:00", 8 + i)})));
    }
    assert!(answers[0]["related"]["cases"].as_array().unwrap().is_empty(), "the first caller has nothing before it");
    let later_related = answers[1..].iter().filter(|a| a["related"]["cases"].as_array().unwrap().iter().any(|c| c["case_id"].as_str().unwrap().starts_with("NW-"))).count();
    assert!(later_related >= 4, "most repeats find an earlier caller: {answers:#?}");
    assert!(answers[1..].iter().all(|a| a["related"]["cases"].as_array().unwrap().iter().all(|c| c["case_id"].as_str().unwrap().starts_with("NW-"))), "no background call is related");
    let group = answers[0]["related"]["group"].as_i64().unwrap();
    let in_group = answers.iter().filter(|a| a["related"]["group"].as_i64() == Some(group)).count();
    assert!(in_group >= 5, "{answers:#?}");
    let last = &answers[5]["related"];
    assert!(last["group_size"].as_u64().unwrap() >= 5);
    assert!(answers[1..].iter().any(|a| a["related"]["duplicate_of"] == "NW-0"), "a near-verbatim repeat points at the first case");

    // On line: today's hot spots hold the night work, not the background.
    let r = common::http(port, "GET", "/v1/hotspots?since=2026-11-27%2000:00:00&until=2026-11-28T00:00:00%2B08:00", None, b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let hot = r.json();
    let top = &hot["hot_spots"][0];
    assert!(top["count"].as_u64().unwrap() >= 5, "{hot:#}");
    assert!(top["examples"].as_array().unwrap().iter().all(|e| e["case_id"].as_str().unwrap().starts_with("NW-")));
    assert!(top["label"].as_str().unwrap().contains("望京") || top["keywords"].to_string().contains("施工"), "{top}");
    assert_eq!(top["district"], "朝阳区");
    assert!(hot["hot_spots"].as_array().unwrap().len() == 1, "{hot:#}");
    // Yesterday had no surge.
    let r = common::http(port, "GET", "/v1/hotspots?since=2026-11-26T00:00:00%2B08:00&until=2026-11-27T00:00:00%2B08:00", None, b"").unwrap();
    assert_eq!(r.json()["hot_spots"].as_array().unwrap().len(), 0, "{}", r.body);

    // An operator merges a call the model did not join: it counts with the matter from then on.
    let odd = classify(port, serde_json::json!({"text": "市民：那个工地的事情我昨天打过电话了，还没人来处理。", "id": "NW-late", "submitted": "2026-11-27 20:00:00"}));
    let r = common::post_json(port, "/v1/cases/merge", r#"{"case_id": "NW-late", "into": "NW-0"}"#);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["group"].as_i64(), Some(group), "{odd}");
    assert_eq!(common::post_json(port, "/v1/cases/merge", r#"{"case_id": "NW-late", "into": "nobody"}"#).status, 404);
    assert_eq!(common::post_json(port, "/v1/cases/merge", r#"{"case_id": "NW-0", "into": "NW-0"}"#).status, 422);
    assert_eq!(common::post_json(port, "/v1/cases/merge", r#"{"case_id": "NW-0", "into": "NW-1", "extra": 1}"#).status, 422);

    // Bad times and limits are clear errors.
    for q in ["since=yesterday", "limit=0", "since=2026-11-28T00:00:00Z&until=2026-11-27T00:00:00Z", "colour=red"] {
        let r = common::http(port, "GET", &format!("/v1/hotspots?{q}"), None, b"").unwrap();
        assert_eq!(r.status, 422, "{q}: {}", r.body);
    }
    let r = common::post_json(port, "/v1/classify", r#"{"text": "楼下饭馆油烟太大了", "id": "X-1", "submitted": "上周三"}"#);
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (422, Some("invalid_time")), "{}", r.body);
    // Without an id nothing is kept.
    let r = common::post_json(port, "/v1/classify", r#"{"text": "望京西园三区旁边工地夜间施工打桩太吵"}"#);
    assert!(r.json().get("related").is_none());
}

#[test]
fn hotspots_from_a_file_find_the_planted_surge_and_list_rows_without_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("calls.jsonl");
    let mut lines = Vec::new();
    // Five months of background, longer than the server's 90-day retention: real letters from
    // the tipdm hot-issue set, one every two or three days.
    let letters = std::fs::read_to_string(common::repo_root().join("../shared/data/tipdm2020_hotspot_messages.jsonl")).unwrap();
    for (k, line) in letters.lines().step_by(37).take(60).enumerate() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let (month, day) = (5 + k / 12, (k % 12) * 2 + 1);
        lines.push(serde_json::json!({"id": v["id"], "title": v["title"], "text": v["text"], "submitted": format!("2019/{month}/{day} 10:00:00")}).to_string());
    }
    for (i, t) in NIGHT_WORK.iter().enumerate() {
        // Both formats real exports mix.
        let submitted = if i % 2 == 0 { format!("2019/10/2{i} 1{i}:00:00") } else { format!("2019-10-2{i} 0{i}:15:00") };
        lines.push(serde_json::json!({"id": format!("NW-{i}"), "title": "", "text": t, "submitted": submitted}).to_string());
    }
    lines.push(serde_json::json!({"id": "no-time", "text": "楼下饭馆油烟太大"}).to_string());
    lines.push(serde_json::json!({"id": "bad-time", "text": "楼下饭馆油烟太大", "submitted": "昨天下午"}).to_string());
    lines.push("{not json".into());
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();

    let report = dir.path().join("report");
    let out = common::triage()
        .arg("--model-dir")
        .arg(&common::real_model().dir)
        .args(["hotspots", "--input"])
        .arg(&input)
        .args(["--time-field", "submitted", "--window", "7d", "--report"])
        .arg(&report)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(result["summary"]["rows"], 69);
    assert_eq!(result["summary"]["cases"], 66);
    assert_eq!(result["stored"], 66, "a replay keeps the whole file, however old");
    let bad_times: Vec<String> = result["summary"]["bad_times"].as_array().unwrap().iter().map(|b| b[1].as_str().unwrap_or("").to_string()).collect();
    assert_eq!(bad_times, ["no-time", "bad-time"]);
    assert_eq!(result["summary"]["bad_rows"].as_array().unwrap().len(), 1);
    let top = &result["hot_spots"][0];
    assert!(top["count"].as_u64().unwrap() >= 5, "{result:#}");
    assert!(top["examples"].as_array().unwrap().iter().all(|e| e["case_id"].as_str().unwrap().starts_with("NW-")), "{top:#}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("bad-time") && md.contains("Poisson"), "{md}");
    for png in ["topic_district.png", "trends.png"] {
        let bytes = std::fs::read(report.join(png)).unwrap();
        assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 2000, "{png}");
    }
}
