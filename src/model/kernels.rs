//! Element-wise CPU kernels for the encoder: softmax, GELU, LayerNorm, the bias pass and the
//! int8 path's activation quantization, as slice functions for the packed encoder
//! (`packed.rs`, `int8.rs`), and the pointer their parallel tasks share.
//!
//! Profiling `triage model bench` showed the erf of GELU and the exp of softmax as scalar libm
//! calls, a fifth of encoder time. These kernels compute the same functions with branch-free
//! polynomials that the compiler vectorises (absolute error below 1e-6 against libm, far under
//! f32 noise), and each is also compiled for AVX2 and AVX-512, chosen at run time
//! ([`wide_kernel!`]).


/// A raw pointer that rayon tasks may share because each writes a disjoint part of the buffer
/// (the packed encoder's attention heads, the int8 layers' channel groups).
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);
unsafe impl Send for SharedOut {}
unsafe impl Sync for SharedOut {}

impl SharedOut {
    /// SAFETY: the caller keeps `offset` inside the buffer and writes only its own part.
    pub(crate) unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

/// The walk of the int8 and bf16 layers: every group of output channels as its own parallel
/// task, down the rows in tiles of at most `tile_rows`; `tile(group, row, rows)` computes one.
pub(crate) fn for_each_tile(groups: usize, rows: usize, tile_rows: usize, tile: impl Fn(usize, usize, usize) + Sync) {
    use rayon::prelude::*;
    (0..groups).into_par_iter().for_each(|group| {
        let mut row = 0;
        while row < rows {
            let n = (rows - row).min(tile_rows);
            tile(group, row, n);
            row += n;
        }
    });
}

/// e^x for x <= 0 (Cephes' expf polynomial after range reduction by ln 2).
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let x = x.max(-87.0);
    // round(x / ln2) without a call: adding 1.5 * 2^23 rounds to an integer.
    const MAGIC: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + MAGIC;
    let n = shifted - MAGIC;
    // The same integer read from the bits (one ulp is 1 at MAGIC's exponent): integer
    // arithmetic vectorises where a float-to-int cast, saturating in Rust, does not.
    let n_int = shifted.to_bits() as i32 - MAGIC.to_bits() as i32;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r + 1.666_666_5e-1) * r + 5.000_000_1e-1;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n_int + 127) as u32) << 23)
}

/// Defines a slice kernel three times: as written, and compiled for AVX2 (8 lanes) and AVX-512
/// (16 lanes), the widest the CPU has chosen at run time. The crate is built for baseline
/// x86-64 so that one binary runs everywhere; without this, the element-wise passes would use
/// 4-lane SSE. No FMA contraction happens in any (Rust does not fuse mul and add), so all give
/// the same bits. AVX-512 over AVX2: int8 encoder 85.6-89.0 texts/s against 80.5-81.3 on a
/// Zen 4 (`triage --weights int8 model bench`, 448 tipdm texts, 2026-12-06).
macro_rules! wide_kernel {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $(-> $ret:ty)? $body:block) => {
        $(#[$meta])*
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[inline(always)]
            fn body($($arg: $ty),*) $(-> $ret)? $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn widest($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                unsafe fn wide($($arg: $ty),*) $(-> $ret)? {
                    body($($arg),*)
                }
                match $crate::model::kernels::Width::detect() {
                    // SAFETY: the CPU was just found to support AVX-512F.
                    $crate::model::kernels::Width::Avx512 => return unsafe { widest($($arg),*) },
                    // SAFETY: the CPU was just found to support AVX2.
                    $crate::model::kernels::Width::Avx2 => return unsafe { wide($($arg),*) },
                    $crate::model::kernels::Width::Portable => {}
                }
            }
            body($($arg),*)
        }
    };
}

/// The widest vector extension the element-wise kernels run with on this CPU: what
/// `wide_kernel!` dispatches on, and what the kernel path reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Width {
    Avx512,
    Avx2,
    Portable,
}

impl Width {
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Width::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                return Width::Avx2;
            }
        }
        Width::Portable
    }

    pub fn name(self) -> &'static str {
        match self {
            Width::Avx512 => "avx512",
            Width::Avx2 => "avx2",
            Width::Portable => "portable",
        }
    }
}

/// Lanes of the partial sums in the reductions below: independent accumulators the compiler
/// can keep in one vector register (a plain running sum is a serial chain it must not reorder).
const LANES: usize = 8;

#[inline(always)]
fn lane_sum(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            acc[i] += f(c[i]);
        }
    }
    acc.iter().sum::<f32>() + chunks.remainder().iter().map(|&x| f(x)).sum::<f32>()
}

/// The largest `f(x)`.
#[inline(always)]
fn lane_max(xs: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let mut chunks = xs.chunks_exact(LANES);
    for c in &mut chunks {
        for i in 0..LANES {
            let v = f(c[i]);
            acc[i] = if v > acc[i] { v } else { acc[i] };
        }
    }
    chunks.remainder().iter().map(|&x| f(x)).chain(acc).fold(f32::NEG_INFINITY, |m, x| if x > m { x } else { m })
}

