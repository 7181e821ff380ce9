//! Learning a classifier head from a city's labelled history, and proving on held-out data
//! how good it is.
//!
//! - [`adapt`]: low-rank adaptation of the encoder's top layers to a city's calls;
//! - [`dataset`]: JSONL rows, splits, bad rows;
//! - [`embed_cache`]: embeddings on disk, so retraining never re-embeds;
//! - [`trainer`]: the candle training loop;
//! - [`calibration`]: temperature, ECE, the review policy;
//! - [`metrics`] and [`report`]: accuracy, macro-F1, top-3, confusion matrix, Markdown + PNG.

pub mod adapt;
pub mod calibration;
pub mod dataset;
pub mod embed_cache;
pub mod error;
pub mod metrics;
pub mod report;
pub mod trainer;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};

pub use dataset::{read_dataset, Dataset, DatasetSpec, Split};
pub use error::TrainError;
pub use trainer::{Fusion, TrainerOptions};

use crate::model::head::{ClassifierHead, EmbeddingRecipe, HeadMetadata, MODEL_CARD_FILE};
use crate::model::lexical::{terms, LexicalVocabulary, SparseVector};
use crate::model::{Encoder, EncoderOptions, ModelFolder, WeightMode};
use crate::text::{PreparedTranscript, TextPipeline};
use calibration::{abstain_report, choose_review_policy, fit_temperature};
use crate::model::probability::{softmax, ReviewPolicy};
use embed_cache::EmbeddingCache;
use metrics::{evaluate, EvalReport};

/// Which inputs the head may use; the ablations show what each side is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "snake_case")]
pub enum FeatureSet {
    #[default]
    Both,
    Lexical,
    Embedding,
}

#[derive(Debug, Clone)]
pub struct TrainOptions {
    pub data: DatasetSpec,
    pub out: PathBuf,
    pub name: String,
    pub features: FeatureSet,
    pub max_features: usize,
    pub min_df: usize,
    /// Accuracy the auto-dispatched (not flagged) cases should reach on dev.
    pub review_target_accuracy: f64,
    pub embed_max_tokens: usize,
    pub embed_max_windows: usize,
    pub cache_dir: PathBuf,
    pub trainer: TrainerOptions,
    /// Also learn from the train split embedded with these weights, each row twice: a head
    /// that has seen both f32 and int8 vectors serves either alike (issue 21's accuracy gate
    /// compares the two with the same heads). Dev and test stay on the service's weights.
    pub also_weights: Option<WeightMode>,
}

/// A transcript reduced to what a head reads.
pub struct Featurized {
    pub embedding: Vec<f32>,
    pub terms: Vec<String>,
}

/// Normalise, mask and segment every text, then embed them through the cache.
pub fn featurize(
    texts: &[&str],
    pipeline: &TextPipeline,
    encoder: Option<(&Encoder, &mut EmbeddingCache)>,
    caller_turns: bool,
    label: &str,
) -> Result<Vec<Featurized>, TrainError> {
    featurize_prepared(&prepare_all(texts, pipeline, label), encoder, caller_turns, label)
}

/// Normalise, mask and segment every text.
fn prepare_all(texts: &[&str], pipeline: &TextPipeline, label: &str) -> Vec<PreparedTranscript> {
    let bar = crate::progress::Progress::new(texts.len() as u64, &format!("{label}: segmenting"));
    let prepared = texts
        .iter()
        .map(|t| {
            bar.inc(1);
            pipeline.prepare(t)
        })
        .collect();
    bar.finish();
    prepared
}

/// The features of texts already prepared, embedded through the cache.
fn featurize_prepared(prepared: &[PreparedTranscript], encoder: Option<(&Encoder, &mut EmbeddingCache)>, caller_turns: bool, label: &str) -> Result<Vec<Featurized>, TrainError> {
    let embeddings = match encoder {
        Some((enc, cache)) => {
            let clean: Vec<String> = prepared.iter().map(|p| p.encoder_text(caller_turns).into_owned()).collect();
            cache.embed_all(enc, &clean, &format!("{label}: embedding"))?
        }
        None => vec![Vec::new(); prepared.len()],
    };
    Ok(prepared.iter().zip(embeddings).map(|(p, embedding)| Featurized { terms: terms(&p.tokens, &p.text), embedding }).collect())
}

