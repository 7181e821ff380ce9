//! The nearest-neighbour index over recent cases: 384-bit random-hyperplane codes (SimHash)
//! scanned by Hamming distance, whose best candidates the store then re-ranks by exact cosine.
//!
//! Why not a graph index (HNSW): a city keeps about 70,000 cases a day for 90 days, 6.3
//! million vectors. Held as f32 they would need 9.7 GB, and building a graph over them on two
//! cores takes hours at every restart. A code is 48 bytes (300 MB for 6.3 million), loads in
//! seconds, and a full scan is a few tens of milliseconds; the exact vectors stay on disk.
//! `triage cases bench` measures it at that size.

use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

/// Bits per code: enough that near-duplicates (cosine above 0.9) and ordinary same-topic
/// cases (0.8) fall many standard deviations apart in Hamming distance.
pub const CODE_BITS: usize = 384;
const WORDS: usize = CODE_BITS / 64;
/// Fixed, so codes written by one process are comparable with another's.
const PLANES_SEED: u64 = 0x1_2345_6781_2345;

type Code = [u64; WORDS];

pub struct CaseIndex {
    dim: usize,
    /// CODE_BITS hyperplanes of `dim` Gaussian values each.
    planes: Vec<f32>,
    rows: Vec<i64>,
    at: Vec<i64>,
    topics: Vec<u16>,
    codes: Vec<Code>,
}

/// A candidate from the scan: the store row and its Hamming distance to the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Candidate {
    pub distance: u32,
    pub row: i64,
}

/// Which entries a search may return.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// Unix seconds; older entries are skipped.
    pub since: i64,
    /// Only this topic, when set.
    pub topic: Option<u16>,
}

impl CaseIndex {
    pub fn new(dim: usize) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(PLANES_SEED);
        let planes = (0..CODE_BITS * dim).map(|_| StandardNormal.sample(&mut rng)).collect();
        CaseIndex { dim, planes, rows: Vec::new(), at: Vec::new(), topics: Vec::new(), codes: Vec::new() }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Bytes held per entry, for capacity planning.
    pub const fn bytes_per_entry() -> usize {
        std::mem::size_of::<Code>() + 8 + 8 + 2
    }

    pub fn code(&self, vector: &[f32]) -> Code {
        let mut code = [0u64; WORDS];
        for (bit, plane) in self.planes.chunks_exact(self.dim).enumerate() {
            let side: f32 = plane.iter().zip(vector).map(|(p, v)| p * v).sum();
            if side >= 0.0 {
                code[bit / 64] |= 1 << (bit % 64);
            }
        }
        code
    }

    pub fn insert(&mut self, row: i64, at: i64, topic: u16, vector: &[f32]) {
        let code = self.code(vector);
        self.insert_code(row, at, topic, code);
    }

    pub fn insert_code(&mut self, row: i64, at: i64, topic: u16, code: Code) {
        self.rows.push(row);
        self.at.push(at);
        self.topics.push(topic);
        self.codes.push(code);
    }

    pub fn remove(&mut self, row: i64) {
        if let Some(i) = self.rows.iter().rposition(|r| *r == row) {
            self.rows.swap_remove(i);
            self.at.swap_remove(i);
            self.topics.swap_remove(i);
            self.codes.swap_remove(i);
        }
    }

    /// Drop entries older than `since` (unix seconds). Returns how many went.
    pub fn evict_before(&mut self, since: i64) -> usize {
        let before = self.rows.len();
        let keep: Vec<bool> = self.at.iter().map(|t| *t >= since).collect();
        let mut k = keep.iter();
        self.rows.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        self.at.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        self.topics.retain(|_| *k.next().unwrap_or(&true));
        let mut k = keep.iter();
        self.codes.retain(|_| *k.next().unwrap_or(&true));
        before - self.rows.len()
    }

    /// The `limit` entries nearest to `query` in Hamming distance within `scope`, nearest first.
    pub fn search(&self, query: &Code, scope: Scope, limit: usize) -> Vec<Candidate> {
        if limit == 0 {
            return Vec::new();
        }
        let scan = |range: std::ops::Range<usize>| -> Vec<Candidate> {
            let mut best: std::collections::BinaryHeap<Candidate> = std::collections::BinaryHeap::with_capacity(limit + 1);
            for i in range {
                if self.at[i] < scope.since || scope.topic.is_some_and(|t| t != self.topics[i]) {
                    continue;
                }
                let code = &self.codes[i];
                let distance: u32 = (0..WORDS).map(|w| (code[w] ^ query[w]).count_ones()).sum();
                if best.len() < limit {
                    best.push(Candidate { distance, row: self.rows[i] });
                } else if best.peek().is_some_and(|worst| distance < worst.distance) {
                    best.pop();
                    best.push(Candidate { distance, row: self.rows[i] });
                }
            }
            best.into_vec()
        };
        // Large windows are split across the rayon pool; small ones are not worth the hand-off.
        const CHUNK: usize = 1 << 18;
        let mut found: Vec<Candidate> = if self.rows.len() > CHUNK {
            let starts: Vec<usize> = (0..self.rows.len()).step_by(CHUNK).collect();
            starts.into_par_iter().flat_map_iter(|s| scan(s..(s + CHUNK).min(self.rows.len()))).collect()
        } else {
            scan(0..self.rows.len())
        };
        found.sort();
        found.truncate(limit);
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    #[test]
    fn hamming_order_follows_the_angle_and_scope_filters() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let dim = 64;
        let mut normal = || -> f32 { StandardNormal.sample(&mut rng) };
        let base = unit((0..dim).map(|_| normal()).collect());
        let mut index = CaseIndex::new(dim);
        // Row k is base plus noise of growing size: its angle to base grows with k.
        for k in 0..50i64 {
            let v = unit(base.iter().map(|b| b + 0.02 * k as f32 * normal()).collect());
            index.insert(k, 1000 + k, (k % 2) as u16, &v);
        }
        let q = index.code(&base);
        let all = index.search(&q, Scope { since: 0, topic: None }, 5);
        assert_eq!(all[0].row, 0);
        assert!(all.iter().all(|c| c.row < 12), "{all:?}");
        let odd = index.search(&q, Scope { since: 0, topic: Some(1) }, 5);
        assert!(odd.iter().all(|c| c.row % 2 == 1));
        let recent = index.search(&q, Scope { since: 1040, topic: None }, 50);
        assert_eq!(recent.len(), 10);
        assert_eq!(index.evict_before(1040), 40);
        index.remove(45);
        assert_eq!(index.len(), 9);
    }
}
