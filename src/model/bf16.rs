//! bf16 linear layers for the packed encoder (`--weights bf16`): weights rounded once at load to
//! bfloat16 (f32's range, 8 of its 24 bits of precision), activations rounded the same way when
//! the layer runs, and each pair of products summed into f32. Bias, residual, GELU, LayerNorm and
//! attention stay f32, as in `int8.rs`.
//!
//! Why: on AVX-512 BF16 one `vdpbf16ps` does 32 multiply-adds where an f32 FMA does 16, with no
//! per-channel scales to lose precision to, so it sits between f32 and int8 in speed and much
//! nearer f32 in its answers. Two kernels, chosen at run time ([`Bf16Kernel::best`]):
//! - AVX-512 BF16: `vdpbf16ps`, in the tiles of the int8 VNNI kernel (6 rows × 64 channels);
//! - portable: plain loops over the same bf16 values, for any other CPU (slow: it is there so
//!   that the flag works everywhere, and as the tests' reference).
//!
//! Products of two bf16 values are exact in f32, so the kernels differ only in the order their
//! f32 sums are rounded in (tested to agree closely, not bit for bit).

use rayon::prelude::*;

use super::kernels::{for_each_tile, SharedOut};

/// Output channels per block: one 512-bit vector of f32 lanes.
const BLOCK: usize = 16;
/// Blocks a task computes side by side (64 channels), as in `int8.rs`.
const GROUP: usize = 4;
const GROUP_CHANNELS: usize = BLOCK * GROUP;
/// bf16 values of one group at one step of two inputs.
const GROUP_STEP: usize = GROUP_CHANNELS * 2;

/// Which kernel runs the bf16 products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bf16Kernel {
    /// AVX-512 F with BF16 (`vdpbf16ps`): Intel since Cooper Lake / Sapphire Rapids, AMD since Zen 4.
    Avx512Bf16,
    /// Plain Rust: any CPU.
    Portable,
}

impl Bf16Kernel {
    /// The fastest kernel this CPU can run; the portable one warns, since it is far slower than f32.
    pub fn best() -> Self {
        if Bf16Kernel::Avx512Bf16.available() {
            Bf16Kernel::Avx512Bf16
        } else {
            tracing::warn!("this CPU lacks AVX-512 BF16: bf16 weights run on portable loops, far slower than f32");
            Bf16Kernel::Portable
        }
    }

    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Bf16Kernel::Avx512Bf16 => is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512bf16"),
            Bf16Kernel::Portable => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Bf16Kernel::Avx512Bf16 => "avx512_bf16",
            Bf16Kernel::Portable => "portable",
        }
    }
}

/// f32 to bf16, rounding to nearest with ties to even (as `vcvtne2ps2bf16` does).
fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    if x.is_nan() {
        return ((bits >> 16) | 0x40) as u16;
    }
    ((bits + 0x7fff + ((bits >> 16) & 1)) >> 16) as u16
}

fn from_bf16(h: u16) -> f32 {
    f32::from_bits((h as u32) << 16)
}

/// A linear layer `y = x · Wᵀ + b` with W in bf16, packed for the kernels: per group of 64
/// output channels, per step of 2 inputs, the 64 channels' two values side by side (what one
/// `vdpbf16ps` row of four zmm reads).
pub struct Bf16Linear {
    outputs: usize,
    inputs: usize,
    /// Inputs rounded up to a multiple of 2 (zero padded on both sides).
    depth: usize,
    groups: usize,
    packed: Vec<u16>,
    bias: Vec<f32>,
    kernel: Bf16Kernel,
}

