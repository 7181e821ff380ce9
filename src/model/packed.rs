//! The f32 encoder on the CPU: windows packed end to end with no padding, and each layer as a
//! few fused passes over plain buffers.
//!
//! Why not candle's graph, measured with `triage model bench` (docs/performance.md):
//! - candle 0.11 runs every element-wise op on its own thread pool, whose workers spin for a
//!   while after each op; on two cores they took CPU from the matrix products running beside
//!   them (one text at a time: 7.9 texts/s as shipped, 10.6 with the spin cut to 100);
//! - a padded batch computes padding; packed windows make batch order irrelevant, and attention
//!   runs per window on its real length;
//! - bias, residual, GELU and LayerNorm fold into passes over the products' outputs, and
//!   attention reads Q, K and V in place through strides instead of transposed copies.
//!
//! The matrix products run through [`Projection`]: the `gemm` crate's f32 kernels (the same
//! ones candle calls) in [`PackedLinear`], the int8 kernels of `int8.rs` in [`Int8Linear`], or
//! the bf16 kernels of `bf16.rs` in [`Bf16Linear`].

use gemm::{gemm, Parallelism};
use rayon::prelude::*;

use super::backend::{ForwardPass, KernelPath};
use super::bf16::{Bf16Kernel, Bf16Linear};
use super::int8::{Int8Kernel, Int8Linear};
use super::kernels::{add_into, gelu_inplace, layer_norm_inplace, softmax_inplace, SharedOut};

/// Tokens per packed pass: enough rows for the products to run near peak, few enough that the
/// buffers stay in cache-friendly MBs. On 300 tipdm texts, 32 a call (`triage model bench`,
/// two runs): 512 gave 19.1-19.4 texts/s, 1024 gave 19.5-19.6, 2048 18.5-20.1, 4096 17.0-18.6.
pub const TOKENS_PER_PASS: usize = 1024;

/// Rows per parallel task in the element-wise passes.
const ROWS_PER_TASK: usize = 16;

/// One linear layer over packed rows, `out[r] = bias + residual[r] + x[r] · Wᵀ`, whatever number
/// format its weights are kept in.
pub trait Projection: Send + Sync {
    fn outputs(&self) -> usize;
    fn forward_into(&self, x: &[f32], residual: Option<&[f32]>, out: &mut [f32], threads: usize);
    /// The kernels a stack of these layers runs.
    fn kernels(&self) -> KernelPath;
}

/// `y = x · Wᵀ + b` in f32, with W kept as PyTorch stores it: (out, in), row-major.
pub struct PackedLinear {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
    outputs: usize,
}

impl PackedLinear {
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, outputs: usize, inputs: usize) -> Self {
        debug_assert_eq!((weight.len(), bias.len()), (outputs * inputs, outputs));
        PackedLinear { weight, bias, inputs, outputs }
    }

    /// Several linears over the same input as one wider product (Q, K and V).
    pub fn stack(parts: Vec<PackedLinear>) -> Self {
        let inputs = parts[0].inputs;
        let outputs = parts.iter().map(|p| p.outputs).sum();
        let mut weight = Vec::with_capacity(outputs * inputs);
        let mut bias = Vec::with_capacity(outputs);
        for p in parts {
            weight.extend(p.weight);
            bias.extend(p.bias);
        }
        PackedLinear { weight, bias, inputs, outputs }
    }

    /// The same layer in int8 (the f32 weights are dropped).
    pub fn quantize(self, kernel: Int8Kernel) -> Int8Linear {
        Int8Linear::quantize(&self.weight, self.bias, self.outputs, self.inputs, kernel)
    }

    /// The same layer in bf16 (the f32 weights are dropped).
    pub fn to_bf16(self, kernel: Bf16Kernel) -> Bf16Linear {
        Bf16Linear::new(&self.weight, self.bias, self.outputs, self.inputs, kernel)
    }
}

impl Projection for PackedLinear {
    fn outputs(&self) -> usize {
        self.outputs
    }

    fn kernels(&self) -> KernelPath {
        KernelPath::f32()
    }

