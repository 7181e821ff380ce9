//! An encoder adapter: low-rank changes (LoRA) to some of the encoder's weight matrices,
//! learnt from a city's labelled calls (`triage adapt`), shipped small and merged into the f32
//! weights when the encoder loads, so that serving costs nothing extra.
//!
//! ```text
//! models/adapter/
//!   adapter.safetensors  for each changed matrix W (out × in): `W.lora_a` (rank × in), `W.lora_b` (out × rank)
//!   adapter.json         the base encoder it was trained on, rank, alpha, the matrices, sha256 of the weights
//! ```
//!
//! W becomes W + (alpha / rank) · B · A. An adapter only makes sense on the weights it was
//! trained on, so one whose base encoder differs from the folder's is refused.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::error::ModelError;
use super::files::{read_json, sha256_file, FileEntry};

pub const ADAPTER_MANIFEST: &str = "adapter.json";
pub const ADAPTER_WEIGHTS: &str = "adapter.safetensors";
/// Where the shipped adapter lives; used when it exists, unless told otherwise.
pub const DEFAULT_ADAPTER_DIR: &str = "models/adapter";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterManifest {
    pub format: u32,
    /// Checksum of the encoder folder it was trained on ([`super::folder::Manifest::checksum`]).
    pub base_encoder: String,
    pub rank: usize,
    pub alpha: f32,
    /// The matrices it changes, by their Hugging Face names (`encoder.layer.11.output.dense.weight`).
    pub targets: Vec<String>,
    pub files: BTreeMap<String, FileEntry>,
    /// How it was trained and how it did, for people.
    pub training: serde_json::Value,
}

/// A verified adapter, its low-rank pairs expanded to dense changes ready to add.
#[derive(Debug)]
pub struct Adapter {
    pub dir: PathBuf,
    pub manifest: AdapterManifest,
    deltas: HashMap<String, Vec<f32>>,
}

impl Adapter {
    pub fn exists(dir: &Path) -> bool {
        dir.join(ADAPTER_MANIFEST).is_file()
    }

