//! Streaming readers for files of historical cases, JSON lines or CSV, that say where each record
//! ends in the file, so a job can checkpoint a byte offset and resume exactly there. `triage batch`,
//! `triage hotspots` and the duplicate evaluation all read cases through it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The file itself could not be read; a bad record is not an error but an [`InputRow`] with a reason.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path}: {reason}")]
    Input { path: String, reason: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum InputFormat {
    Jsonl,
    Csv,
}

impl InputFormat {
    /// From the file name: `.csv` is CSV, anything else JSON lines.
    pub fn guess(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(e) if e.eq_ignore_ascii_case("csv") => InputFormat::Csv,
            _ => InputFormat::Jsonl,
        }
    }
}

/// Where reading stopped: enough to seek a fresh reader to the same record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub byte: u64,
    /// Lines consumed (1-based line of the next record is `line + 1`).
    pub line: u64,
    /// Records consumed, the header not counted.
    pub record: u64,
}

/// Which fields of a record matter.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    pub text_fields: Vec<String>,
    pub id_field: String,
    pub compare_field: Option<String>,
    /// When the case came in (`triage hotspots`).
    pub time_field: Option<String>,
}

/// One case as read: its text, id and old label, or why it could not be read.
#[derive(Debug, Clone)]
pub struct InputRow {
    /// 1-based record number (for JSON lines, the line number).
    pub row: u64,
    /// 1-based line where the record starts.
    pub line: u64,
    /// The id field, when the record could be parsed far enough to have one.
    pub id: Option<String>,
    pub case: Result<Case, String>,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub text: String,
    pub previous: Option<String>,
    pub time: Option<String>,
}

pub enum CaseReader {
    Jsonl { reader: BufReader<File>, path: String, pos: Position, spec: FieldSpec },
    Csv { reader: csv::Reader<File>, path: String, columns: Columns, pos: Position },
}

/// Where each field of a [`FieldSpec`] sits in a CSV record, found once from the header.
#[derive(Debug, Clone)]
pub struct Columns {
    /// Every column's name, for messages.
    names: Vec<String>,
    text: Vec<usize>,
    id: usize,
    compare: Option<usize>,
    time: Option<usize>,
}

impl Columns {
    /// The spec's columns in `headers`, or the names the header lacks.
    fn resolve(headers: Vec<String>, spec: &FieldSpec) -> Result<Columns, Vec<String>> {
        let mut missing = Vec::new();
        let mut find = |name: &String| match headers.iter().position(|h| h == name) {
            Some(i) => i,
            None => {
                missing.push(name.clone());
                usize::MAX
            }
        };
        let text = spec.text_fields.iter().map(&mut find).collect();
        let id = find(&spec.id_field);
        let compare = spec.compare_field.as_ref().map(&mut find);
        let time = spec.time_field.as_ref().map(&mut find);
        if missing.is_empty() {
            Ok(Columns { names: headers, text, id, compare, time })
        } else {
            Err(missing)
        }
    }
}

