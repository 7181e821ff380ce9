//! The BERT encoder of multilingual-e5-small: its configuration, loading its weights into the
//! packed encoder (`packed.rs`, f32 or int8), with an adapter's changes merged in, and mean
//! pooling over whatever forward pass runs the layers (`backend.rs`).
//!
//! The folder stores the matrices as Q4_0 (4-bit); they are expanded to f32 at load. A second
//! forward pass that ran Q4_0 directly through candle's quantized matmul was removed on
//! 2026-12-06: it was 5.7x slower than f32 and saved no memory. The packed encoder is checked
//! against candle-transformers' `BertModel` instead (`tests/encoder_reference.rs`).

use super::backend::{ForwardPass, KernelPath};
use super::bf16::Bf16Kernel;
use super::int8::Int8Kernel;
use super::packed::{PackedBert, PackedEmbeddings, PackedLayer, PackedLinear, PackedNorm};
use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Device, Tensor};
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

    /// Operations (a multiply-add counts 2) of the layers' matrix products for one token:
    /// Q, K, V, attention output, and the two feed-forward matrices of every layer.
    pub fn matrix_ops_per_token(&self) -> u64 {
        let (h, f) = (self.hidden_size as u64, self.intermediate_size as u64);
        2 * self.num_hidden_layers as u64 * (4 * h * h + 2 * h * f)
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

/// How the layers' weight matrices are kept in memory once loaded (`quantized`, Q4_0 through
/// candle's graph, was removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum WeightMode {
    /// Expanded to f32 at load and run packed (`packed.rs`).
    #[default]
    F32,
    /// Quantized to int8 at load, per output channel, with activations quantized per token
    /// (`int8.rs`): a quarter of the memory and 2.7x the f32 throughput on an AVX-512 VNNI
    /// CPU. Not the default: with the heads of 2026-12-06 it misses the accuracy gate
    /// (`scripts/int8_gate.py`) by 0.002 on the real letters' topic, and with heads trained on
    /// both formats by one letter of 151 (docs/accuracy.md).
    Int8,
    /// Rounded to bfloat16 at load, activations rounded per product, sums in f32 (`bf16.rs`):
    /// half the memory, and AVX-512 BF16's `vdpbf16ps` where the CPU has it.
    Bf16,
}

impl WeightMode {
    /// The service's default: bf16 where the CPU has AVX-512 BF16 (twice f32's speed a call, and
    /// the accuracy gate passed with every figure within 0.003, docs/accuracy.md), else f32.
    /// The library's own default ([`EncoderOptions::default`](super::EncoderOptions)) stays f32.
    pub fn for_this_cpu() -> Self {
        if Bf16Kernel::Avx512Bf16.available() {
            WeightMode::Bf16
        } else {
            WeightMode::F32
        }
    }
}

/// Fetches named tensors for [`Bert::load`]; implemented over a GGUF file, and over a map
/// in tests.
pub trait TensorSource {
    fn qtensor(&mut self, name: &str) -> Result<QTensor, ModelError>;
}

pub struct Bert {
    config: BertConfig,
    /// Only gathered from, never multiplied: kept quantized (a 250k x 384 f32 copy would cost
    /// 384 MB for rows a hotline rarely reads).
    word_embeddings: QMatMul,
    layers: Box<dyn ForwardPass>,
}

struct Loader<'a, S: TensorSource> {
    source: &'a mut S,
    shapes: std::collections::HashMap<String, Vec<usize>>,
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
    /// Load the weights, merging an adapter's changes into them where one is given. In int8,
    /// `int8_kernel` names the kernel (the best this CPU has when None, or when it lacks that one).
    pub fn load(config: BertConfig, source: &mut impl TensorSource, mode: WeightMode, adapter: Option<&Adapter>, int8_kernel: Option<Int8Kernel>) -> Result<Self, ModelError> {
        let shapes = config.tensor_shapes().into_iter().collect();
        let mut ld = Loader { source, shapes, adapter };
        let word_embeddings = QMatMul::from_qtensor(ld.qtensor("embeddings.word_embeddings.weight")?)?;
        let packed = Self::load_packed(&config, &mut ld)?;
        let layers: Box<dyn ForwardPass> = match mode {
            WeightMode::F32 => Box::new(packed),
            WeightMode::Int8 => Box::new(packed.quantize(Int8Kernel::resolve(int8_kernel))),
            WeightMode::Bf16 => Box::new(packed.to_bf16(Bf16Kernel::best())),
        };
        Ok(Bert { config, word_embeddings, layers })
    }

    /// The kernels the layers run on this CPU.
    pub fn kernels(&self) -> KernelPath {
        self.layers.kernels()
    }

    fn load_packed<S: TensorSource>(config: &BertConfig, ld: &mut Loader<'_, S>) -> Result<PackedBert, ModelError> {
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
        Ok(PackedBert { hidden: h, heads: config.num_attention_heads, embeddings, layers })
    }

    /// The word rows and lengths of `windows`; None when the windows hold no token.
    fn word_rows(&self, windows: &[&[u32]]) -> candle_core::Result<Option<(Vec<f32>, Vec<usize>)>> {
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
        Ok(Some((words, lengths)))
    }

    /// Every token's states after `upto` layers. The pass runs on a pool worker: its parallel
    /// regions then start in place, rather than each being sent to the pool from this thread
    /// and waited for.
    fn run(&self, words: Vec<f32>, lengths: &[usize], upto: usize) -> (Vec<f32>, Vec<usize>) {
        rayon::scope(|_| self.layers.forward(words, lengths, upto))
    }

    /// Mean-pooled embeddings of windows of token ids, run packed end to end without padding.
    pub fn pooled_packed(&self, windows: &[&[u32]]) -> candle_core::Result<Vec<Vec<f32>>> {
        let h = self.config.hidden_size;
        let Some((words, lengths)) = self.word_rows(windows)? else {
            return Ok(vec![vec![0.0; h]; windows.len()]);
        };
        let (xs, starts) = self.run(words, &lengths, self.config.num_hidden_layers);
        Ok(starts
            .iter()
            .zip(&lengths)
            .map(|(&start, &len)| {
                let mut mean = vec![0f32; h];
                for row in xs[start * h..(start + len) * h].chunks(h) {
                    mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
                }
                mean.iter_mut().for_each(|m| *m /= len.max(1) as f32);
                mean
            })
            .collect())
    }

    /// Hidden states of every token after the first `layers` layers, one (len × hidden) block
    /// per window: what `triage adapt` trains the layers above from.
    pub fn states_packed(&self, windows: &[&[u32]], layers: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let Some((words, lengths)) = self.word_rows(windows)? else { return Ok(vec![Vec::new(); windows.len()]) };
        let h = self.config.hidden_size;
        let (xs, starts) = self.run(words, &lengths, layers);
        Ok(starts.iter().zip(&lengths).map(|(&s, &l)| xs[s * h..(s + l) * h].to_vec()).collect())
    }

    pub fn config(&self) -> &BertConfig {
        &self.config
    }
}
