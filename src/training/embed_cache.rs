//! Embeddings cached on disk, keyed by the encoder's checksum, the embedding recipe and the
//! text's hash, so retraining (or training a second head on the same texts) never re-embeds.
//!
//! One append-only file per (encoder, recipe): a header, then fixed-size records
//! `[16-byte sha256 prefix of the text][dim × f32 LE]`. A record cut short by a kill is
//! dropped on the next open.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::error::TrainError;
use crate::model::Encoder;
use crate::progress::Progress;

const MAGIC: &[u8; 8] = b"TRIEMB01";

pub type TextKey = [u8; 16];

pub fn text_key(text: &str) -> TextKey {
    let h = Sha256::digest(text.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&h[..16]);
    k
}

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    vectors: HashMap<TextKey, Vec<f32>>,
    writer: BufWriter<File>,
}

/// `$XDG_CACHE_HOME/hotline-triage/embeddings`, else under `~/.cache`.
pub fn default_cache_dir() -> PathBuf {
    crate::model::fetch::default_wheel_dir().with_file_name("embeddings")
}

impl EmbeddingCache {
    /// `recipe` names everything besides the weights that changes a vector (max tokens,
    /// windows); it is part of the file name.
    pub fn open(dir: &Path, encoder_checksum: &str, recipe: &str, dim: usize) -> Result<Self, TrainError> {
        std::fs::create_dir_all(dir).map_err(|e| TrainError::io(dir, e))?;
        let path = dir.join(format!("{encoder_checksum}-{recipe}.emb"));
        let record = 16 + dim * 4;
        let mut vectors = HashMap::new();
        let mut valid_len = 0u64;
        if let Ok(mut f) = File::open(&path) {
            let mut bytes = Vec::new();
            f.read_to_end(&mut bytes).map_err(|e| TrainError::io(&path, e))?;
            let header_ok = bytes.len() >= 12 && &bytes[..8] == MAGIC && u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize == dim;
            if header_ok {
                let body = &bytes[12..];
                let whole = body.len() / record;
                for r in body.chunks_exact(record) {
                    let mut key = [0u8; 16];
                    key.copy_from_slice(&r[..16]);
                    let v = r[16..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
                    vectors.insert(key, v);
                }
                valid_len = 12 + (whole * record) as u64;
            } else if !bytes.is_empty() {
                tracing::warn!("{}: not an embedding cache for dimension {dim}; starting it afresh", path.display());
            }
        }
        let file = OpenOptions::new().create(true).write(true).truncate(false).open(&path).map_err(|e| TrainError::io(&path, e))?;
        file.set_len(valid_len).map_err(|e| TrainError::io(&path, e))?;
        let mut writer = BufWriter::new(file);
        use std::io::Seek;
        writer.seek(std::io::SeekFrom::End(0)).map_err(|e| TrainError::io(&path, e))?;
        if valid_len == 0 {
            writer.write_all(MAGIC).map_err(|e| TrainError::io(&path, e))?;
            writer.write_all(&(dim as u32).to_le_bytes()).map_err(|e| TrainError::io(&path, e))?;
        }
        Ok(EmbeddingCache { path, dim, vectors, writer })
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    pub fn get(&self, key: &TextKey) -> Option<&Vec<f32>> {
        self.vectors.get(key)
    }

    fn insert(&mut self, key: TextKey, vector: Vec<f32>) -> Result<(), TrainError> {
        debug_assert_eq!(vector.len(), self.dim);
        self.writer.write_all(&key).map_err(|e| TrainError::io(&self.path, e))?;
        for x in &vector {
            self.writer.write_all(&x.to_le_bytes()).map_err(|e| TrainError::io(&self.path, e))?;
        }
        self.vectors.insert(key, vector);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), TrainError> {
        self.writer.flush().map_err(|e| TrainError::io(&self.path, e))
    }

    /// Vectors for `texts`, in order, embedding only those not cached yet.
    pub fn embed_all(&mut self, encoder: &Encoder, texts: &[String], label: &str) -> Result<Vec<Vec<f32>>, TrainError> {
        let keys: Vec<TextKey> = texts.iter().map(|t| text_key(t)).collect();
        let mut missing: Vec<usize> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, k) in keys.iter().enumerate() {
            if !self.vectors.contains_key(k) && seen.insert(*k) {
                missing.push(i);
            }
        }
        tracing::info!("{label}: {} texts, {} distinct not cached yet", texts.len(), missing.len());
        if !missing.is_empty() {
            // Similar lengths together: the encoder pads each batch to its longest window.
            missing.sort_by_key(|&i| texts[i].chars().count());
            let bar = Progress::new(missing.len() as u64, label);
            for chunk in missing.chunks(32) {
                let refs: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
                let embeddings = encoder.embed(&refs)?;
                for (&i, e) in chunk.iter().zip(embeddings) {
                    self.insert(keys[i], e.vector)?;
                }
                // Flushed per chunk: a killed run keeps all but the last chunk.
                self.flush()?;
                bar.inc(chunk.len() as u64);
            }
            bar.finish();
        }
        Ok(keys.iter().map(|k| self.vectors[k].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{tiny, EncoderOptions};

    #[test]
    fn cached_vectors_survive_reopening_and_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let folder = tiny::write_folder(&dir.path().join("enc"));
        let enc = Encoder::load(&folder, EncoderOptions::default()).unwrap();
        let texts: Vec<String> = vec!["油烟扰民".into(), "孩子上学".into(), "油烟扰民".into()];
        let cache_dir = dir.path().join("cache");
        let first = {
            let mut c = EmbeddingCache::open(&cache_dir, "abc", "r1", 64).unwrap();
            let v = c.embed_all(&enc, &texts, "t").unwrap();
            assert_eq!(c.len(), 2, "duplicates are embedded once");
            v
        };
        // Tear the last record, as a kill mid-write would.
        let file = cache_dir.join("abc-r1.emb");
        let len = std::fs::metadata(&file).unwrap().len();
        OpenOptions::new().write(true).open(&file).unwrap().set_len(len - 10).unwrap();
        let mut c = EmbeddingCache::open(&cache_dir, "abc", "r1", 64).unwrap();
        assert_eq!(c.len(), 1, "the torn record is dropped");
        let again = c.embed_all(&enc, &texts, "t").unwrap();
        assert_eq!(first, again);
        assert_eq!(std::fs::metadata(&file).unwrap().len(), 12 + 2 * (16 + 64 * 4));
    }
}
