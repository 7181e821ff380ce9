//! Hot spots: groups of the same matter whose count in a window rises clearly above their
//! own baseline.
//!
//! The test is a one-sided exact Poisson test. A group's baseline rate is its count over the
//! `baseline_days` before the window, scaled to the window's length; the p-value is
//! P(X >= count) for X ~ Poisson(expected). The expected count never drops below
//! `expected_floor`, so a brand-new matter needs several calls in one window before it counts
//! (with the default floor of 0.5, five calls give p = 1.7e-4), while a matter that is always
//! called about must grow against its own history. Hot spots are ranked by p-value.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::store::{CaseStore, StoredCase};
use super::time::rfc3339;
use crate::feedback::FeedbackError;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HotspotSettings {
    /// The history a window is compared with.
    pub baseline_days: u32,
    /// Largest p-value reported.
    pub alpha: f64,
    /// Fewest cases in the window.
    pub min_count: u64,
    /// Least expected count per window, so that one or two calls about a new matter are noise.
    pub expected_floor: f64,
    /// Example cases per hot spot.
    pub examples: usize,
}

impl Default for HotspotSettings {
    fn default() -> Self {
        HotspotSettings { baseline_days: 28, alpha: 0.01, min_count: 3, expected_floor: 0.5, examples: 3 }
    }
}

/// One group's surge: its window, counts and test result.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub group: i64,
    pub start: i64,
    pub end: i64,
    pub count: u64,
    pub baseline: u64,
    pub expected: f64,
    pub p_value: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HotSpotExample {
    pub case_id: String,
    pub at: String,
    pub excerpt: String,
}

/// A ranked hot spot with its evidence.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct HotSpot {
    pub rank: usize,
    pub group: i64,
    /// Its top keywords.
    pub label: String,
    pub keywords: Vec<String>,
    pub topic: String,
    pub district: Option<String>,
    pub street: Option<String>,
    /// The estate, road or business most of its cases name.
    pub site: Option<String>,
    /// Cases in the window.
    pub count: u64,
    /// Cases in the baseline period before it.
    pub baseline: u64,
    /// The count the baseline predicts for the window.
    pub expected: f64,
    /// count / expected.
    pub growth: f64,
    pub p_value: f64,
    pub window_start: String,
    pub window_end: String,
    pub examples: Vec<HotSpotExample>,
}

/// ln(k!) by summation below 256 and Stirling's series above (error < 1e-10).
fn ln_factorial(k: u64) -> f64 {
    if k < 256 {
        (2..=k).map(|i| (i as f64).ln()).sum()
    } else {
        let n = k as f64;
        n * n.ln() - n + 0.5 * (2.0 * std::f64::consts::PI * n).ln() + 1.0 / (12.0 * n) - 1.0 / (360.0 * n.powi(3))
    }
}

/// P(X >= k) for X ~ Poisson(lambda).
pub fn poisson_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda <= 0.0 {
        return 0.0;
    }
    if (k as f64) <= lambda {
        // The head is the short sum here: 1 - P(X < k).
        let mut term = (-lambda).exp();
        let mut head = 0.0;
        for i in 0..k {
            if i > 0 {
                term *= lambda / i as f64;
            }
            head += term;
        }
        return (1.0 - head).clamp(0.0, 1.0);
    }
    // Sum the tail from k upward; terms shrink at least geometrically once i > lambda.
    let first = (-lambda + k as f64 * lambda.ln() - ln_factorial(k)).exp();
    let (mut term, mut sum, mut i) = (first, first, k);
    while term > sum * 1e-15 && i < k + 10_000 {
        i += 1;
        term *= lambda / i as f64;
        sum += term;
    }
    sum.min(1.0)
}

/// The expected window count and p-value for `count` cases in a window of `window` seconds
/// after `baseline` cases in the `baseline_span` seconds before it.
pub fn test_window(count: u64, baseline: u64, window: i64, baseline_span: i64, s: &HotspotSettings) -> (f64, f64) {
    let expected = (baseline as f64 * window as f64 / baseline_span.max(1) as f64).max(s.expected_floor);
    (expected, poisson_tail(count, expected))
}

