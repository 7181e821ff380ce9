//! int8 linear layers for the packed encoder (`--weights int8`): weights quantized once at load,
//! per output channel (symmetric, i8); activations per token at run time; products summed
//! exactly in i32 and scaled back to f32. Bias, residual, GELU, LayerNorm and attention stay f32.
//!
//! Three kernels compute the same integers, so they agree bit for bit (tested below), and the
//! fastest one the CPU has is chosen at run time ([`Int8Kernel::best`]):
//! - AVX-512 VNNI: `vpdpbusd` multiplies unsigned by signed bytes, four pairs into each i32
//!   lane. Activations are kept signed and shifted by 128 on the fly; the shift's share,
//!   128 × the channel's weight sum, is taken off before scaling;
//! - AVX2: `vpmaddubsw` on |a| and w·sign(a), then `vpmaddwd` into i32. Both sides lie in
//!   [-127, 127], so a pair sums to at most 32,258 and the i16 step never saturates;
//! - portable: plain loops, for any other CPU and as the tests' reference.

use rayon::prelude::*;

use super::kernels::{for_each_tile, quantize_row, SharedOut};

/// Output channels per block: one 512-bit vector of i32 lanes.
const BLOCK: usize = 16;
/// Blocks a task computes side by side (64 channels): four zmm accumulators per row. Weights
/// are padded with zero channels to a whole group.
const GROUP: usize = 4;
const GROUP_CHANNELS: usize = BLOCK * GROUP;
/// Bytes of one group at one step of four inputs.
const GROUP_STEP: usize = GROUP_CHANNELS * 4;

/// Which integer kernel runs the products.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Int8Kernel {
    /// AVX-512 F/BW with VNNI (`vpdpbusd`): Intel since Cascade Lake, AMD since Zen 4.
    Avx512Vnni,
    /// AVX2 (`vpmaddubsw` + `vpmaddwd`): x86-64 since Haswell.
    Avx2,
    /// Plain Rust: any CPU.
    Portable,
}

impl Int8Kernel {
    /// The fastest kernel this CPU can run.
    pub fn best() -> Self {
        [Int8Kernel::Avx512Vnni, Int8Kernel::Avx2].into_iter().find(|k| k.available()).unwrap_or(Int8Kernel::Portable)
    }

    /// The kernel asked for, or the best this CPU has when none was asked for or the CPU lacks
    /// it (with a warning: a comparison asked for cannot be made here).
    pub fn resolve(asked: Option<Int8Kernel>) -> Self {
        match asked {
            Some(k) if k.available() => k,
            Some(k) => {
                tracing::warn!(asked = k.name(), using = Int8Kernel::best().name(), "this CPU lacks the int8 kernel asked for");
                Int8Kernel::best()
            }
            None => Int8Kernel::best(),
        }
    }

    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx512Vnni => {
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni")
            }
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => is_x86_feature_detected!("avx2"),
            Int8Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Int8Kernel::Avx512Vnni => "avx512_vnni",
            Int8Kernel::Avx2 => "avx2",
            Int8Kernel::Portable => "portable",
        }
    }
}

/// A linear layer `y = x · Wᵀ + b` with W in i8, packed for the kernels: per group of 64 output
/// channels, per step of 4 inputs, the 64 channels' 4 bytes side by side (what one `vpdpbusd`
/// row of four zmm reads).
pub struct Int8Linear {
    outputs: usize,
    inputs: usize,
    /// Inputs rounded up to a multiple of 4 (zero padded on both sides).
    depth: usize,
    groups: usize,
    packed: Vec<i8>,
    /// Per output channel (padding channels 0): the f32 value of one integer step.
    scales: Vec<f32>,
    /// Per output channel: 128 × the sum of its integer weights (the VNNI shift's share).
    shifts: Vec<i32>,
    bias: Vec<f32>,
    kernel: Int8Kernel,
}