impl Bf16Linear {
    /// Round an f32 layer (weights as PyTorch stores them: outputs × inputs, row-major) to bf16.
    pub fn new(weight: &[f32], bias: Vec<f32>, outputs: usize, inputs: usize, kernel: Bf16Kernel) -> Self {
        assert_eq!((weight.len(), bias.len()), (outputs * inputs, outputs), "weights do not match their shape");
        let kernel = if kernel.available() { kernel } else { Bf16Kernel::Portable };
        let depth = inputs.div_ceil(2) * 2;
        let groups = outputs.div_ceil(GROUP_CHANNELS);
        let mut packed = vec![0u16; groups * GROUP_CHANNELS * depth];
        for (n, row) in weight.chunks(inputs).enumerate() {
            let (group, channel) = (n / GROUP_CHANNELS, n % GROUP_CHANNELS);
            for (k, &w) in row.iter().enumerate() {
                packed[(group * depth / 2 + k / 2) * GROUP_STEP + channel * 2 + k % 2] = to_bf16(w);
            }
        }
        Bf16Linear { outputs, inputs, depth, groups, packed, bias, kernel }
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn kernel(&self) -> Bf16Kernel {
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
        let mut rounded = vec![0u16; rows * self.depth];
        rounded.par_chunks_mut(self.depth * 16).zip(x.par_chunks(self.inputs * 16)).for_each(|(a, x)| {
            for (a, x) in a.chunks_mut(self.depth).zip(x.chunks(self.inputs)) {
                for (a, &x) in a.iter_mut().zip(x) {
                    *a = to_bf16(x);
                }
            }
        });
        let out = SharedOut(out.as_mut_ptr());
        for_each_tile(self.groups, rows, self.kernel.tile_rows(), |group, row, tile| {
            let first = group * GROUP_CHANNELS;
            let finish = Epilogue { out, outputs: self.outputs, residual, bias: &self.bias, first, width: (self.outputs - first).min(GROUP_CHANNELS) };
            let weights = &self.packed[group * (self.depth / 2) * GROUP_STEP..(group + 1) * (self.depth / 2) * GROUP_STEP];
            let a = &rounded[row * self.depth..(row + tile) * self.depth];
            // SAFETY: the epilogue writes rows row..row+tile of this group's channels only.
            unsafe { self.kernel.tile(a, self.depth, weights, tile, &finish, row) };
        });
    }
}

/// Dot products to outputs: `out = (bias + residual) + dot`.
struct Epilogue<'a> {
    out: SharedOut,
    outputs: usize,
    residual: Option<&'a [f32]>,
    bias: &'a [f32],
    /// This group's first channel, and how many of its 64 are real.
    first: usize,
    width: usize,
}

impl Epilogue<'_> {
    /// SAFETY: rows `row..row + rows` exist, and no other task writes this group's channels.
    #[inline(always)]
    unsafe fn apply(&self, dots: &[f32], row: usize, rows: usize) {
        let (first, width) = (self.first, self.width);
        let bias = &self.bias[first..first + width];
        for r in 0..rows {
            let at = (row + r) * self.outputs + first;
            let dst = std::slice::from_raw_parts_mut(self.out.at(at), width);
            let dots = &dots[r * GROUP_CHANNELS..r * GROUP_CHANNELS + width];
            match self.residual {
                Some(res) => {
                    for (((o, &b), &x), &d) in dst.iter_mut().zip(bias).zip(&res[at..at + width]).zip(dots) {
                        *o = (b + x) + d;
                    }
                }
                None => {
                    for ((o, &b), &d) in dst.iter_mut().zip(bias).zip(dots) {
                        *o = b + d;
                    }
                }
            }
        }
    }
}

impl Bf16Kernel {
    /// Rows per tile: as many as keep every accumulator in a register.
    fn tile_rows(self) -> usize {
        match self {
            Bf16Kernel::Avx512Bf16 => 6,
            Bf16Kernel::Portable => 1,
        }
    }

    /// One tile: `rows` rows of `a` (each `depth` values) against one group of 64 channels.
    /// SAFETY: as [`Epilogue::apply`]; and the kernel is one `available()` accepted.
    unsafe fn tile(self, a: &[u16], depth: usize, w: &[u16], rows: usize, finish: &Epilogue, row: usize) {
        match self {
            #[cfg(target_arch = "x86_64")]
            Bf16Kernel::Avx512Bf16 => match rows {
                6 => x86::bf16_tile::<6>(a, depth, w, finish, row),
                5 => x86::bf16_tile::<5>(a, depth, w, finish, row),
                4 => x86::bf16_tile::<4>(a, depth, w, finish, row),
                3 => x86::bf16_tile::<3>(a, depth, w, finish, row),
                2 => x86::bf16_tile::<2>(a, depth, w, finish, row),
                _ => x86::bf16_tile::<1>(a, depth, w, finish, row),
            },
            _ => portable_tile(a, depth, w, rows, finish, row),
        }
    }
}