/// The cache file's recipe tag: int8 weights give other vectors than f32 from the same folder,
/// so they are cached apart (f32 keeps the tag it always had).
fn cache_tag(recipe: &EmbeddingRecipe, encoder: &Encoder) -> String {
    match encoder.options().weights {
        WeightMode::F32 => recipe.tag(),
        WeightMode::Int8 => format!("{}-int8", recipe.tag()),
        WeightMode::Bf16 => format!("{}-bf16", recipe.tag()),
    }
}

/// The encoder options a recipe asks for, on top of the service's own.
pub fn recipe_options(base: &EncoderOptions, max_tokens: usize, max_windows: usize) -> EncoderOptions {
    EncoderOptions { max_tokens, max_windows, ..base.clone() }
}

#[derive(Debug, Serialize)]
pub struct TrainSummary {
    pub out: PathBuf,
    pub labels: usize,
    pub rows: serde_json::Value,
    pub dev: EvalReport,
    pub test: Option<EvalReport>,
    pub seconds: f64,
}

fn standardise(rows: &mut [Vec<f32>], mean: &[f32], std: &[f32]) {
    for r in rows.iter_mut() {
        r.iter_mut().zip(mean).zip(std).for_each(|((x, m), s)| *x = (*x - m) / s);
    }
}