fn field_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl CaseReader {
    /// Open `path` and, when `from` is given, continue right after that position.
    pub fn open(path: &Path, format: InputFormat, spec: FieldSpec, from: Option<Position>) -> Result<Self, ReadError> {
        let io = |source| ReadError::Io { path: path.display().to_string(), source };
        let mut file = File::open(path).map_err(io)?;
        match format {
            InputFormat::Jsonl => {
                let pos = from.unwrap_or_default();
                file.seek(SeekFrom::Start(pos.byte)).map_err(io)?;
                Ok(CaseReader::Jsonl { reader: BufReader::with_capacity(1 << 16, file), path: path.display().to_string(), pos, spec })
            }
            InputFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(file);
                let headers: Vec<String> = reader
                    .byte_headers()
                    .map_err(|e| ReadError::Input { path: path.display().to_string(), reason: format!("cannot read the CSV header: {e}") })?
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).trim_start_matches('\u{feff}').trim().to_string())
                    .collect();
                let has = headers.join(", ");
                let columns = Columns::resolve(headers, &spec).map_err(|missing| ReadError::Input {
                    path: path.display().to_string(),
                    reason: format!("the CSV header has no column {missing:?} (it has {has})"),
                })?;
                let start = reader.position().clone();
                let pos = match from {
                    Some(p) => {
                        let mut at = csv::Position::new();
                        at.set_byte(p.byte).set_line(p.line + 1).set_record(p.record + 1);
                        reader.seek(at).map_err(|e| ReadError::Input { path: path.display().to_string(), reason: e.to_string() })?;
                        p
                    }
                    None => Position { byte: start.byte(), line: start.line().saturating_sub(1), record: 0 },
                };
                Ok(CaseReader::Csv { reader, path: path.display().to_string(), columns, pos })
            }
        }
    }

    pub fn position(&self) -> Position {
        match self {
            CaseReader::Jsonl { pos, .. } | CaseReader::Csv { pos, .. } => *pos,
        }
    }

    /// The next record, or `None` at the end. An unreadable record is an `InputRow` with an
    /// error; only an I/O failure of the file itself is an `Err`.
    pub fn next_row(&mut self) -> Result<Option<InputRow>, ReadError> {
        match self {
            CaseReader::Jsonl { reader, path, pos, spec } => {
                let mut buf = Vec::new();
                let n = reader.read_until(b'\n', &mut buf).map_err(|source| ReadError::Io { path: path.clone(), source })?;
                if n == 0 {
                    return Ok(None);
                }
                pos.byte += n as u64;
                pos.line += 1;
                pos.record += 1;
                let (row, line) = (pos.record, pos.line);
                Ok(Some(parse_json_line(&buf, row, line, spec)))
            }
            CaseReader::Csv { reader, path, columns, pos } => {
                let mut record = csv::ByteRecord::new();
                let line = reader.position().line();
                match reader.read_byte_record(&mut record) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let end = reader.position();
                        *pos = Position { byte: end.byte(), line: end.line().saturating_sub(1), record: pos.record + 1 };
                        Ok(Some(parse_csv_record(&record, columns, pos.record, line)))
                    }
                    Err(e) => {
                        let end = reader.position();
                        let advanced = end.byte() > pos.byte;
                        *pos = Position { byte: end.byte(), line: end.line().saturating_sub(1), record: pos.record + 1 };
                        if !advanced {
                            return Err(ReadError::Input { path: path.clone(), reason: format!("CSV reader stuck at line {line}: {e}") });
                        }
                        Ok(Some(InputRow { row: pos.record, line, id: None, case: Err(format!("malformed CSV record: {e}")) }))
                    }
                }
            }
        }
    }
}

/// A row's text fields, trimmed, the empty ones left out, one per line.
fn join_text(parts: impl Iterator<Item = Option<String>>) -> String {
    parts.flatten().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect::<Vec<_>>().join("\n")
}

fn parse_json_line(buf: &[u8], row: u64, line: u64, spec: &FieldSpec) -> InputRow {
    let fail = |id: Option<String>, reason: String| InputRow { row, line, id, case: Err(reason) };
    let text = match std::str::from_utf8(buf) {
        Ok(t) => t.trim_end_matches(['\n', '\r']),
        Err(e) => return fail(None, format!("not valid UTF-8 (byte {} of the line)", e.valid_up_to())),
    };
    if text.trim().is_empty() {
        return fail(None, "blank line".into());
    }
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return fail(None, format!("not valid JSON: {e}")),
    };
    let Some(obj) = value.as_object() else {
        return fail(None, "not a JSON object".into());
    };
    let id = obj.get(&spec.id_field).and_then(field_text);
    let text = join_text(spec.text_fields.iter().map(|f| obj.get(f).and_then(field_text)));
    if text.is_empty() {
        return fail(id, format!("no text in {}", spec.text_fields.join(", ")));
    }
    let previous = spec.compare_field.as_ref().and_then(|f| obj.get(f)).and_then(field_text);
    let time = spec.time_field.as_ref().and_then(|f| obj.get(f)).and_then(field_text);
    InputRow { row, line, id, case: Ok(Case { text, previous, time }) }
}