unsafe fn portable_tile(a: &[u16], depth: usize, w: &[u16], rows: usize, finish: &Epilogue, row: usize) {
    let mut dots = [0f32; GROUP_CHANNELS];
    for r in 0..rows {
        dots.fill(0.0);
        let a_row = &a[r * depth..(r + 1) * depth];
        for (step, a2) in w.chunks_exact(GROUP_STEP).zip(a_row.chunks_exact(2)) {
            let (a0, a1) = (from_bf16(a2[0]), from_bf16(a2[1]));
            for (d, w2) in dots.iter_mut().zip(step.chunks_exact(2)) {
                *d += a1 * from_bf16(w2[1]) + a0 * from_bf16(w2[0]);
            }
        }
        finish.apply(&dots, row + r, 1);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Epilogue, BLOCK, GROUP, GROUP_CHANNELS, GROUP_STEP};
    use std::arch::x86_64::*;

    /// ROWS × 64 dot products: ROWS × 4 zmm accumulators, four weight vectors per step of two
    /// inputs, each row's pair of inputs broadcast as one 32-bit lane.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn bf16_tile<const ROWS: usize>(a: &[u16], depth: usize, w: &[u16], finish: &Epilogue, row: usize) {
        debug_assert!(a.len() >= ROWS * depth && w.len() >= depth / 2 * GROUP_STEP);
        let mut dots = [[0f32; GROUP_CHANNELS]; ROWS];
        let mut acc = [[_mm512_setzero_ps(); GROUP]; ROWS];
        let wp = w.as_ptr();
        for step in 0..depth / 2 {
            let base = wp.add(step * GROUP_STEP);
            let wv: [__m512bh; GROUP] = std::array::from_fn(|b| std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(base.add(b * BLOCK * 2) as *const _)));
            for r in 0..ROWS {
                let pair = std::ptr::read_unaligned(a.as_ptr().add(r * depth + step * 2) as *const i32);
                let av = std::mem::transmute::<__m512i, __m512bh>(_mm512_set1_epi32(pair));
                for b in 0..GROUP {
                    acc[r][b] = _mm512_dpbf16_ps(acc[r][b], av, wv[b]);
                }
            }
        }
        for r in 0..ROWS {
            for b in 0..GROUP {
                _mm512_storeu_ps(dots[r].as_mut_ptr().add(b * BLOCK), acc[r][b]);
            }
        }
        finish.apply(dots.as_flattened(), row, ROWS);
    }
}

#[cfg(test)]
mod tests {
    use super::super::int8::tests::{random, reference};
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn rounding_to_bf16_is_to_nearest_even() {
        assert_eq!(to_bf16(1.0), 0x3f80);
        // 1 + 2^-8 lies halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1).
        assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
        assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
        assert!(from_bf16(to_bf16(f32::NAN)).is_nan());
    }

    /// Every kernel this CPU has agrees with the portable one to f32 rounding, over shapes that
    /// leave partial tiles, partial groups and an odd number of inputs; and all stay close to f32.
    #[test]
    fn kernels_agree_and_track_f32() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(16);
        for &(rows, outputs, inputs) in &[(1, 16, 4), (7, 40, 31), (13, 130, 68), (25, 64, 384)] {
            let w = random(outputs * inputs, &mut rng);
            let bias = random(outputs, &mut rng);
            let x = random(rows * inputs, &mut rng);
            let residual: Vec<f32> = (0..rows * outputs).map(|i| (i % 7) as f32 * 0.25).collect();
            let run = |kernel| {
                let layer = Bf16Linear::new(&w, bias.clone(), outputs, inputs, kernel);
                assert_eq!(layer.kernel(), kernel);
                let mut out = vec![0f32; rows * outputs];
                layer.forward_into(&x, None, &mut out);
                let mut with_residual = vec![0f32; rows * outputs];
                layer.forward_into(&x, Some(&residual), &mut with_residual);
                for ((a, b), r) in with_residual.iter().zip(&out).zip(&residual) {
                    assert!((a - (b + r)).abs() < 1e-5, "the residual is not added");
                }
                out
            };
            let portable = run(Bf16Kernel::Portable);
            if Bf16Kernel::Avx512Bf16.available() {
                let fast = run(Bf16Kernel::Avx512Bf16);
                let worst = fast.iter().zip(&portable).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
                assert!(worst < 1e-4 * (inputs as f32).sqrt(), "avx512_bf16 strays {worst} from portable at {rows}x{outputs}x{inputs}");
            }
            let exact = reference(&x, &w, &bias, inputs);
            let worst = exact.iter().zip(&portable).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            // Each side is rounded to 8 bits (at most 2^-9 relative): about 0.4% of the largest
            // terms here, summed over `inputs` terms of random sign.
            assert!(worst < 0.01 * (inputs as f32).sqrt(), "bf16 strays {worst} from f32 at {rows}x{outputs}x{inputs}");
        }
    }
}