wide_kernel! {
    /// `row = softmax(row)`, in place.
    pub(crate) fn softmax_inplace(row: &mut [f32]) {
        let max = lane_max(row, |x| x);
        row.iter_mut().for_each(|x| *x = exp_neg(*x - max));
        let inv = 1.0 / lane_sum(row, |x| x);
        row.iter_mut().for_each(|x| *x *= inv);
    }
}

wide_kernel! {
    /// GELU (erf form) over a slice, in place.
    pub(crate) fn gelu_inplace(xs: &mut [f32]) {
        xs.iter_mut().for_each(|x| *x = gelu_erf(*x));
    }
}

wide_kernel! {
    /// LayerNorm of one row, in place.
    pub(crate) fn layer_norm_inplace(row: &mut [f32], weight: &[f32], bias: &[f32], eps: f32) {
        let n = row.len() as f32;
        let mean = lane_sum(row, |x| x) / n;
        let var = lane_sum(row, |x| (x - mean) * (x - mean)) / n;
        let inv = 1.0 / (var + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * inv * w + b;
        }
    }
}

wide_kernel! {
    /// `row = a + b`, element by element (bias plus residual before a product accumulates).
    pub(crate) fn add_into(row: &mut [f32], a: &[f32], b: &[f32]) {
        for ((o, x), y) in row.iter_mut().zip(a).zip(b) {
            *o = x + y;
        }
    }
}

wide_kernel! {
    /// Symmetric int8 quantization of one row (the int8 path's activations, `int8.rs`): `q`
    /// gets round(x / scale) and the scale is returned, 0 for a row of zeros.
    pub(crate) fn quantize_row(x: &[f32], q: &mut [i8]) -> f32 {
        let max = lane_max(x, f32::abs).max(0.0);
        if max == 0.0 {
            q.fill(0);
            return 0.0;
        }
        let inv = 127.0 / max;
        for (q, &v) in q.iter_mut().zip(x) {
            // Round to nearest by the float trick of `exp_neg`: |v · inv| <= 127, far inside
            // its range, and unlike `round` it needs no libm call on baseline x86-64.
            let shifted = v * inv + ROUNDING;
            *q = (shifted.to_bits() as i32 - ROUNDING.to_bits() as i32) as i8;
        }
        max / 127.0
    }
}

/// Adding 1.5 × 2^23 to a float of magnitude below 2^22 rounds it to an integer, held in the
/// low bits of the sum.
const ROUNDING: f32 = 12_582_912.0;

/// erf(x), Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7).
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = ((((1.061_405_4 * t - 1.453_152) * t + 1.421_413_7) * t - 0.284_496_74) * t + 0.254_829_6) * t;
    let y = 1.0 - poly * exp_neg(-a * a);
    y.copysign(x)
}

/// GELU with the exact (erf) form, as BERT and e5 use it.
#[inline(always)]
fn gelu_erf(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn exp_and_erf_match_libm() {
        let mut worst_exp = 0f32;
        let mut worst_erf = 0f32;
        for i in 0..=200_000 {
            let x = -20.0 + i as f32 * 1e-4;
            if x <= 0.0 {
                worst_exp = worst_exp.max((exp_neg(x) - x.exp()).abs() / x.exp().max(1e-30));
            }
            let reference = libm::erff(x);
            worst_erf = worst_erf.max((erf(x) - reference).abs());
        }
        assert!(worst_exp < 1e-6, "exp relative error {worst_exp}");
        assert!(worst_erf < 1e-6, "erf absolute error {worst_erf}");
    }

    #[test]
    fn quantize_row_rounds_to_the_nearest_step() {
        let x = [0.0, 1.0, -0.5, 0.25, -1.0, 0.004, 0.5 / 127.0 * 1.01];
        let mut q = [0i8; 7];
        let scale = quantize_row(&x, &mut q);
        assert_eq!(scale, 1.0 / 127.0);
        let expected: Vec<i8> = x.iter().map(|v| (v * 127.0f32).round() as i8).collect();
        assert_eq!(q.to_vec(), expected);
        assert_eq!(quantize_row(&[0.0; 5], &mut q[..5]), 0.0);
        assert_eq!(&q[..5], &[0; 5]);
    }

    #[test]
    fn kernels_agree_with_candle() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 2.0, (3, 5000), &dev).unwrap();
        let reference: Vec<f32> = x.gelu_erf().unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut mine: Vec<f32> = x.flatten_all().unwrap().to_vec1().unwrap();
        gelu_inplace(&mut mine);
        let diff = reference.iter().zip(&mine).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-6, "gelu differs by {diff}");

        let scores = Tensor::randn(0f32, 3.0, (6, 7), &dev).unwrap();
        let reference: Vec<f32> = candle_nn::ops::softmax_last_dim(&scores).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let mut mine: Vec<f32> = scores.flatten_all().unwrap().to_vec1().unwrap();
        mine.chunks_mut(7).for_each(softmax_inplace);
        let diff = reference.iter().zip(&mine).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(diff < 1e-6, "softmax differs by {diff}");
    }
}