impl Int8Linear {
    /// Quantize an f32 layer (weights as PyTorch stores them: outputs × inputs, row-major), to
    /// run on `kernel` ([`Int8Kernel::resolve`]: a kernel the CPU lacks is never run).
    pub fn quantize(weight: &[f32], bias: Vec<f32>, outputs: usize, inputs: usize, kernel: Int8Kernel) -> Self {
        assert_eq!((weight.len(), bias.len()), (outputs * inputs, outputs), "weights do not match their shape");
        let kernel = Int8Kernel::resolve(Some(kernel));
        let depth = inputs.div_ceil(4) * 4;
        let groups = outputs.div_ceil(GROUP_CHANNELS);
        let padded = groups * GROUP_CHANNELS;
        let mut packed = vec![0i8; padded * depth];
        let mut scales = vec![0f32; padded];
        let mut shifts = vec![0i32; padded];
        for (n, row) in weight.chunks(inputs).enumerate() {
            let max = row.iter().fold(0f32, |m, &w| m.max(w.abs()));
            if max == 0.0 {
                continue;
            }
            scales[n] = max / 127.0;
            let (group, channel) = (n / GROUP_CHANNELS, n % GROUP_CHANNELS);
            let mut sum = 0i32;
            for (k, &w) in row.iter().enumerate() {
                let q = (w / scales[n]).round().clamp(-127.0, 127.0) as i8;
                packed[(group * depth / 4 + k / 4) * GROUP_STEP + channel * 4 + k % 4] = q;
                sum += q as i32;
            }
            shifts[n] = 128 * sum;
        }
        Int8Linear { outputs, inputs, depth, groups, packed, scales, shifts, bias, kernel }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn kernel(&self) -> Int8Kernel {
        self.kernel
    }

    /// `out[r] = bias + residual[r] + x[r] · Wᵀ` for every row.
    pub fn forward_into(&self, x: &[f32], residual: Option<&[f32]>, out: &mut [f32]) {
        let rows = x.len() / self.inputs;
        assert_eq!(out.len(), rows * self.outputs, "output rows do not match the input rows");
        assert!(residual.is_none_or(|r| r.len() == out.len()), "residual rows do not match the output rows");
        if rows == 0 {
            return;
        }
        // Activations per token: one scale per row, so a loud token costs no other its range.
        let mut quantized = vec![0i8; rows * self.depth];
        let mut row_scales = vec![0f32; rows];
        quantized.par_chunks_mut(self.depth * 16).zip(row_scales.par_chunks_mut(16)).zip(x.par_chunks(self.inputs * 16)).for_each(|((q, s), x)| {
            for ((q, s), x) in q.chunks_mut(self.depth).zip(s.iter_mut()).zip(x.chunks(self.inputs)) {
                *s = quantize_row(x, &mut q[..self.inputs]);
            }
        });
        let out = SharedOut(out.as_mut_ptr());
        for_each_tile(self.groups, rows, self.kernel.tile_rows(), |group, row, tile| {
            let first = group * GROUP_CHANNELS;
            let finish = Epilogue {
                out,
                outputs: self.outputs,
                residual,
                bias: &self.bias,
                scales: &self.scales[first..first + GROUP_CHANNELS],
                row_scales: &row_scales,
                first,
                width: (self.outputs - first).min(GROUP_CHANNELS),
            };
            let weights = &self.packed[group * (self.depth / 4) * GROUP_STEP..(group + 1) * (self.depth / 4) * GROUP_STEP];
            let shifts = &self.shifts[first..first + GROUP_CHANNELS];
            let a = &quantized[row * self.depth..(row + tile) * self.depth];
            // SAFETY: the epilogue writes rows row..row+tile of this group's channels only.
            unsafe { self.kernel.tile(a, self.depth, weights, shifts, tile, &finish, row) };
        });
    }
}

/// Integer dot products to f32 outputs: `out = bias + residual + dot · (row scale · channel
/// scale)`, in that order of operations in every kernel, so all give the same bits.
struct Epilogue<'a> {
    out: SharedOut,
    outputs: usize,
    residual: Option<&'a [f32]>,
    bias: &'a [f32],
    /// This group's 64 channel scales.
    scales: &'a [f32],
    row_scales: &'a [f32],
    /// This group's first channel, and how many of its 64 are real.
    first: usize,
    width: usize,
}

impl Epilogue<'_> {
    /// Inlined into each kernel, so the compiler vectorises it for that kernel's instructions.
    /// SAFETY: rows `row..row + rows` exist, and no other task writes this group's channels.
    #[inline(always)]
    unsafe fn apply(&self, dots: &[i32], row: usize, rows: usize) {
        let (first, width) = (self.first, self.width);
        let bias = &self.bias[first..first + width];
        let scales = &self.scales[..width];
        for r in 0..rows {
            let at = (row + r) * self.outputs + first;
            let a_scale = self.row_scales[row + r];
            let dst = std::slice::from_raw_parts_mut(self.out.at(at), width);
            let dots = &dots[r * GROUP_CHANNELS..r * GROUP_CHANNELS + width];
            match self.residual {
                Some(res) => {
                    for ((((o, &b), &x), &d), &s) in dst.iter_mut().zip(bias).zip(&res[at..at + width]).zip(dots).zip(scales) {
                        *o = (b + x) + d as f32 * (a_scale * s);
                    }
                }
                None => {
                    for (((o, &b), &d), &s) in dst.iter_mut().zip(bias).zip(dots).zip(scales) {
                        *o = b + d as f32 * (a_scale * s);
                    }
                }
            }
        }
    }
}

