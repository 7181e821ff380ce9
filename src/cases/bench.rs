//! `triage cases bench`: the case index's query time at a city's volume, against a brute-force
//! f32 cosine scan run in the same invocation.
//!
//! The Hamming scan's cost does not depend on what the codes hold, so the large index is
//! filled with random codes (computing 6.3 million real codes would take the encoder days).
//! The baseline scans real-sized f32 vectors, at most 1 million of them (3.8 GB per million
//! would not fit beside the rest), and its time is scaled to the index size, linearly, as a
//! flat scan is.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};
use serde::Serialize;

use super::index::{CaseIndex, Scope, CODE_BITS};

#[derive(Debug, Clone, Serialize)]
pub struct IndexBench {
    pub entries: usize,
    pub queries: usize,
    pub threads: usize,
    pub index_bytes: usize,
    pub scan_ms_p50: f64,
    pub scan_ms_p95: f64,
    /// The same scan restricted to one topic of 15 (what the store asks for).
    pub topic_scan_ms_p50: f64,
    pub brute_force_entries: usize,
    pub brute_force_ms_p50: f64,
    /// Brute force scaled to `entries`.
    pub brute_force_ms_at_size: f64,
    pub brute_force_bytes_at_size: usize,
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

pub fn index_query_time(entries: usize, queries: usize, dim: usize, threads: usize) -> IndexBench {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(99);
    let mut index = CaseIndex::new(dim);
    for i in 0..entries {
        let code: [u64; CODE_BITS / 64] = std::array::from_fn(|_| rng.random());
        index.insert_code(i as i64, i as i64, (i % 15) as u16, code);
    }
    let probes: Vec<[u64; CODE_BITS / 64]> = (0..queries).map(|_| std::array::from_fn(|_| rng.random())).collect();
    let time = |scope: Scope| -> Vec<f64> {
        probes
            .iter()
            .map(|q| {
                let t = Instant::now();
                std::hint::black_box(index.search(q, scope, 256));
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect()
    };
    let all = time(Scope { since: 0, topic: None });
    let topic = time(Scope { since: 0, topic: Some(3) });

    let brute_n = entries.min(1_000_000);
    let vectors: Vec<f32> = (0..brute_n * dim).map(|_| StandardNormal.sample(&mut rng)).collect();
    let brute: Vec<f64> = (0..queries.min(20))
        .map(|_| {
            let q: Vec<f32> = (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect();
            let t = Instant::now();
            let mut best = (f32::MIN, 0usize);
            for (i, v) in vectors.chunks_exact(dim).enumerate() {
                let s: f32 = v.iter().zip(&q).map(|(a, b)| a * b).sum();
                if s > best.0 {
                    best = (s, i);
                }
            }
            std::hint::black_box(best);
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    let brute_p50 = percentile(brute, 0.5);
    IndexBench {
        entries,
        queries,
        threads,
        index_bytes: entries * CaseIndex::bytes_per_entry(),
        scan_ms_p50: percentile(all.clone(), 0.5),
        scan_ms_p95: percentile(all, 0.95),
        topic_scan_ms_p50: percentile(topic, 0.5),
        brute_force_entries: brute_n,
        brute_force_ms_p50: brute_p50,
        brute_force_ms_at_size: brute_p50 * entries as f64 / brute_n.max(1) as f64,
        brute_force_bytes_at_size: entries * dim * 4,
    }
}
