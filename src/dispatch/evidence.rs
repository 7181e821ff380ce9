//! The department ranking as units of evidence. Each kind (the department head, the topic
//! prior, the duties the call matches) scores every department with its weight and explains
//! its part; the ranking is their weighted mean. A fourth kind, operators' decisions on the same
//! matter, is added after the ranking by `precedents`, where the decision store is in reach.

/// One kind of evidence: a score per department (in taxonomy order), its weight, and the reason
/// it gives for a department, in words an operator reads.
pub struct Evidence<'a> {
    pub kind: &'static str,
    pub weight: f32,
    pub scores: Vec<f32>,
    explain: Box<dyn Fn(usize) -> Option<String> + 'a>,
}

impl<'a> Evidence<'a> {
    pub fn new(kind: &'static str, weight: f32, scores: Vec<f32>, explain: impl Fn(usize) -> Option<String> + 'a) -> Self {
        Evidence { kind, weight, scores, explain: Box::new(explain) }
    }

    /// Evidence that scores every department zero (no duty word in the call) takes no part,
    /// rather than pull every score down.
    pub fn silent(&self) -> bool {
        self.scores.iter().all(|s| *s <= 0.0)
    }

    /// Why this evidence favours department `i`, if it does.
    pub fn reason(&self, i: usize) -> Option<String> {
        (self.explain)(i)
    }
}

/// The weighted mean of the units that speak, per department: a distribution when each unit's
/// scores are one.
pub fn compose(units: &[Evidence<'_>]) -> Vec<f32> {
    let speaking: Vec<&Evidence<'_>> = units.iter().filter(|u| !u.silent()).collect();
    let total: f32 = speaking.iter().map(|u| u.weight).sum();
    let n = units.first().map_or(0, |u| u.scores.len());
    (0..n).map(|i| speaking.iter().fold(0.0f32, |acc, u| acc + u.weight * u.scores[i]) / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composed_scores_stay_a_distribution_and_silent_evidence_takes_no_part() {
        let unit = |kind, weight, scores: &[f32]| Evidence::new(kind, weight, scores.to_vec(), |_| None);
        let s = compose(&[unit("head", 0.45, &[0.7, 0.3]), unit("prior", 0.2, &[0.5, 0.5]), unit("duties", 0.35, &[0.0, 1.0])]);
        assert!((s.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        let silent = compose(&[unit("head", 0.45, &[0.7, 0.3]), unit("prior", 0.2, &[0.5, 0.5]), unit("duties", 0.35, &[0.0, 0.0])]);
        assert!((silent.iter().sum::<f32>() - 1.0).abs() < 1e-5, "no duty hit: its weight is shared out");
        assert!((silent[0] - (0.45 * 0.7 + 0.2 * 0.5) / 0.65).abs() < 1e-6);
    }
}
