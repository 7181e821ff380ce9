//! What the encoder needs from whatever runs the transformer layers, as text-embeddings-
//! inference's `backends/` do: windows, pooling and batching (`encoder.rs`, `bert.rs`) are the
//! same whether the layers run in f32 or int8 on the CPU, or elsewhere later.

use std::fmt;

use serde::Serialize;

use super::bf16::Bf16Kernel;
use super::int8::Int8Kernel;
use super::kernels::Width;

/// The transformer layers over packed windows.
pub trait ForwardPass: Send + Sync {
    /// Every token's hidden state after the first `upto` layers, packed (tokens × hidden),
    /// with the first row of each window. `words` holds the word-embedding rows of every
    /// window's tokens, windows one after another, `lengths` their token counts.
    fn forward(&self, words: Vec<f32>, lengths: &[usize], upto: usize) -> (Vec<f32>, Vec<usize>);

    /// The kernels it actually runs on this CPU.
    fn kernels(&self) -> KernelPath;
}

/// Which kernels a forward pass runs, for the start-up log, `triage model bench` and /metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KernelPath {
    /// How the layers' matrices are held: "f32", "int8" or "bf16".
    pub weights: &'static str,
    /// The matrix products' instruction set.
    pub matrix: &'static str,
    /// Softmax, GELU, LayerNorm and quantization of activations.
    pub elementwise: &'static str,
}

impl KernelPath {
    /// The f32 path: the `gemm` crate's kernels, which it picks at run time by the same test
    /// as here (its `x86-v4` feature adds the AVX-512 ones; docs/performance.md).
    pub fn f32() -> Self {
        KernelPath { weights: "f32", matrix: f32_matrix_kernel(), elementwise: Width::detect().name() }
    }

    pub fn int8(kernel: Int8Kernel) -> Self {
        KernelPath { weights: "int8", matrix: kernel.name(), elementwise: Width::detect().name() }
    }

    pub fn bf16(kernel: Bf16Kernel) -> Self {
        KernelPath { weights: "bf16", matrix: kernel.name(), elementwise: Width::detect().name() }
    }
}

impl fmt::Display for KernelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, {} products, {} element-wise", self.weights, self.matrix, self.elementwise)
    }
}

/// gemm-common 0.19's own choice (`init_gemm_fn`): AVX-512F first, then FMA, else scalar.
fn f32_matrix_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            "avx512f"
        } else if is_x86_feature_detected!("fma") {
            "avx2_fma"
        } else {
            "portable"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        "portable"
    }
}
