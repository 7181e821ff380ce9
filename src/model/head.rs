//! A trained classifier head: a linear layer over [standardised embedding ; TF-IDF lexical
//! features], temperature-calibrated, with a review policy chosen on dev.
//!
//! Training runs in candle (the `training` layer above); inference is a few hundred multiply-adds
//! per class over a sparse vector, so it is plain Rust with no tensor machinery.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use half::f16;
use half::slice::HalfFloatSliceExt;
use serde::{Deserialize, Serialize};

use super::error::ModelError;
use super::files::read_json;
use super::lexical::{LexicalVocabulary, SparseVector};
use super::probability::{softmax, ReviewPolicy};

pub const METADATA_FILE: &str = "head.json";
pub const WEIGHTS_FILE: &str = "weights.safetensors";
pub const VOCABULARY_FILE: &str = "vocabulary.json";
pub const MODEL_CARD_FILE: &str = "MODEL_CARD.md";

/// How the head's embeddings must be made: a head is only valid with the same encoder
/// recipe it was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddingRecipe {
    pub encoder_checksum: String,
    pub max_tokens: usize,
    pub max_windows: usize,
    /// The encoder read only the caller's turns of a dialogue
    /// (`PreparedTranscript::encoder_text`). Heads trained before 2026-12-07 lack the field and
    /// read whole transcripts, so they are served that way.
    #[serde(default)]
    pub caller_turns: bool,
}

