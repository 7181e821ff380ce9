//! The BERT encoder of multilingual-e5-small: loading, and the forward pass of each weight
//! mode. The 4-bit weights (Q4_0) run as a candle graph through candle's quantized matmul; f32
//! weights (the hf-hub route, or Q4_0 dequantized at load) run packed (`packed.rs`).

use super::kernels::{gelu_erf_inplace, MaskedSoftmax};
use super::packed::{PackedBert, PackedEmbeddings, PackedLayer, PackedLinear, PackedNorm};
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::LayerNorm;
use serde::{Deserialize, Serialize};

use super::adapter::Adapter;
use super::error::ModelError;

/// The hyper-parameters, under the names of a Hugging Face `config.json` so that the
/// folder written by `triage model fetch` reads like any other BERT checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    // XLM-R's ids; hub configs do not always spell them out.
    #[serde(default)]
    pub bos_token_id: u32,
    #[serde(default = "default_eos")]
    pub eos_token_id: u32,
    #[serde(default = "default_pad")]
    pub pad_token_id: u32,
}

fn default_eos() -> u32 {
    2
}

fn default_pad() -> u32 {
    1
}

impl BertConfig {
    /// What multilingual-e5-small's config.json says; used for the hf-hub route.
    pub fn e5_small() -> Self {
        BertConfig {
            hidden_size: 384,
            num_hidden_layers: 12,
            num_attention_heads: 12,
            intermediate_size: 1536,
            vocab_size: 250_037,
            max_position_embeddings: 512,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            bos_token_id: 0,
            eos_token_id: 2,
            pad_token_id: 1,
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        let dims = [
            ("hidden_size", self.hidden_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("intermediate_size", self.intermediate_size),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
            ("type_vocab_size", self.type_vocab_size),
        ];
        if let Some((name, _)) = dims.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} is 0"));
        }
        if self.hidden_size % self.num_attention_heads != 0 {
            return Err(format!("hidden_size {} is not divisible by num_attention_heads {}", self.hidden_size, self.num_attention_heads));
        }
        if self.max_position_embeddings < 8 {
            return Err(format!("max_position_embeddings {} is too small", self.max_position_embeddings));
        }
        Ok(())
    }

    /// Expected shape of each named tensor (PyTorch order: out × in).
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let (h, f) = (self.hidden_size, self.intermediate_size);
        let mut out = vec![
            ("embeddings.word_embeddings.weight".to_string(), vec![self.vocab_size, h]),
            ("embeddings.position_embeddings.weight".to_string(), vec![self.max_position_embeddings, h]),
            ("embeddings.token_type_embeddings.weight".to_string(), vec![self.type_vocab_size, h]),
            ("embeddings.LayerNorm.weight".to_string(), vec![h]),
            ("embeddings.LayerNorm.bias".to_string(), vec![h]),
        ];
        for l in 0..self.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            for (suffix, shape) in [
                ("attention.self.query.weight", vec![h, h]),
                ("attention.self.query.bias", vec![h]),
                ("attention.self.key.weight", vec![h, h]),
                ("attention.self.key.bias", vec![h]),
                ("attention.self.value.weight", vec![h, h]),
                ("attention.self.value.bias", vec![h]),
                ("attention.output.dense.weight", vec![h, h]),
                ("attention.output.dense.bias", vec![h]),
                ("attention.output.LayerNorm.weight", vec![h]),
                ("attention.output.LayerNorm.bias", vec![h]),
                ("intermediate.dense.weight", vec![f, h]),
                ("intermediate.dense.bias", vec![f]),
                ("output.dense.weight", vec![h, f]),
                ("output.dense.bias", vec![h]),
                ("output.LayerNorm.weight", vec![h]),
                ("output.LayerNorm.bias", vec![h]),
            ] {
                out.push((format!("{p}{suffix}"), shape));
            }
        }
        out
    }
}

/// The names of every tensor the encoder reads.
pub fn tensor_names(config: &BertConfig) -> Vec<String> {
    config.tensor_shapes().into_iter().map(|(n, _)| n).collect()
}

