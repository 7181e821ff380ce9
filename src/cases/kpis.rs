//! The rates a hotline is graded on, from the case record: how often the first suggestion was
//! the final department, returns and re-dispatches, response, resolution and satisfaction, and
//! the time they took; per department, topic, district and week. And drift alarms: a
//! department whose last 7 days depart from its own previous 28 by an exact binomial test.

use std::collections::BTreeMap;

use serde::Serialize;

use super::record::current_department;
use crate::store::{CaseEventRow, RecordRow};

const DAY: i64 = 86_400;

/// Which cases count: those that came in during `[from, to)` (unix seconds), optionally of one
/// final department, topic or district.
#[derive(Debug, Clone, Default)]
pub struct KpiFilter {
    pub from: i64,
    pub to: i64,
    pub department: Option<String>,
    pub topic: Option<String>,
    pub district: Option<String>,
}

/// The rates of a set of cases. A rate is absent when nothing could be counted for it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Rates {
    pub cases: u64,
    pub dispatched: u64,
    /// Dispatched cases whose final department was the first suggestion.
    pub first_dispatch_accuracy: Option<f64>,
    /// ... was among the first three suggestions.
    pub top3_agreement: Option<f64>,
    /// Dispatched cases sent back at least once (退单).
    pub return_rate: Option<f64>,
    /// Dispatched cases moved to another department at least once (改派).
    pub redispatch_rate: Option<f64>,
    /// Dispatched cases responded to (or closed).
    pub response_rate: Option<f64>,
    /// Closed cases resolved.
    pub resolution_rate: Option<f64>,
    /// Rated cases rated 满意 or 基本满意.
    pub satisfaction_rate: Option<f64>,
    pub median_hours_to_response: Option<f64>,
    pub median_hours_to_resolution: Option<f64>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GroupRates {
    pub key: String,
    pub rates: Rates,
}

/// A department's rate that moved: the last 7 days against its own previous 28.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DriftAlarm {
    pub department: String,
    /// first_dispatch_accuracy or return_rate.
    pub metric: String,
    pub recent: f64,
    pub recent_cases: u64,
    pub baseline: f64,
    pub baseline_cases: u64,
    /// Two-sided exact binomial test of the recent count against the baseline rate.
    pub p_value: f64,
    /// worse or better.
    pub direction: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KpiReport {
    pub from: String,
    pub to: String,
    pub overall: Rates,
    pub by_department: Vec<GroupRates>,
    pub by_topic: Vec<GroupRates>,
    pub by_district: Vec<GroupRates>,
    /// Weeks from Monday, city time.
    pub by_week: Vec<GroupRates>,
    /// Departments drifting in the 7 days before `to`.
    pub drift: Vec<DriftAlarm>,
}

/// One case's outcome, read from its steps.
#[derive(Debug, Clone)]
struct Outcome {
    at: i64,
    topic: String,
    district: Option<String>,
    suggested: Vec<String>,
    /// Where it went last; the first suggestion while undispatched.
    department: String,
    dispatched_at: Option<i64>,
    /// Every department it was dispatched to, and which of them returned it.
    dispatched_to: Vec<String>,
    returned_by: Vec<String>,
    redispatched: bool,
    responded_at: Option<i64>,
    closed_at: Option<i64>,
    resolved: bool,
    rating: Option<String>,
}

fn outcome(r: &RecordRow, events: &[&CaseEventRow]) -> Outcome {
    let suggested: Vec<String> = r.suggested.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or_else(|| vec![r.department.clone()]);
    let first = |kind: &[&str]| events.iter().find(|e| kind.contains(&e.kind.as_str())).map(|e| e.at);
    Outcome {
        at: r.at,
        topic: r.topic.clone(),
        district: r.district.clone(),
        department: current_department(events.iter().copied()).unwrap_or_else(|| r.department.clone()),
        suggested,
        dispatched_at: first(&["dispatched"]),
        dispatched_to: events.iter().filter(|e| e.kind == "dispatched" || e.kind == "redispatched").filter_map(|e| e.department.clone()).collect(),
        returned_by: events.iter().filter(|e| e.kind == "returned").filter_map(|e| e.department.clone()).collect(),
        redispatched: events.iter().any(|e| e.kind == "redispatched"),
        responded_at: first(&["responded", "resolved", "unresolved"]),
        closed_at: first(&["resolved", "unresolved"]),
        resolved: events.iter().any(|e| e.kind == "resolved"),
        rating: events.iter().rev().find(|e| e.kind == "satisfaction").and_then(|e| e.rating.clone()),
    }
}

fn share(k: usize, n: usize) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

