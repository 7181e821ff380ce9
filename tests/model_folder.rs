//! The model folder as the service finds it on disk: written, verified, and named when broken.

use hotline_triage::model::{tiny, ModelFolder};

#[test]
fn a_written_folder_verifies_and_records_provenance() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tiny::write_folder(&dir.path().join("enc"));
    assert_eq!(folder.manifest.weights, "q4_0");
    assert_eq!(folder.manifest.pooling, "mean");
    assert_eq!(folder.manifest.query_prefix, "query: ");
    assert_eq!(folder.manifest.checksum().len(), 16);
    assert!(ModelFolder::open(&folder.dir).is_ok());
}

#[test]
fn corrupt_truncated_and_missing_files_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let folder = tiny::write_folder(&dir.path().join("enc"));
    let weights = folder.weights_path();
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&weights, &bytes).unwrap();
    let err = ModelFolder::open(&folder.dir).unwrap_err().to_string();
    assert!(err.contains("model.gguf") && err.contains("checksum"), "{err}");

    std::fs::write(&weights, &bytes[..bytes.len() / 2]).unwrap();
    let err = ModelFolder::open(&folder.dir).unwrap_err().to_string();
    assert!(err.contains("model.gguf") && err.contains("truncated"), "{err}");

    bytes[last] ^= 0xff;
    std::fs::write(&weights, &bytes).unwrap();
    assert!(ModelFolder::open(&folder.dir).is_ok(), "restored weights verify again");
    std::fs::remove_file(folder.tokenizer_path()).unwrap();
    let err = ModelFolder::open(&folder.dir).unwrap_err().to_string();
    assert!(err.contains("tokenizer.json") && err.contains("missing"), "{err}");
}