/// How the weight matrices are kept in memory once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightMode {
    /// As stored: Q4_0 matrices run through candle's graph and quantized matmul. Smallest in
    /// memory, but several times slower than f32 on this CPU (README, "Weights").
    Quantized,
    /// Expanded to f32 at load and run packed (`packed.rs`): the fastest CPU path.
    #[default]
    F32,
}

/// Fetches named tensors for [`Bert::load`]; implemented over a GGUF file, and over a map
/// in tests.
pub trait TensorSource {
    fn qtensor(&mut self, name: &str) -> Result<QTensor, ModelError>;
}

struct Linear {
    weight: QMatMul,
    bias: Tensor,
}

impl Linear {
    fn forward(&self, xs: &Tensor) -> candle_core::Result<Tensor> {
        self.weight.forward(xs)?.broadcast_add(&self.bias)
    }
}

struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attention_out: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

pub struct Bert {
    config: BertConfig,
    word_embeddings: QMatMul,
    stack: Stack,
}

/// The packed stack with one pass's word rows and window lengths.
type PackedInputs<'a> = (&'a PackedBert, Vec<f32>, Vec<usize>);

/// The layers above the word embeddings, in the form each weight mode runs fastest.
enum Stack {
    /// Quantized weights: candle's graph and its quantized matmul ([`Bert::forward`]).
    Graph { position_embeddings: Tensor, token_type_embeddings: Tensor, embeddings_norm: LayerNorm, layers: Vec<Layer> },
    /// f32 weights: packed windows and fused passes ([`Bert::pooled_packed`], `packed.rs`).
    Packed(PackedBert),
}

struct Loader<'a, S: TensorSource> {
    source: &'a mut S,
    shapes: std::collections::HashMap<String, Vec<usize>>,
    mode: WeightMode,
    adapter: Option<&'a Adapter>,
}

impl<S: TensorSource> Loader<'_, S> {
    fn qtensor(&mut self, name: &str) -> Result<QTensor, ModelError> {
        let t = self.source.qtensor(name)?;
        let expected = self.shapes.get(name).cloned().unwrap_or_default();
        if t.shape().dims() != expected.as_slice() {
            return Err(ModelError::Shape { name: name.to_string(), expected, actual: t.shape().dims().to_vec() });
        }
        Ok(t)
    }

    fn f32(&mut self, name: &str) -> Result<Tensor, ModelError> {
        Ok(self.qtensor(name)?.dequantize(&Device::Cpu)?)
    }

    fn matrix(&mut self, name: &str) -> Result<QMatMul, ModelError> {
        if self.adapter.is_some_and(|a| a.delta(name).is_some()) {
            // An adapted matrix is no longer the stored Q4_0 one: it runs f32.
            let shape = self.qtensor(name)?.shape().clone();
            return Ok(QMatMul::Tensor(Tensor::from_vec(self.values(name)?, shape, &Device::Cpu)?));
        }
        let t = self.qtensor(name)?;
        Ok(match self.mode {
            WeightMode::F32 => QMatMul::Tensor(t.dequantize(&Device::Cpu)?),
            WeightMode::Quantized => QMatMul::from_qtensor(t)?,
        })
    }

    fn linear(&mut self, prefix: &str) -> Result<Linear, ModelError> {
        Ok(Linear { weight: self.matrix(&format!("{prefix}.weight"))?, bias: self.f32(&format!("{prefix}.bias"))? })
    }

    fn layer_norm(&mut self, prefix: &str, eps: f64) -> Result<LayerNorm, ModelError> {
        Ok(LayerNorm::new(self.f32(&format!("{prefix}.weight"))?, self.f32(&format!("{prefix}.bias"))?, eps))
    }

    /// A tensor's values as f32, with the adapter's change merged in where it has one.
    fn values(&mut self, name: &str) -> Result<Vec<f32>, ModelError> {
        let mut values: Vec<f32> = self.f32(name)?.flatten_all()?.to_vec1()?;
        if let Some(delta) = self.adapter.and_then(|a| a.delta(name)) {
            if delta.len() != values.len() {
                return Err(ModelError::invalid(&self.adapter.expect("checked").dir, format!("{name}: {} values, the encoder has {}", delta.len(), values.len())));
            }
            values.iter_mut().zip(delta).for_each(|(v, d)| *v += d);
        }
        Ok(values)
    }

    fn packed_linear(&mut self, prefix: &str) -> Result<PackedLinear, ModelError> {
        let name = format!("{prefix}.weight");
        let (outputs, inputs) = match self.shapes.get(&name).map(Vec::as_slice) {
            Some(&[o, i]) => (o, i),
            _ => return Err(ModelError::invalid("encoder weights", format!("{name} is not a matrix"))),
        };
        Ok(PackedLinear::new(self.values(&name)?, self.values(&format!("{prefix}.bias"))?, outputs, inputs))
    }

    fn packed_norm(&mut self, prefix: &str, eps: f64) -> Result<PackedNorm, ModelError> {
        Ok(PackedNorm::new(self.values(&format!("{prefix}.weight"))?, self.values(&format!("{prefix}.bias"))?, eps as f32))
    }
}