fn median_hours(mut v: Vec<i64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let m = if v.len() % 2 == 1 { v[v.len() / 2] as f64 } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) as f64 / 2.0 };
    Some(m / 3600.0)
}

fn rates(cases: &[&Outcome]) -> Rates {
    let dispatched: Vec<&&Outcome> = cases.iter().filter(|c| c.dispatched_at.is_some()).collect();
    let n = dispatched.len();
    let closed: Vec<&&&Outcome> = dispatched.iter().filter(|c| c.closed_at.is_some()).collect();
    let rated: Vec<&str> = dispatched.iter().filter_map(|c| c.rating.as_deref()).collect();
    let since_dispatch = |f: fn(&Outcome) -> Option<i64>| dispatched.iter().filter_map(|c| Some(f(c)? - c.dispatched_at?)).filter(|d| *d >= 0).collect::<Vec<_>>();
    Rates {
        cases: cases.len() as u64,
        dispatched: n as u64,
        first_dispatch_accuracy: share(dispatched.iter().filter(|c| c.suggested.first() == Some(&c.department)).count(), n),
        top3_agreement: share(dispatched.iter().filter(|c| c.suggested.iter().take(3).any(|d| d == &c.department)).count(), n),
        return_rate: share(dispatched.iter().filter(|c| !c.returned_by.is_empty()).count(), n),
        redispatch_rate: share(dispatched.iter().filter(|c| c.redispatched).count(), n),
        response_rate: share(dispatched.iter().filter(|c| c.responded_at.is_some()).count(), n),
        resolution_rate: share(closed.iter().filter(|c| c.resolved).count(), closed.len()),
        satisfaction_rate: share(rated.iter().filter(|r| **r != "不满意").count(), rated.len()),
        median_hours_to_response: median_hours(since_dispatch(|c| c.responded_at)),
        median_hours_to_resolution: median_hours(since_dispatch(|c| c.closed_at)),
    }
}

fn grouped(cases: &[&Outcome], key: impl Fn(&Outcome) -> Option<String>) -> Vec<GroupRates> {
    let mut groups: BTreeMap<String, Vec<&Outcome>> = BTreeMap::new();
    for c in cases {
        if let Some(k) = key(c) {
            groups.entry(k).or_default().push(c);
        }
    }
    groups.into_iter().map(|(key, cs)| GroupRates { key, rates: rates(&cs) }).collect()
}

/// The Monday (city time) of the week `at` falls in, as a date.
fn week_of(at: i64, offset_secs: i64) -> String {
    let local = at + offset_secs;
    // 1970-01-05 was a Monday.
    let monday = local - (local - 4 * DAY).rem_euclid(7 * DAY);
    chrono::DateTime::from_timestamp(monday, 0).map(|d| d.format("%Y-%m-%d").to_string()).unwrap_or_default()
}

fn outcomes(records: &[RecordRow], events: &[CaseEventRow]) -> Vec<Outcome> {
    let mut by_case: BTreeMap<&str, Vec<&CaseEventRow>> = BTreeMap::new();
    for e in events {
        by_case.entry(e.case_id.as_str()).or_default().push(e);
    }
    records.iter().map(|r| outcome(r, by_case.get(r.case_id.as_str()).map(Vec::as_slice).unwrap_or(&[]))).collect()
}

/// The report for `filter` over `records` (and their steps), with drift judged at `filter.to`.
/// `records` must cover `[min(from, to - 35 days), to)` for the drift alarms.
pub fn report(records: &[RecordRow], events: &[CaseEventRow], filter: &KpiFilter, offset_secs: i64, alpha: f64) -> KpiReport {
    let all = outcomes(records, events);
    let keep = |c: &&Outcome| {
        filter.department.as_ref().is_none_or(|d| &c.department == d)
            && filter.topic.as_ref().is_none_or(|t| &c.topic == t)
            && filter.district.as_ref().is_none_or(|d| c.district.as_ref() == Some(d))
    };
    let scoped: Vec<&Outcome> = all.iter().filter(|c| c.at >= filter.from && c.at < filter.to).filter(keep).collect();
    KpiReport {
        from: super::time::rfc3339(filter.from),
        to: super::time::rfc3339(filter.to),
        overall: rates(&scoped),
        by_department: grouped(&scoped, |c| Some(c.department.clone())),
        by_topic: grouped(&scoped, |c| Some(c.topic.clone())),
        by_district: grouped(&scoped, |c| c.district.clone()),
        by_week: grouped(&scoped, |c| Some(week_of(c.at, offset_secs))),
        drift: drift(&all.iter().filter(keep).collect::<Vec<_>>(), filter.to, alpha),
    }
}

