//! Learning the same day, without retraining: operators' final departments on earlier calls
//! about the same matter, as a fourth kind of evidence beside the department head, the topic
//! prior and the duties.
//!
//! When a new matter surges (a new policy, a recall) the model keeps suggesting the same wrong
//! department until it is retrained; operators correct it again and again. The nearest decided
//! cases, close enough to be the same matter and recent enough to be the same surge, vote for
//! the department they went to. A vote counts only with `min_support` cases behind it, so one
//! careless correction cannot move a department, and it adds at most `weight` to the score.

use serde::{Deserialize, Serialize};

use super::{DispatchSuggestion, ScoredDepartment};
use crate::dispatch::taxonomy::Taxonomy;

/// An earlier case an operator decided, as the decision store finds it for a new call.
#[derive(Debug, Clone)]
pub struct Precedent {
    pub department: String,
    /// Cosine similarity of the embeddings.
    pub similarity: f32,
    /// Days between the decision and the new call.
    pub age_days: f32,
}

/// `[precedents]` in the configuration.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PrecedentSettings {
    pub enabled: bool,
    /// Decided cases at least this similar are the same matter.
    pub min_similarity: f32,
    /// ... and only those decided within this many days count.
    pub window_days: f32,
    /// Fewest such cases behind a department before it gains anything.
    pub min_support: usize,
    /// The most a department's score can gain (all the votes, at full similarity, today).
    pub weight: f32,
    /// Decided cases looked at per call.
    pub neighbours: usize,
}

impl Default for PrecedentSettings {
    fn default() -> Self {
        // Chosen on the letters' dev split replayed as a stream (`scripts/same_day.py --split dev`,
        // docs/accuracy.md, "Same-day learning"): 0.89 / 3 / 0.5 gave the best accuracy of the
        // seven settings tried (0.805 -> 0.821) and the fewest right answers turned wrong (6).
        PrecedentSettings { enabled: true, min_similarity: 0.89, window_days: 7.0, min_support: 3, weight: 0.5, neighbours: 20 }
    }
}

/// Add the precedents' votes to the suggestion's departments, re-rank them, say why, and make
/// the first one the dispatch. Returns whether anything changed.
pub fn apply(s: &mut DispatchSuggestion, precedents: &[Precedent], taxonomy: &Taxonomy, settings: &PrecedentSettings) -> bool {
    let changed = rerank(&mut s.departments, precedents, taxonomy, settings);
    if let Some(first) = s.departments.first().filter(|f| changed && f.id != s.dispatch.department) {
        s.dispatch.department = first.id.clone();
        s.dispatch.department_name = first.name.clone();
    }
    changed
}

/// The votes added to `departments`, best first again.
fn rerank(departments: &mut Vec<ScoredDepartment>, precedents: &[Precedent], taxonomy: &Taxonomy, settings: &PrecedentSettings) -> bool {
    if !settings.enabled {
        return false;
    }
    let near: Vec<&Precedent> = precedents.iter().filter(|p| p.similarity >= settings.min_similarity && (0.0..=settings.window_days).contains(&p.age_days)).collect();
    if near.len() < settings.min_support {
        return false;
    }
    // A vote weighs more the closer and the fresher it is (half weight at the window's end).
    let vote = |p: &Precedent| p.similarity * (1.0 - 0.5 * p.age_days / settings.window_days.max(1e-3));
    let total: f32 = near.iter().map(|p| vote(p)).sum();
    let mut tally: Vec<(String, f32, usize)> = Vec::new();
    for p in &near {
        match tally.iter_mut().find(|t| t.0 == p.department) {
            Some(t) => {
                t.1 += vote(p);
                t.2 += 1;
            }
            None => tally.push((p.department.clone(), vote(p), 1)),
        }
    }
    let mut changed = false;
    for (department, votes, count) in tally {
        if count < settings.min_support {
            continue;
        }
        let Some(d) = taxonomy.department(&department) else { continue };
        let gain = settings.weight * votes / total.max(1e-6) * (votes / count as f32).min(1.0);
        let reason = format!("近{}天同类来电 {count} 件已派 {}", settings.window_days.round() as i64, d.name);
        match departments.iter_mut().find(|x| x.id == department) {
            Some(x) => {
                x.score += gain;
                x.reasons.insert(0, reason);
            }
            None => departments.push(ScoredDepartment { id: d.id.clone(), name: d.name.clone(), score: gain, reasons: vec![reason] }),
        }
        changed = true;
    }
    if changed {
        departments.sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taxonomy() -> Taxonomy {
        Taxonomy::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(super::super::taxonomy::DEFAULT_TAXONOMY)).unwrap()
    }

    fn ranked() -> Vec<ScoredDepartment> {
        let d = |id: &str, score: f32| ScoredDepartment { id: id.into(), name: id.into(), score, reasons: vec![] };
        // A matter the model does not know: its first choice is weak.
        vec![d("health_commission", 0.35), d("education_commission", 0.2)]
    }

    fn p(department: &str, similarity: f32, age_days: f32) -> Precedent {
        Precedent { department: department.into(), similarity, age_days }
    }

    #[test]
    fn repeated_corrections_move_the_first_department_and_say_why() {
        let s = PrecedentSettings::default();
        let mut list = ranked();
        let decided = [p("public_security", 0.97, 0.1), p("public_security", 0.95, 1.0), p("public_security", 0.93, 2.0), p("health_commission", 0.80, 0.1)];
        assert!(rerank(&mut list, &decided, &taxonomy(), &s));
        assert_eq!(list[0].id, "public_security", "{list:?}");
        assert!(list[0].reasons[0].starts_with("近7天同类来电 3 件已派 市公安局"), "{:?}", list[0].reasons);
        assert!(list[0].score <= s.weight, "the gain is capped");
    }

    #[test]
    fn one_correction_too_old_or_too_far_changes_nothing() {
        let s = PrecedentSettings::default();
        let t = taxonomy();
        for decided in [
            vec![p("public_security", 0.99, 0.1)],
            vec![p("public_security", 0.99, 0.1), p("public_security", 0.99, 0.2), p("public_security", 0.99, 30.0)],
            vec![p("public_security", 0.99, 0.1), p("public_security", 0.99, 0.2), p("public_security", 0.85, 0.2)],
            vec![p("moon_office", 0.99, 0.1), p("moon_office", 0.99, 0.2), p("moon_office", 0.99, 0.3)],
        ] {
            let mut list = ranked();
            rerank(&mut list, &decided, &t, &s);
            assert_eq!(list[0].id, "health_commission", "{decided:?}");
            assert!(list.iter().all(|d| d.id != "moon_office"));
        }
        let mut list = ranked();
        assert!(!rerank(&mut list, &vec![p("public_security", 0.99, 0.1); 5], &t, &PrecedentSettings { enabled: false, ..s }));
    }
}