impl Bert {
    /// Load the weights, merging an adapter's changes into them where one is given.
    pub fn load(config: BertConfig, source: &mut impl TensorSource, mode: WeightMode, adapter: Option<&Adapter>) -> Result<Self, ModelError> {
        let shapes = config.tensor_shapes().into_iter().collect();
        let mut ld = Loader { source, shapes, mode, adapter };
        // The embedding table is only gathered from, never multiplied: keep it quantized in
        // both modes (a 250k × 384 f32 copy would cost 384 MB for rows we rarely read).
        let word_embeddings = QMatMul::from_qtensor(ld.qtensor("embeddings.word_embeddings.weight")?)?;
        let stack = match mode {
            WeightMode::Quantized => Self::load_graph(&config, &mut ld)?,
            WeightMode::F32 => Self::load_packed(&config, &mut ld)?,
        };
        Ok(Bert { config, word_embeddings, stack })
    }

    fn load_graph<S: TensorSource>(config: &BertConfig, ld: &mut Loader<'_, S>) -> Result<Stack, ModelError> {
        let eps = config.layer_norm_eps;
        let position_embeddings = ld.f32("embeddings.position_embeddings.weight")?;
        let token_type_embeddings = ld.f32("embeddings.token_type_embeddings.weight")?;
        let embeddings_norm = ld.layer_norm("embeddings.LayerNorm", eps)?;
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            layers.push(Layer {
                query: ld.linear(&format!("{p}.attention.self.query"))?,
                key: ld.linear(&format!("{p}.attention.self.key"))?,
                value: ld.linear(&format!("{p}.attention.self.value"))?,
                attention_out: ld.linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: ld.layer_norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: ld.linear(&format!("{p}.intermediate.dense"))?,
                output: ld.linear(&format!("{p}.output.dense"))?,
                output_norm: ld.layer_norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        Ok(Stack::Graph { position_embeddings, token_type_embeddings, embeddings_norm, layers })
    }

    fn load_packed<S: TensorSource>(config: &BertConfig, ld: &mut Loader<'_, S>) -> Result<Stack, ModelError> {
        let eps = config.layer_norm_eps;
        let h = config.hidden_size;
        let embeddings = PackedEmbeddings {
            positions: ld.values("embeddings.position_embeddings.weight")?,
            token_type: ld.values("embeddings.token_type_embeddings.weight")?[..h].to_vec(),
            norm: ld.packed_norm("embeddings.LayerNorm", eps)?,
        };
        let mut layers = Vec::with_capacity(config.num_hidden_layers);
        for l in 0..config.num_hidden_layers {
            let p = format!("encoder.layer.{l}");
            let qkv = ["query", "key", "value"]
                .iter()
                .map(|part| ld.packed_linear(&format!("{p}.attention.self.{part}")))
                .collect::<Result<Vec<_>, _>>()?;
            layers.push(PackedLayer {
                qkv: PackedLinear::stack(qkv),
                attention_out: ld.packed_linear(&format!("{p}.attention.output.dense"))?,
                attention_norm: ld.packed_norm(&format!("{p}.attention.output.LayerNorm"), eps)?,
                intermediate: ld.packed_linear(&format!("{p}.intermediate.dense"))?,
                output: ld.packed_linear(&format!("{p}.output.dense"))?,
                output_norm: ld.packed_norm(&format!("{p}.output.LayerNorm"), eps)?,
            });
        }
        Ok(Stack::Packed(PackedBert { hidden: h, heads: config.num_attention_heads, embeddings, layers }))
    }

    /// Whether [`Bert::pooled_packed`] runs these weights (f32), rather than [`Bert::forward`].
    pub fn is_packed(&self) -> bool {
        matches!(self.stack, Stack::Packed(_))
    }

    /// The packed stack, and the word rows and lengths of `windows` for it; None when the
    /// windows hold no token. Only for f32 weights ([`Bert::is_packed`]).
    fn packed_inputs(&self, windows: &[&[u32]]) -> candle_core::Result<Option<PackedInputs<'_>>> {
        let Stack::Packed(packed) = &self.stack else { candle_core::bail!("the packed forward needs f32 weights") };
        let max = self.config.max_position_embeddings;
        if let Some(w) = windows.iter().find(|w| w.len() > max) {
            candle_core::bail!("a window of {} tokens exceeds the {max} positions", w.len());
        }
        let ids: Vec<u32> = windows.iter().flat_map(|w| w.iter().copied()).collect();
        let lengths: Vec<usize> = windows.iter().map(|w| w.len()).collect();
        if ids.is_empty() {
            return Ok(None);
        }
        let words = self.word_embeddings.embedding(&Tensor::new(ids, &Device::Cpu)?)?.flatten_all()?.to_vec1::<f32>()?;
        Ok(Some((packed, words, lengths)))
    }

    /// Mean-pooled embeddings of windows of token ids, run packed end to end without padding.
    /// Only for f32 weights ([`Bert::is_packed`]).
    pub fn pooled_packed(&self, windows: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let Some((packed, words, lengths)) = self.packed_inputs(windows)? else {
            return Ok(vec![vec![0.0; self.config.hidden_size]; windows.len()]);
        };
        // Run the pass on a pool worker: its parallel regions then start in place, rather than
        // each being sent to the pool from this thread and waited for.
        Ok(rayon::scope(|_| packed.pooled(words, &lengths)))
    }

    /// Hidden states of every token after the first `layers` layers, one (len × hidden) block
    /// per window: what `triage adapt` trains the layers above from. Only for f32 weights.
    pub fn states_packed(&self, windows: &[&[u32]], layers: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let Some((packed, words, lengths)) = self.packed_inputs(windows)? else { return Ok(vec![Vec::new(); windows.len()]) };
        let h = self.config.hidden_size;
        let (xs, starts) = rayon::scope(|_| packed.forward(words, &lengths, layers));
        Ok(starts.iter().zip(&lengths).map(|(&s, &l)| xs[s * h..(s + l) * h].to_vec()).collect())
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }

    /// Hidden states for a padded batch.
    ///
    /// `ids` is (batch, len) u32 and `mask` (batch, len) f32 with 1 for real tokens. Position
    /// ids run 0..len as in BERT (not offset as in RoBERTa), matching e5's checkpoint.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let Stack::Graph { position_embeddings, token_type_embeddings, embeddings_norm, layers } = &self.stack else {
            candle_core::bail!("forward runs quantized weights; f32 weights run through pooled_packed")
        };
        let (batch, len) = ids.dims2()?;
        let hidden = self.config.hidden_size;
        let heads = self.config.num_attention_heads;
        let head_dim = hidden / heads;