fn parse_csv_record(record: &csv::ByteRecord, columns: &Columns, row: u64, line: u64) -> InputRow {
    let get = |index: usize| -> Result<Option<String>, String> {
        match record.get(index) {
            None => Ok(None),
            Some(bytes) => std::str::from_utf8(bytes).map(|s| Some(s.to_string())).map_err(|_| format!("column {:?} is not valid UTF-8", columns.names[index])),
        }
    };
    let fail = |id: Option<String>, reason: String| InputRow { row, line, id, case: Err(reason) };
    if record.len() != columns.names.len() {
        let id = get(columns.id).ok().flatten();
        return fail(id, format!("{} fields where the header has {}", record.len(), columns.names.len()));
    }
    let id = match get(columns.id) {
        Ok(id) => id.filter(|s| !s.trim().is_empty()),
        Err(e) => return fail(None, e),
    };
    let mut parts = Vec::with_capacity(columns.text.len());
    for &index in &columns.text {
        match get(index) {
            Ok(v) => parts.push(v),
            Err(e) => return fail(id, e),
        }
    }
    let text = join_text(parts.into_iter());
    if text.is_empty() {
        let names: Vec<&str> = columns.text.iter().map(|&i| columns.names[i].as_str()).collect();
        return fail(id, format!("no text in {}", names.join(", ")));
    }
    let optional = |index: Option<usize>| index.map_or(Ok(None), get);
    let previous = match optional(columns.compare) {
        Ok(v) => v,
        Err(e) => return fail(id, e),
    };
    let time = match optional(columns.time) {
        Ok(v) => v,
        Err(e) => return fail(id, e),
    };
    InputRow { row, line, id, case: Ok(Case { text, previous, time }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> FieldSpec {
        FieldSpec { text_fields: vec!["title".into(), "text".into()], id_field: "id".into(), compare_field: Some("department".into()), time_field: None }
    }

    fn read_all(path: &Path, format: InputFormat, from: Option<Position>) -> Vec<(InputRow, Position)> {
        let mut r = CaseReader::open(path, format, spec(), from).unwrap();
        let mut out = Vec::new();
        while let Some(row) = r.next_row().unwrap() {
            out.push((row, r.position()));
        }
        out
    }

    #[test]
    fn json_lines_give_each_bad_line_its_reason_and_resume_at_a_byte_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.jsonl");
        let mut bytes = b"{\"id\": \"a\", \"title\": \"\xe6\xb2\xb9\xe7\x83\x9f\", \"text\": \"t\", \"department\": \"x\"}\n".to_vec();
        bytes.extend_from_slice(b"{broken\n");
        bytes.extend_from_slice(b"{\"id\": 7, \"text\": \"\\u6696\\u6c14\"}\r\n");
        bytes.extend_from_slice(b"\xff\xfe\n");
        bytes.extend_from_slice(b"{\"id\": \"e\", \"text\": \"  \"}\n");
        bytes.extend_from_slice(b"[1, 2]\n\n");
        bytes.extend_from_slice(b"{\"id\": \"last\", \"text\": \"no newline at the end\"}");
        std::fs::write(&path, &bytes).unwrap();
        let rows = read_all(&path, InputFormat::Jsonl, None);
        let reasons: Vec<String> = rows.iter().map(|(r, _)| r.case.as_ref().err().cloned().unwrap_or_default()).collect();
        assert_eq!(rows.len(), 8);
        assert_eq!(rows[0].0.case.as_ref().unwrap().text, "油烟\nt");
        assert_eq!(rows[0].0.case.as_ref().unwrap().previous.as_deref(), Some("x"));
        assert!(reasons[1].starts_with("not valid JSON"));
        assert_eq!(rows[2].0.id.as_deref(), Some("7"));
        assert!(reasons[3].contains("UTF-8"));
        assert!(reasons[4].starts_with("no text") && rows[4].0.id.as_deref() == Some("e"));
        assert_eq!(reasons[5], "not a JSON object");
        assert_eq!(reasons[6], "blank line");
        assert_eq!(rows[7].0.id.as_deref(), Some("last"));
        assert_eq!(rows.last().unwrap().1.byte, bytes.len() as u64);
        // Resuming after row 3 reads rows 4.. exactly.
        let again = read_all(&path, InputFormat::Jsonl, Some(rows[2].1));
        assert_eq!(again.len(), 5);
        assert_eq!((again[0].0.row, again[0].0.line), (4, 4));
    }

    #[test]
    fn csv_keeps_quoted_newlines_inside_a_record_and_resumes_mid_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cases.csv");
        let csv = "\u{feff}id,title,text,department\n\
                   1,油烟,\"第一行\n第二行，还有\"\"引号\"\"\",城管\n\
                   2,,暖气不热,热力\n\
                   3,only,three\n\
                   4,,,\n\
                   5,施工,\"夜里\r\n施工\",住建\n";
        std::fs::write(&path, csv).unwrap();
        let rows = read_all(&path, InputFormat::Csv, None);
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[0].0.case.as_ref().unwrap().text, "油烟\n第一行\n第二行，还有\"引号\"");
        assert_eq!((rows[1].0.row, rows[1].0.line), (2, 4), "the quoted newline moved the line count");
        assert!(rows[2].0.case.as_ref().unwrap_err().contains("3 fields"));
        assert!(rows[3].0.case.as_ref().unwrap_err().starts_with("no text"));
        assert_eq!(rows[4].0.case.as_ref().unwrap().previous.as_deref(), Some("住建"));
        let again = read_all(&path, InputFormat::Csv, Some(rows[1].1));
        assert_eq!(again.iter().map(|(r, _)| r.row).collect::<Vec<_>>(), vec![3, 4, 5]);
        assert_eq!(again[2].0.id.as_deref(), Some("5"));
        let missing = CaseReader::open(&path, InputFormat::Csv, FieldSpec { id_field: "case_no".into(), ..spec() }, None).err().unwrap();
        assert!(missing.to_string().contains("case_no"), "{missing}");
    }
}
