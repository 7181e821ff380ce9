//! The converted encoder as a Hugging Face BERT folder (f32 safetensors, config.json,
//! tokenizer.json), so that other runtimes (PyTorch, ONNX Runtime) run exactly the weights our
//! encoder runs: the Q4_0 blocks expanded to f32, as the encoder does at load.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};

use super::bert::{tensor_names, TensorSource};
use super::folder::{GgufTensors, ModelFolder};
use super::ModelError;

pub fn export_hf(folder: &ModelFolder, out: &Path) -> Result<(), ModelError> {
    std::fs::create_dir_all(out).map_err(|e| ModelError::io(out, e))?;
    let mut source = GgufTensors::open(&folder.weights_path())?;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for name in tensor_names(&folder.config) {
        let t = source.qtensor(&name)?.dequantize(&Device::Cpu)?;
        tensors.insert(name, t);
    }
    let weights = out.join("model.safetensors");
    candle_core::safetensors::save(&tensors, &weights)?;
    let c = &folder.config;
    let config = serde_json::json!({
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": c.hidden_size,
        "num_hidden_layers": c.num_hidden_layers,
        "num_attention_heads": c.num_attention_heads,
        "intermediate_size": c.intermediate_size,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.0,
        "attention_probs_dropout_prob": 0.0,
        "vocab_size": c.vocab_size,
        "max_position_embeddings": c.max_position_embeddings,
        "type_vocab_size": c.type_vocab_size,
        "layer_norm_eps": c.layer_norm_eps,
        "pad_token_id": c.pad_token_id,
        "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
    });
    let config_path = out.join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap_or_default()).map_err(|e| ModelError::io(&config_path, e))?;
    let tok = out.join("tokenizer.json");
    std::fs::copy(folder.tokenizer_path(), &tok).map_err(|e| ModelError::io(&tok, e))?;
    Ok(())
}