/// Train a head on the train split, calibrate and pick the review policy on dev, report on
/// dev and test, and write everything to `opts.out`.
pub fn train(opts: &TrainOptions, folder: &ModelFolder, base: &EncoderOptions, pipeline: &TextPipeline) -> Result<TrainSummary, TrainError> {
    let started = Instant::now();
    if let Some(bad) = opts.trainer.l2.iter().find(|l| !(l.is_finite() && **l >= 0.0)) {
        return Err(TrainError::Options(format!("an L2 penalty must be a number >= 0, not {bad}")));
    }
    let data = read_dataset(&opts.data)?;
    for bad in data.bad_rows.iter().take(20) {
        tracing::warn!("{}:{}: skipped: {}", opts.data.path.display(), bad.line, bad.reason);
    }
    if data.bad_rows.len() > 20 {
        tracing::warn!("... and {} more bad rows", data.bad_rows.len() - 20);
    }
    let labels = dataset::label_list(&data);
    if labels.len() < 2 {
        return Err(TrainError::Data { path: opts.data.path.clone(), reason: format!("the train split has {} label(s); a head needs two", labels.len()) });
    }
    let index_of = |l: &str| labels.binary_search_by(|x| x.as_str().cmp(l)).ok();
    let rows = serde_json::json!({
        "read": data.rows_read, "bad": data.bad_rows.len(),
        "train": data.count(Split::Train), "dev": data.count(Split::Dev), "test": data.count(Split::Test),
        "rare_labels_dropped": data.rare_labels,
        "train_also_embedded_with": opts.also_weights,
    });
    if data.count(Split::Dev) == 0 {
        return Err(TrainError::Data { path: opts.data.path.clone(), reason: "the dev split is empty: calibration and the review policy need it".into() });
    }

    let use_embedding = opts.features != FeatureSet::Lexical;
    let use_lexical = opts.features != FeatureSet::Embedding;
    let options = recipe_options(base, opts.embed_max_tokens, opts.embed_max_windows);
    let encoder = if use_embedding { Some(Encoder::load(folder, options.clone())?) } else { None };
    let recipe = EmbeddingRecipe {
        encoder_checksum: folder.checksum(),
        max_tokens: encoder.as_ref().map(|e| e.options().max_tokens).unwrap_or(options.max_tokens),
        max_windows: options.max_windows,
        caller_turns: true,
    };
    let mut cache = match &encoder {
        Some(e) => Some(EmbeddingCache::open(&opts.cache_dir, &recipe.encoder_checksum, &cache_tag(&recipe, e), e.dimension())?),
        None => None,
    };

    let mut also = match (opts.also_weights, &encoder) {
        (Some(weights), Some(primary)) if weights != primary.options().weights => {
            let other = Encoder::load(folder, EncoderOptions { weights, ..options.clone() })?;
            let other_cache = EmbeddingCache::open(&opts.cache_dir, &recipe.encoder_checksum, &cache_tag(&recipe, &other), other.dimension())?;
            Some((other, other_cache))
        }
        _ => None,
    };
    let mut split_features = std::collections::BTreeMap::new();
    for split in [Split::Train, Split::Dev, Split::Test] {
        let examples: Vec<_> = data.split(split).collect();
        let texts: Vec<&str> = examples.iter().map(|e| e.text.as_str()).collect();
        let enc = match (&encoder, cache.as_mut()) {
            (Some(e), Some(c)) => Some((e, c)),
            _ => None,
        };
        let label = format!("{split:?}").to_lowercase();
        let prepared = prepare_all(&texts, pipeline, &label);
        let mut feats = featurize_prepared(&prepared, enc, recipe.caller_turns, &label)?;
        let mut gold: Vec<usize> = examples.iter().map(|e| index_of(&e.label)).collect::<Option<Vec<_>>>().unwrap_or_else(|| {
            // Labels outside train cannot be predicted; rare-label filtering removed them already.
            examples.iter().map(|e| index_of(&e.label).unwrap_or(0)).collect()
        });
        if let (Split::Train, Some((other, other_cache))) = (split, also.as_mut()) {
            let more = featurize_prepared(&prepared, Some((&*other, other_cache)), recipe.caller_turns, "train (other weights)")?;
            feats.extend(more);
            gold.extend(gold.clone());
        }
        split_features.insert(split, (feats, gold));
    }

    // Each train text once, though `also_weights` lists it twice: a word in one text must not
    // pass `min_df` 2 by being counted again.
    let train_terms: Vec<Vec<String>> = split_features[&Split::Train].0.iter().take(data.count(Split::Train)).map(|f| f.terms.clone()).collect();
    let vocabulary = if use_lexical { LexicalVocabulary::fit(&train_terms, opts.max_features, opts.min_df) } else { LexicalVocabulary::fit(&[], 0, 1) };
    let dim = encoder.as_ref().map(|e| e.dimension()).unwrap_or(0);

    let mut mean = vec![0f32; dim];
    let mut std = vec![1f32; dim];
    if dim > 0 {
        let rows = &split_features[&Split::Train].0;
        let n = rows.len() as f32;
        for r in rows {
            mean.iter_mut().zip(&r.embedding).for_each(|(m, x)| *m += x / n);
        }
        let mut var = vec![0f32; dim];
        for r in rows {
            var.iter_mut().zip(&r.embedding).zip(&mean).for_each(|((v, x), m)| *v += (x - m) * (x - m) / n);
        }
        // Standardised and then scaled to unit expected norm, like the L2-normalised TF-IDF
        // side: with both sides on one scale, one learning rate suits both (unscaled, the
        // 384 embedding inputs swamp the lexical ones and the head overfits on them).
        let scale = (dim as f32).sqrt();
        std = var.iter().map(|v| v.sqrt().max(1e-6) * scale).collect();
    }
    let inputs = |split: Split| -> (Vec<Vec<f32>>, Vec<SparseVector>, Vec<usize>) {
        let (feats, gold) = &split_features[&split];
        let mut emb: Vec<Vec<f32>> = feats.iter().map(|f| f.embedding.clone()).collect();
        standardise(&mut emb, &mean, &std);
        let lex = feats.iter().map(|f| vocabulary.transform(&f.terms)).collect();
        (emb, lex, gold.clone())
    };
    let (tr_e, tr_l, tr_g) = inputs(Split::Train);
    let (dv_e, dv_l, dv_g) = inputs(Split::Dev);
    let train_in = trainer::Inputs { embeddings: &tr_e, lexical: &tr_l, gold: &tr_g };
    let dev_in = trainer::Inputs { embeddings: &dv_e, lexical: &dv_l, gold: &dv_g };
    let (mut params, log) = trainer::fit(&train_in, &dev_in, &labels, dim, vocabulary.len(), &opts.trainer)?;
    params.embedding_mean = mean.clone();
    params.embedding_std = std.clone();

    let meta = HeadMetadata {
        format: 1,
        name: opts.name.clone(),
        task: opts.data.label_field.clone(),
        labels: labels.clone(),
        text_fields: opts.data.text_fields.clone(),
        recipe: recipe.clone(),
        temperature: 1.0,
        review: ReviewPolicy { min_confidence: 0.0, min_margin: 0.0 },
        training: serde_json::Value::Null,
    };
    let mut head = ClassifierHead::new(meta, vocabulary, params, opts.out.clone());

    // Calibrate on dev with the head as it will be shipped (f16 lexical weights included).
    head.save(&opts.out)?;
    head = ClassifierHead::load(&opts.out)?;
    let raw = |split: Split| -> Vec<Vec<f32>> {
        let (feats, _) = &split_features[&split];
        feats.iter().map(|f| head.logits(&f.embedding, &head.vocabulary.transform(&f.terms))).collect()
    };
    let dev_logits = raw(Split::Dev);
    let temperature = fit_temperature(&dev_logits, &dv_g);
    let dev_probs: Vec<Vec<f32>> = dev_logits.iter().map(|l| softmax(l, temperature)).collect();
    let review = choose_review_policy(&dv_g, &dev_probs, opts.review_target_accuracy);
    let mut dev_report = evaluate(&labels, &dv_g, &dev_probs);
    dev_report.abstain = Some(abstain_report(&dv_g, &dev_probs, review));
    let test_gold = &split_features[&Split::Test].1;
    let test_report = if test_gold.is_empty() {
        None
    } else {
        let probs: Vec<Vec<f32>> = raw(Split::Test).iter().map(|l| softmax(l, temperature)).collect();
        let mut r = evaluate(&labels, test_gold, &probs);
        r.abstain = Some(abstain_report(test_gold, &probs, review));
        Some(r)
    };
    let seconds = started.elapsed().as_secs_f64();
    let uncalibrated_ece = calibration::expected_calibration_error(&dv_g, &dev_logits.iter().map(|l| softmax(l, 1.0)).collect::<Vec<_>>(), 15);

    head.meta.temperature = temperature;
    head.meta.review = review;
    head.meta.training = serde_json::json!({
        "date_unix": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        "data": { "path": opts.data.path, "sha256": data.sha256, "label_field": opts.data.label_field, "split_field": opts.data.split_field, "min_class_count": opts.data.min_class_count },
        "rows": rows,
        "features": opts.features,
        "lexical": { "max_features": opts.max_features, "min_df": opts.min_df, "features": head.vocabulary.len() },
        "trainer": opts.trainer,
        "log": log,
        "dev_ece_before_temperature": uncalibrated_ece,
        "review_target_accuracy": opts.review_target_accuracy,
        "seconds": seconds,
        "metrics": { "dev": headline(&dev_report), "test": test_report.as_ref().map(headline) },
    });
    head.save(&opts.out)?;
    write_model_card(&head, &dev_report, test_report.as_ref(), &opts.out)?;
    Ok(TrainSummary { out: opts.out.clone(), labels: labels.len(), rows, dev: dev_report, test: test_report, seconds })
}

