//! Classification metrics over a labelled split: accuracy, per-class P/R/F1, macro and weighted
//! F1, top-k accuracy, the confusion matrix and (via [`calibration`](super::calibration)) ECE.
//!
//! Every function takes whatever it is given: rows whose gold index is out of range are left
//! out (they cannot be scored against a label list that does not contain them), NaN
//! probabilities count as 0, and an empty split yields an all-zero report rather than NaN.

use serde::{Deserialize, Serialize};

use super::calibration::{ece_rows, AbstainReport};
use crate::model::probability::{argmax, top_k_indices};

/// Bins for the ECE in [`EvalReport`]; 15 is the usual choice since Guo et al. (2017), so the
/// number compares with what people publish.
pub const ECE_BINS: usize = 15;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub n: usize,
    pub accuracy: f64,
    /// Mean F1 over the labels present in gold ∪ predicted, as sklearn's `f1_score(average="macro")`:
    /// a class nobody wrote and nobody predicted says nothing about the model.
    pub macro_f1: f64,
    pub weighted_f1: f64,
    /// Gold among the `min(3, n_classes)` most probable labels.
    pub top3_accuracy: f64,
    /// Expected calibration error of the top-1 probability, [`ECE_BINS`] equal-width bins.
    pub ece: f64,
    pub labels: Vec<String>,
    /// In label order.
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[gold][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub abstain: Option<AbstainReport>,
}

