//! Reclassifying historical cases in bulk: streamed, resumable after a kill, shardable across
//! machines, with a report of what moved.
//!
//! - [`checkpoint`]: the atomic resume point;
//! - [`report`]: the change report (transition heatmap, changed share, examples).

pub mod checkpoint;
pub mod report;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::dispatch::{AliasTable, DispatchModel, EmbeddedSuggestion};
pub use crate::cases::reader::{CaseReader, FieldSpec, InputFormat};
use crate::cases::reader::{InputRow, ReadError};

#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Report(#[from] crate::chart::ReportError),
}

/// `K/N`: this job takes the rows whose id hashes to K modulo N (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (k, n) = s.split_once('/').ok_or_else(|| format!("{s:?}: expected K/N, e.g. 0/3"))?;
        let index: u64 = k.trim().parse().map_err(|_| format!("{s:?}: K is not a number"))?;
        let count: u64 = n.trim().parse().map_err(|_| format!("{s:?}: N is not a number"))?;
        if count == 0 || index >= count {
            return Err(format!("{s:?}: need 0 <= K < N"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Rows are keyed by id (or by row number when they have none), so every shard of the same
    /// file agrees on who takes what.
    pub fn takes(&self, key: &str) -> bool {
        let h = Sha256::digest(key.as_bytes());
        let v = u64::from_le_bytes([h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]]);
        v % self.count == self.index
    }
}

#[derive(Debug, Clone)]
pub struct BatchOptions {
    pub input: PathBuf,
    pub output: PathBuf,
    pub format: InputFormat,
    pub fields: FieldSpec,
    pub resume: bool,
    pub shard: Option<Shard>,
    /// Bad rows, one JSON object per line (default: OUTPUT.errors.jsonl).
    pub errors: PathBuf,
    pub report: Option<PathBuf>,
    /// Rows read, classified and committed together; the encoder sorts them by length inside.
    pub chunk_rows: usize,
}

/// Every input row lands in exactly one of these.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowCounts {
    pub input: u64,
    pub processed: u64,
    pub errors: u64,
    /// Rows that belong to other shards.
    pub other_shards: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BatchSummary {
    pub counts: RowCounts,
    /// Rows whose new primary department differs from the mapped old one.
    pub changed: Option<u64>,
    pub compared: Option<u64>,
    pub seconds: f64,
    /// Processed rows per second in this invocation (a resumed run counts only its own rows).
    pub rows_per_second: f64,
    pub resumed_from_row: Option<u64>,
    pub output: PathBuf,
    pub errors: PathBuf,
    pub report: Option<PathBuf>,
}

/// One reclassified case, as written to the output (flat, so CSV and JSON lines agree).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Reclassified {
    pub id: String,
    pub row: u64,
    pub department: String,
    pub department_name: String,
    pub confidence: f32,
    pub needs_review: bool,
    /// The next two departments, `|`-separated.
    pub alternatives: String,
    pub topic: String,
    pub appeal_type: String,
    pub district: String,
    pub street: String,
    pub urgent: bool,
    /// The old label as found in the compare field.
    pub previous: String,
    /// The old label mapped to a department id through the alias table; empty if unmappable.
    pub previous_department: String,
    /// Empty when there is nothing to compare with.
    pub changed: Option<bool>,
    /// The start of the masked text, for reports.
    pub excerpt: String,
    /// The ticket (智能填单), each field empty when the call gives none: the address line, the
    /// summary, then the other fields as said; lists `|`-separated.
    #[serde(default)]
    pub address: String,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub when: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub request: String,
    #[serde(default)]
    pub amounts: String,
    #[serde(default)]
    pub people: String,
    /// Vulnerable people named (elderly_alone, children, ...).
    #[serde(default)]
    pub vulnerable: String,
    /// The kinds of contact given (phone, id_card), masked in the text.
    #[serde(default)]
    pub contact: String,
}

#[derive(Serialize)]
struct BadRow<'a> {
    row: u64,
    line: u64,
    id: Option<&'a str>,
    reason: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jsonl,
    Csv,
}

impl OutputFormat {
    pub fn of(path: &Path) -> Self {
        match InputFormat::guess(path) {
            InputFormat::Csv => OutputFormat::Csv,
            InputFormat::Jsonl => OutputFormat::Jsonl,
        }
    }
}

/// The CSV header: [`Reclassified`]'s field names, as the csv writer names them (one list to keep,
/// the struct's).
fn csv_header() -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().has_headers(true).from_writer(Vec::new());
    let _ = w.serialize(Reclassified::default());
    let record = w.into_inner().unwrap_or_default();
    let end = record.iter().position(|&b| b == b'\n').map_or(record.len(), |i| i + 1);
    record[..end].to_vec()
}