    /// Open and verify an adapter for the encoder whose checksum is `base_encoder`.
    pub fn open(dir: &Path, base_encoder: &str) -> Result<Self, ModelError> {
        let manifest_path = dir.join(ADAPTER_MANIFEST);
        if !manifest_path.is_file() {
            return Err(ModelError::MissingFile { path: manifest_path });
        }
        let manifest: AdapterManifest = read_json(&manifest_path)?;
        if manifest.base_encoder != base_encoder {
            return Err(ModelError::invalid(
                &manifest_path,
                format!("was trained on encoder {}, but the encoder folder holds {base_encoder}; retrain it with `triage adapt`", manifest.base_encoder),
            ));
        }
        if manifest.rank == 0 || !manifest.alpha.is_finite() {
            return Err(ModelError::invalid(&manifest_path, "rank must be positive and alpha finite"));
        }
        let Some(expected) = manifest.files.get(ADAPTER_WEIGHTS) else {
            return Err(ModelError::invalid(&manifest_path, format!("does not list {ADAPTER_WEIGHTS}")));
        };
        let weights_path = dir.join(ADAPTER_WEIGHTS);
        if !weights_path.is_file() {
            return Err(ModelError::MissingFile { path: weights_path });
        }
        let actual = sha256_file(&weights_path)?;
        if actual.bytes != expected.bytes {
            return Err(ModelError::invalid(&weights_path, format!("{} bytes, the manifest says {}: truncated or replaced", actual.bytes, expected.bytes)));
        }
        if actual.sha256 != expected.sha256 {
            return Err(ModelError::Checksum { path: weights_path, expected: expected.sha256.clone(), actual: actual.sha256 });
        }
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)?;
        let scale = manifest.alpha / manifest.rank as f32;
        let mut deltas = HashMap::new();
        for target in &manifest.targets {
            let get = |part: &str| tensors.get(&format!("{target}.{part}")).ok_or_else(|| ModelError::invalid(&weights_path, format!("lacks {target}.{part}")));
            let (a, b) = (get("lora_a")?, get("lora_b")?);
            let (rank, inputs) = a.dims2()?;
            let (outputs, rank_b) = b.dims2()?;
            if rank != manifest.rank || rank_b != manifest.rank {
                return Err(ModelError::invalid(&weights_path, format!("{target}: rank {rank}/{rank_b}, the manifest says {}", manifest.rank)));
            }
            let delta = (b.matmul(a)? * scale as f64)?;
            let values: Vec<f32> = delta.flatten_all()?.to_vec1()?;
            if values.iter().any(|v| !v.is_finite()) {
                return Err(ModelError::invalid(&weights_path, format!("{target}: not finite")));
            }
            debug_assert_eq!(values.len(), outputs * inputs);
            deltas.insert(target.clone(), values);
        }
        Ok(Adapter { dir: dir.to_path_buf(), manifest, deltas })
    }

    /// The dense change to add to the named matrix (out × in, row-major), if it has one.
    pub fn delta(&self, name: &str) -> Option<&[f32]> {
        self.deltas.get(name).map(Vec::as_slice)
    }

    /// A short id of these weights, part of the adapted encoder's version.
    pub fn checksum(&self) -> String {
        self.manifest.files.get(ADAPTER_WEIGHTS).map(|f| f.sha256[..16].to_string()).unwrap_or_default()
    }

    /// The version of the base encoder with this adapter merged: heads and embedding caches
    /// key on it, so nothing trained on one is used with the other.
    pub fn adapted_version(&self, base_encoder: &str) -> String {
        let mut h = Sha256::new();
        h.update(base_encoder.as_bytes());
        h.update(b"+");
        h.update(self.checksum().as_bytes());
        hex::encode(h.finalize())[..16].to_string()
    }

    /// Write an adapter folder: `pairs` are (matrix name, A, B).
    pub fn write(dir: &Path, base_encoder: &str, rank: usize, alpha: f32, pairs: &[(String, Tensor, Tensor)], training: serde_json::Value) -> Result<AdapterManifest, ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let mut tensors: Vec<(String, Tensor)> = Vec::new();
        for (name, a, b) in pairs {
            tensors.push((format!("{name}.lora_a"), a.contiguous()?));
            tensors.push((format!("{name}.lora_b"), b.contiguous()?));
        }
        let weights_path = dir.join(ADAPTER_WEIGHTS);
        let tmp = dir.join(format!(".{ADAPTER_WEIGHTS}.partial"));
        candle_core::safetensors::save(&tensors.iter().map(|(n, t)| (n.clone(), t.clone())).collect::<HashMap<_, _>>(), &tmp)?;
        std::fs::rename(&tmp, &weights_path).map_err(|e| ModelError::io(&weights_path, e))?;
        let mut files = BTreeMap::new();
        files.insert(ADAPTER_WEIGHTS.to_string(), sha256_file(&weights_path)?);
        let manifest = AdapterManifest { format: 1, base_encoder: base_encoder.to_string(), rank, alpha, targets: pairs.iter().map(|(n, _, _)| n.clone()).collect(), files, training };
        let manifest_path = dir.join(ADAPTER_MANIFEST);
        std::fs::write(&manifest_path, serde_json::to_vec_pretty(&manifest).expect("manifest serializes")).map_err(|e| ModelError::io(&manifest_path, e))?;
        Ok(manifest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(rank: usize, outputs: usize, inputs: usize) -> (Tensor, Tensor) {
        let a = Tensor::ones((rank, inputs), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b = (Tensor::ones((outputs, rank), candle_core::DType::F32, &Device::Cpu).unwrap() * 0.5).unwrap();
        (a, b)
    }

    #[test]
    fn written_adapters_verify_and_expand_to_their_change() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = pair(2, 3, 4);
        Adapter::write(dir.path(), "base", 2, 4.0, &[("m.weight".into(), a, b)], serde_json::json!({})).unwrap();
        let adapter = Adapter::open(dir.path(), "base").unwrap();
        // (alpha / rank) · B · A = 2 · (0.5 · 2) = 2 everywhere.
        assert_eq!(adapter.delta("m.weight").unwrap(), &[2.0f32; 12]);
        assert!(adapter.delta("other.weight").is_none());
        assert_ne!(adapter.adapted_version("base"), "base");
    }

    #[test]
    fn a_foreign_or_damaged_adapter_is_refused_with_its_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = pair(2, 3, 4);
        Adapter::write(dir.path(), "base", 2, 4.0, &[("m.weight".into(), a, b)], serde_json::json!({})).unwrap();
        let err = Adapter::open(dir.path(), "another").unwrap_err().to_string();
        assert!(err.contains("adapter.json") && err.contains("was trained on encoder base"), "{err}");
        let weights = dir.path().join(ADAPTER_WEIGHTS);
        let mut bytes = std::fs::read(&weights).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        std::fs::write(&weights, &bytes).unwrap();
        let err = Adapter::open(dir.path(), "base").unwrap_err().to_string();
        assert!(err.contains("adapter.safetensors") && err.contains("checksum"), "{err}");
    }
}
