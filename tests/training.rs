//! `triage train` and `triage eval` on a slice of the real tipdm data, with the real encoder.

mod common;

use std::path::PathBuf;

fn shared_data(name: &str) -> PathBuf {
    common::repo_root().join("../shared/data").join(name)
}

/// A small, stratified slice of tipdm: enough rows per class to learn from, small enough to
/// embed in under a minute.
fn write_slice(path: &std::path::Path) {
    let text = std::fs::read_to_string(shared_data("tipdm2020_messages.jsonl")).expect("../shared/data is beside the repo");
    let mut taken = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let label = row["label"].as_str().unwrap().to_string();
        let split = row["split"].as_str().unwrap().to_string();
        let quota = match split.as_str() { "train" => 24, "dev" => 6, _ => 6 };
        let n = taken.entry((label, split)).or_insert(0);
        if *n < quota {
            *n += 1;
            out.push(line.to_string());
        }
    }
    out.push("{\"title\": \"没有标签的一行\"}".to_string());
    out.push("not json".to_string());
    std::fs::write(path, out.join("\n")).unwrap();
}

#[test]
fn train_then_eval_with_a_report() {
    let folder = common::real_model();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("slice.jsonl");
    write_slice(&data);
    let head = dir.path().join("heads/tipdm-slice");
    let cache = dir.path().join("cache");
    let out = common::triage()
        .arg("--model-dir")
        .arg(&folder.dir)
        .args(["train", "--data"])
        .arg(&data)
        .args(["--label-field", "label", "--split-field", "split", "--epochs", "15", "--out"])
        .arg(&head)
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains(":169: skipped") || stderr.contains("skipped"), "bad rows are reported: {stderr}");
    for f in ["head.json", "weights.safetensors", "vocabulary.json", "MODEL_CARD.md"] {
        assert!(head.join(f).is_file(), "{f}");
    }
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(head.join("head.json")).unwrap()).unwrap();
    assert_eq!(meta["labels"].as_array().unwrap().len(), 7);
    assert_eq!(meta["training"]["rows"]["bad"], 2);
    assert!(meta["temperature"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_dir(&cache).unwrap().count() == 1, "embeddings were cached");

    let report_dir = dir.path().join("report");
    let out = common::triage()
        .arg("--model-dir")
        .arg(&folder.dir)
        .args(["eval", "--heads"])
        .arg(&head)
        .arg("--data")
        .arg(&data)
        .args(["--label-field", "label", "--split-field", "split", "--split", "test", "--json", "--report"])
        .arg(&report_dir)
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["n"], 42);
    // Seven classes from 24 examples each: far better than chance (1/7), not yet the full model.
    assert!(report["accuracy"].as_f64().unwrap() > 0.6, "{}", report["accuracy"]);
    assert!(report["top3_accuracy"].as_f64().unwrap() >= report["accuracy"].as_f64().unwrap());
    assert_eq!(report["confusion"].as_array().unwrap().len(), 7);
    assert!(report["abstain"]["coverage"].as_f64().is_some());
    let md = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(md.contains("confusion.png") && md.contains("macro"), "{md}");
    let png = std::fs::read(report_dir.join("confusion.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[test]
fn eval_refuses_a_head_from_another_encoder() {
    let folder = common::real_model();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("slice.jsonl");
    write_slice(&data);
    // A head trained on the tiny test encoder cannot be evaluated with the real one.
    let tiny = hotline_triage::model::tiny::write_folder(&dir.path().join("tiny"));
    let out = common::triage()
        .arg("--model-dir")
        .arg(&tiny.dir)
        .args(["train", "--data"])
        .arg(&data)
        .args(["--label-field", "label", "--split-field", "split", "--epochs", "2", "--embed-max-tokens", "32", "--out"])
        .arg(dir.path().join("head"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = common::triage()
        .arg("--model-dir")
        .arg(&folder.dir)
        .args(["eval", "--heads"])
        .arg(dir.path().join("head"))
        .arg("--data")
        .arg(&data)
        .args(["--label-field", "label", "--split-field", "split"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("trained on encoder"), "{stderr}");
}
