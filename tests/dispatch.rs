//! The shipped Beijing dispatch model, through `triage classify`, as call-centre software sees it.

mod common;

use std::io::Write;
use std::process::Stdio;

fn classify(args: &[&str], stdin: &str) -> std::process::Output {
    let folder = common::real_model();
    let mut child = common::triage()
        .arg("--model-dir")
        .arg(&folder.dir)
        .arg("classify")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn suggestion(text: &str) -> serde_json::Value {
    let out = classify(&[], text);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn a_gas_leak_is_urgent_and_goes_to_the_gas_company() {
    let v = suggestion("坐席：您好，12345。市民：喂，我是海淀区学院路这边的，楼道里一股很冲的燃气味，好像是燃气管道漏气了，你们赶紧派人来！");
    assert_eq!(v["urgent"], true, "{v:#}");
    assert!(v["urgency_reasons"][0].as_str().unwrap().contains("燃气泄漏"));
    assert_eq!(v["dispatch"]["district"], "海淀区");
    assert_eq!(v["dispatch"]["street"], "学院路街道");
    let top3: Vec<&str> = v["departments"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap()).collect();
    assert!(top3.contains(&"gas_group"), "{top3:?}");
    // A leak is the gas company's to fix; no emergency line is named.
    assert!(v["handoff"].is_null(), "{v:#}");
}

#[test]
fn implausible_departments_are_left_off_the_list() {
    let out = classify(&["--top-k", "25"], "市民：楼道里一股燃气味，特别冲，是不是漏气了");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let departments = v["departments"].as_array().unwrap();
    assert!(departments.len() < 25, "{v:#}");
    assert!(departments[1..].iter().all(|d| d["score"].as_f64().unwrap() >= 0.05), "{v:#}");
}

#[test]
fn emergencies_name_the_line_to_hand_them_to() {
    for (text, line) in [
        ("市民：有个老人掉到护城河里了，在水里扑腾，快来人啊", "119"),
        ("市民：我刚按自称公安局的人说的把八万块钱转过去了", "110"),
        ("市民：对门独居老大爷三天没出门，敲门没人应，电话也不接", "110"),
        // Speech-to-text wrote 着伙 for 着火 and left out the punctuation.
        ("喂你好我们楼下那个饭馆着伙了好大的烟", "119"),
        // No rule lists these dangers, so only the learned urgency head flags them, and their
        // departments (education, labour, environment) have no emergency line: the hand-off
        // head reads the line from the matter.
        ("市民：幼儿园老师刚打电话，说我儿子发高烧，现在躺在医务室，眼睛往上翻，手脚一直在抽", "120"),
        // Still caught in the machine and bleeding: rescuers free him (119), medics treat him
        // (120); a dispatcher calls either first.
        ("市民：我们厂里一个工人的胳膊被搅拌机卷进去了，流了一地的血，人脸都白了", "120|119"),
        ("市民：隔壁化工厂的大罐子往外冒黄烟，味儿特别冲，眼睛辣得睁不开", "119"),
    ] {
        let v = suggestion(text);
        assert_eq!(v["urgent"], true, "{text}: {v:#}");
        let given = v["handoff"]["line"].as_str().unwrap_or("none");
        assert!(line.split('|').any(|l| l == given), "{text}: wanted {line}: {v:#}");
    }
}

#[test]
fn the_result_has_the_contracted_shape() {
    let v = suggestion("市民：我想咨询一下孩子明年上小学，入学需要准备哪些材料？我家在西城区。");
    for key in ["topics", "departments", "dispatch", "urgent", "urgency_reasons", "handoff", "appeal_type", "keywords", "model"] {
        assert!(v.get(key).is_some(), "{key} missing: {v:#}");
    }
    assert_eq!(v["topics"][0]["id"], "education", "{v:#}");
    assert_eq!(v["dispatch"]["department"], "education_commission", "{v:#}");
    assert_eq!(v["dispatch"]["district"], "西城区");
    assert_eq!(v["urgent"], false);
    assert_eq!(v["appeal_type"]["id"], "consultation", "{v:#}");
    let d = &v["departments"][0];
    assert!(d["name"].as_str().unwrap().starts_with('市'));
    assert!(d["score"].as_f64().unwrap() > 0.0 && !d["reasons"].as_array().unwrap().is_empty(), "{d:#}");
    assert!(v["model"]["encoder"].as_str().unwrap().len() == 16);
}

#[test]
fn the_ticket_names_its_matter_and_where_it_came_from() {
    // The shipped heads include the matter head; where the call says a listed matter's words the
    // list names it, and the model's versions name the matter head.
    let v = suggestion("市民：我是朝阳区望京的，楼下饭店油烟太大了");
    assert_eq!(v["ticket"]["matter"]["name"], "油烟扰民", "{v:#}");
    assert_eq!(v["ticket"]["matter"]["source"], "listed");
    assert!(v["model"]["heads"].as_str().unwrap().contains("beijing-matter@"), "{v:#}");
    // None of the list's words (no 油烟): the matter head reads the whole call.
    let v = suggestion("市民：楼下那个烤串的每天晚上烟熏得我们不能开窗");
    let m = &v["ticket"]["matter"];
    assert_eq!((m["name"].as_str(), m["source"].as_str()), (Some("油烟扰民"), Some("learned")), "{m:#}");
    assert!(m["score"].as_f64().unwrap() >= 0.3);
    assert!(v["ticket"]["summary"].as_str().unwrap().contains("油烟扰民"), "{v:#}");
}

#[test]
fn jsonl_reports_bad_lines_and_classifies_the_rest() {
    let input = "{\"id\": \"ok\", \"text\": \"暖气不热，家里才十五度\"}\nnot json\n{\"id\": \"empty\", \"text\": \"\"}\n";
    let out = classify(&["--jsonl"], input);
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["id"], "ok");
    assert!(lines[0]["result"]["departments"].as_array().is_some());
    assert!(lines[1]["error"].as_str().is_some() && lines[2]["error"].as_str().unwrap().contains("empty"));
}

#[test]
fn a_taxonomy_without_the_heads_departments_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("taxonomy.toml");
    std::fs::write(
        &path,
        "name = \"other city\"\nversion = \"1\"\n[[topics]]\nid = \"housing\"\nname = \"住房\"\ndescription = \"d\"\ndepartments = [\"housing_commission\"]\n[[departments]]\nid = \"housing_commission\"\nname = \"住建\"\nduties = \"d\"\n",
    )
    .unwrap();
    let out = classify(&["--taxonomy", path.to_str().unwrap(), "--text", "物业不管事"], "");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not define") && stderr.contains("taxonomy.toml"), "{stderr}");
}
