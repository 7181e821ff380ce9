//! The change report of a reclassification: what moved from which old department to which new
//! one. Built by streaming the job's output file once, so it covers resumed runs whole and its
//! memory is bounded by the number of departments, not rows.

use crate::chart::heatmap::{self, CountMatrix, HeatmapStyle};
use std::collections::{BTreeMap, BTreeSet};
use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::{BatchError, OutputFormat, Reclassified, RowCounts};

const EXAMPLES_PER_TRANSITION: usize = 3;
const LEAST_SURE: usize = 10;
const BIG_TRANSITIONS: usize = 8;

#[derive(Debug, Clone)]
pub struct Example {
    pub id: String,
    pub confidence: f32,
    pub excerpt: String,
    pub department: String,
}

#[derive(Debug, Default)]
pub struct Changes {
    pub rows: u64,
    /// Rows with a mappable old department.
    pub compared: u64,
    pub changed: u64,
    /// (old, new) -> rows.
    pub transitions: BTreeMap<(String, String), u64>,
    pub examples: BTreeMap<(String, String), Vec<Example>>,
    pub least_sure: Vec<Example>,
    pub new_departments: BTreeMap<String, u64>,
    pub needs_review: u64,
}

impl Changes {
    fn add(&mut self, r: Reclassified) {
        self.rows += 1;
        *self.new_departments.entry(r.department.clone()).or_default() += 1;
        self.needs_review += r.needs_review as u64;
        let example = Example { id: r.id.clone(), confidence: r.confidence, excerpt: r.excerpt.clone(), department: r.department.clone() };
        if r.changed.is_some() {
            self.compared += 1;
            let key = (r.previous_department.clone(), r.department.clone());
            *self.transitions.entry(key.clone()).or_default() += 1;
            if r.changed == Some(true) {
                self.changed += 1;
                let list = self.examples.entry(key).or_default();
                if list.len() < EXAMPLES_PER_TRANSITION {
                    list.push(example.clone());
                }
            }
        }
        // Keep the LEAST_SURE lowest confidences seen so far.
        if self.least_sure.len() < LEAST_SURE || example.confidence < self.least_sure.last().map_or(f32::MAX, |e| e.confidence) {
            self.least_sure.push(example);
            self.least_sure.sort_by(|a, b| a.confidence.total_cmp(&b.confidence));
            self.least_sure.truncate(LEAST_SURE);
        }
    }
}

/// Read a job's output (JSON lines or CSV, by extension) into the change counts.
pub fn tally(output: &Path) -> Result<Changes, BatchError> {
    let io = |source| BatchError::Io { path: output.display().to_string(), source };
    let bad = |reason: String| BatchError::Input { path: output.display().to_string(), reason };
    let mut changes = Changes::default();
    let file = std::fs::File::open(output).map_err(io)?;
    match OutputFormat::of(output) {
        OutputFormat::Jsonl => {
            for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
                let line = line.map_err(io)?;
                if line.trim().is_empty() {
                    continue;
                }
                changes.add(serde_json::from_str(&line).map_err(|e| bad(format!("line {}: {e}", i + 1)))?);
            }
        }
        OutputFormat::Csv => {
            for r in csv::Reader::from_reader(file).deserialize::<Reclassified>() {
                changes.add(r.map_err(|e| bad(e.to_string()))?);
            }
        }
    }
    Ok(changes)
}

fn pct(n: u64, d: u64) -> String {
    if d == 0 {
        "n/a".into()
    } else {
        format!("{:.1}%", 100.0 * n as f64 / d as f64)
    }
}

/// `dir/report.md` and `dir/transitions.png`; returns the Markdown path.
pub fn write(changes: &Changes, dir: &Path, input: &Path, counts: &RowCounts) -> Result<PathBuf, BatchError> {
    let io = |source| BatchError::Io { path: dir.display().to_string(), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut md = String::new();
    md.push_str(&format!("# Reclassification of `{}`\n\n", input.display()));
    md.push_str(&format!(
        "- rows read: {} (processed {}, errors {}, other shards {})\n- needs review: {} ({})\n",
        counts.input,
        counts.processed,
        counts.errors,
        counts.other_shards,
        changes.needs_review,
        pct(changes.needs_review, changes.rows)
    ));
    if changes.compared == 0 {
        md.push_str("- no old labels to compare with (no --compare-field, or none mapped to a department)\n");
    } else {
        md.push_str(&format!(
            "- compared with a mapped old department: {} rows; **changed: {} ({})**\n\n",
            changes.compared,
            changes.changed,
            pct(changes.changed, changes.compared)
        ));
        let labels: Vec<String> = changes
            .transitions
            .keys()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let index = |l: &str| labels.iter().position(|x| x == l).unwrap_or(0);
        let mut matrix = CountMatrix::zeros(labels.clone(), labels.clone());
        for ((a, b), n) in &changes.transitions {
            matrix.add(index(a), index(b), *n as usize);
        }
        heatmap::write(&matrix, &HeatmapStyle::TRANSITIONS, &dir.join("transitions.png"))?;
        md.push_str("## Transitions (rows: old department, columns: new; row-normalised)\n\n![transitions](transitions.png)\n\n");
        md.push_str("Axis order: ");
        md.push_str(&labels.iter().enumerate().map(|(i, l)| format!("{} {l}", i + 1)).collect::<Vec<_>>().join(", "));
        md.push_str("\n\n## Biggest moves\n\n| old | new | rows | share of old |\n|---|---|---|---|\n");
        let mut moves: Vec<(&(String, String), &u64)> = changes.transitions.iter().filter(|((a, b), _)| a != b).collect();
        moves.sort_by(|x, y| y.1.cmp(x.1).then_with(|| x.0.cmp(y.0)));
        let old_total = |a: &str| changes.transitions.iter().filter(|((x, _), _)| x == a).map(|(_, n)| *n).sum::<u64>();
        for (k, n) in moves.iter().take(BIG_TRANSITIONS) {
            md.push_str(&format!("| {} | {} | {} | {} |\n", k.0, k.1, n, pct(**n, old_total(&k.0))));
        }
        md.push_str("\n### Examples\n\n");
        for (k, _) in moves.iter().take(BIG_TRANSITIONS) {
            md.push_str(&format!("**{} -> {}**\n\n", k.0, k.1));
            for e in changes.examples.get(k).into_iter().flatten() {
                md.push_str(&format!("- `{}` ({:.2}) {}\n", e.id, e.confidence, e.excerpt.replace('\n', " ")));
            }
            md.push('\n');
        }
    }
    md.push_str("## Least sure\n\n| id | department | confidence | text |\n|---|---|---|---|\n");
    for e in &changes.least_sure {
        md.push_str(&format!("| `{}` | {} | {:.2} | {} |\n", e.id, e.department, e.confidence, e.excerpt.replace(['\n', '|'], " ")));
    }
    md.push_str("\n## New primary departments\n\n| department | rows |\n|---|---|\n");
    let mut by_count: Vec<(&String, &u64)> = changes.new_departments.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1));
    for (d, n) in by_count {
        md.push_str(&format!("| {d} | {n} |\n"));
    }
    let path = dir.join("report.md");
    std::fs::write(&path, md).map_err(io)?;
    Ok(path)
}
