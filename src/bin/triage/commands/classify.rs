//! `triage segment`, `triage classify` and `triage embed`: one transcript or JSON lines from stdin.

use std::io::{BufRead, Write};
use std::time::Instant;

use anyhow::{bail, Result};

use hotline_triage::config::Settings;
use hotline_triage::text::TextPipeline;

use super::{load_dispatch, load_encoder};

pub fn segment(settings: &Settings, top_k: usize) -> Result<()> {
    let mut raw = String::new();
    std::io::stdin().lock().read_to_string_checked(&mut raw)?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let mut prepared = pipeline.prepare(&raw);
    prepared.keywords.truncate(top_k);
    println!("{}", serde_json::to_string_pretty(&prepared)?);
    Ok(())
}

pub fn classify(settings: &Settings, text: Option<String>, jsonl: bool, top_k: usize) -> Result<()> {
    let model = load_dispatch(settings)?;
    if !jsonl {
        let raw = match text {
            Some(t) => t,
            None => {
                let mut s = String::new();
                std::io::stdin().lock().read_to_string_checked(&mut s)?;
                s
            }
        };
        if raw.trim().is_empty() {
            bail!("the transcript is empty");
        }
        let started = Instant::now();
        let result = model.classify(&raw, top_k)?;
        tracing::info!("classified {} characters in {:.0} ms", raw.chars().count(), started.elapsed().as_secs_f64() * 1000.0);
        println!("{}", serde_json::to_string_pretty(&result)?);
        return Ok(());
    }
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let (mut ok, mut bad) = (0usize, 0usize);
    for (i, line) in stdin.lock().split(b'\n').enumerate() {
        let n = i + 1;
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = parse_text_line(line, |l: &ClassifyLine| &l.text);
        match parsed {
            Ok(l) => {
                let result = model.classify(&l.text, top_k)?;
                ok += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "id": l.id, "result": result}))?;
            }
            Err(reason) => {
                bad += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "error": reason}))?;
            }
        }
    }
    out.flush()?;
    eprintln!("classified {ok} lines, {bad} bad lines");
    Ok(())
}

/// One JSON-lines input line as a `{"text": ...}` object, or the reason it cannot be used
/// (reported against its line number; the other lines go on).
fn parse_text_line<T: serde::de::DeserializeOwned>(line: Vec<u8>, text: impl Fn(&T) -> &str) -> std::result::Result<T, String> {
    let line = String::from_utf8(line).map_err(|_| "line is not valid UTF-8".to_string())?;
    let parsed: T = serde_json::from_str(&line).map_err(|e| format!("not a JSON object with a \"text\" field: {e}"))?;
    if text(&parsed).trim().is_empty() {
        return Err("text is empty".to_string());
    }
    Ok(parsed)
}

/// A `--jsonl` input line; extra fields (gold labels, metadata) are passed over.
#[derive(serde::Deserialize)]
struct ClassifyLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EmbedLine {
    #[serde(default)]
    id: Option<serde_json::Value>,
    text: String,
}

/// One output line per input line: a vector, or an error naming the line. Bad lines never
/// stop the others.
pub fn embed_stdin(settings: &Settings, chunk: usize) -> Result<()> {
    let encoder = load_encoder(settings)?;
    let pipeline = TextPipeline::from_dict_dir(&settings.dict_dir)?;
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut pending: Vec<(usize, Option<serde_json::Value>, String)> = Vec::new();
    let (mut ok, mut bad) = (0usize, 0usize);
    let flush = |pending: &mut Vec<(usize, Option<serde_json::Value>, String)>, out: &mut dyn Write| -> Result<usize> {
        let refs: Vec<&str> = pending.iter().map(|(_, _, t)| t.as_str()).collect();
        let embeddings = encoder.embed(&refs)?;
        let n = refs.len();
        for ((line, id, _), e) in pending.drain(..).zip(embeddings) {
            writeln!(out, "{}", serde_json::json!({"line": line, "id": id, "vector": e.vector, "tokens": e.tokens, "windows": e.windows}))?;
        }
        Ok(n)
    };
    for (i, line) in stdin.lock().split(b'\n').enumerate() {
        let n = i + 1;
        let line = line?;
        let parsed = parse_text_line(line, |l: &EmbedLine| &l.text);
        match parsed {
            Ok(l) => {
                pending.push((n, l.id, pipeline.clean(&l.text)));
                if pending.len() >= chunk.max(1) {
                    ok += flush(&mut pending, &mut out)?;
                }
            }
            Err(reason) => {
                bad += 1;
                writeln!(out, "{}", serde_json::json!({"line": n, "error": reason}))?;
            }
        }
    }
    ok += flush(&mut pending, &mut out)?;
    out.flush()?;
    eprintln!("embedded {ok} lines, {bad} bad lines");
    Ok(())
}

/// Read all of stdin as UTF-8, with a clear error for other encodings.
trait ReadChecked {
    fn read_to_string_checked(&mut self, out: &mut String) -> Result<()>;
}

impl<R: std::io::Read> ReadChecked for R {
    fn read_to_string_checked(&mut self, out: &mut String) -> Result<()> {
        let mut bytes = Vec::new();
        self.read_to_end(&mut bytes)?;
        *out = String::from_utf8(bytes).map_err(|e| anyhow::anyhow!("input is not valid UTF-8 (first bad byte at offset {})", e.utf8_error().valid_up_to()))?;
        Ok(())
    }
}