fn row_key(row: &InputRow) -> String {
    row.id.clone().unwrap_or_else(|| format!("row:{}", row.row))
}

/// The excerpt comes from `e.text`, the text as the model read it (normalised, PII masked).
fn reclassified(row: &InputRow, e: &EmbeddedSuggestion, previous: Option<&str>, aliases: Option<&AliasTable>, model: &DispatchModel) -> Reclassified {
    let s = &e.suggestion;
    let previous = previous.unwrap_or("").trim().to_string();
    let previous_department = if previous.is_empty() {
        String::new()
    } else if model.taxonomy.department(&previous).is_some() {
        previous.clone()
    } else {
        aliases.and_then(|a| a.resolve(&previous)).unwrap_or("").to_string()
    };
    let changed = (!previous_department.is_empty()).then(|| previous_department != s.dispatch.department);
    let t = &s.ticket;
    Reclassified {
        id: row_key(row),
        row: row.row,
        department: s.dispatch.department.clone(),
        department_name: s.dispatch.department_name.clone(),
        confidence: s.dispatch.confidence,
        needs_review: s.dispatch.needs_review,
        alternatives: s.departments.iter().skip(1).take(2).map(|d| d.id.as_str()).collect::<Vec<_>>().join("|"),
        topic: s.topics.first().map(|t| t.id.clone()).unwrap_or_default(),
        appeal_type: s.appeal_type.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
        district: s.dispatch.district.clone().unwrap_or_default(),
        street: s.dispatch.street.clone().unwrap_or_default(),
        urgent: s.urgent,
        previous,
        previous_department,
        changed,
        excerpt: e.text.chars().take(60).collect(),
        address: t.address.as_ref().map(|a| a.line.clone()).unwrap_or_default(),
        summary: t.summary.clone().unwrap_or_default(),
        when: t.when.as_ref().map(|w| w.text.clone()).unwrap_or_default(),
        subject: t.subject.as_ref().map(|w| w.text.clone()).unwrap_or_default(),
        request: t.request.as_ref().map(|w| w.text.clone()).unwrap_or_default(),
        amounts: joined(t.amounts.iter().map(|a| a.text.clone())),
        people: joined(t.people.iter().map(|p| p.text.clone())),
        vulnerable: joined(t.vulnerable.iter().map(|v| snake_name(v))),
        contact: joined(t.contact.iter().map(|c| snake_name(c))),
    }
}

fn joined(items: impl Iterator<Item = String>) -> String {
    items.collect::<Vec<_>>().join("|")
}

/// A unit enum variant as its JSON name (`elderly_alone`, `id_card`), as the API writes it.
fn snake_name(v: &impl Serialize) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(name)) => name,
        _ => String::new(),
    }
}

/// Appends committed rows; knows its length for the checkpoint.
struct Sink {
    path: PathBuf,
    file: BufWriter<File>,
}

