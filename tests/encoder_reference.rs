//! The packed encoder checked against a well-kept implementation: candle-transformers' `BertModel`
//! reads the same weights (the folder's Q4_0 expanded to f32, an adapter's change added where
//! there is one) and must give the same mean-pooled states, on the tiny random model and on the
//! real multilingual-e5-small.

mod common;

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, HiddenAct};
use hotline_triage::model::bert::{tensor_names, Bert, TensorSource};
use hotline_triage::model::{tiny, Adapter, Encoder, EncoderOptions, ModelFolder, WeightMode};

/// candle-transformers' BERT over the folder's weights, built without any of our loading code
/// beyond reading the named tensors.
fn reference_model(folder: &ModelFolder) -> BertModel {
    let c = &folder.config;
    let mut source = folder.tensors().unwrap();
    let mut tensors = HashMap::new();
    for name in tensor_names(c) {
        let mut t = source.qtensor(&name).unwrap().dequantize(&Device::Cpu).unwrap();
        if let Some(delta) = folder.adapter.as_ref().and_then(|a| a.delta(&name)) {
            t = (&t + Tensor::from_slice(delta, t.shape(), &Device::Cpu).unwrap()).unwrap();
        }
        tensors.insert(name, t);
    }
    let config = Config {
        vocab_size: c.vocab_size,
        hidden_size: c.hidden_size,
        num_hidden_layers: c.num_hidden_layers,
        num_attention_heads: c.num_attention_heads,
        intermediate_size: c.intermediate_size,
        hidden_act: HiddenAct::Gelu,
        max_position_embeddings: c.max_position_embeddings,
        type_vocab_size: c.type_vocab_size,
        layer_norm_eps: c.layer_norm_eps,
        pad_token_id: c.pad_token_id as usize,
        model_type: None,
        ..Config::default()
    };
    BertModel::load(VarBuilder::from_tensors(tensors, DType::F32, &Device::Cpu), &config).unwrap()
}

/// Padded batch through the reference, mean-pooled over each window's real tokens.
fn reference_pooled(model: &BertModel, windows: &[Vec<u32>], pad: u32) -> Vec<Vec<f32>> {
    let len = windows.iter().map(Vec::len).max().unwrap();
    let (mut ids, mut mask) = (Vec::new(), Vec::new());
    for w in windows {
        ids.extend(w.iter().copied().chain(std::iter::repeat_n(pad, len - w.len())));
        mask.extend(std::iter::repeat_n(1f32, w.len()).chain(std::iter::repeat_n(0f32, len - w.len())));
    }
    let shape = (windows.len(), len);
    let ids = Tensor::from_vec(ids, shape, &Device::Cpu).unwrap();
    let mask = Tensor::from_vec(mask, shape, &Device::Cpu).unwrap();
    let hidden = model.forward(&ids, &ids.zeros_like().unwrap(), Some(&mask)).unwrap();
    let weights = mask.unsqueeze(2).unwrap();
    let summed = hidden.broadcast_mul(&weights).unwrap().sum(1).unwrap();
    summed.broadcast_div(&weights.sum(1).unwrap()).unwrap().to_vec2().unwrap()
}

fn ours(folder: &ModelFolder, windows: &[Vec<u32>]) -> Vec<Vec<f32>> {
    let bert = Bert::load(folder.config.clone(), &mut folder.tensors().unwrap(), WeightMode::F32, folder.adapter.as_deref(), None).unwrap();
    bert.pooled_packed(&windows.iter().map(Vec::as_slice).collect::<Vec<_>>()).unwrap()
}

fn worst_difference(a: &[Vec<f32>], b: &[Vec<f32>]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).flat_map(|(x, y)| x.iter().zip(y).map(|(p, q)| (p - q).abs())).fold(0f32, f32::max)
}

fn tiny_windows() -> Vec<Vec<u32>> {
    let vocab = tiny::pieces().len() as u32;
    vec![
        vec![0, 5, 9, 12, 2],
        vec![0, 7, 2],
        std::iter::once(0).chain((0..58).map(|i| 4 + (i * 7) % (vocab - 4))).chain(std::iter::once(2)).collect(),
    ]
}

#[test]
fn packed_windows_match_candle_transformers_on_the_tiny_model() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tiny::write_folder(&dir.path().join("enc"));
    let windows = tiny_windows();
    let reference = reference_pooled(&reference_model(&folder), &windows, folder.config.pad_token_id);
    let mine = ours(&folder, &windows);
    let worst = worst_difference(&mine, &reference);
    assert!(worst < 1e-4, "packed and candle-transformers differ by {worst}");

    let bert = Bert::load(folder.config.clone(), &mut folder.tensors().unwrap(), WeightMode::F32, None, None).unwrap();
    assert!(bert.pooled_packed(&[&vec![4u32; 65]]).is_err(), "a window longer than the positions is refused");
}

#[test]
fn an_adapter_is_merged_as_candle_transformers_reads_the_changed_weights() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tiny::write_folder(&dir.path().join("enc"));
    let (h, inner) = (folder.config.hidden_size, folder.config.intermediate_size);
    let name = format!("encoder.layer.{}.output.dense.weight", folder.config.num_hidden_layers - 1);
    let a = (Tensor::ones((2, inner), DType::F32, &Device::Cpu).unwrap() * 0.05).unwrap();
    // Rows that differ: a change the same in every output would vanish in the LayerNorm.
    let b = Tensor::from_vec((0..h * 2).map(|i| ((i / 2) % 3) as f32 * 0.05).collect::<Vec<f32>>(), (h, 2), &Device::Cpu).unwrap();
    let adapter_dir = dir.path().join("adapter");
    Adapter::write(&adapter_dir, &folder.manifest.checksum(), 2, 2.0, &[(name, a, b)], serde_json::json!({})).unwrap();
    let adapted = folder.clone().with_adapter(&adapter_dir).unwrap();
    assert_ne!(adapted.checksum(), folder.checksum(), "heads must not mistake the adapted encoder for the base");

    let windows = tiny_windows();
    let base = ours(&folder, &windows);
    let mine = ours(&adapted, &windows);
    let moved = worst_difference(&base, &mine);
    assert!(moved > 1e-3, "the adapter changed nothing ({moved})");
    let reference = reference_pooled(&reference_model(&adapted), &windows, adapted.config.pad_token_id);
    let worst = worst_difference(&mine, &reference);
    assert!(worst < 1e-4, "adapted: packed and candle-transformers differ by {worst} (the adapter moved {moved})");
}

#[test]
fn packed_windows_match_candle_transformers_on_the_real_model() {
    let folder = common::real_model();
    let encoder = Encoder::load(folder, EncoderOptions::default()).unwrap();
    let long = "坐席：您好，12345。市民：我住在朝阳区望京西园三区，楼下烧烤店每天晚上开到两点，油烟和噪音太大了。".repeat(16);
    let texts = ["小区楼下餐馆油烟扰民", "孩子刚在妇产医院出生，怎么办出生登记上户口", long.as_str()];
    let windows = encoder.first_windows(&texts).unwrap();
    assert!(windows[2].len() > 400, "the long text fills most of a window ({} tokens)", windows[2].len());
    let reference = reference_pooled(&reference_model(folder), &windows, folder.config.pad_token_id);
    let mine = ours(folder, &windows);
    let worst = worst_difference(&mine, &reference);
    assert!(worst < 1e-3, "packed and candle-transformers differ by {worst} on the real model");
    for (a, b) in mine.iter().zip(&reference) {
        assert!(hotline_triage::model::cosine(a, b) > 0.99999);
    }
}
