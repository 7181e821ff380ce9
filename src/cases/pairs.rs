//! Duplicate detection judged on pairs people labelled "same matter" or not
//! (`tests/data/duplicate_pairs.jsonl`, ids into the tipdm hot-issue set).
//!
//! The pairs are split in two by position (even and odd lines; the file was shuffled when it
//! was drawn). Each rule's threshold is chosen on the even half, for the best F1, and
//! reported on the odd half, which played no part in choosing it.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::reader::{CaseReader, FieldSpec, InputFormat};
use crate::dispatch::{DispatchModel, EmbeddedSuggestion};
use crate::model::cosine;

#[derive(Debug, Clone, Deserialize)]
pub struct LabelledPair {
    pub a: String,
    pub b: String,
    pub same: bool,
}

/// What the store would look at for one pair.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct PairEvidence {
    pub similarity: f32,
    pub same_topic: bool,
    pub same_place: bool,
    /// Keywords (each case's top ten) the two share.
    pub shared_keywords: usize,
    pub same: bool,
}

/// Which checks a rule adds to the similarity threshold.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Rule {
    pub name: &'static str,
    pub same_topic: bool,
    pub same_place: bool,
    pub min_shared_keywords: usize,
}

pub const RULES: &[Rule] = &[
    Rule { name: "embedding only", same_topic: false, same_place: false, min_shared_keywords: 0 },
    Rule { name: "embedding + topic", same_topic: true, same_place: false, min_shared_keywords: 0 },
    Rule { name: "embedding + place", same_topic: false, same_place: true, min_shared_keywords: 0 },
    Rule { name: "embedding + topic + place", same_topic: true, same_place: true, min_shared_keywords: 0 },
    Rule { name: "embedding + place + 1 shared keyword", same_topic: false, same_place: true, min_shared_keywords: 1 },
    Rule { name: "embedding + place + 2 shared keywords", same_topic: false, same_place: true, min_shared_keywords: 2 },
];

impl Rule {
    pub fn says_same(&self, e: &PairEvidence, threshold: f32) -> bool {
        e.similarity >= threshold && (!self.same_topic || e.same_topic) && (!self.same_place || e.same_place) && e.shared_keywords >= self.min_shared_keywords
    }
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Prf {
    pub pairs: usize,
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleResult {
    pub rule: Rule,
    /// Chosen on the tuning half.
    pub threshold: f32,
    pub tune: Prf,
    pub test: Prf,
    /// Share of random pairs (almost surely different matters) the rule calls the same: what
    /// grouping a city's volume would suffer, which the labelled sample, drawn from lexically
    /// close pairs, cannot show.
    pub random_false_match_rate: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DuplicateEval {
    pub pairs: usize,
    pub same: usize,
    pub random_pairs: usize,
    pub rules: Vec<RuleResult>,
    /// The rule with the best F1 on the tuning half among those the store can apply.
    pub chosen: Rule,
    /// For the chosen rule, the threshold with the best F2 (recall counted twice) on the
    /// tuning half: what `related` uses, a wider net than `duplicate_of`; and its test-half figures.
    pub related_threshold: f32,
    pub related_test: Prf,
}

pub fn load_pairs(path: &Path) -> Result<Vec<LabelledPair>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("{}:{}: {e}", path.display(), i + 1)))
        .collect()
}

/// Every readable row of a JSON-lines file with an `id` field, as (id, text), through the same
/// reader `triage batch` uses, so a row's text is joined the same way; unreadable rows are
/// returned as `Err((line, reason))`.
fn read_rows(path: &Path, text_fields: &[String]) -> Result<Vec<Result<(String, String), (u64, String)>>, String> {
    let spec = FieldSpec { text_fields: text_fields.to_vec(), id_field: "id".into(), compare_field: None, time_field: None };
    let mut reader = CaseReader::open(path, InputFormat::Jsonl, spec, None).map_err(|e| e.to_string())?;
    let mut rows = Vec::new();
    while let Some(row) = reader.next_row().map_err(|e| e.to_string())? {
        rows.push(match (row.id, row.case) {
            (Some(id), Ok(case)) => Ok((id, case.text)),
            (None, Ok(_)) => Err((row.line, "no id".to_string())),
            (_, Err(reason)) => Err((row.line, reason)),
        });
    }
    Ok(rows)
}

