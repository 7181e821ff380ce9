//! `triage batch` on generated files with the real model: counts, kill -9 and resume, shards,
//! CSV with quoted newlines, the change report.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const CALLS: [(&str, &str); 10] = [
    ("楼下饭馆油烟太大，窗户都不敢开", "城市管理行政执法局"),
    ("暖气不热，屋里才十五度", "供热办"),
    ("小区门口垃圾好几天没人清", "城市管理行政执法局"),
    ("工地夜里两点还在施工打桩", "城市管理行政执法局"),
    ("公交车老是不按时来", "交通运输局"),
    ("孩子上小学入学手续怎么办", "教育局"),
    ("公司拖欠工资三个月了", "人力资源和社会保障局"),
    ("楼道里燃气味很大", "燃气公司"),
    ("路灯坏了一个月没人修", "区政府"),
    ("超市卖过期牛奶", "甘井子区市场监督管理局"),
];

fn triage() -> Command {
    let mut c = common::triage();
    c.arg("--model-dir").arg(&common::real_model().dir);
    c
}

fn batch(args: &[&str]) -> Output {
    triage().arg("batch").args(args).output().unwrap()
}

/// `n` calls as JSON lines; every `bad_every`-th line (if any) is broken in one of five ways.
fn generate(path: &Path, n: usize, bad_every: Option<usize>) -> Vec<usize> {
    let mut bytes = Vec::new();
    let mut bad = Vec::new();
    for i in 1..=n {
        let (text, unit) = CALLS[i % CALLS.len()];
        if bad_every.is_some_and(|b| i % b == 0) {
            bad.push(i);
            match (i / bad_every.unwrap()) % 5 {
                0 => bytes.extend_from_slice(b"{\"id\": \"broken"),
                1 => bytes.extend_from_slice(format!("{{\"id\": \"c{i}\", \"text\": \"   \"}}").as_bytes()),
                2 => bytes.extend_from_slice(b"{\"id\": \"\xff\xfe\", \"text\": \"\xc3\x28\"}"),
                3 => bytes.extend_from_slice(b"[\"not\", \"an object\"]"),
                _ => {}
            }
        } else {
            bytes.extend_from_slice(serde_json::json!({"id": format!("c{i}"), "text": format!("{text}，{i}号楼"), "department": unit}).to_string().as_bytes());
        }
        bytes.push(b'\n');
    }
    std::fs::write(path, bytes).unwrap();
    bad
}

fn summary(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "batch failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// id -> (department, confidence), refusing duplicates.
fn results(path: &Path) -> BTreeMap<String, (String, f64)> {
    let mut map = BTreeMap::new();
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = v["id"].as_str().unwrap().to_string();
        let prev = map.insert(id.clone(), (v["department"].as_str().unwrap().to_string(), v["confidence"].as_f64().unwrap()));
        assert!(prev.is_none(), "{id} is in {} twice", path.display());
    }
    map
}

fn same_results(a: &BTreeMap<String, (String, f64)>, b: &BTreeMap<String, (String, f64)>) {
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (id, (dept, conf)) in a {
        let (d2, c2) = &b[id];
        // Batches are cut differently after a resume; padding is masked, so only float noise differs.
        assert!(dept == d2 && (conf - c2).abs() < 1e-3, "{id}: {dept} {conf} vs {d2} {c2}");
    }
}

fn s(p: &PathBuf) -> &str {
    p.to_str().unwrap()
}

#[test]
fn five_thousand_rows_with_one_percent_bad_all_add_up() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.jsonl");
    let bad = generate(&input, 5000, Some(100));
    let output = dir.path().join("out.jsonl");
    let v = summary(&batch(&["--input", s(&input), "--output", s(&output), "--text-fields", "text", "--compare-field", "department"]));
    assert_eq!(v["counts"]["input"], 5000, "{v}");
    assert_eq!(v["counts"]["errors"], 50, "{v}");
    assert_eq!(v["counts"]["processed"], 4950, "{v}");
    assert_eq!(results(&output).len(), 4950);
    let errors: Vec<serde_json::Value> =
        std::fs::read_to_string(dir.path().join("out.jsonl.errors.jsonl")).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(errors.iter().map(|e| e["line"].as_u64().unwrap() as usize).collect::<Vec<_>>(), bad);
    assert!(errors.iter().all(|e| !e["reason"].as_str().unwrap().is_empty()));
    // Units map through the alias table; 区政府 (every tenth call, none of them broken) does
    // not, so those rows are not compared.
    assert_eq!(v["compared"].as_u64().unwrap(), 4950 - 500, "{v}");
}

