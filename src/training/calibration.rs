//! Making probabilities mean what they say, and deciding when a prediction should go to a person.
//!
//! - temperature scaling (Guo et al., 2017): one scalar fitted on dev, so argmax never changes;
//! - ECE: how far the top-1 probability is from the observed accuracy;
//! - the review ("needs review") policy: thresholds on confidence and on the top-1/top-2 margin,
//!   chosen on dev for the widest automatic coverage that keeps a target accuracy.

use serde::{Deserialize, Serialize};

use crate::model::probability::{argmax, clean, ReviewPolicy};

/// Loss charged to one example whose gold probability underflows; keeps one degenerate row from
/// dominating the mean (it is -ln 1e-12).
const MAX_EXAMPLE_NLL: f64 = 27.631021115928547;

/// Mean negative log-likelihood of gold under `softmax(logits / t)`.
fn mean_nll(logits: &[Vec<f32>], gold: &[usize], t: f64) -> f64 {
    let mut sum = 0.0f64;
    let mut n = 0usize;
    for (row, &g) in logits.iter().zip(gold) {
        if g >= row.len() {
            continue;
        }
        let z = |x: f32| if x.is_finite() { x as f64 / t } else if x == f32::INFINITY { f64::INFINITY } else { f64::NEG_INFINITY };
        let max = row.iter().map(|&x| z(x)).fold(f64::NEG_INFINITY, f64::max);
        let loss = if !max.is_finite() {
            // All-NaN rows, or infinite logits: no temperature changes them, so they add a
            // constant and cannot move the optimum.
            continue;
        } else {
            let lse = max + row.iter().map(|&x| (z(x) - max).exp()).sum::<f64>().ln();
            (lse - z(row[g])).min(MAX_EXAMPLE_NLL)
        };
        sum += loss;
        n += 1;
    }
    if n == 0 {
        0.0
    } else {
        sum / n as f64
    }
}

/// The temperature that minimises the dev NLL of gold.
///
/// NLL is convex in 1/T, hence unimodal in ln T: a coarse grid over ln T in [ln 0.05, ln 20]
/// finds the basin and golden-section search refines it. With no usable rows the answer is 1
/// (leave the model as it is).
pub fn fit_temperature(logits: &[Vec<f32>], gold: &[usize]) -> f32 {
    const LO: f64 = -2.995_732_273_553_991; // ln 0.05
    const HI: f64 = 2.995_732_273_553_991; // ln 20
    const GRID: usize = 48;
    if logits.iter().zip(gold).all(|(r, &g)| g >= r.len()) {
        return 1.0;
    }
    let f = |u: f64| mean_nll(logits, gold, u.exp());
    let step = (HI - LO) / GRID as f64;
    let mut best = (0.0f64, f(0.0));
    for i in 0..=GRID {
        let u = LO + step * i as f64;
        let v = f(u);
        // Strictly better only: a flat loss (e.g. every row already certain) keeps T = 1.
        if v < best.1 - 1e-12 {
            best = (u, v);
        }
    }
    let (mut a, mut b) = ((best.0 - step).max(LO), (best.0 + step).min(HI));
    let phi = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - phi * (b - a);
    let mut d = a + phi * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..40 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = f(d);
        }
    }
    let u = (a + b) / 2.0;
    // The refinement can only help, but never trade a grid point for a worse interior point.
    let u = if f(u) <= best.1 { u } else { best.0 };
    u.exp() as f32
}

/// Top-1 confidence (NaN as 0, clamped to [0, 1]) and whether the top-1 is gold.
fn confidence(gold: usize, row: &[f32]) -> (f64, bool) {
    match argmax(row) {
        Some(i) => ((clean(row[i]) as f64).clamp(0.0, 1.0), i == gold),
        None => (0.0, false),
    }
}