impl Int8Kernel {
    /// Rows per tile: as many as keep every accumulator in a register.
    fn tile_rows(self) -> usize {
        match self {
            Int8Kernel::Avx512Vnni => 6,
            Int8Kernel::Avx2 => 4,
            Int8Kernel::Portable => 1,
        }
    }

    /// One tile: `rows` rows of `a` (each `depth` bytes) against one group of 64 channels,
    /// finished into the output by `finish`.
    /// SAFETY: as [`Epilogue::apply`]; and the kernel is one `available()` accepted.
    unsafe fn tile(self, a: &[i8], depth: usize, w: &[i8], shifts: &[i32], rows: usize, finish: &Epilogue, row: usize) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx512Vnni => match rows {
                6 => x86::vnni_tile::<6>(a, depth, w, shifts, finish, row),
                5 => x86::vnni_tile::<5>(a, depth, w, shifts, finish, row),
                4 => x86::vnni_tile::<4>(a, depth, w, shifts, finish, row),
                3 => x86::vnni_tile::<3>(a, depth, w, shifts, finish, row),
                2 => x86::vnni_tile::<2>(a, depth, w, shifts, finish, row),
                _ => x86::vnni_tile::<1>(a, depth, w, shifts, finish, row),
            },
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => match rows {
                4 => x86::avx2_tile::<4>(a, depth, w, finish, row),
                3 => x86::avx2_tile::<3>(a, depth, w, finish, row),
                2 => x86::avx2_tile::<2>(a, depth, w, finish, row),
                _ => x86::avx2_tile::<1>(a, depth, w, finish, row),
            },
            _ => portable_tile(a, depth, w, rows, finish, row),
        }
    }
}