    fn forward_into(&self, x: &[f32], residual: Option<&[f32]>, out: &mut [f32], threads: usize) {
        let rows = x.len() / self.inputs;
        debug_assert_eq!(out.len(), rows * self.outputs);
        // The bias (and residual) go in first; the product then accumulates onto them.
        out.par_chunks_mut(self.outputs * ROWS_PER_TASK).enumerate().for_each(|(task, chunk)| {
            for (r, row) in chunk.chunks_mut(self.outputs).enumerate() {
                match residual {
                    Some(res) => {
                        let at = (task * ROWS_PER_TASK + r) * self.outputs;
                        add_into(row, &self.bias, &res[at..at + self.outputs]);
                    }
                    None => row.copy_from_slice(&self.bias),
                }
            }
        });
        let parallelism = if threads > 1 { Parallelism::Rayon(threads) } else { Parallelism::None };
        // SAFETY: every pointer spans the matrix its dimensions and strides describe: out is
        // rows × outputs, x rows × inputs, and the weight read as (inputs × outputs) through
        // strides (1 down a column, `inputs` across), all checked by the lengths above.
        unsafe {
            gemm(
                rows,
                self.outputs,
                self.inputs,
                out.as_mut_ptr(),
                1,
                self.outputs as isize,
                true,
                x.as_ptr(),
                1,
                self.inputs as isize,
                self.weight.as_ptr(),
                self.inputs as isize,
                1,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            )
        }
    }
}

/// Bias and residual go in with the products, in one pass over `out` (`bf16.rs`).
impl Projection for Bf16Linear {
    fn outputs(&self) -> usize {
        Bf16Linear::outputs(self)
    }

    fn forward_into(&self, x: &[f32], residual: Option<&[f32]>, out: &mut [f32], _threads: usize) {
        Bf16Linear::forward_into(self, x, residual, out)
    }

    fn kernels(&self) -> KernelPath {
        KernelPath::bf16(self.kernel())
    }
}

/// Bias and residual go in with the products, in one pass over `out` (`int8.rs`).
impl Projection for Int8Linear {
    fn outputs(&self) -> usize {
        Int8Linear::outputs(self)
    }

    fn forward_into(&self, x: &[f32], residual: Option<&[f32]>, out: &mut [f32], _threads: usize) {
        Int8Linear::forward_into(self, x, residual, out)
    }

    fn kernels(&self) -> KernelPath {
        KernelPath::int8(self.kernel())
    }
}

pub struct PackedNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl PackedNorm {
    pub fn new(weight: Vec<f32>, bias: Vec<f32>, eps: f32) -> Self {
        PackedNorm { weight, bias, eps }
    }

    fn apply(&self, xs: &mut [f32]) {
        let width = self.weight.len();
        xs.par_chunks_mut(width * ROWS_PER_TASK).for_each(|chunk| {
            for row in chunk.chunks_mut(width) {
                layer_norm_inplace(row, &self.weight, &self.bias, self.eps);
            }
        });
    }
}

pub struct PackedLayer<P: Projection = PackedLinear> {
    pub qkv: P,
    pub attention_out: P,
    pub attention_norm: PackedNorm,
    pub intermediate: P,
    pub output: P,
    pub output_norm: PackedNorm,
}

impl PackedLayer {
    /// The same layer with each of its four matrices converted by `convert`.
    fn convert<Q: Projection>(self, convert: impl Fn(PackedLinear) -> Q) -> PackedLayer<Q> {
        PackedLayer {
            qkv: convert(self.qkv),
            attention_out: convert(self.attention_out),
            attention_norm: self.attention_norm,
            intermediate: convert(self.intermediate),
            output: convert(self.output),
            output_norm: self.output_norm,
        }
    }
}

/// The embedding stage's inputs, as plain rows.
pub struct PackedEmbeddings {
    /// (max_positions, hidden)
    pub positions: Vec<f32>,
    /// Token type 0's row: e5 never uses another.
    pub token_type: Vec<f32>,
    pub norm: PackedNorm,
}

/// The twelve layers on the CPU, with their matrices in f32 ([`PackedLinear`], the default),
/// int8 ([`Int8Linear`]) or bf16 ([`Bf16Linear`]).
pub struct PackedBert<P: Projection = PackedLinear> {
    pub hidden: usize,
    pub heads: usize,
    pub embeddings: PackedEmbeddings,
    pub layers: Vec<PackedLayer<P>>,
}

impl PackedBert {
    /// The same stack with every layer's matrices in int8, run by `kernel` (or the best the
    /// CPU has, if it lacks that one).
    pub fn quantize(self, kernel: Int8Kernel) -> PackedBert<Int8Linear> {
        PackedBert { hidden: self.hidden, heads: self.heads, embeddings: self.embeddings, layers: self.layers.into_iter().map(|l| l.convert(|p| p.quantize(kernel))).collect() }
    }

    /// The same stack with every layer's matrices in bf16.
    pub fn to_bf16(self, kernel: Bf16Kernel) -> PackedBert<Bf16Linear> {
        PackedBert { hidden: self.hidden, heads: self.heads, embeddings: self.embeddings, layers: self.layers.into_iter().map(|l| l.convert(|p| p.to_bf16(kernel))).collect() }
    }
}

