//! The batch reader (`triage batch`, `triage hotspots`) on an arbitrary file, read as JSON lines
//! and as CSV. Errors are fine; panics and non-terminating reads are bugs.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hotline_triage::cases::reader::{CaseReader, FieldSpec, InputFormat};
use libfuzzer_sys::fuzz_target;

/// One scratch file per fuzzing process, in memory where possible. libFuzzer exits without
/// running destructors, so files left by processes that are gone are removed here instead.
static INPUT: LazyLock<PathBuf> = LazyLock::new(|| {
    let base = if Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    let dir = base.join("hotline-fuzz-batch");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name.to_str().and_then(|n| n.strip_prefix("input-"));
        if pid.is_some_and(|pid| !Path::new("/proc").join(pid).exists()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    dir.join(format!("input-{}", std::process::id()))
});

fn spec() -> FieldSpec {
    FieldSpec {
        text_fields: vec!["title".into(), "text".into()],
        id_field: "id".into(),
        compare_field: Some("department".into()),
        time_field: Some("submitted".into()),
    }
}

fn read_all(format: InputFormat, len: usize) {
    let Ok(mut reader) = CaseReader::open(&INPUT, format, spec(), None) else { return };
    // Every row consumes at least one byte, so more rows than bytes (plus the end) means a loop.
    let mut rows = 0usize;
    while let Ok(Some(_row)) = reader.next_row() {
        rows += 1;
        assert!(rows <= len + 1, "{format:?}: {rows} rows from {len} bytes");
        assert!(reader.position().byte <= len as u64, "{format:?}: position past the end");
    }
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(&*INPUT, data).expect("write scratch input");
    read_all(InputFormat::Jsonl, data.len());
    read_all(InputFormat::Csv, data.len());
});
