//! Normaliser, PII masker, segmenter (with the project dictionaries) and site finder on
//! arbitrary text. Errors do not exist here; any panic is a bug.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hotline_triage::text::{mask_pii, normalize_transcript, sites::find_sites, Segmenter};
use libfuzzer_sys::fuzz_target;

/// `models/dict` of the repository, whether the fuzzer runs from the root or elsewhere.
fn dict_dir() -> PathBuf {
    let here = Path::new(hotline_triage::text::DEFAULT_DICT_DIR);
    if here.is_dir() {
        return here.to_path_buf();
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(hotline_triage::text::DEFAULT_DICT_DIR)
}

static SEGMENTER: LazyLock<Segmenter> =
    LazyLock::new(|| Segmenter::from_dict_dir(&dict_dir()).expect("models/dict loads (run from the repository root)"));

fn run(raw: &str) {
    let normalized = normalize_transcript(raw);
    let masked = mask_pii(&normalized.text);
    // Masking raw text directly too: the masker must not depend on the normaliser's clean-up.
    let _ = mask_pii(raw);
    let _ = SEGMENTER.cut(&masked.text);
    let _ = SEGMENTER.keywords(&masked.text, 8);
    let _ = find_sites(&masked.text);
    let _ = find_sites(raw);
}

fuzz_target!(|data: &[u8]| {
    LazyLock::force(&SEGMENTER);
    match std::str::from_utf8(data) {
        Ok(s) => run(s),
        Err(_) => run(&String::from_utf8_lossy(data)),
    }
});