fn ratio(num: f64, den: f64) -> f64 {
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// Score probability rows against gold labels.
///
/// `probs[i]` is a row over `labels`; entries past `labels.len()` are ignored and a short row
/// reads as 0 for the missing labels. Rows are paired with gold up to the shorter of the two.
pub fn evaluate(labels: &[String], gold: &[usize], probs: &[Vec<f32>]) -> EvalReport {
    let k = labels.len();
    let rows: Vec<(usize, &[f32])> = gold
        .iter()
        .zip(probs)
        .filter(|(&g, _)| g < k)
        .map(|(&g, p)| (g, &p[..p.len().min(k)]))
        .collect();
    let n = rows.len();
    let top = k.min(3);

    let mut confusion = vec![vec![0usize; k]; k];
    let mut correct = 0usize;
    let mut in_top = 0usize;
    let mut padded = Vec::new();
    for &(g, row) in &rows {
        // A short row reads as 0 for the labels it lacks, so an empty row predicts label 0
        // (all-zero row, lowest index wins) and a short one can still have gold in its top 3.
        let row = if row.len() < k {
            padded.clear();
            padded.extend_from_slice(row);
            padded.resize(k, 0.0);
            &padded[..]
        } else {
            row
        };
        let pred = argmax(row).unwrap_or(0);
        confusion[g][pred] += 1;
        correct += usize::from(pred == g);
        in_top += usize::from(top_k_indices(row, top).contains(&g));
    }

    let mut per_class = Vec::with_capacity(k);
    let (mut f1_sum, mut f1_count, mut weighted) = (0.0f64, 0usize, 0.0f64);
    for c in 0..k {
        let tp = confusion[c][c] as f64;
        let support: usize = confusion[c].iter().sum();
        let predicted: usize = confusion.iter().map(|r| r[c]).sum();
        let precision = ratio(tp, predicted as f64);
        let recall = ratio(tp, support as f64);
        let f1 = ratio(2.0 * precision * recall, precision + recall);
        if support > 0 || predicted > 0 {
            f1_sum += f1;
            f1_count += 1;
        }
        weighted += f1 * support as f64;
        per_class.push(ClassMetrics { label: labels[c].clone(), precision, recall, f1, support });
    }

    EvalReport {
        n,
        accuracy: ratio(correct as f64, n as f64),
        macro_f1: ratio(f1_sum, f1_count as f64),
        weighted_f1: ratio(weighted, n as f64),
        top3_accuracy: ratio(in_top as f64, n as f64),
        ece: ece_rows(rows.iter().copied(), ECE_BINS),
        labels: labels.to_vec(),
        per_class,
        confusion,
        abstain: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        ["城乡建设", "环境保护", "教育文体", "劳动和社会保障", "卫生计生", "交通运输", "商贸旅游"][..n]
            .iter()
            .map(|s| s.to_string())
            .collect()
    }

    fn one_hot(k: usize, i: usize) -> Vec<f32> {
        let mut v = vec![0.05f32; k];
        v[i] = 1.0 - 0.05 * (k as f32 - 1.0);
        v
    }

    #[test]
    fn three_class_example_matches_hand_computation() {
        // gold:  0 0 0 1 1 2
        // pred:  0 0 1 1 2 2
        // class 0: tp 2, pred 2, support 3 -> P 1, R 2/3, F1 0.8
        // class 1: tp 1, pred 2, support 2 -> P 1/2, R 1/2, F1 1/2
        // class 2: tp 1, pred 2, support 1 -> P 1/2, R 1, F1 2/3
        // macro = (0.8 + 0.5 + 2/3) / 3 = 0.655555...; weighted = (3*0.8 + 2*0.5 + 1*2/3) / 6
        // (sklearn f1_score on the same vectors gives these numbers.)
        let gold = [0, 0, 0, 1, 1, 2];
        let pred = [0, 0, 1, 1, 2, 2];
        let probs: Vec<Vec<f32>> = pred.iter().map(|&p| one_hot(3, p)).collect();
        let r = evaluate(&labels(3), &gold, &probs);
        assert_eq!(r.n, 6);
        assert!((r.accuracy - 4.0 / 6.0).abs() < 1e-12);
        assert!((r.per_class[0].precision - 1.0).abs() < 1e-12);
        assert!((r.per_class[0].recall - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.per_class[0].f1 - 0.8).abs() < 1e-12);
        assert!((r.per_class[1].f1 - 0.5).abs() < 1e-12);
        assert!((r.per_class[2].f1 - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.per_class[2].support, 1);
        assert!((r.macro_f1 - (0.8 + 0.5 + 2.0 / 3.0) / 3.0).abs() < 1e-12);
        assert!((r.weighted_f1 - (3.0 * 0.8 + 2.0 * 0.5 + 2.0 / 3.0) / 6.0).abs() < 1e-12);
        assert_eq!(r.confusion, vec![vec![2, 1, 0], vec![0, 1, 1], vec![0, 0, 1]]);
        // With 3 classes, top-3 always contains gold.
        assert_eq!(r.top3_accuracy, 1.0);
    }

    #[test]
    fn macro_f1_skips_classes_absent_from_gold_and_predictions() {
        // Class 2 never appears: macro over {0, 1} only, as sklearn does without `labels=`.
        let gold = [0, 1];
        let probs = vec![one_hot(3, 0), one_hot(3, 0)];
        let r = evaluate(&labels(3), &gold, &probs);
        // class 0: P 1/2 R 1 F1 2/3; class 1: F1 0 (support 1, never predicted).
        assert!((r.macro_f1 - (2.0 / 3.0) / 2.0).abs() < 1e-12, "{}", r.macro_f1);
        assert_eq!(r.per_class[2].f1, 0.0);
        assert_eq!(r.per_class[1].precision, 0.0);
    }

    #[test]
    fn top3_counts_gold_in_the_three_most_probable() {
        let l = labels(5);
        let gold = [4, 4, 0];
        let probs = vec![
            vec![0.4, 0.3, 0.2, 0.0, 0.1], // gold 4 is 4th: miss
            vec![0.4, 0.0, 0.0, 0.3, 0.3], // gold 4 ties 3 for 2nd: hit
            vec![0.1, 0.2, 0.3, 0.4, 0.0], // gold 0 is 4th: miss
        ];
        let r = evaluate(&l, &gold, &probs);
        assert!((r.top3_accuracy - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(r.accuracy, 0.0);
    }

    #[test]
    fn empty_nan_and_malformed_input_do_not_panic() {
        let r = evaluate(&labels(3), &[], &[]);
        assert_eq!((r.n, r.accuracy, r.macro_f1, r.top3_accuracy, r.ece), (0, 0.0, 0.0, 0.0, 0.0));
        let r = evaluate(&[], &[0, 1], &[vec![0.5], vec![]]);
        assert_eq!(r.n, 0);
        // Out-of-range gold dropped, NaN rows, short rows, long rows, mismatched lengths.
        let gold = [0, 7, 1, 2, 1];
        let probs = vec![vec![f32::NAN; 3], vec![1.0, 0.0, 0.0], vec![0.1], vec![0.0, 0.0, 0.2, 0.9], vec![]];
        let r = evaluate(&labels(3), &gold, &probs);
        assert_eq!(r.n, 4);
        assert!(r.accuracy.is_finite() && r.macro_f1.is_finite() && r.ece.is_finite());
        assert_eq!(r.confusion.iter().flatten().sum::<usize>(), 4);
        // The fourth label of a long row is ignored: class 2 wins.
        assert_eq!(r.confusion[2][2], 1);
    }
}