impl Sink {
    /// Open for appending after cutting the file back to `keep` bytes (0: start empty).
    fn open(path: &Path, keep: u64) -> Result<Self, BatchError> {
        let io = |source| BatchError::Io { path: path.display().to_string(), source };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(io)?;
        file.set_len(keep).map_err(io)?;
        file.seek(SeekFrom::Start(keep)).map_err(io)?;
        Ok(Sink { path: path.to_path_buf(), file: BufWriter::new(file) })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BatchError> {
        self.file.write_all(bytes).map_err(|source| BatchError::Io { path: self.path.display().to_string(), source })
    }

    /// Flush and fsync; returns the durable length.
    fn commit(&mut self) -> Result<u64, BatchError> {
        let io = |source| BatchError::Io { path: self.path.display().to_string(), source };
        self.file.flush().map_err(io)?;
        let f = self.file.get_ref();
        f.sync_data().map_err(io)?;
        Ok(f.metadata().map_err(io)?.len())
    }
}

fn encode(format: OutputFormat, r: &Reclassified) -> Vec<u8> {
    match format {
        OutputFormat::Jsonl => {
            let mut v = serde_json::to_vec(r).unwrap_or_default();
            v.push(b'\n');
            v
        }
        OutputFormat::Csv => {
            let mut w = csv::WriterBuilder::new().has_headers(false).from_writer(Vec::new());
            let _ = w.serialize(r);
            w.into_inner().unwrap_or_default()
        }
    }
}

/// Rows per second and ETA on a terminal; a log line every 10 s elsewhere.
struct Meter {
    bar: Option<indicatif::ProgressBar>,
    total_bytes: u64,
    started: Instant,
    last_log: Instant,
}

impl Meter {
    fn new(total_bytes: u64, start_byte: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total_bytes);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {percent}% eta {eta}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_position(start_byte);
            bar
        });
        Meter { bar, total_bytes, started: Instant::now(), last_log: Instant::now() }
    }

    fn update(&mut self, byte: u64, counts: &RowCounts, rows_this_run: u64, bytes_this_run: u64) {
        let secs = self.started.elapsed().as_secs_f64().max(1e-9);
        let rate = rows_this_run as f64 / secs;
        let left = self.total_bytes.saturating_sub(byte);
        let eta = if bytes_this_run > 0 { left as f64 * secs / bytes_this_run as f64 } else { f64::NAN };
        let msg = format!("{} rows ({} errors), {rate:.1} rows/s", counts.input, counts.errors);
        if let Some(bar) = &self.bar {
            bar.set_message(msg);
            bar.set_position(byte);
        } else if self.last_log.elapsed() >= Duration::from_secs(10) {
            self.last_log = Instant::now();
            tracing::info!("batch: {msg}, {:.0}% of the input, eta {eta:.0}s", 100.0 * byte as f64 / self.total_bytes.max(1) as f64);
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// A description of the job's settings that a resume must match.
fn job_key(opts: &BatchOptions) -> String {
    format!(
        "input={} format={:?} text={} id={} compare={:?} shard={:?} output={}",
        opts.input.display(),
        opts.format,
        opts.fields.text_fields.join(","),
        opts.fields.id_field,
        opts.fields.compare_field,
        opts.shard.map(|s| format!("{}/{}", s.index, s.count)),
        opts.output.display()
    )
}

/// Run (or resume) a reclassification job.
pub fn run(model: &DispatchModel, aliases: Option<&AliasTable>, opts: &BatchOptions) -> Result<BatchSummary, BatchError> {
    let started = Instant::now();
    let ckpt_path = checkpoint::path_for(&opts.output);
    let fingerprint = checkpoint::fingerprint(&opts.input)?;
    let key = job_key(opts);
    let previous = checkpoint::load(&ckpt_path)?;
    let resume_from = match (&previous, opts.resume) {
        (Some(c), true) => {
            if c.job != key || c.input_fingerprint != fingerprint {
                return Err(BatchError::Usage(format!(
                    "{} was written by a different job (input, fields, shard or output changed); delete it to start over",
                    ckpt_path.display()
                )));
            }
            Some(c.clone())
        }
        (Some(c), false) if !c.complete => {
            return Err(BatchError::Usage(format!(
                "{} holds an interrupted run at row {}; pass --resume to continue it, or delete it to start over",
                ckpt_path.display(),
                c.counts.input
            )))
        }
        _ => None,
    };
    let out_format = OutputFormat::of(&opts.output);
    let mut out = Sink::open(&opts.output, resume_from.as_ref().map_or(0, |c| c.output_bytes))?;
    let mut errors = Sink::open(&opts.errors, resume_from.as_ref().map_or(0, |c| c.errors_bytes))?;
    let mut counts = resume_from.as_ref().map_or_else(RowCounts::default, |c| c.counts);
    let resumed_from_row = resume_from.as_ref().map(|c| c.counts.input);
    if resume_from.is_none() && out_format == OutputFormat::Csv {
        out.write(&csv_header())?;
    }
    let already_complete = resume_from.as_ref().is_some_and(|c| c.complete);

    let mut reader = CaseReader::open(&opts.input, opts.format, opts.fields.clone(), resume_from.as_ref().map(|c| c.position))?;
    let total_bytes = std::fs::metadata(&opts.input).map(|m| m.len()).unwrap_or(0);
    let start_byte = reader.position().byte;
    let mut meter = Meter::new(total_bytes, start_byte);
    let mut processed_now = 0u64;
    let chunk_rows = opts.chunk_rows.max(1);

    // A run whose checkpoint says complete has nothing left to read.
    if !already_complete {
        loop {
            let mut chunk: Vec<InputRow> = Vec::with_capacity(chunk_rows);
            while chunk.len() < chunk_rows {
                match reader.next_row()? {
                    Some(row) => chunk.push(row),
                    None => break,
                }
            }
            if chunk.is_empty() {
                break;
            }
            let mine: Vec<&InputRow> = chunk.iter().filter(|r| opts.shard.is_none_or(|s| s.takes(&row_key(r)))).collect();
            counts.input += chunk.len() as u64;
            counts.other_shards += (chunk.len() - mine.len()) as u64;
            let ok: Vec<&InputRow> = mine.iter().copied().filter(|r| r.case.is_ok()).collect();
            let texts: Vec<&str> = ok.iter().map(|r| r.case.as_ref().map(|c| c.text.as_str()).unwrap_or("")).collect();
            let results = classify_isolating_failures(model, &texts);
            let mut by_row: std::collections::HashMap<u64, Result<EmbeddedSuggestion, String>> = ok.iter().map(|r| r.row).zip(results).collect();
            for row in mine {
                let outcome = match &row.case {
                    Err(reason) => Err(reason.clone()),
                    Ok(_) => by_row.remove(&row.row).unwrap_or_else(|| Err("not classified".into())),
                };
                let outcome = outcome.and_then(|s| row.case.as_ref().map(|c| (s, c)).map_err(Clone::clone));
                match outcome {
                    Ok((s, case)) => {
                        out.write(&encode(out_format, &reclassified(row, &s, case.previous.as_deref(), aliases, model)))?;
                        counts.processed += 1;
                        processed_now += 1;
                    }
                    Err(reason) => {
                        let bad = BadRow { row: row.row, line: row.line, id: row.id.as_deref(), reason: &reason };
                        let mut line = serde_json::to_vec(&bad).unwrap_or_default();
                        line.push(b'\n');
                        errors.write(&line)?;
                        counts.errors += 1;
                    }
                }
            }
            let output_bytes = out.commit()?;
            let errors_bytes = errors.commit()?;
            checkpoint::save(
                &ckpt_path,
                &checkpoint::Checkpoint { job: key.clone(), input_fingerprint: fingerprint.clone(), position: reader.position(), counts, output_bytes, errors_bytes, complete: false },
            )?;
            meter.update(reader.position().byte, &counts, processed_now, reader.position().byte - start_byte);
        }
    }
    let output_bytes = out.commit()?;
    let errors_bytes = errors.commit()?;
    checkpoint::save(
        &ckpt_path,
        &checkpoint::Checkpoint { job: key, input_fingerprint: fingerprint, position: reader.position(), counts, output_bytes, errors_bytes, complete: true },
    )?;
    meter.finish();

    let changes = report::tally(&opts.output)?;
    let report = match &opts.report {
        Some(dir) => Some(report::write(&changes, dir, &opts.input, &counts)?),
        None => None,
    };
    let seconds = started.elapsed().as_secs_f64();
    Ok(BatchSummary {
        counts,
        changed: (changes.compared > 0).then_some(changes.changed),
        compared: (changes.compared > 0).then_some(changes.compared),
        seconds,
        rows_per_second: processed_now as f64 / seconds.max(1e-9),
        resumed_from_row,
        output: opts.output.clone(),
        errors: opts.errors.clone(),
        report,
    })
}

/// Classify a chunk in one go; if that fails (or panics), one by one, so a single bad text
/// costs only its own row.
fn classify_isolating_failures(model: &DispatchModel, texts: &[&str]) -> Vec<Result<EmbeddedSuggestion, String>> {
    if texts.is_empty() {
        return Vec::new();
    }
    let all = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.classify_batch_embedded(texts, 3)));
    match all {
        Ok(Ok(results)) => results.into_iter().map(Ok).collect(),
        _ => texts
            .iter()
            .map(|t| match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.classify_batch_embedded(&[t], 3))) {
                Ok(Ok(mut s)) => Ok(s.remove(0)),
                Ok(Err(e)) => Err(format!("model error: {e}")),
                Err(_) => Err("the model failed on this text".into()),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_header_names_every_column_once() {
        assert_eq!(
            String::from_utf8(csv_header()).unwrap(),
            "id,row,department,department_name,confidence,needs_review,alternatives,topic,appeal_type,district,street,urgent,previous,previous_department,changed,excerpt,address,summary,when,subject,request,amounts,people,vulnerable,contact\n"
        );
    }

    #[test]
    fn shards_split_every_key_exactly_once() {
        let shards: Vec<Shard> = (0..3).map(|k| format!("{k}/3").parse().unwrap()).collect();
        for i in 0..1000 {
            let key = format!("case-{i}");
            assert_eq!(shards.iter().filter(|s| s.takes(&key)).count(), 1);
        }
        let taken = (0..3000).filter(|i| shards[0].takes(&format!("case-{i}"))).count();
        assert!((800..1200).contains(&taken), "{taken}");
        for bad in ["3/3", "1", "a/2", "0/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }
}