/// Offline: each group's most surprising window of length `window` over a whole timeline of
/// `(group, time)` (any order), keeping those that pass the test.
pub fn scan_timeline(timeline: &[(i64, i64)], window: i64, s: &HotspotSettings) -> Vec<Burst> {
    let baseline_span = s.baseline_days as i64 * 86_400;
    let mut by_group: HashMap<i64, Vec<i64>> = HashMap::new();
    for (g, at) in timeline {
        by_group.entry(*g).or_default().push(*at);
    }
    let mut bursts = Vec::new();
    for (group, mut times) in by_group {
        if (times.len() as u64) < s.min_count {
            continue;
        }
        times.sort_unstable();
        let mut best: Option<Burst> = None;
        // Windows ending at each case: the count can only peak at one. Three pointers walk
        // the window's start and the baseline's start forward.
        let (mut w_start, mut b_start) = (0usize, 0usize);
        for (j, &end) in times.iter().enumerate() {
            while times[w_start] <= end - window {
                w_start += 1;
            }
            while times[b_start] <= end - window - baseline_span {
                b_start += 1;
            }
            let count = (j + 1 - w_start) as u64;
            let baseline = (w_start - b_start) as u64;
            if count < s.min_count {
                continue;
            }
            let (expected, p_value) = test_window(count, baseline, window, baseline_span, s);
            let better = best.as_ref().is_none_or(|b| p_value < b.p_value || (p_value == b.p_value && count > b.count));
            if better {
                best = Some(Burst { group, start: end - window, end, count, baseline, expected, p_value });
            }
        }
        if let Some(b) = best.filter(|b| b.p_value <= s.alpha) {
            bursts.push(b);
        }
    }
    rank(&mut bursts);
    bursts
}

fn rank(bursts: &mut [Burst]) {
    bursts.sort_by(|a, b| a.p_value.total_cmp(&b.p_value).then(b.count.cmp(&a.count)).then(a.group.cmp(&b.group)));
}

/// On line: groups whose count in `[since, until)` passes the test against the baseline
/// period just before `since`.
pub fn bursts_since(store: &CaseStore, since: i64, until: i64, s: &HotspotSettings) -> Result<Vec<Burst>, FeedbackError> {
    let baseline_span = s.baseline_days as i64 * 86_400;
    let window = (until - since).max(1);
    let mut bursts = Vec::new();
    for (group, count) in store.group_counts(since, until, s.min_count)? {
        let baseline = store.group_count(group, since - baseline_span, since)?;
        let (expected, p_value) = test_window(count, baseline, window, baseline_span, s);
        if p_value <= s.alpha {
            bursts.push(Burst { group, start: since, end: until, count, baseline, expected, p_value });
        }
    }
    rank(&mut bursts);
    Ok(bursts)
}

/// Each distinct value with how often it occurs, most frequent first; ties keep the order of
/// first appearance, so the answer does not depend on hash order.
fn tally<'a>(values: impl Iterator<Item = &'a str>) -> Vec<(&'a str, usize)> {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for v in values {
        match index.get(v) {
            Some(&i) => counts[i].1 += 1,
            None => {
                index.insert(v, counts.len());
                counts.push((v, 1));
            }
        }
    }
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    counts
}

fn mode<'a>(values: impl Iterator<Item = &'a str>) -> Option<String> {
    tally(values).first().map(|(v, _)| v.to_string())
}

/// Label a group from its cases in the window: the keywords most of them share, the place
/// most of them name, and examples.
pub fn describe(store: &CaseStore, bursts: &[Burst], limit: usize, topic_name: impl Fn(&str) -> String) -> Result<Vec<HotSpot>, FeedbackError> {
    let s = &store.settings().hotspots;
    let mut out = Vec::new();
    for (i, b) in bursts.iter().take(limit).enumerate() {
        // The end is inclusive for offline windows that end at a case.
        let members = store.members(b.group, b.start + 1, b.end + 1)?;
        out.push(hot_spot(i + 1, b, &members, s.examples, &topic_name));
    }
    Ok(out)
}