/// ECE over already paired rows; shared with [`evaluate`](super::metrics::evaluate), which has
/// filtered its rows without copying them.
pub(crate) fn ece_rows<'a>(rows: impl Iterator<Item = (usize, &'a [f32])>, bins: usize) -> f64 {
    let bins = bins.max(1);
    let mut count = vec![0usize; bins];
    let mut conf = vec![0.0f64; bins];
    let mut hits = vec![0.0f64; bins];
    let mut n = 0usize;
    for (g, row) in rows {
        let (c, ok) = confidence(g, row);
        // Equal-width bins [i/B, (i+1)/B), with 1.0 in the last one.
        let b = ((c * bins as f64) as usize).min(bins - 1);
        count[b] += 1;
        conf[b] += c;
        hits[b] += f64::from(u8::from(ok));
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    (0..bins).filter(|&b| count[b] > 0).map(|b| (hits[b] - conf[b]).abs() / n as f64).sum()
}

/// Expected calibration error of the top-1 probability over `bins` equal-width bins:
/// sum over bins of |accuracy − mean confidence| weighted by the bin's share of examples.
pub fn expected_calibration_error(gold: &[usize], probs: &[Vec<f32>], bins: usize) -> f64 {
    ece_rows(gold.iter().zip(probs).map(|(&g, p)| (g, p.as_slice())), bins)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AbstainReport {
    pub policy: ReviewPolicy,
    /// Share of cases dispatched automatically (not flagged).
    pub coverage: f64,
    /// Accuracy on the automatically dispatched cases.
    pub accuracy_covered: f64,
    /// Accuracy on every case, flagged or not.
    pub accuracy_all: f64,
    /// Cases flagged for review.
    pub reviewed: usize,
}

const MARGINS: [f32; 6] = [0.0, 0.05, 0.1, 0.15, 0.2, 0.3];
/// Below this coverage a fallback policy would flag nearly everything: not a useful service.
const MIN_FALLBACK_COVERAGE: f64 = 0.10;

/// The dev-chosen review policy: the widest coverage whose covered accuracy reaches
/// `target_accuracy`, over min_confidence 0.00..=0.99 (step 0.01) × min_margin in
/// {0, .05, .1, .15, .2, .3}. If none reaches it, the best covered accuracy at ≥ 10% coverage;
/// with nothing to learn from, no review at all (thresholds 0).
///
/// Ties in coverage go to the least strict policy (grid order), which flags the fewest unseen
/// cases for the same dev behaviour.
pub fn choose_review_policy(gold: &[usize], probs: &[Vec<f32>], target_accuracy: f64) -> ReviewPolicy {
    let none = ReviewPolicy { min_confidence: 0.0, min_margin: 0.0 };
    let n = gold.len().min(probs.len());
    if n == 0 {
        return none;
    }
    let mut reached: Option<(ReviewPolicy, usize)> = None;
    let mut fallback: Option<(ReviewPolicy, f64, usize)> = None;
    for ci in 0..=99u32 {
        let min_confidence = ci as f32 / 100.0;
        for &min_margin in &MARGINS {
            let policy = ReviewPolicy { min_confidence, min_margin };
            let r = abstain_report(gold, probs, policy);
            let covered = n - r.reviewed;
            if covered == 0 {
                continue;
            }
            if r.accuracy_covered + 1e-12 >= target_accuracy {
                if reached.map_or(true, |(_, c)| covered > c) {
                    reached = Some((policy, covered));
                }
            } else if r.coverage + 1e-12 >= MIN_FALLBACK_COVERAGE {
                let better = match fallback {
                    None => true,
                    Some((_, acc, c)) => r.accuracy_covered > acc + 1e-12 || ((r.accuracy_covered - acc).abs() <= 1e-12 && covered > c),
                };
                if better {
                    fallback = Some((policy, r.accuracy_covered, covered));
                }
            }
        }
    }
    reached.map(|(p, _)| p).or(fallback.map(|(p, _, _)| p)).unwrap_or(none)
}

/// What `policy` does on a labelled split.
pub fn abstain_report(gold: &[usize], probs: &[Vec<f32>], policy: ReviewPolicy) -> AbstainReport {
    let (mut n, mut covered, mut covered_ok, mut all_ok) = (0usize, 0usize, 0usize, 0usize);
    for (&g, row) in gold.iter().zip(probs) {
        n += 1;
        let ok = argmax(row) == Some(g);
        all_ok += usize::from(ok);
        if !policy.needs_review(row) {
            covered += 1;
            covered_ok += usize::from(ok);
        }
    }
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    AbstainReport {
        policy,
        coverage: share(covered, n),
        accuracy_covered: share(covered_ok, covered),
        accuracy_all: share(all_ok, n),
        reviewed: n - covered,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::probability::softmax;

    /// A tiny deterministic generator (SplitMix64) so the tests need no `rand`.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
        }
        fn normal(&mut self) -> f64 {
            let (u, v) = (self.next().max(1e-12), self.next());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Logits whose true temperature is 1, multiplied by 2: an over-confident model.
    fn overconfident(n: usize, k: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<usize>) {
        let mut rng = Rng(seed);
        let mut logits = Vec::new();
        let mut gold = Vec::new();
        for _ in 0..n {
            let z: Vec<f32> = (0..k).map(|_| (1.5 * rng.normal()) as f32).collect();
            // Sample gold from the true (T = 1) distribution.
            let p = softmax(&z, 1.0);
            let u = rng.next() as f32;
            let mut acc = 0.0;
            let g = p.iter().position(|&q| {
                acc += q;
                u < acc
            });
            gold.push(g.unwrap_or(k - 1));
            logits.push(z.iter().map(|x| x * 2.0).collect());
        }
        (logits, gold)
    }

    #[test]
    fn fit_temperature_recovers_the_scale_of_overconfident_logits() {
        let (logits, gold) = overconfident(4000, 5, 7);
        let t = fit_temperature(&logits, &gold);
        assert!((t - 2.0).abs() < 0.2, "fitted T = {t}");
        assert!(mean_nll(&logits, &gold, t as f64) < mean_nll(&logits, &gold, 1.0) - 0.05);
        // And the calibration it buys is visible in ECE.
        let raw: Vec<Vec<f32>> = logits.iter().map(|l| softmax(l, 1.0)).collect();
        let cal: Vec<Vec<f32>> = logits.iter().map(|l| softmax(l, t)).collect();
        let (before, after) = (expected_calibration_error(&gold, &raw, 15), expected_calibration_error(&gold, &cal, 15));
        assert!(after < before / 2.0, "ECE {before} -> {after}");
    }

    #[test]
    fn fit_temperature_without_data_is_one() {
        assert_eq!(fit_temperature(&[], &[]), 1.0);
        assert_eq!(fit_temperature(&[vec![1.0, 2.0]], &[5]), 1.0);
        let t = fit_temperature(&[vec![f32::NAN, f32::NAN], vec![0.0, 1.0]], &[0, 1]);
        assert!(t.is_finite() && t > 0.0);
    }

    #[test]
    fn ece_is_zero_when_confidence_matches_accuracy() {
        // Bin [0.8, 0.867): 5 rows at 0.8, 4 correct -> accuracy 0.8 = confidence.
        // Bin [0.6, 0.667): 5 rows at 0.6, 3 correct.
        let mut gold = Vec::new();
        let mut probs = Vec::new();
        for i in 0..5 {
            probs.push(vec![0.8, 0.2]);
            gold.push(if i < 4 { 0 } else { 1 });
            probs.push(vec![0.4, 0.6]);
            gold.push(if i < 3 { 1 } else { 0 });
        }
        assert!(expected_calibration_error(&gold, &probs, 15).abs() < 1e-7);
    }

    #[test]
    fn ece_of_a_constructed_case() {
        // 4 rows at confidence 0.9, 2 correct: |0.5 - 0.9| = 0.4, weight 4/6.
        // 2 rows at confidence 0.6, both correct: |1 - 0.6| = 0.4, weight 2/6. ECE = 0.4.
        // Then add 2 rows at 0.95 both correct (own bin with 15 bins? 0.95*15 = 14.25 -> bin 14,
        // 0.9*15 = 13.5 -> bin 13): |1 - 0.95| = 0.05.
        // ECE = (4*0.4 + 2*0.4 + 2*0.05) / 8 = 2.5 / 8 = 0.3125.
        let probs = vec![
            vec![0.9, 0.1],
            vec![0.9, 0.1],
            vec![0.9, 0.1],
            vec![0.9, 0.1],
            vec![0.4, 0.6],
            vec![0.4, 0.6],
            vec![0.05, 0.95],
            vec![0.05, 0.95],
        ];
        let gold = [0, 0, 1, 1, 1, 1, 1, 1];
        let e = expected_calibration_error(&gold, &probs, 15);
        assert!((e - 0.3125).abs() < 1e-6, "{e}");
        // One bin: |accuracy - mean confidence| = |6/8 - (3.6 + 1.2 + 1.9)/8| = |0.75 - 0.8375|.
        let e1 = expected_calibration_error(&gold, &probs, 1);
        assert!((e1 - 0.0875).abs() < 1e-6, "{e1}");
    }

    #[test]
    fn ece_tolerates_empty_nan_and_zero_bins() {
        assert_eq!(expected_calibration_error(&[], &[], 15), 0.0);
        let e = expected_calibration_error(&[0, 1], &[vec![f32::NAN, f32::NAN], vec![]], 0);
        assert!(e.is_finite());
    }

    #[test]
    fn choose_review_policy_reaches_the_target_with_the_widest_coverage() {
        // 10 confident right (0.9), 5 medium right (0.7), 5 medium wrong (0.65), 5 low wrong (0.55).
        let mut gold = Vec::new();
        let mut probs = Vec::new();
        // `p` is the top-1 probability, on label 0.
        let mut add = |p: f32, right: bool, count: usize| {
            for _ in 0..count {
                probs.push(vec![p, 1.0 - p]);
                gold.push(if right { 0 } else { 1 });
            }
        };
        add(0.9, true, 10);
        add(0.7, true, 5);
        add(0.65, false, 5);
        add(0.55, false, 5);
        // Target 0.9: only leaving out both wrong blocks works (15 right / 15 covered), by
        // confidence (0.66..=0.70), or by margin 0.3 where f32 rounding puts the 0.65 block under it.
        let p = choose_review_policy(&gold, &probs, 0.9);
        let r = abstain_report(&gold, &probs, p);
        assert!(r.accuracy_covered >= 0.9, "{r:?}");
        assert_eq!(r.reviewed, 10);
        assert!((r.coverage - 0.6).abs() < 1e-12);
        assert!((r.accuracy_all - 0.6).abs() < 1e-12);
        // Target 0.7: covering the 0.65 block gives 15/20 = 0.75, wider coverage.
        let r = abstain_report(&gold, &probs, choose_review_policy(&gold, &probs, 0.7));
        assert_eq!(r.reviewed, 5);
        // Target 0.6 is already met with no review at all.
        let p = choose_review_policy(&gold, &probs, 0.6);
        assert_eq!(p, ReviewPolicy { min_confidence: 0.0, min_margin: 0.0 });
        // An unreachable target falls back to the best covered accuracy (100% at 60% coverage).
        let r = abstain_report(&gold, &probs, choose_review_policy(&gold, &probs, 1.01));
        assert_eq!(r.accuracy_covered, 1.0);
        assert_eq!(r.reviewed, 10);
    }

    #[test]
    fn choose_review_policy_tolerates_empty_and_nan() {
        assert_eq!(choose_review_policy(&[], &[], 0.9), ReviewPolicy { min_confidence: 0.0, min_margin: 0.0 });
        let p = choose_review_policy(&[0, 1], &[vec![f32::NAN, f32::NAN], vec![]], 0.9);
        assert!(p.min_confidence.is_finite());
        let r = abstain_report(&[], &[], p);
        assert_eq!((r.coverage, r.accuracy_covered, r.reviewed), (0.0, 0.0, 0));
    }
}