impl EmbeddingRecipe {
    /// A short tag for cache file names.
    pub fn tag(&self) -> String {
        format!("t{}w{}", self.max_tokens, self.max_windows)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HeadMetadata {
    pub format: u32,
    pub name: String,
    /// The label field this head predicts (`label`, `department`, `letter_type`, ...).
    pub task: String,
    pub labels: Vec<String>,
    pub text_fields: Vec<String>,
    pub recipe: EmbeddingRecipe,
    pub temperature: f32,
    pub review: ReviewPolicy,
    /// Everything about how it was trained and how well it did, for the model card.
    pub training: serde_json::Value,
}

/// One prediction: calibrated probabilities in label order, and the review flag.
#[derive(Debug, Clone, Serialize)]
pub struct HeadPrediction {
    pub probs: Vec<f32>,
    pub needs_review: bool,
}

impl HeadPrediction {
    /// The index of the most probable label.
    pub fn best(&self) -> usize {
        (0..self.probs.len()).max_by(|&a, &b| self.probs[a].total_cmp(&self.probs[b])).unwrap_or(0)
    }
}

#[derive(Debug, Clone)]
pub struct ClassifierHead {
    pub meta: HeadMetadata,
    pub vocabulary: LexicalVocabulary,
    /// classes × dim, row-major.
    embedding_weight: Vec<f32>,
    /// features × classes, row-major: a sparse input touches one contiguous row per feature.
    /// Kept as f16, as shipped: it is most of a head's memory (80,000 × 40 labels for the
    /// department), and f32 would only widen the same values.
    lexical_weight: Vec<f16>,
    bias: Vec<f32>,
    embedding_mean: Vec<f32>,
    embedding_std: Vec<f32>,
    pub dir: PathBuf,
}

/// The learned parameters, as training hands them over.
pub struct HeadParameters {
    pub embedding_weight: Vec<f32>,
    pub lexical_weight: Vec<f16>,
    pub bias: Vec<f32>,
    pub embedding_mean: Vec<f32>,
    pub embedding_std: Vec<f32>,
}

impl ClassifierHead {
    pub fn new(meta: HeadMetadata, vocabulary: LexicalVocabulary, p: HeadParameters, dir: PathBuf) -> Self {
        ClassifierHead {
            meta,
            vocabulary,
            embedding_weight: p.embedding_weight,
            lexical_weight: p.lexical_weight,
            bias: p.bias,
            embedding_mean: p.embedding_mean,
            embedding_std: p.embedding_std,
            dir,
        }
    }

    pub fn classes(&self) -> usize {
        self.meta.labels.len()
    }

    pub fn dim(&self) -> usize {
        self.embedding_mean.len()
    }

    /// Raw scores before temperature.
    pub fn logits(&self, embedding: &[f32], lexical: &SparseVector) -> Vec<f32> {
        let (c, d) = (self.classes(), self.dim());
        let mut out = self.bias.clone();
        if embedding.len() == d {
            let z: Vec<f32> = embedding.iter().zip(&self.embedding_mean).zip(&self.embedding_std).map(|((x, m), s)| (x - m) / s).collect();
            for (k, o) in out.iter_mut().enumerate() {
                *o += self.embedding_weight[k * d..(k + 1) * d].iter().zip(&z).map(|(w, x)| w * x).sum::<f32>();
            }
        }
        let mut row = vec![0f32; c];
        for &(f, x) in lexical {
            self.lexical_weight[f as usize * c..(f as usize + 1) * c].convert_to_f32_slice(&mut row);
            out.iter_mut().zip(&row).for_each(|(o, w)| *o += w * x);
        }
        out
    }

    pub fn predict(&self, embedding: &[f32], lexical: &SparseVector) -> HeadPrediction {
        let probs = softmax(&self.logits(embedding, lexical), self.meta.temperature);
        let needs_review = self.meta.review.needs_review(&probs);
        HeadPrediction { probs, needs_review }
    }

    /// The most probable label for a text's embedding and lexical terms, with its probability.
    pub fn best_label(&self, embedding: &[f32], terms: &[String]) -> (&str, f32) {
        let pred = self.predict(embedding, &self.vocabulary.transform(terms));
        let k = pred.best();
        (self.meta.labels[k].as_str(), pred.probs[k])
    }

    /// The lexical features that pushed class `k` up the most, with their contribution.
    pub fn lexical_reasons(&self, lexical: &SparseVector, k: usize, n: usize) -> Vec<(String, f32)> {
        let c = self.classes();
        let mut contrib: Vec<(u32, f32)> = lexical.iter().map(|&(f, x)| (f, x * self.lexical_weight[f as usize * c + k].to_f32())).filter(|(_, v)| *v > 0.0).collect();
        contrib.sort_by(|a, b| b.1.total_cmp(&a.1));
        contrib.into_iter().take(n).map(|(f, v)| (self.vocabulary.feature(f).to_string(), v)).collect()
    }

    pub fn save(&self, dir: &Path) -> Result<(), ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let (c, d, v) = (self.classes(), self.dim(), self.vocabulary.len());
        let t = |data: &[f32], shape: Vec<usize>| Tensor::from_vec(data.to_vec(), shape, &Device::Cpu);
        // Lexical weights are most of the bytes; f16 halves the shipped file at no measurable cost.
        let tensors = [
            ("embedding_weight", t(&self.embedding_weight, vec![c, d])?),
            ("lexical_weight", Tensor::from_vec(self.lexical_weight.clone(), vec![v, c], &Device::Cpu)?),
            ("bias", t(&self.bias, vec![c])?),
            ("embedding_mean", t(&self.embedding_mean, vec![d])?),
            ("embedding_std", t(&self.embedding_std, vec![d])?),
        ];
        let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().map(|(n, t)| (n.to_string(), t)).collect();
        candle_core::safetensors::save(&map, dir.join(WEIGHTS_FILE))?;
        write_json(&dir.join(METADATA_FILE), &self.meta)?;
        write_json(&dir.join(VOCABULARY_FILE), &self.vocabulary)?;
        Ok(())
    }

    pub fn load(dir: &Path) -> Result<Self, ModelError> {
        let meta: HeadMetadata = read_json(&dir.join(METADATA_FILE))?;
        let vocabulary: LexicalVocabulary = read_json(&dir.join(VOCABULARY_FILE))?;
        let weights_path = dir.join(WEIGHTS_FILE);
        if !weights_path.is_file() {
            return Err(ModelError::MissingFile { path: weights_path });
        }
        let tensors = candle_core::safetensors::load(&weights_path, &Device::Cpu)
            .map_err(|e| ModelError::invalid(&weights_path, format!("not a readable safetensors file: {e}")))?;
        let c = meta.labels.len();
        let v = vocabulary.len();
        if c < 2 {
            return Err(ModelError::invalid(dir.join(METADATA_FILE), "a head needs at least two labels"));
        }
        let tensor = |name: &str, shape: &[usize]| -> Result<&Tensor, ModelError> {
            let t = tensors.get(name).ok_or_else(|| ModelError::invalid(&weights_path, format!("tensor {name} is missing")))?;
            if !shape.is_empty() && t.dims() != shape {
                return Err(ModelError::Shape { name: name.to_string(), expected: shape.to_vec(), actual: t.dims().to_vec() });
            }
            Ok(t)
        };
        let get = |name: &str, shape: &[usize]| -> Result<Vec<f32>, ModelError> { Ok(tensor(name, shape)?.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?) };
        let embedding_mean = get("embedding_mean", &[])?;
        let d = embedding_mean.len();
        let p = HeadParameters {
            embedding_weight: get("embedding_weight", &[c, d])?,
            lexical_weight: tensor("lexical_weight", &[v, c])?.to_dtype(DType::F16)?.flatten_all()?.to_vec1::<f16>()?,
            bias: get("bias", &[c])?,
            embedding_std: get("embedding_std", &[d])?,
            embedding_mean,
        };
        if p.embedding_std.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            return Err(ModelError::invalid(&weights_path, "embedding_std has a non-positive entry"));
        }
        Ok(ClassifierHead::new(meta, vocabulary, p, dir.to_path_buf()))
    }
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), ModelError> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| ModelError::invalid(path, e.to_string()))?;
    std::fs::write(path, bytes).map_err(|e| ModelError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::EmbeddingRecipe;

    #[test]
    fn a_recipe_from_before_the_caller_view_reads_whole_transcripts() {
        let old: EmbeddingRecipe = serde_json::from_str(r#"{"encoder_checksum": "616ecbf4073e94e8", "max_tokens": 128, "max_windows": 1}"#).unwrap();
        assert!(!old.caller_turns);
        let new: EmbeddingRecipe = serde_json::from_str(r#"{"encoder_checksum": "616ecbf4073e94e8", "max_tokens": 128, "max_windows": 1, "caller_turns": true}"#).unwrap();
        assert!(new.caller_turns);
        assert_ne!(old, new, "heads of both kinds must not be mixed in one model");
    }
}