        let words = self.word_embeddings.embedding(ids)?;
        let positions = position_embeddings.narrow(0, 0, len)?.unsqueeze(0)?;
        let types = token_type_embeddings.narrow(0, 0, 1)?.unsqueeze(0)?;
        let mut xs = embeddings_norm.forward(&words.broadcast_add(&positions)?.broadcast_add(&types)?)?;

        // Padding keys get a large negative bias so softmax gives them ~0 weight.
        let key_bias: Vec<f32> = ((mask.ones_like()? - mask)? * -1e4f64)?.flatten_all()?.to_vec1()?;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let split_heads = |t: Tensor| -> candle_core::Result<Tensor> {
            t.reshape((batch, len, heads, head_dim))?.transpose(1, 2)?.contiguous()
        };
        for layer in layers {
            let q = split_heads(layer.query.forward(&xs)?)?;
            let k = split_heads(layer.key.forward(&xs)?)?;
            let v = split_heads(layer.value.forward(&xs)?)?;
            // Scale, mask and softmax in one pass over the fresh scores (see kernels.rs).
            let probs = q.matmul(&k.t()?)?.contiguous()?;
            probs.inplace_op1(&MaskedSoftmax { scale, key_bias: key_bias.clone(), heads, len })?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch, len, hidden))?;
            let attended = layer.attention_norm.forward(&(layer.attention_out.forward(&context)? + &xs)?)?;
            let inner = layer.intermediate.forward(&attended)?.contiguous()?;
            gelu_erf_inplace(&inner)?;
            xs = layer.output_norm.forward(&(layer.output.forward(&inner)? + attended)?)?;
        }
        Ok(xs)
    }

    /// Mean of the hidden states over real tokens: (batch, hidden).
    pub fn mean_pool(hidden: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(D::Minus1)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::INFINITY)?;
        summed.broadcast_div(&counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tiny;

    /// The f32 weights run through candle's graph, as they did before `packed.rs`.
    fn graph_f32(folder: &crate::model::ModelFolder) -> Bert {
        let config = folder.config.clone();
        let mut source = folder.tensors().unwrap();
        let mut ld = Loader { source: &mut source, shapes: config.tensor_shapes().into_iter().collect(), mode: WeightMode::F32, adapter: None };
        let word_embeddings = QMatMul::from_qtensor(ld.qtensor("embeddings.word_embeddings.weight").unwrap()).unwrap();
        let stack = Bert::load_graph(&config, &mut ld).unwrap();
        Bert { config, word_embeddings, stack }
    }

    #[test]
    fn packed_windows_match_the_padded_candle_graph() {
        let dir = tempfile::tempdir().unwrap();
        let folder = tiny::write_folder(&dir.path().join("enc"));
        let packed = Bert::load(folder.config.clone(), &mut folder.tensors().unwrap(), WeightMode::F32, None).unwrap();
        assert!(packed.is_packed());
        let graph = graph_f32(&folder);

        let vocab = tiny::pieces().len() as u32;
        let windows: Vec<Vec<u32>> = vec![
            vec![0, 5, 9, 12, 2],
            vec![0, 7, 2],
            std::iter::once(0).chain((0..58).map(|i| 4 + (i * 7) % (vocab - 4))).chain(std::iter::once(2)).collect(),
        ];
        let refs: Vec<&[u32]> = windows.iter().map(|w| w.as_slice()).collect();
        let mine = packed.pooled_packed(&refs).unwrap();

        let len = windows.iter().map(Vec::len).max().unwrap();
        let mut ids = Vec::new();
        let mut mask = Vec::new();
        for w in &windows {
            ids.extend(w.iter().copied().chain(std::iter::repeat_n(1, len - w.len())));
            mask.extend(std::iter::repeat_n(1f32, w.len()).chain(std::iter::repeat_n(0f32, len - w.len())));
        }
        let ids = Tensor::from_vec(ids, (windows.len(), len), &Device::Cpu).unwrap();
        let mask = Tensor::from_vec(mask, (windows.len(), len), &Device::Cpu).unwrap();
        let hidden = graph.forward(&ids, &mask).unwrap();
        let reference = Bert::mean_pool(&hidden, &mask).unwrap().to_vec2::<f32>().unwrap();

        for (a, b) in mine.iter().zip(&reference) {
            let worst = a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-4, "packed and graph differ by {worst}");
        }
        assert!(packed.forward(&ids, &mask).is_err(), "f32 weights have no graph to run");
        assert!(packed.pooled_packed(&[&vec![4u32; 65]]).is_err(), "a window longer than the positions is refused");
    }

    #[test]
    fn an_adapter_is_merged_alike_into_both_weight_modes() {
        let dir = tempfile::tempdir().unwrap();
        let folder = tiny::write_folder(&dir.path().join("enc"));
        let h = folder.config.hidden_size;
        let name = format!("encoder.layer.{}.output.dense.weight", folder.config.num_hidden_layers - 1);
        let inner = folder.config.intermediate_size;
        let a = (Tensor::ones((2, inner), DType::F32, &Device::Cpu).unwrap() * 0.05).unwrap();
        // Rows that differ: a change the same in every output would vanish in the LayerNorm.
        let b = Tensor::from_vec((0..h * 2).map(|i| ((i / 2) % 3) as f32 * 0.05).collect::<Vec<f32>>(), (h, 2), &Device::Cpu).unwrap();
        let adapter_dir = dir.path().join("adapter");
        Adapter::write(&adapter_dir, &folder.manifest.checksum(), 2, 2.0, &[(name, a, b)], serde_json::json!({})).unwrap();
        let adapted = folder.clone().with_adapter(&adapter_dir).unwrap();
        assert_ne!(adapted.checksum(), folder.checksum(), "heads must not mistake the adapted encoder for the base");

        let windows: Vec<Vec<u32>> = vec![vec![0, 5, 9, 12, 2], vec![0, 7, 8, 2]];
        let refs: Vec<&[u32]> = windows.iter().map(|w| w.as_slice()).collect();
        let base = Bert::load(folder.config.clone(), &mut folder.tensors().unwrap(), WeightMode::F32, None).unwrap().pooled_packed(&refs).unwrap();
        let packed = Bert::load(adapted.config.clone(), &mut adapted.tensors().unwrap(), WeightMode::F32, adapted.adapter.as_deref()).unwrap().pooled_packed(&refs).unwrap();
        let moved = base[0].iter().zip(&packed[0]).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(moved > 1e-3, "the adapter changed nothing ({moved})");

        // The quantized mode runs the adapted matrix in f32 through candle's graph: same result.
        let graph = Bert::load(adapted.config.clone(), &mut adapted.tensors().unwrap(), WeightMode::Quantized, adapted.adapter.as_deref()).unwrap();
        let ids = Tensor::new(&[[0u32, 5, 9, 12, 2]], &Device::Cpu).unwrap();
        let mask = Tensor::new(&[[1f32; 5]], &Device::Cpu).unwrap();
        let reference = Bert::mean_pool(&graph.forward(&ids, &mask).unwrap(), &mask).unwrap().to_vec2::<f32>().unwrap();
        let quantized_base = Bert::load(folder.config.clone(), &mut folder.tensors().unwrap(), WeightMode::Quantized, None).unwrap();
        let reference_base = Bert::mean_pool(&quantized_base.forward(&ids, &mask).unwrap(), &mask).unwrap().to_vec2::<f32>().unwrap();
        // Q4 rounding of the other matrices differs from f32, so compare the change, not the values.
        let change_packed: Vec<f32> = packed[0].iter().zip(&base[0]).map(|(x, y)| x - y).collect();
        let change_graph: Vec<f32> = reference[0].iter().zip(&reference_base[0]).map(|(x, y)| x - y).collect();
        let worst = change_packed.iter().zip(&change_graph).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(worst < 0.05 * moved.max(1e-3) + 1e-3, "the two modes merge differently: {worst} against a change of {moved}");
    }
}
