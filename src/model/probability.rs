//! What a head's scores mean at inference: probabilities from logits, the ranking of labels, and
//! when a prediction goes to a person instead of being dispatched.
//!
//! Training fits the numbers these read (the temperature, the review thresholds); serving only
//! applies them, so they sit here beside the head rather than in `training`.

use serde::{Deserialize, Serialize};

/// Numerically stable softmax of `logits / temperature`.
///
/// A temperature that is not a positive finite number is read as 1 (no scaling) rather than
/// producing NaN. NaN logits carry no evidence and get probability 0; if no logit is usable the
/// result is uniform, and +inf logits share all the mass.
pub fn softmax(logits: &[f32], temperature: f32) -> Vec<f32> {
    if logits.is_empty() {
        return Vec::new();
    }
    let t = if temperature.is_finite() && temperature > 0.0 { temperature as f64 } else { 1.0 };
    let z: Vec<f64> = logits.iter().map(|&x| if x.is_nan() { f64::NEG_INFINITY } else { x as f64 / t }).collect();
    let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return vec![1.0 / logits.len() as f32; logits.len()];
    }
    if max == f64::INFINITY {
        let hits = z.iter().filter(|&&x| x == f64::INFINITY).count() as f32;
        return z.iter().map(|&x| if x == f64::INFINITY { 1.0 / hits } else { 0.0 }).collect();
    }
    // Work in f64: with a small temperature the exponents spread far and f32 sums lose mass.
    let e: Vec<f64> = z.iter().map(|&x| (x - max).exp()).collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|&x| (x / sum) as f32).collect()
}

/// NaN carries no evidence for any class; reading it as 0 keeps ranking total.
#[inline]
pub fn clean(p: f32) -> f32 {
    if p.is_nan() {
        0.0
    } else {
        p
    }
}

/// Indices of the `k` largest probabilities, largest first; equal probabilities keep the lower
/// index first so that results are reproducible across runs and platforms.
pub fn top_k_indices(probs: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..probs.len()).collect();
    // Stable sort: ties stay in index order.
    idx.sort_by(|&a, &b| clean(probs[b]).total_cmp(&clean(probs[a])));
    idx.truncate(k);
    idx
}

/// The arg-max with the same tie rule as [`top_k_indices`], without allocating.
pub fn argmax(probs: &[f32]) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, &p) in probs.iter().enumerate() {
        let p = clean(p);
        match best {
            Some((_, b)) if p.total_cmp(&b) != std::cmp::Ordering::Greater => {}
            _ => best = Some((i, p)),
        }
    }
    best.map(|(i, _)| i)
}

/// When a prediction is routed to a person instead of dispatched automatically.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReviewPolicy {
    pub min_confidence: f32,
    pub min_margin: f32,
}

/// Top-1 and top-2 probabilities (NaN as 0; top-2 is 0 with a single class).
fn top_two(probs: &[f32]) -> (f32, f32) {
    let (mut a, mut b) = (f32::NEG_INFINITY, f32::NEG_INFINITY);
    for &p in probs {
        let p = clean(p);
        if p > a {
            b = a;
            a = p;
        } else if p > b {
            b = p;
        }
    }
    (a, if b == f32::NEG_INFINITY { 0.0 } else { b })
}

impl ReviewPolicy {
    /// True when the top-1 probability is below `min_confidence` or the gap to the runner-up is
    /// below `min_margin`. An empty row always needs review: there is nothing to dispatch.
    pub fn needs_review(&self, probs: &[f32]) -> bool {
        if probs.is_empty() {
            return true;
        }
        let (top1, top2) = top_two(probs);
        top1 < self.min_confidence || (top1 - top2) < self.min_margin
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_stable_and_tolerates_bad_input() {
        let p = softmax(&[1000.0, 1000.0, -1000.0], 1.0);
        assert!((p[0] - 0.5).abs() < 1e-6 && (p[1] - 0.5).abs() < 1e-6 && p[2] == 0.0);
        let p = softmax(&[1.0, 2.0, 3.0], 1.0);
        let e: Vec<f64> = [1.0f64, 2.0, 3.0].iter().map(|x| x.exp()).collect();
        let s: f64 = e.iter().sum();
        for (a, b) in p.iter().zip(&e) {
            assert!((*a as f64 - b / s).abs() < 1e-6);
        }
        // Temperature 2 equals halving the logits.
        assert_eq!(softmax(&[1.0, 2.0, 3.0], 2.0), softmax(&[0.5, 1.0, 1.5], 1.0));
        assert_eq!(softmax(&[1.0, 2.0], f32::NAN), softmax(&[1.0, 2.0], 1.0));
        assert_eq!(softmax(&[1.0, 2.0], 0.0), softmax(&[1.0, 2.0], 1.0));
        assert_eq!(softmax(&[f32::NAN, 0.0], 1.0), vec![0.0, 1.0]);
        assert_eq!(softmax(&[f32::NAN, f32::NAN], 1.0), vec![0.5, 0.5]);
        assert_eq!(softmax(&[f32::INFINITY, 1.0], 1.0), vec![1.0, 0.0]);
        assert!(softmax(&[], 1.0).is_empty());
    }

    #[test]
    fn top_k_orders_by_probability_and_breaks_ties_by_index() {
        assert_eq!(top_k_indices(&[0.1, 0.5, 0.2, 0.5, 0.2], 3), vec![1, 3, 2]);
        assert_eq!(top_k_indices(&[0.3, 0.3], 5), vec![0, 1]);
        assert_eq!(top_k_indices(&[f32::NAN, 0.1, 0.0], 2), vec![1, 0]);
        assert!(top_k_indices(&[], 3).is_empty());
        assert_eq!(argmax(&[0.2, 0.7, 0.7]), Some(1));
        assert_eq!(argmax(&[f32::NAN, -1.0]), Some(0));
    }

    #[test]
    fn needs_review_applies_both_thresholds() {
        let p = ReviewPolicy { min_confidence: 0.6, min_margin: 0.2 };
        assert!(!p.needs_review(&[0.7, 0.2, 0.1]));
        assert!(p.needs_review(&[0.55, 0.25, 0.2])); // low confidence
        assert!(p.needs_review(&[0.62, 0.48, 0.0])); // small margin
        assert!(p.needs_review(&[]));
        assert!(p.needs_review(&[f32::NAN, f32::NAN]));
        assert!(!p.needs_review(&[1.0])); // single class: margin to 0
        let off = ReviewPolicy { min_confidence: 0.0, min_margin: 0.0 };
        assert!(!off.needs_review(&[0.5, 0.5]));
    }
}