unsafe fn portable_tile(a: &[i8], depth: usize, w: &[i8], rows: usize, finish: &Epilogue, row: usize) {
    let mut dots = [0i32; GROUP_CHANNELS];
    for r in 0..rows {
        dots.fill(0);
        let a_row = &a[r * depth..(r + 1) * depth];
        for (step, a4) in w.chunks_exact(GROUP_STEP).zip(a_row.chunks_exact(4)) {
            for (c, w4) in step.chunks_exact(4).enumerate() {
                dots[c] += (0..4).map(|t| a4[t] as i32 * w4[t] as i32).sum::<i32>();
            }
        }
        finish.apply(&dots, row + r, 1);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Epilogue, BLOCK, GROUP, GROUP_CHANNELS, GROUP_STEP};
    use std::arch::x86_64::*;

    /// Four bytes of a row, read as one i32 to broadcast.
    #[inline(always)]
    unsafe fn four(a: &[i8], at: usize) -> i32 {
        debug_assert!(at + 4 <= a.len());
        std::ptr::read_unaligned(a.as_ptr().add(at) as *const i32)
    }

    /// ROWS × 64 dot products: ROWS × 4 zmm accumulators, four weight vectors per step.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn vnni_tile<const ROWS: usize>(a: &[i8], depth: usize, w: &[i8], shifts: &[i32], finish: &Epilogue, row: usize) {
        debug_assert!(a.len() >= ROWS * depth && w.len() >= depth / 4 * GROUP_STEP);
        let mut dots = [[0i32; GROUP_CHANNELS]; ROWS];
        // XOR with 0x80 in every byte turns a signed byte into itself + 128, unsigned.
        const FLIP: i32 = 0x8080_8080u32 as i32;
        let mut acc = [[_mm512_setzero_si512(); GROUP]; ROWS];
        let wp = w.as_ptr();
        for step in 0..depth / 4 {
            let base = wp.add(step * GROUP_STEP);
            let wv: [__m512i; GROUP] = std::array::from_fn(|b| _mm512_loadu_si512(base.add(b * BLOCK * 4) as *const _));
            for r in 0..ROWS {
                let av = _mm512_set1_epi32(four(a, r * depth + step * 4) ^ FLIP);
                for b in 0..GROUP {
                    acc[r][b] = _mm512_dpbusd_epi32(acc[r][b], av, wv[b]);
                }
            }
        }
        for b in 0..GROUP {
            let shift = _mm512_loadu_si512(shifts.as_ptr().add(b * BLOCK) as *const _);
            for r in 0..ROWS {
                _mm512_storeu_si512(dots[r].as_mut_ptr().add(b * BLOCK) as *mut _, _mm512_sub_epi32(acc[r][b], shift));
            }
        }
        finish.apply(dots.as_flattened(), row, ROWS);
    }

    /// ROWS × 64 dot products, one block of 16 channels (two ymm per row) at a time.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn avx2_tile<const ROWS: usize>(a: &[i8], depth: usize, w: &[i8], finish: &Epilogue, row: usize) {
        debug_assert!(a.len() >= ROWS * depth && w.len() >= depth / 4 * GROUP_STEP);
        let mut dots = [[0i32; GROUP_CHANNELS]; ROWS];
        let ones = _mm256_set1_epi16(1);
        let wp = w.as_ptr();
        for b in 0..GROUP {
            let mut acc = [[_mm256_setzero_si256(); 2]; ROWS];
            for step in 0..depth / 4 {
                let base = wp.add(step * GROUP_STEP + b * BLOCK * 4);
                let wv = [_mm256_loadu_si256(base as *const _), _mm256_loadu_si256(base.add(32) as *const _)];
                for r in 0..ROWS {
                    let av = _mm256_set1_epi32(four(a, r * depth + step * 4));
                    let magnitude = _mm256_sign_epi8(av, av);
                    for h in 0..2 {
                        let pairs = _mm256_maddubs_epi16(magnitude, _mm256_sign_epi8(wv[h], av));
                        acc[r][h] = _mm256_add_epi32(acc[r][h], _mm256_madd_epi16(pairs, ones));
                    }
                }
            }
            for r in 0..ROWS {
                for h in 0..2 {
                    _mm256_storeu_si256(dots[r].as_mut_ptr().add(b * BLOCK + h * 8) as *mut _, acc[r][h]);
                }
            }
        }
        finish.apply(dots.as_flattened(), row, ROWS);
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// Values in [-1, 1), for the layers' tests here and in `bf16.rs`.
    pub(in crate::model) fn random(len: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect()
    }

    /// `x · Wᵀ + b` in plain f32.
    pub(in crate::model) fn reference(x: &[f32], w: &[f32], bias: &[f32], inputs: usize) -> Vec<f32> {
        x.chunks(inputs).flat_map(|row| w.chunks(inputs).zip(bias).map(move |(wr, b)| b + row.iter().zip(wr).map(|(a, b)| a * b).sum::<f32>())).collect()
    }

    /// Every kernel this CPU has gives the portable kernel's bits, over shapes that leave
    /// partial tiles, partial groups and inputs not a multiple of 4; and all stay close to f32.
    #[test]
    fn kernels_agree_bit_for_bit_and_track_f32() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(21);
        for &(rows, outputs, inputs) in &[(1, 16, 4), (7, 40, 30), (13, 130, 68), (25, 64, 384)] {
            let w = random(outputs * inputs, &mut rng);
            let bias = random(outputs, &mut rng);
            let x = random(rows * inputs, &mut rng);
            let run = |kernel| {
                let layer = Int8Linear::quantize(&w, bias.clone(), outputs, inputs, kernel);
                assert_eq!(layer.kernel(), kernel);
                let mut out = vec![0f32; rows * outputs];
                layer.forward_into(&x, None, &mut out);
                let residual: Vec<f32> = (0..rows * outputs).map(|i| (i % 7) as f32 * 0.25).collect();
                let mut with_residual = vec![0f32; rows * outputs];
                layer.forward_into(&x, Some(&residual), &mut with_residual);
                for ((a, b), r) in with_residual.iter().zip(&out).zip(&residual) {
                    assert!((a - (b + r)).abs() < 1e-5, "the residual is not added");
                }
                (out, with_residual)
            };
            let (portable, portable_residual) = run(Int8Kernel::Portable);
            for kernel in [Int8Kernel::Avx512Vnni, Int8Kernel::Avx2] {
                if kernel.available() {
                    assert_eq!(run(kernel), (portable.clone(), portable_residual.clone()), "{kernel:?} differs at {rows}x{outputs}x{inputs}");
                }
            }
            let exact = reference(&x, &w, &bias, inputs);
            let worst = exact.iter().zip(&portable).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            // Each product carries at most half a step of each side's error: about 1% of the
            // largest terms here, summed over `inputs` terms of random sign.
            assert!(worst < 0.02 * (inputs as f32).sqrt(), "int8 strays {worst} from f32 at {rows}x{outputs}x{inputs}");
        }
    }

    #[test]
    fn zero_rows_and_channels_give_bias() {
        let w = vec![0f32; 20 * 8];
        let layer = Int8Linear::quantize(&w, vec![0.5; 20], 20, 8, Int8Kernel::best());
        let mut out = vec![0f32; 3 * 20];
        layer.forward_into(&vec![0f32; 3 * 8], None, &mut out);
        assert!(out.iter().all(|&v| v == 0.5));
    }
}