#[test]
fn a_kill_9_then_resume_and_three_shards_each_equal_one_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("cases.jsonl");
    generate(&input, 900, Some(97));
    let whole = dir.path().join("whole.jsonl");
    summary(&batch(&["--input", s(&input), "--output", s(&whole), "--text-fields", "text"]));
    let expected = results(&whole);

    // Killed mid-run, after some commits.
    let killed = dir.path().join("killed.jsonl");
    let checkpoint = dir.path().join("killed.jsonl.checkpoint.json");
    let mut child = triage()
        .args(["batch", "--input", s(&input), "--output", s(&killed), "--text-fields", "text", "--chunk-rows", "40"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let done = std::fs::read(&checkpoint).ok().and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()).and_then(|c| c["counts"]["input"].as_u64());
        if done.is_some_and(|n| n >= 300) {
            break;
        }
        assert!(Instant::now() < deadline && child.try_wait().unwrap().is_none(), "the run ended before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let partial = std::fs::read_to_string(&killed).unwrap().lines().count();
    assert!(partial < expected.len(), "killed before the end ({partial} rows)");

    // Without --resume the interrupted run is not silently overwritten.
    let refused = batch(&["--input", s(&input), "--output", s(&killed), "--text-fields", "text"]);
    assert!(!refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("--resume"));
    let v = summary(&batch(&["--input", s(&input), "--output", s(&killed), "--text-fields", "text", "--chunk-rows", "40", "--resume"]));
    assert!(v["resumed_from_row"].as_u64().unwrap() >= 300, "{v}");
    assert_eq!(v["counts"]["input"], 900);
    same_results(&results(&killed), &expected);
    let errors = std::fs::read_to_string(dir.path().join("killed.jsonl.errors.jsonl")).unwrap();
    assert_eq!(errors.lines().count(), 9, "each bad row reported once:\n{errors}");

    // Three shards: disjoint, and together the whole.
    let mut union = BTreeMap::new();
    let mut counted = 0;
    for k in 0..3 {
        let out = dir.path().join(format!("shard{k}.jsonl"));
        let v = summary(&batch(&["--input", s(&input), "--output", s(&out), "--text-fields", "text", "--shard", &format!("{k}/3")]));
        assert_eq!(v["counts"]["input"], 900);
        counted += v["counts"]["processed"].as_u64().unwrap() + v["counts"]["errors"].as_u64().unwrap();
        for (id, r) in results(&out) {
            assert!(union.insert(id.clone(), r).is_none(), "{id} in two shards");
        }
    }
    assert_eq!(counted, 900);
    same_results(&union, &expected);
}

#[test]
fn csv_with_quoted_newlines_in_and_out_and_a_change_report() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("history.csv");
    let mut csv = String::from("编号,标题,内容,答复部门\n");
    for (i, (text, unit)) in CALLS.iter().enumerate() {
        csv.push_str(&format!("{i},\"来电，第{i}件\",\"坐席：您好。\n市民：{text}，\"\"急\"\"\n谢谢\",{unit}\n"));
    }
    csv.push_str("99,只有两列\n");
    std::fs::write(&input, csv).unwrap();
    let output = dir.path().join("out.csv");
    let report = dir.path().join("report");
    let v = summary(&batch(
        &["--input", s(&input), "--output", s(&output), "--text-fields", "标题,内容", "--id-field", "编号", "--compare-field", "答复部门", "--report", s(&report)],
    ));
    assert_eq!((v["counts"]["processed"].as_u64(), v["counts"]["errors"].as_u64()), (Some(10), Some(1)), "{v}");
    let mut rdr = csv::Reader::from_path(&output).unwrap();
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 10);
    let heads = rdr.headers().unwrap().clone();
    let col = |name: &str| heads.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[7][col("department")], "gas_group", "{:?}", rows[7]);
    assert_eq!(&rows[7][col("previous_department")], "gas_group");
    // Each row carries its ticket summary, for analysts reading history in a spreadsheet.
    assert!(rows.iter().filter(|r| !r[col("summary")].is_empty()).count() >= 5, "{rows:?}");
    // And every other field of the ticket, in its own column.
    for field in ["when", "subject", "request", "amounts", "people", "vulnerable", "contact"] {
        assert!(heads.iter().any(|h| h == field), "no {field} column in {heads:?}");
    }
    assert!(rows.iter().any(|r| !r[col("when")].is_empty()), "no time filled in {rows:?}");
    let md = std::fs::read_to_string(report.join("report.md")).unwrap();
    assert!(md.contains("changed:") && md.contains("Least sure"), "{md}");
    assert!(std::fs::metadata(report.join("transitions.png")).unwrap().len() > 1000);
    let missing = batch(&["--input", s(&input), "--output", s(&output), "--id-field", "case_no"]);
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("case_no"));
}