/// Departments whose first-dispatch accuracy or return rate in `[to - 7d, to)` departs from
/// their `[to - 35d, to - 7d)` rate with p < `alpha`, given at least 10 recent and 20 baseline cases.
fn drift(cases: &[&Outcome], to: i64, alpha: f64) -> Vec<DriftAlarm> {
    let recent = |c: &Outcome| c.at >= to - 7 * DAY && c.at < to;
    let baseline = |c: &Outcome| c.at >= to - 35 * DAY && c.at < to - 7 * DAY;
    let departments: std::collections::BTreeSet<&str> = cases.iter().flat_map(|c| c.dispatched_to.iter().map(String::as_str)).collect();
    let mut alarms = Vec::new();
    for d in departments {
        // Accuracy: of the cases that ended with d, how many the model sent to d first.
        let ended = |c: &Outcome| c.dispatched_at.is_some() && c.department == d;
        let right = |c: &Outcome| c.suggested.first().map(String::as_str) == Some(d);
        // Returns: of the cases dispatched to d, how many d sent back.
        let sent = |c: &Outcome| c.dispatched_to.iter().any(|x| x == d);
        let returned = |c: &Outcome| c.returned_by.iter().any(|x| x == d);
        let metrics: [(&str, &dyn Fn(&Outcome) -> bool, &dyn Fn(&Outcome) -> bool, bool); 2] =
            [("first_dispatch_accuracy", &ended, &right, false), ("return_rate", &sent, &returned, true)];
        for (metric, pool, hit, higher_is_worse) in metrics {
            let count = |window: &dyn Fn(&Outcome) -> bool| {
                let n = cases.iter().filter(|c| pool(c) && window(c)).count() as u64;
                let k = cases.iter().filter(|c| pool(c) && window(c) && hit(c)).count() as u64;
                (k, n)
            };
            let ((k, n), (k0, n0)) = (count(&recent), count(&baseline));
            if n < 10 || n0 < 20 {
                continue;
            }
            let p0 = k0 as f64 / n0 as f64;
            let p_value = binomial_two_sided(k, n, p0);
            if p_value < alpha {
                let up = k as f64 / n as f64 > p0;
                alarms.push(DriftAlarm {
                    department: d.to_string(),
                    metric: metric.to_string(),
                    recent: k as f64 / n as f64,
                    recent_cases: n,
                    baseline: p0,
                    baseline_cases: n0,
                    p_value,
                    direction: if up == higher_is_worse { "worse" } else { "better" }.into(),
                });
            }
        }
    }
    alarms
}

/// P(X as or less likely than k) for X ~ Binomial(n, p): the exact two-sided test.
pub fn binomial_two_sided(k: u64, n: u64, p: f64) -> f64 {
    if p <= 0.0 {
        return if k == 0 { 1.0 } else { 0.0 };
    }
    if p >= 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    // log pmf by the recurrence pmf(i+1) = pmf(i) * (n-i)/(i+1) * p/(1-p).
    let mut log_pmf = Vec::with_capacity(n as usize + 1);
    let mut lp = n as f64 * (1.0 - p).ln();
    for i in 0..=n {
        log_pmf.push(lp);
        lp += ((n - i) as f64 / (i + 1) as f64).ln() + (p / (1.0 - p)).ln();
    }
    let at_k = log_pmf[k as usize];
    let total: f64 = log_pmf.iter().filter(|l| **l <= at_k + 1e-7).map(|l| l.exp()).sum();
    total.min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binomial_test_matches_known_values() {
        // R: binom.test(2, 20, 0.5)$p.value = 0.0004024506
        assert!((binomial_two_sided(2, 20, 0.5) - 0.000_402_45).abs() < 1e-7);
        // binom.test(7, 20, 0.3)$p.value = 0.6295 (asymmetric)
        assert!((binomial_two_sided(7, 20, 0.3) - 0.629_498).abs() < 1e-5, "{}", binomial_two_sided(7, 20, 0.3));
        assert_eq!(binomial_two_sided(10, 10, 1.0), 1.0);
    }

    #[test]
    fn weeks_start_on_monday_city_time() {
        // 2026-12-06 is a Sunday; 23:30 UTC is Monday 07:30 in Beijing.
        let sunday_late = chrono::DateTime::parse_from_rfc3339("2026-12-06T23:30:00Z").unwrap().timestamp();
        assert_eq!(week_of(sunday_late, 0), "2026-11-30");
        assert_eq!(week_of(sunday_late, 8 * 3600), "2026-12-07");
    }
}