fn headline(r: &EvalReport) -> serde_json::Value {
    serde_json::json!({ "n": r.n, "accuracy": r.accuracy, "macro_f1": r.macro_f1, "top3_accuracy": r.top3_accuracy, "ece": r.ece, "abstain": r.abstain })
}

fn write_model_card(head: &ClassifierHead, dev: &EvalReport, test: Option<&EvalReport>, dir: &Path) -> Result<(), TrainError> {
    let m = &head.meta;
    let t = &m.training;
    let row = |name: &str, r: &EvalReport| {
        let a = r.abstain.as_ref();
        format!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} |\n",
            r.n,
            r.accuracy,
            r.macro_f1,
            r.top3_accuracy,
            r.ece,
            a.map(|a| format!("{:.1}% covered at {:.3} accuracy", a.coverage * 100.0, a.accuracy_covered)).unwrap_or_default()
        )
    };
    let mut card = format!(
        "# Model card: {name}\n\n\
         A classifier head of hotline-triage predicting `{task}` ({n} classes) from a transcript.\n\n\
         ## Inputs\n\
         - multilingual-e5-small embedding (encoder checksum `{ck}`, `query: ` prefix, mean pooling, first {win} window(s) of {tok} tokens{view}), standardised;\n\
         - TF-IDF over jieba words, word bigrams, character 1-3-grams and pairs of the characters' sounds ({feats} features, a third from each family, the terms said most often on train first);\n\
         - one linear layer over both, trained with candle (AdamW, class-weighted cross-entropy, early stopping on dev macro-F1){fit}.\n\n\
         ## Data\n\
         `{path}` (sha256 `{sha}`), label field `{task}`. Rows: {rows}.\n\n\
         ## Results\n\n\
         | split | n | accuracy | macro-F1 | top-3 | ECE | review policy |\n|---|---|---|---|---|---|---|\n",
        name = m.name,
        task = m.task,
        n = m.labels.len(),
        ck = m.recipe.encoder_checksum,
        win = if m.recipe.max_windows == 0 { "all".to_string() } else { m.recipe.max_windows.to_string() },
        tok = m.recipe.max_tokens,
        view = if m.recipe.caller_turns { ", of the caller's turns in a dialogue" } else { "" },
        feats = head.vocabulary.len(),
        path = t["data"]["path"].as_str().unwrap_or("?"),
        sha = t["data"]["sha256"].as_str().unwrap_or("?"),
        rows = t["rows"],
        fit = match t["log"]["embedding_share"].as_f64() {
            Some(share) => format!("; each side fitted alone and their logits mixed, the embedding's share {share:.2} chosen on dev"),
            None => String::new(),
        },
    );
    card.push_str(&row("dev", dev));
    if let Some(test) = test {
        card.push_str(&row("test", test));
    }
    card.push_str(&format!(
        "\n## Calibration and review\n\
         Temperature {:.3}, fitted on dev (dev ECE {:.3} before, {:.3} after). A prediction is flagged \
         `needs_review` when its top probability is below {:.2} or the top two are within {:.2}; the \
         policy was chosen on dev as the widest coverage whose auto-dispatched accuracy reaches {:.2}.\n\n\
         ## Labels\n{}\n\n\
         ## Limits\n\
         Trained on one city's written appeals; spoken transcripts from another city will differ. \
         Labels with too few training rows were left out: {}.\n",
        m.temperature,
        t["dev_ece_before_temperature"].as_f64().unwrap_or(f64::NAN),
        dev.ece,
        m.review.min_confidence,
        m.review.min_margin,
        t["review_target_accuracy"].as_f64().unwrap_or(f64::NAN),
        m.labels.iter().map(|l| format!("`{l}`")).collect::<Vec<_>>().join(", "),
        t["rows"]["rare_labels_dropped"],
    ));
    std::fs::write(dir.join(MODEL_CARD_FILE), card).map_err(|e| TrainError::io(dir.join(MODEL_CARD_FILE), e))
}