/// The texts of the ids `pairs` use, from a JSON-lines file with an `id` field.
pub fn load_texts(path: &Path, pairs: &[LabelledPair], text_fields: &[String]) -> Result<HashMap<String, String>, String> {
    let wanted: std::collections::HashSet<&str> = pairs.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    let mut out = HashMap::new();
    let mut unreadable = Vec::new();
    for row in read_rows(path, text_fields)? {
        match row {
            Ok((id, text)) if wanted.contains(id.as_str()) => {
                out.insert(id, text);
            }
            Ok(_) => {}
            Err(bad) => unreadable.push(bad),
        }
    }
    if let Some(missing) = wanted.iter().find(|id| !out.contains_key(**id)) {
        // The missing row may be one that could not be read: say which those were.
        let first = unreadable.first().map(|(line, reason)| format!("; {} unreadable rows, the first at line {line}: {reason}", unreadable.len()));
        return Err(format!("{}: no row with id {missing:?}{}", path.display(), first.unwrap_or_default()));
    }
    Ok(out)
}

fn pair_evidence(a: &EmbeddedSuggestion, b: &EmbeddedSuggestion, same: bool) -> PairEvidence {
    let case = |e: &EmbeddedSuggestion| super::NewCase::from_suggestion("", chrono::DateTime::UNIX_EPOCH, e);
    let (ca, cb) = (case(a), case(b));
    PairEvidence {
        similarity: cosine(&a.embedding, &b.embedding),
        same_topic: ca.topic == cb.topic,
        same_place: ca.place_agrees(&cb.sites, cb.district.as_deref(), cb.street.as_deref()),
        shared_keywords: ca.keywords.iter().filter(|k| cb.keywords.contains(k)).count(),
        same,
    }
}

/// `n` texts spread evenly over a JSON-lines file, leaving out `exclude`'s ids: every pair
/// of them is a random pair.
pub fn load_sample(path: &Path, n: usize, exclude: &[LabelledPair], text_fields: &[String]) -> Result<Vec<String>, String> {
    let skip: std::collections::HashSet<&str> = exclude.iter().flat_map(|p| [p.a.as_str(), p.b.as_str()]).collect();
    let usable: Vec<String> = read_rows(path, text_fields)?.into_iter().flatten().filter(|(id, _)| !skip.contains(id.as_str())).map(|(_, text)| text).collect();
    let step = (usable.len() / n.max(1)).max(1);
    Ok(usable.into_iter().step_by(step).take(n).collect())
}

/// Every pair among `texts`, as negatives.
pub fn random_evidence(model: &DispatchModel, texts: &[String]) -> Result<Vec<PairEvidence>, crate::dispatch::DispatchError> {
    let raws: Vec<&str> = texts.iter().map(String::as_str).collect();
    let classified = model.classify_batch_embedded(&raws, 1)?;
    let mut out = Vec::new();
    for i in 0..classified.len() {
        for j in i + 1..classified.len() {
            out.push(pair_evidence(&classified[i], &classified[j], false));
        }
    }
    Ok(out)
}

/// Classify every text once and collect each pair's evidence.
pub fn evidence(model: &DispatchModel, pairs: &[LabelledPair], texts: &HashMap<String, String>) -> Result<Vec<PairEvidence>, crate::dispatch::DispatchError> {
    let mut ids: Vec<&String> = texts.keys().collect();
    ids.sort();
    let raws: Vec<&str> = ids.iter().map(|id| texts[*id].as_str()).collect();
    let classified = model.classify_batch_embedded(&raws, 1)?;
    let by_id: HashMap<&str, &EmbeddedSuggestion> = ids.iter().map(|s| s.as_str()).zip(&classified).collect();
    Ok(pairs
        .iter()
        .map(|p| pair_evidence(by_id[p.a.as_str()], by_id[p.b.as_str()], p.same))
        .collect())
}