impl<P: Projection> ForwardPass for PackedBert<P> {
    /// Every token's hidden state after the first `upto` layers, packed (tokens × hidden),
    /// with the first row of each window.
    fn forward(&self, mut words: Vec<f32>, lengths: &[usize], upto: usize) -> (Vec<f32>, Vec<usize>) {
        let h = self.hidden;
        let total: usize = lengths.iter().sum();
        assert_eq!(words.len(), total * h, "word rows do not match the window lengths");
        let threads = rayon::current_num_threads();

        // Embeddings: word + position (restarting in each window) + token type, normalised.
        let starts: Vec<usize> = lengths.iter().scan(0, |s, &l| { let at = *s; *s += l; Some(at) }).collect();
        for (&start, &len) in starts.iter().zip(lengths) {
            for p in 0..len {
                let row = &mut words[(start + p) * h..(start + p + 1) * h];
                let pos = &self.embeddings.positions[p * h..(p + 1) * h];
                for ((v, a), b) in row.iter_mut().zip(pos).zip(&self.embeddings.token_type) {
                    *v += a + b;
                }
            }
        }
        self.embeddings.norm.apply(&mut words);
        let mut xs = words;

        let inner = self.layers.first().map(|l| l.intermediate.outputs()).unwrap_or(0);
        let mut qkv = vec![0f32; total * 3 * h];
        let mut context = vec![0f32; total * h];
        let mut attended = vec![0f32; total * h];
        let mut intermediate = vec![0f32; total * inner];
        for layer in self.layers.iter().take(upto) {
            layer.qkv.forward_into(&xs, None, &mut qkv, threads);
            self.attention(&qkv, &starts, lengths, &mut context);
            layer.attention_out.forward_into(&context, Some(&xs), &mut attended, threads);
            layer.attention_norm.apply(&mut attended);
            layer.intermediate.forward_into(&attended, None, &mut intermediate, threads);
            intermediate.par_chunks_mut(inner * ROWS_PER_TASK).for_each(gelu_inplace);
            layer.output.forward_into(&intermediate, Some(&attended), &mut xs, threads);
            layer.output_norm.apply(&mut xs);
        }
        (xs, starts)
    }

    fn kernels(&self) -> KernelPath {
        self.layers.first().map(|l| l.qkv.kernels()).unwrap_or_else(KernelPath::f32)
    }
}

impl<P: Projection> PackedBert<P> {
    /// Softmax attention of every window over its own tokens, one task per (window, head),
    /// reading Q, K and V out of the packed (tokens, 3 × hidden) buffer through strides and
    /// writing each head's columns of `context`.
    fn attention(&self, qkv: &[f32], starts: &[usize], lengths: &[usize], context: &mut [f32]) {
        let h = self.hidden;
        let d = h / self.heads;
        let scale = 1.0 / (d as f32).sqrt();
        let out = SharedOut(context.as_mut_ptr());
        let jobs: Vec<(usize, usize, usize)> =
            starts.iter().zip(lengths).flat_map(|(&s, &l)| (0..self.heads).map(move |head| (s, l, head))).collect();
        jobs.par_iter().for_each_init(Vec::new, |scores: &mut Vec<f32>, &(start, len, head)| {
            if len == 0 {
                return;
            }
            scores.resize(len * len, 0.0);
            let q = qkv[start * 3 * h + head * d..].as_ptr();
            let k = qkv[start * 3 * h + h + head * d..].as_ptr();
            let v = qkv[start * 3 * h + 2 * h + head * d..].as_ptr();
            let row = 3 * h as isize;
            // SAFETY: Q, K and V rows of this window lie inside `qkv` (start + len <= tokens);
            // the context block written (rows start..start+len, columns head*d..head*d+d) is
            // this task's alone, so no two tasks write the same element.
            unsafe {
                // scores (len × len) = scale · Q (len × d) · Kᵀ (d × len)
                gemm(len, len, d, scores.as_mut_ptr(), 1, len as isize, false, q, 1, row, k, row, 1, 0.0, scale, false, false, false, Parallelism::None);
            }
            scores.chunks_mut(len).for_each(softmax_inplace);
            unsafe {
                // context (len × d) = P (len × len) · V (len × d)
                let dst = out.at(start * h + head * d);
                gemm(len, d, len, dst, 1, h as isize, false, scores.as_ptr(), 1, len as isize, v, 1, row, 0.0, 1.0, false, false, false, Parallelism::None);
            }
        });
    }
}