/// Predictions of a saved head on one split of a dataset, ready for [`evaluate`].
pub struct SplitPredictions {
    pub gold: Vec<usize>,
    pub probs: Vec<Vec<f32>>,
    /// Rows whose label the head does not know (they cannot be scored).
    pub unknown_labels: usize,
}

pub fn predict_split(
    head: &ClassifierHead,
    data: &Dataset,
    split: Split,
    folder: &ModelFolder,
    base: &EncoderOptions,
    pipeline: &TextPipeline,
    cache_dir: &Path,
) -> Result<SplitPredictions, TrainError> {
    if head.dim() > 0 && head.meta.recipe.encoder_checksum != folder.checksum() {
        return Err(TrainError::Head {
            path: head.dir.clone(),
            reason: format!("trained on encoder {}, but {} holds encoder {}", head.meta.recipe.encoder_checksum, folder.dir.display(), folder.checksum()),
        });
    }
    let examples: Vec<_> = data.split(split).collect();
    let mut unknown_labels = 0;
    let mut kept = Vec::new();
    let mut gold = Vec::new();
    for e in &examples {
        match head.meta.labels.iter().position(|l| *l == e.label) {
            Some(g) => {
                kept.push(e.text.as_str());
                gold.push(g);
            }
            None => unknown_labels += 1,
        }
    }
    let uses_embedding = head.dim() > 0;
    let encoder = if uses_embedding { Some(Encoder::load(folder, recipe_options(base, head.meta.recipe.max_tokens, head.meta.recipe.max_windows))?) } else { None };
    let mut cache = match &encoder {
        Some(e) => Some(EmbeddingCache::open(cache_dir, &head.meta.recipe.encoder_checksum, &cache_tag(&head.meta.recipe, e), e.dimension())?),
        None => None,
    };
    let enc = match (&encoder, cache.as_mut()) {
        (Some(e), Some(c)) => Some((e, c)),
        _ => None,
    };
    let feats = featurize(&kept, pipeline, enc, head.meta.recipe.caller_turns, &format!("{split:?}").to_lowercase())?;
    let probs = feats.iter().map(|f| head.predict(&f.embedding, &head.vocabulary.transform(&f.terms)).probs).collect();
    Ok(SplitPredictions { gold, probs, unknown_labels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tiny;

    /// Three classes a person tells apart by their words; the head must too.
    fn write_cases(path: &Path) {
        let classes = [
            ("环境", ["楼下饭店油烟太大", "晚上施工噪音扰民", "烧烤油烟熏得没法开窗", "工地噪音太大睡不着"]),
            ("教育", ["孩子上学入学手续", "小学入学需要什么材料", "学校乱收费", "孩子转学怎么办理"]),
            ("住房", ["物业费涨价不合理", "暖气不热室温太低", "小区物业不管电梯", "楼道漏水物业不修"]),
        ];
        let mut lines = Vec::new();
        for round in 0..8 {
            for (label, texts) in &classes {
                for (j, t) in texts.iter().enumerate() {
                    let split = match (round + j) % 8 { 0..=4 => "train", 5 | 6 => "dev", _ => "test" };
                    lines.push(serde_json::json!({"id": format!("{label}-{round}-{j}"), "title": format!("{t}第{round}次"), "text": format!("市民反映{t}，请尽快处理"), "label": label, "split": split}).to_string());
                }
            }
        }
        std::fs::write(path, lines.join("\n")).unwrap();
    }

    /// A tiny encoder, the repo's dictionaries, the cases above, and options to train on them.
    fn setup(dir: &Path, features: FeatureSet, text_fields: &[&str], epochs: usize) -> (ModelFolder, TextPipeline, TrainOptions) {
        let folder = tiny::write_folder(&dir.join("enc"));
        let pipeline = TextPipeline::from_dict_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("models/dict")).unwrap();
        let data = dir.join("cases.jsonl");
        write_cases(&data);
        let opts = TrainOptions {
            data: DatasetSpec { path: data, text_fields: text_fields.iter().map(|f| f.to_string()).collect(), label_field: "label".into(), split_field: Some("split".into()), min_class_count: 1 },
            out: dir.join("head"),
            name: "tiny".into(),
            features,
            max_features: 5000,
            min_df: 1,
            review_target_accuracy: 0.9,
            embed_max_tokens: 32,
            embed_max_windows: 1,
            cache_dir: dir.join("cache"),
            trainer: TrainerOptions { epochs, ..Default::default() },
            also_weights: None,
        };
        (folder, pipeline, opts)
    }

    #[test]
    fn trains_calibrates_saves_and_reloads_a_head() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, pipeline, opts) = setup(dir.path(), FeatureSet::Both, &["title", "text"], 30);
        let summary = train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap();
        assert_eq!(summary.labels, 3);
        assert!(summary.dev.accuracy >= 0.9, "dev accuracy {}", summary.dev.accuracy);
        assert!(summary.test.as_ref().unwrap().accuracy >= 0.9);
        for f in ["head.json", "weights.safetensors", "vocabulary.json", "MODEL_CARD.md"] {
            assert!(opts.out.join(f).is_file(), "{f} missing");
        }

        let head = ClassifierHead::load(&opts.out).unwrap();
        assert!(head.meta.temperature > 0.0);
        assert_eq!(head.meta.recipe.encoder_checksum, folder.checksum());
        let data = read_dataset(&opts.data).unwrap();
        let preds = predict_split(&head, &data, Split::Test, &folder, &EncoderOptions::default(), &pipeline, &opts.cache_dir).unwrap();
        let report = evaluate(&head.meta.labels, &preds.gold, &preds.probs);
        let trained = summary.test.unwrap();
        assert!((report.accuracy - trained.accuracy).abs() < 1e-9, "a reloaded head predicts as it did in training");

        let f = featurize(&["我家楼下饭店油烟太大了"], &pipeline, None, true, "t").unwrap().remove(0);
        let lex = head.vocabulary.transform(&f.terms);
        let encoder = Encoder::load(&folder, recipe_options(&EncoderOptions::default(), 32, 1)).unwrap();
        let emb = encoder.embed(&["我家楼下饭店油烟太大了"]).unwrap().remove(0).vector;
        let p = head.predict(&emb, &lex);
        let best = p.best();
        assert_eq!(head.meta.labels[best], "环境");
        // Sound pairs (p:you|yan) are no reason to show; the words and characters are.
        let shown: Vec<String> = head.lexical_reasons(&lex, best, 10).into_iter().map(|(t, _)| t).filter(|t| !t.starts_with("p:")).take(3).collect();
        assert!(shown.iter().any(|t| t.contains("油烟")), "{shown:?}");
    }

    #[test]
    fn a_head_can_learn_from_both_weight_formats() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, pipeline, mut opts) = setup(dir.path(), FeatureSet::Both, &["title", "text"], 30);
        opts.also_weights = Some(WeightMode::Int8);
        opts.min_df = 2;
        let summary = train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap();
        assert_eq!(summary.rows["train_also_embedded_with"], "int8");
        assert!(summary.dev.accuracy >= 0.9, "dev accuracy {}", summary.dev.accuracy);
        // The train split was embedded twice, each format in its own cache file.
        let caches = std::fs::read_dir(&opts.cache_dir).unwrap().filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().to_string()).collect::<Vec<_>>();
        assert!(caches.iter().any(|c| c.ends_with("-int8.emb")) && caches.iter().any(|c| !c.contains("int8")), "{caches:?}");
        // The vocabulary counts each train text once, as without the second format.
        let both = ClassifierHead::load(&opts.out).unwrap().vocabulary.len();
        opts.also_weights = None;
        opts.out = dir.path().join("f32-only");
        train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap();
        assert_eq!(both, ClassifierHead::load(&opts.out).unwrap().vocabulary.len());
    }

    #[test]
    fn a_head_fitted_side_by_side_mixes_into_one_layer() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, pipeline, mut opts) = setup(dir.path(), FeatureSet::Both, &["title", "text"], 30);
        opts.trainer.fusion = Fusion::Late;
        opts.trainer.l2 = vec![0.0, 1e-4];
        let summary = train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap();
        assert!(summary.dev.accuracy >= 0.9, "dev accuracy {}", summary.dev.accuracy);
        let head = ClassifierHead::load(&opts.out).unwrap();
        let log = &head.meta.training["log"];
        let share = log["embedding_share"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&share), "{share}");
        let sides = log["sides"].as_array().unwrap();
        assert_eq!(sides.len(), 2, "each side's own log is kept");
        // Each side keeps the penalty it was chosen with, one of those tried.
        assert!(sides.iter().all(|s| [0.0, 1e-4].contains(&s["l2"].as_f64().unwrap())), "{sides:?}");
        // The shipped head is the usual one layer: it reloads and predicts as in training.
        let data = read_dataset(&opts.data).unwrap();
        let preds = predict_split(&head, &data, Split::Test, &folder, &EncoderOptions::default(), &pipeline, &opts.cache_dir).unwrap();
        let report = evaluate(&head.meta.labels, &preds.gold, &preds.probs);
        assert!((report.accuracy - summary.test.unwrap().accuracy).abs() < 1e-9);
    }

    #[test]
    fn a_negative_penalty_is_refused_before_any_work() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, pipeline, mut opts) = setup(dir.path(), FeatureSet::Both, &["title"], 20);
        opts.trainer.l2 = vec![0.0, -1e-4];
        let err = train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap_err();
        assert!(matches!(err, TrainError::Options(_)), "{err}");
        assert!(err.to_string().contains("-0.0001"), "{err}");
    }

    #[test]
    fn a_lexical_only_head_needs_no_encoder_side() {
        let dir = tempfile::tempdir().unwrap();
        let (folder, pipeline, opts) = setup(dir.path(), FeatureSet::Lexical, &["title"], 20);
        let summary = train(&opts, &folder, &EncoderOptions::default(), &pipeline).unwrap();
        assert!(summary.dev.accuracy >= 0.9, "dev accuracy {}", summary.dev.accuracy);
        assert_eq!(ClassifierHead::load(&opts.out).unwrap().dim(), 0);
    }
}
