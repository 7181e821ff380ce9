//! Labelled history as JSON lines: which fields hold the text, which the label, which split.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::TrainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub fn parse(s: &str) -> Option<Split> {
        match s {
            "train" => Some(Split::Train),
            "dev" | "valid" | "validation" => Some(Split::Dev),
            "test" => Some(Split::Test),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatasetSpec {
    pub path: PathBuf,
    pub text_fields: Vec<String>,
    pub label_field: String,
    /// Without a split field, rows are split 80/10/10 by a hash of their text, so the same
    /// text always lands in the same split.
    pub split_field: Option<String>,
    /// Labels with fewer training rows are left out of every split (reported).
    pub min_class_count: usize,
}

#[derive(Debug, Clone)]
pub struct Example {
    /// 1-based line in the file, for error messages and reports.
    pub line: usize,
    pub id: Option<String>,
    pub text: String,
    pub label: String,
    pub split: Split,
}

#[derive(Debug, Clone, Serialize)]
pub struct BadRow {
    pub line: usize,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Dataset {
    #[serde(skip)]
    pub examples: Vec<Example>,
    pub bad_rows: Vec<BadRow>,
    /// Labels dropped by `min_class_count`, with their training counts.
    pub rare_labels: BTreeMap<String, usize>,
    pub rows_read: usize,
    /// sha256 of the file, recorded in the head's metadata.
    pub sha256: String,
}

impl Dataset {
    pub fn split(&self, split: Split) -> impl Iterator<Item = &Example> {
        self.examples.iter().filter(move |e| e.split == split)
    }

    pub fn count(&self, split: Split) -> usize {
        self.split(split).count()
    }
}

fn hash_split(text: &str) -> Split {
    let h = Sha256::digest(text.as_bytes());
    match h[0] as u32 * 100 / 256 {
        0..=79 => Split::Train,
        80..=89 => Split::Dev,
        _ => Split::Test,
    }
}

/// Read every row; a row that cannot be used is recorded with its line and reason, and the
/// others are still read.
pub fn read_dataset(spec: &DatasetSpec) -> Result<Dataset, TrainError> {
    let bytes = std::fs::read(&spec.path).map_err(|e| TrainError::io(&spec.path, e))?;
    let sha256 = hex::encode(Sha256::digest(&bytes));
    let mut examples = Vec::new();
    let mut bad_rows = Vec::new();
    let mut rows_read = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rows_read += 1;
        match parse_row(spec, line) {
            Ok((id, text, label, split)) => examples.push(Example { line: i + 1, id, text, label, split }),
            Err(reason) => bad_rows.push(BadRow { line: i + 1, reason }),
        }
    }
    if examples.is_empty() {
        return Err(TrainError::Data { path: spec.path.clone(), reason: format!("no usable rows ({} bad)", bad_rows.len()) });
    }
    let mut train_counts: HashMap<String, usize> = HashMap::new();
    for e in examples.iter().filter(|e| e.split == Split::Train) {
        *train_counts.entry(e.label.clone()).or_default() += 1;
    }
    let mut rare_labels = BTreeMap::new();
    for e in &examples {
        let n = train_counts.get(&e.label).copied().unwrap_or(0);
        if n < spec.min_class_count.max(1) {
            rare_labels.insert(e.label.clone(), n);
        }
    }
    examples.retain(|e| !rare_labels.contains_key(&e.label));
    Ok(Dataset { examples, bad_rows, rare_labels, rows_read, sha256 })
}

fn parse_row(spec: &DatasetSpec, line: &[u8]) -> Result<(Option<String>, String, String, Split), String> {
    let line = std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 at byte {}", e.valid_up_to()))?;
    let row: serde_json::Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = row.as_object().ok_or("not a JSON object")?;
    let field = |name: &str| obj.get(name).and_then(|v| match v {
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    });
    let label = field(&spec.label_field).filter(|l| !l.is_empty()).ok_or_else(|| format!("no label in field {:?}", spec.label_field))?;
    let parts: Vec<String> = spec.text_fields.iter().filter_map(|f| field(f)).filter(|t| !t.is_empty()).collect();
    if parts.is_empty() {
        return Err(format!("no text in fields {:?}", spec.text_fields));
    }
    let text = parts.join("\n");
    let split = match &spec.split_field {
        Some(f) => {
            let raw = field(f).ok_or_else(|| format!("no split in field {f:?}"))?;
            Split::parse(&raw).ok_or_else(|| format!("unknown split {raw:?} (expected train, dev or test)"))?
        }
        None => hash_split(&text),
    };
    Ok((field("id"), text, label, split))
}

/// Sorted distinct labels of the training split: the class list of the head.
pub fn label_list(dataset: &Dataset) -> Vec<String> {
    let mut labels: Vec<String> = dataset.split(Split::Train).map(|e| e.label.clone()).collect();
    labels.sort();
    labels.dedup();
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_rows_are_reported_and_the_rest_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let mut data = Vec::new();
        data.extend_from_slice("{\"title\":\"油烟\",\"text\":\"楼下饭店\",\"label\":\"环境\",\"split\":\"train\"}\n".as_bytes());
        data.extend_from_slice(b"{broken\n");
        data.extend_from_slice("{\"title\":\"\",\"text\":\"\",\"label\":\"环境\",\"split\":\"train\"}\n".as_bytes());
        data.extend_from_slice("{\"title\":\"x\",\"label\":\"环境\",\"split\":\"later\"}\n".as_bytes());
        data.extend_from_slice(b"{\"title\":\"\xff\",\"label\":\"a\"}\n");
        data.extend_from_slice("{\"title\":\"供热\",\"label\":\"住房\",\"split\":\"test\"}\n".as_bytes());
        std::fs::write(&path, data).unwrap();
        let spec = DatasetSpec { path, text_fields: vec!["title".into(), "text".into()], label_field: "label".into(), split_field: Some("split".into()), min_class_count: 1 };
        let d = read_dataset(&spec).unwrap();
        assert_eq!(d.rows_read, 6);
        assert_eq!(d.bad_rows.iter().map(|b| b.line).collect::<Vec<_>>(), vec![2, 3, 4, 5]);
        assert!(d.bad_rows[2].reason.contains("unknown split"));
        // 住房 has no training rows, so it cannot be learned: it is reported, not kept.
        assert_eq!(d.examples.len(), 1);
        assert_eq!(d.rare_labels.get("住房"), Some(&0));
        assert_eq!(d.examples[0].text, "油烟\n楼下饭店");
    }
}