fn hot_spot(rank: usize, b: &Burst, members: &[StoredCase], examples: usize, topic_name: &impl Fn(&str) -> String) -> HotSpot {
    // The keywords most of its cases share (each case lists a keyword once).
    let keywords: Vec<String> = tally(members.iter().flat_map(|m| m.keywords.iter().map(String::as_str))).into_iter().take(5).map(|(k, _)| k.to_string()).collect();
    let site = mode(members.iter().flat_map(|m| m.sites.names.iter().map(String::as_str)));
    let district = mode(members.iter().filter_map(|m| m.district.as_deref()));
    let street = mode(members.iter().filter_map(|m| m.street.as_deref()));
    let topic = mode(members.iter().map(|m| m.topic.as_str())).unwrap_or_default();
    let mut label_parts: Vec<String> = Vec::new();
    if let Some(site) = &site {
        label_parts.push(site.clone());
    }
    for k in &keywords {
        if label_parts.len() == 4 {
            break;
        }
        if !label_parts.iter().any(|p| p.contains(k.as_str()) || k.contains(p.as_str())) {
            label_parts.push(k.clone());
        }
    }
    // Examples from across the window: first, last, and the middle.
    let picks: Vec<usize> = match members.len() {
        0 => vec![],
        n if n <= examples => (0..n).collect(),
        n => (0..examples).map(|i| i * (n - 1) / (examples - 1).max(1)).collect(),
    };
    HotSpot {
        rank,
        group: b.group,
        label: label_parts.join(" · "),
        keywords,
        topic: topic_name(&topic),
        district,
        street,
        site,
        count: b.count,
        baseline: b.baseline,
        expected: b.expected,
        growth: b.count as f64 / b.expected,
        p_value: b.p_value,
        window_start: rfc3339(b.start),
        window_end: rfc3339(b.end),
        examples: picks
            .into_iter()
            .map(|i| &members[i])
            .map(|m| HotSpotExample { case_id: m.case_id.clone(), at: rfc3339(m.at), excerpt: m.text.chars().take(80).collect() })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_poisson_tail_matches_known_values() {
        assert!((poisson_tail(5, 0.5) - 1.7212e-4).abs() < 1e-7, "{}", poisson_tail(5, 0.5));
        assert!((poisson_tail(1, 2.0) - (1.0 - (-2.0f64).exp())).abs() < 1e-12);
        assert!((poisson_tail(10, 10.0) - 0.54207).abs() < 1e-4);
        assert_eq!(poisson_tail(0, 3.0), 1.0);
        let far = poisson_tail(400, 2.0);
        assert!(far > 0.0 && far < 1e-300 || far == 0.0);
        assert!((ln_factorial(300) - 1_414.905_849_945_7).abs() < 1e-6);
    }

    #[test]
    fn a_surge_is_found_and_a_steady_matter_is_not() {
        let day = 86_400;
        let s = HotspotSettings::default();
        let mut timeline = Vec::new();
        // Group 1: two calls a week for a year, steady.
        for k in 0..104 {
            timeline.push((1, k * 7 * day / 2));
        }
        // Group 2: quiet, then 12 calls in four days.
        timeline.push((2, 10 * day));
        for k in 0..12 {
            timeline.push((2, 200 * day + k * day / 3));
        }
        // Group 3: a new matter with two calls: noise.
        timeline.extend([(3, 50 * day), (3, 51 * day)]);
        let bursts = scan_timeline(&timeline, 7 * day, &s);
        assert_eq!(bursts.len(), 1, "{bursts:?}");
        assert_eq!((bursts[0].group, bursts[0].count, bursts[0].baseline), (2, 12, 0));
        assert!(bursts[0].end >= 200 * day + 11 * day / 3);
    }
}