pub fn score(evidence: &[PairEvidence], rule: Rule, threshold: f32) -> Prf {
    let mut p = Prf { pairs: evidence.len(), ..Prf::default() };
    for e in evidence {
        let said = rule.says_same(e, threshold);
        match (said, e.same) {
            (true, true) => p.true_positives += 1,
            (true, false) => p.false_positives += 1,
            (false, true) => p.false_negatives += 1,
            _ => {}
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    p.precision = ratio(p.true_positives, p.true_positives + p.false_positives);
    p.recall = ratio(p.true_positives, p.true_positives + p.false_negatives);
    p.f1 = if p.precision + p.recall > 0.0 { 2.0 * p.precision * p.recall / (p.precision + p.recall) } else { 0.0 };
    p
}

/// Thresholds worth trying: every similarity in the sample.
fn candidates(evidence: &[PairEvidence]) -> Vec<f32> {
    let mut t: Vec<f32> = evidence.iter().map(|e| e.similarity).collect();
    t.sort_by(|a, b| a.total_cmp(b));
    t.dedup();
    t
}

/// The lowest threshold with the best F1 on `tune`, moved halfway down to the next lower
/// similarity in the sample, so a case just below the tuning set's edge is not lost.
pub fn choose_threshold(tune: &[PairEvidence], rule: Rule) -> f32 {
    choose_threshold_beta(tune, rule, 1.0)
}

/// As [`choose_threshold`] for the F-beta score: beta 2 counts recall twice, for `related`.
pub fn choose_threshold_beta(tune: &[PairEvidence], rule: Rule, beta: f64) -> f32 {
    let all = candidates(tune);
    let mut best = (f64::MIN, 0usize);
    for (i, t) in all.iter().enumerate() {
        let p = score(tune, rule, *t);
        let b2 = beta * beta;
        let f = if p.precision + p.recall > 0.0 { (1.0 + b2) * p.precision * p.recall / (b2 * p.precision + p.recall) } else { 0.0 };
        if f > best.0 {
            best = (f, i);
        }
    }
    match best.1 {
        0 => all.first().copied().unwrap_or(1.0),
        i => (all[i] + all[i - 1]) / 2.0,
    }
}

/// The two halves: even lines tune, odd lines test.
pub fn halves(evidence: &[PairEvidence]) -> (Vec<PairEvidence>, Vec<PairEvidence>) {
    let tune = evidence.iter().step_by(2).copied().collect();
    let test = evidence.iter().skip(1).step_by(2).copied().collect();
    (tune, test)
}

pub fn evaluate(evidence: &[PairEvidence], random: &[PairEvidence]) -> DuplicateEval {
    let (tune, test) = halves(evidence);
    let false_matches = |rule: Rule, t: f32| if random.is_empty() { 0.0 } else { random.iter().filter(|e| rule.says_same(e, t)).count() as f64 / random.len() as f64 };
    let rules: Vec<RuleResult> = RULES
        .iter()
        .map(|&rule| {
            let threshold = choose_threshold(&tune, rule);
            RuleResult { rule, threshold, tune: score(&tune, rule, threshold), test: score(&test, rule, threshold), random_false_match_rate: false_matches(rule, threshold) }
        })
        .collect();
    // Only rules the store can apply are candidates: it checks place and topic, not keywords.
    // The keyword rules are reported for comparison.
    let chosen = rules.iter().filter(|r| r.rule.min_shared_keywords == 0).fold(&rules[0], |best, r| if r.tune.f1 > best.tune.f1 { r } else { best }).rule;
    let related_threshold = choose_threshold_beta(&tune, chosen, 2.0);
    DuplicateEval {
        pairs: evidence.len(),
        same: evidence.iter().filter(|e| e.same).count(),
        random_pairs: random.len(),
        chosen,
        related_test: score(&test, chosen, related_threshold),
        related_threshold,
        rules,
    }
}

impl DuplicateEval {
    pub fn markdown(&self) -> String {
        let mut s = format!(
            "{} labelled pairs ({} same matter); thresholds chosen on the even half ({} pairs), figures on the odd half ({} pairs).\n\n",
            self.pairs,
            self.same,
            self.rules.first().map(|r| r.tune.pairs).unwrap_or(0),
            self.rules.first().map(|r| r.test.pairs).unwrap_or(0)
        );
        s.push_str(&format!("| rule | threshold | tune F1 | test precision | test recall | test F1 | false matches per 1,000 random pairs ({}) |\n|---|---|---|---|---|---|---|\n", self.random_pairs));
        for r in &self.rules {
            s.push_str(&format!(
                "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} |\n",
                r.rule.name,
                r.threshold,
                r.tune.f1,
                r.test.precision,
                r.test.recall,
                r.test.f1,
                r.random_false_match_rate * 1000.0
            ));
        }
        s.push_str(&format!(
            "\nChosen on the tuning half: {}. `related` (best F2 on the tuning half, same rule): threshold {:.3}; test precision {:.3}, recall {:.3}.\n",
            self.chosen.name,
            self.related_threshold, self.related_test.precision, self.related_test.recall
        ));
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(similarity: f32, same_topic: bool, same_place: bool, same: bool) -> PairEvidence {
        PairEvidence { similarity, same_topic, same_place, shared_keywords: 3, same }
    }

    #[test]
    fn thresholds_are_chosen_on_one_half_and_scored_on_the_other() {
        let ev = vec![e(0.95, true, true, true), e(0.96, true, true, true), e(0.90, true, false, false), e(0.91, true, false, false), e(0.97, true, true, true), e(0.94, true, true, true), e(0.85, true, true, false), e(0.80, true, true, false)];
        let r = evaluate(&ev, &[e(0.99, true, true, false)]);
        let place = &r.rules[3];
        assert_eq!(r.rules.len(), RULES.len());
        assert_eq!(place.test.f1, 1.0, "{r:?}");
        let plain = &r.rules[0];
        assert!(plain.threshold > 0.85 && plain.threshold <= 0.95, "{plain:?}");
        assert_eq!(score(&ev, RULES[0], 0.0).recall, 1.0);
        assert!(r.markdown().contains("embedding + topic + place"));
    }
}
