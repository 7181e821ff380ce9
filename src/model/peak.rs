//! The ceiling of the roofline for `triage model bench`: how many multiply-adds a second this
//! machine's cores retire with the instruction the matrix kernels use, measured on independent
//! register-resident chains (no memory traffic), so the benchmark can say what share of it the
//! encoder's products reach.

use std::time::Instant;

use rayon::prelude::*;

use super::backend::KernelPath;

/// Operations (a multiply-add counts 2) per second over `threads` threads for `path`'s matrix
/// instruction; None for the portable kernels, whose ceiling depends on what the compiler made.
pub fn peak_ops_per_second(path: &KernelPath, threads: usize) -> Option<f64> {
    let per_thread: fn(u64) -> f64 = match path.matrix {
        #[cfg(target_arch = "x86_64")]
        "avx512_vnni" => x86::vnni,
        #[cfg(target_arch = "x86_64")]
        "avx2" => x86::maddubs,
        #[cfg(target_arch = "x86_64")]
        "avx2_fma" => x86::fma,
        #[cfg(target_arch = "x86_64")]
        "avx512f" => x86::fma512,
        #[cfg(target_arch = "x86_64")]
        "avx512_bf16" => x86::dpbf16,
        _ => return None,
    };
    let rounds = 20_000_000;
    per_thread(rounds / 100); // warm the clocks
    let started = Instant::now();
    let ops: f64 = (0..threads.max(1)).into_par_iter().map(|_| per_thread(rounds)).sum();
    Some(ops / started.elapsed().as_secs_f64())
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::hint::black_box;

    /// Twelve accumulators: more than the instruction's latency × throughput on any current core.
    const CHAINS: usize = 12;

    pub fn vnni(rounds: u64) -> f64 {
        // SAFETY: only called when the kernel path says the CPU has AVX-512 VNNI.
        unsafe { vnni_loop(rounds) }
    }

    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn vnni_loop(rounds: u64) -> f64 {
        let a = black_box(_mm512_set1_epi8(3));
        let b = black_box(_mm512_set1_epi8(-2));
        let mut acc = [_mm512_setzero_si512(); CHAINS];
        for _ in 0..rounds {
            for c in acc.iter_mut() {
                *c = _mm512_dpbusd_epi32(*c, a, b);
            }
        }
        black_box(acc);
        // 16 lanes × 4 byte products, 2 operations each.
        (rounds * CHAINS as u64 * 16 * 4 * 2) as f64
    }

    pub fn maddubs(rounds: u64) -> f64 {
        // SAFETY: only called when the kernel path says the CPU has AVX2.
        unsafe { maddubs_loop(rounds) }
    }

    /// The AVX2 int8 kernel's inner step: sign, multiply-add pairs, widen, accumulate.
    #[target_feature(enable = "avx2")]
    unsafe fn maddubs_loop(rounds: u64) -> f64 {
        let a = black_box(_mm256_set1_epi8(3));
        let w = black_box(_mm256_set1_epi8(-2));
        let ones = _mm256_set1_epi16(1);
        let mut acc = [_mm256_setzero_si256(); CHAINS];
        for _ in 0..rounds {
            for c in acc.iter_mut() {
                let pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(w, a));
                *c = _mm256_add_epi32(*c, _mm256_madd_epi16(pairs, ones));
            }
        }
        black_box(acc);
        (rounds * CHAINS as u64 * 32 * 2) as f64
    }

    pub fn fma(rounds: u64) -> f64 {
        // SAFETY: only called when the kernel path says the CPU has AVX2 and FMA.
        unsafe { fma_loop(rounds) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn fma_loop(rounds: u64) -> f64 {
        let a = black_box(_mm256_set1_ps(0.999));
        let b = black_box(_mm256_set1_ps(1e-3));
        let mut acc = [_mm256_setzero_ps(); CHAINS];
        for _ in 0..rounds {
            for c in acc.iter_mut() {
                *c = _mm256_fmadd_ps(*c, a, b);
            }
        }
        black_box(acc);
        (rounds * CHAINS as u64 * 8 * 2) as f64
    }

    pub fn dpbf16(rounds: u64) -> f64 {
        // SAFETY: only called when the kernel path says the CPU has AVX-512 BF16.
        unsafe { dpbf16_loop(rounds) }
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn dpbf16_loop(rounds: u64) -> f64 {
        let a = black_box(_mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5), _mm512_set1_ps(0.25)));
        let b = black_box(_mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-3), _mm512_set1_ps(2e-3)));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..rounds {
            for c in acc.iter_mut() {
                *c = _mm512_dpbf16_ps(*c, a, b);
            }
        }
        black_box(acc);
        // 16 lanes × 2 products, 2 operations each.
        (rounds * CHAINS as u64 * 16 * 2 * 2) as f64
    }

    pub fn fma512(rounds: u64) -> f64 {
        // SAFETY: only called when the kernel path says the CPU has AVX-512F.
        unsafe { fma512_loop(rounds) }
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn fma512_loop(rounds: u64) -> f64 {
        let a = black_box(_mm512_set1_ps(0.999));
        let b = black_box(_mm512_set1_ps(1e-3));
        let mut acc = [_mm512_setzero_ps(); CHAINS];
        for _ in 0..rounds {
            for c in acc.iter_mut() {
                *c = _mm512_fmadd_ps(*c, a, b);
            }
        }
        black_box(acc);
        (rounds * CHAINS as u64 * 16 * 2) as f64
    }
}
