//! Adapting the encoder to a city's calls on a CPU (`triage adapt`): low-rank changes (LoRA)
//! to the top layers, learnt with the heads' objectives together (department, topic, appeal
//! type, urgency), written as a small adapter that the encoder merges at load.
//!
//! Two cores cannot back-propagate through twelve layers in an hour, so the lower layers stay
//! as they are and their output is computed once per text (the packed encoder, f16 in memory).
//! Each step then runs only the adapted layers, forward and back, in candle.
//!
//! Runs are resumable: every `checkpoint_every` steps and at the end of each epoch the
//! adapter, the task layers and the position in the run go to the checkpoint folder, and
//! `--resume` carries on from there (Adam's moments start afresh). A time budget stops the run
//! cleanly, keeping the best epoch so far as judged on dev.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use half::f16;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use super::dataset::Split;
use super::error::TrainError;
use super::recipe_options;
use crate::model::adapter::Adapter;
use crate::model::bert::TensorSource;
use crate::model::{Encoder, EncoderOptions, ModelFolder};
use crate::progress::Progress;

/// The heads' tasks, in the order of [`Example::labels`], and the file each is read from.
pub const TASKS: [&str; 4] = ["department", "topic", "appeal_type", "urgency"];
/// The matrices of a layer that get a low-rank change.
const TARGETS: [&str; 6] = ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense", "intermediate.dense", "output.dense"];
/// Cosine logits are scaled by this: unit vectors give logits in [-1, 1], too flat to learn from.
const LOGIT_SCALE: f64 = 20.0;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AdaptOptions {
    /// Top layers that get low-rank changes; the ones below run once per text.
    pub layers: usize,
    pub rank: usize,
    pub alpha: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// Tokens of each text's first window, as the heads read them.
    pub max_tokens: usize,
    /// Spoken calls count this many times per epoch: they are the target, letters the bulk.
    pub transcript_repeats: usize,
    pub checkpoint_every: usize,
    /// Stop cleanly after this long, keeping the best epoch so far.
    pub max_minutes: f64,
    /// Use at most this many training texts (0 = all), for quick trials.
    pub max_texts: usize,
    pub seed: u64,
}

impl Default for AdaptOptions {
    fn default() -> Self {
        AdaptOptions { layers: 2, rank: 8, alpha: 16.0, epochs: 2, batch_size: 16, learning_rate: 5e-4, max_tokens: 128, transcript_repeats: 2, checkpoint_every: 200, max_minutes: 55.0, max_texts: 0, seed: 17 }
    }
}

/// One text with whichever of the tasks' labels its rows give.
#[derive(Debug, Clone)]
struct Example {
    text: String,
    split: Split,
    transcript: bool,
    labels: [Option<u32>; 4],
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AdaptSummary {
    pub out: PathBuf,
    pub train_texts: usize,
    pub dev_texts: usize,
    pub steps: usize,
    pub epochs_done: f64,
    pub best_epoch: usize,
    /// Dev accuracy per task on the spoken calls, adapter off (epoch 0) and after each epoch.
    pub dev_by_epoch: Vec<BTreeMap<String, f64>>,
    pub seconds_states: f64,
    pub seconds_training: f64,
    pub texts_per_second: f64,
    pub stopped_by_time: bool,
}

/// Where a run stands, saved beside its checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct RunState {
    options: AdaptOptions,
    base_encoder: String,
    /// A fingerprint of the texts and labels: a checkpoint of other data is not resumed.
    data: String,
    epoch: usize,
    step_in_epoch: usize,
    steps: usize,
    best_epoch: usize,
    best_score: f64,
    dev_by_epoch: Vec<BTreeMap<String, f64>>,
    seconds_training: f64,
}

fn read_examples(data_dir: &Path) -> Result<(Vec<Example>, Vec<Vec<String>>), TrainError> {
    let mut by_text: HashMap<String, Example> = HashMap::new();
    let mut labels: Vec<Vec<String>> = vec![Vec::new(); TASKS.len()];
    let mut rows: Vec<(usize, String, String, Split, bool)> = Vec::new();
    for (t, task) in TASKS.iter().enumerate() {
        let path = data_dir.join(format!("{task}.jsonl"));
        let text = std::fs::read_to_string(&path).map_err(|e| TrainError::io(&path, e))?;
        for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
            let bad = |reason: &str| TrainError::Data { path: path.clone(), reason: format!("line {}: {reason}", n + 1) };
            let v: serde_json::Value = serde_json::from_str(line).map_err(|e| bad(&e.to_string()))?;
            let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
            let (Some(body), Some(label), Some(split)) = (field("text"), field("label"), field("split")) else { return Err(bad("needs text, label and split")) };
            let split = Split::parse(&split).ok_or_else(|| bad("split must be train, dev or test"))?;
            // Test rows are never read: nothing here may be chosen by them.
            if split == Split::Test || body.trim().is_empty() {
                continue;
            }
            let transcript = field("source").is_some_and(|s| s.starts_with("transcript"));
            rows.push((t, body, label, split, transcript));
        }
    }
    for (t, _, label, _, _) in &rows {
        if !labels[*t].contains(label) {
            labels[*t].push(label.clone());
        }
    }
    labels.iter_mut().for_each(|l| l.sort());
    for (t, body, label, split, transcript) in rows {
        let id = labels[t].iter().position(|l| *l == label).expect("collected above") as u32;
        let e = by_text.entry(body.clone()).or_insert_with(|| Example { text: body, split, transcript, labels: [None; 4] });
        e.labels[t] = Some(id);
        e.transcript |= transcript;
    }
    let mut examples: Vec<Example> = by_text.into_values().collect();
    examples.sort_by(|a, b| a.text.cmp(&b.text));
    Ok((examples, labels))
}

/// One adapted layer: the frozen weights (transposed for `x · Wᵀ`) and the low-rank pairs.
struct AdaptedLayer {
    index: usize,
    linears: Vec<(Tensor, Tensor, Var, Var)>,
    attention_norm: (Tensor, Tensor),
    output_norm: (Tensor, Tensor),
}

struct Model {
    layers: Vec<AdaptedLayer>,
    heads: Vec<(Var, Var)>,
    hidden: usize,
    num_heads: usize,
    eps: f64,
    scale: f64,
}

fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor), eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let centred = x.broadcast_sub(&mean)?;
    let var = centred.sqr()?.mean_keepdim(D::Minus1)?;
    centred.broadcast_div(&(var + eps)?.sqrt()?)?.broadcast_mul(w)?.broadcast_add(b)
}

impl Model {
    fn linear(&self, x: &Tensor, (wt, b, a, bb): &(Tensor, Tensor, Var, Var)) -> candle_core::Result<Tensor> {
        let base = x.matmul(wt)?.broadcast_add(b)?;
        let low = x.matmul(&a.as_tensor().t()?)?.matmul(&bb.as_tensor().t()?)?;
        base + (low * self.scale)?
    }

    /// Pooled, unit-length embeddings of a padded batch of lower states (batch, len, hidden).
    fn forward(&self, states: &Tensor, mask: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, len, h) = states.dims3()?;
        let heads = self.num_heads;
        let d = h / heads;
        let key_bias = ((mask.ones_like()? - mask)? * -1e4)?.reshape((batch, 1, 1, len))?;
        let split = |t: Tensor| t.reshape((batch, len, heads, d))?.transpose(1, 2)?.contiguous();
        let mut x = states.reshape((batch * len, h))?;
        for layer in &self.layers {
            let q = split(self.linear(&x, &layer.linears[0])?)?;
            let k = split(self.linear(&x, &layer.linears[1])?)?;
            let v = split(self.linear(&x, &layer.linears[2])?)?;
            let scores = (q.matmul(&k.t()?)? * (1.0 / (d as f64).sqrt()))?.broadcast_add(&key_bias)?;
            let probs = candle_nn::ops::softmax(&scores, D::Minus1)?;
            let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch * len, h))?;
            let attended = layer_norm(&(self.linear(&context, &layer.linears[3])? + &x)?, &layer.attention_norm, self.eps)?;
            let inner = self.linear(&attended, &layer.linears[4])?.gelu_erf()?;
            x = layer_norm(&(self.linear(&inner, &layer.linears[5])? + attended)?, &layer.output_norm, self.eps)?;
        }
        let m = mask.unsqueeze(D::Minus1)?;
        let pooled = x.reshape((batch, len, h))?.broadcast_mul(&m)?.sum(1)?.broadcast_div(&m.sum(1)?)?;
        pooled.broadcast_div(&pooled.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?)
    }

    fn logits(&self, pooled: &Tensor, task: usize) -> candle_core::Result<Tensor> {
        let (w, b) = &self.heads[task];
        let w = w.as_tensor();
        let w = w.broadcast_div(&w.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(1e-6, f64::INFINITY)?)?;
        (pooled.matmul(&w.t()?)? * LOGIT_SCALE)?.broadcast_add(b.as_tensor())
    }

    fn vars(&self) -> Vec<(String, Var)> {
        let mut out = Vec::new();
        for l in &self.layers {
            for (t, (_, _, a, b)) in TARGETS.iter().zip(&l.linears) {
                out.push((format!("encoder.layer.{}.{t}.weight.lora_a", l.index), a.clone()));
                out.push((format!("encoder.layer.{}.{t}.weight.lora_b", l.index), b.clone()));
            }
        }
        for (task, (w, b)) in TASKS.iter().zip(&self.heads) {
            out.push((format!("task.{task}.weight"), w.clone()));
            out.push((format!("task.{task}.bias"), b.clone()));
        }
        out
    }

    fn save(&self, path: &Path) -> Result<(), TrainError> {
        let map: HashMap<String, Tensor> = self.vars().into_iter().map(|(n, v)| (n, v.as_tensor().clone())).collect();
        let tmp = path.with_extension("partial");
        candle_core::safetensors::save(&map, &tmp)?;
        std::fs::rename(&tmp, path).map_err(|e| TrainError::io(path, e))
    }

    fn restore(&self, path: &Path) -> Result<(), TrainError> {
        let saved = candle_core::safetensors::load(path, &Device::Cpu)?;
        for (name, var) in self.vars() {
            let t = saved.get(&name).ok_or_else(|| TrainError::Data { path: path.to_path_buf(), reason: format!("checkpoint lacks {name}") })?;
            var.set(t)?;
        }
        Ok(())
    }
}

fn build_model(folder: &ModelFolder, options: &AdaptOptions, classes: &[usize], rng: &mut rand_chacha::ChaCha8Rng) -> Result<Model, TrainError> {
    use rand_distr::{Distribution, Normal, Uniform};
    let cfg = &folder.config;
    let (h, dev) = (cfg.hidden_size, Device::Cpu);
    let mut source = folder.tensors()?;
    let mut f32_tensor = |name: &str| -> Result<Tensor, TrainError> { Ok(source.qtensor(name)?.dequantize(&dev)?) };
    let mut layers = Vec::new();
    for index in cfg.num_hidden_layers - options.layers..cfg.num_hidden_layers {
        let p = format!("encoder.layer.{index}");
        let mut linears = Vec::new();
        for t in TARGETS {
            let w = f32_tensor(&format!("{p}.{t}.weight"))?;
            let b = f32_tensor(&format!("{p}.{t}.bias"))?;
            let (outputs, inputs) = w.dims2()?;
            // LoRA's start: A small and random, B zero, so the adapted layer begins as the base.
            let bound = 1.0 / (inputs as f64).sqrt();
            let uniform = Uniform::new(-bound, bound).expect("bound > 0");
            let a: Vec<f32> = (0..options.rank * inputs).map(|_| uniform.sample(rng) as f32).collect();
            let a = Var::from_tensor(&Tensor::from_vec(a, (options.rank, inputs), &dev)?)?;
            let bb = Var::from_tensor(&Tensor::zeros((outputs, options.rank), DType::F32, &dev)?)?;
            linears.push((w.t()?.contiguous()?, b, a, bb));
        }
        let norm = |src: &mut dyn FnMut(&str) -> Result<Tensor, TrainError>, n: &str| -> Result<(Tensor, Tensor), TrainError> { Ok((src(&format!("{p}.{n}.LayerNorm.weight"))?, src(&format!("{p}.{n}.LayerNorm.bias"))?)) };
        let attention_norm = norm(&mut f32_tensor, "attention.output")?;
        let output_norm = norm(&mut f32_tensor, "output")?;
        layers.push(AdaptedLayer { index, linears, attention_norm, output_norm });
    }
    let normal = Normal::new(0.0, 0.02).expect("valid normal");
    let heads = classes
        .iter()
        .map(|&c| -> candle_core::Result<(Var, Var)> {
            let w: Vec<f32> = (0..c.max(1) * h).map(|_| normal.sample(rng) as f32).collect();
            Ok((Var::from_tensor(&Tensor::from_vec(w, (c.max(1), h), &dev)?)?, Var::from_tensor(&Tensor::zeros(c.max(1), DType::F32, &dev)?)?))
        })
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Model { layers, heads, hidden: h, num_heads: cfg.num_attention_heads, eps: cfg.layer_norm_eps, scale: (options.alpha / options.rank as f32) as f64 })
}

/// A padded batch: states (batch, len, hidden) and mask (batch, len).
fn batch_tensors(states: &[&Vec<f16>], hidden: usize) -> candle_core::Result<(Tensor, Tensor)> {
    let len = states.iter().map(|s| s.len() / hidden).max().unwrap_or(1).max(1);
    let mut data = vec![0f32; states.len() * len * hidden];
    let mut mask = vec![0f32; states.len() * len];
    for (i, s) in states.iter().enumerate() {
        let n = s.len() / hidden;
        for (dst, src) in data[i * len * hidden..(i * len + n) * hidden].iter_mut().zip(s.iter()) {
            *dst = src.to_f32();
        }
        mask[i * len..i * len + n].iter_mut().for_each(|m| *m = 1.0);
    }
    Ok((Tensor::from_vec(data, (states.len(), len, hidden), &Device::Cpu)?, Tensor::from_vec(mask, (states.len(), len), &Device::Cpu)?))
}

fn batch_loss(model: &Model, examples: &[&Example], states: &[&Vec<f16>]) -> candle_core::Result<Tensor> {
    let (x, mask) = batch_tensors(states, model.hidden)?;
    let pooled = model.forward(&x, &mask)?;
    let mut total = Tensor::zeros((), DType::F32, &Device::Cpu)?;
    for task in 0..TASKS.len() {
        let (rows, gold): (Vec<u32>, Vec<u32>) = examples.iter().enumerate().filter_map(|(i, e)| e.labels[task].map(|l| (i as u32, l))).unzip();
        if rows.is_empty() {
            continue;
        }
        let picked = pooled.index_select(&Tensor::new(rows, &Device::Cpu)?, 0)?;
        let logits = model.logits(&picked, task)?;
        total = (total + candle_nn::loss::cross_entropy(&logits, &Tensor::new(gold, &Device::Cpu)?)?)?;
    }
    Ok(total)
}

/// Dev accuracy of each task on the spoken calls (and on everything, as `all_<task>`).
fn evaluate(model: &Model, examples: &[&Example], states: &[&Vec<f16>], batch_size: usize) -> candle_core::Result<BTreeMap<String, f64>> {
    let mut hits = [[0usize; 4]; 2];
    let mut counts = [[0usize; 4]; 2];
    for (chunk, st) in examples.chunks(batch_size.max(1)).zip(states.chunks(batch_size.max(1))) {
        let (x, mask) = batch_tensors(st, model.hidden)?;
        let pooled = model.forward(&x, &mask)?;
        for task in 0..TASKS.len() {
            let predicted: Vec<u32> = model.logits(&pooled, task)?.argmax(D::Minus1)?.to_vec1()?;
            for (e, p) in chunk.iter().zip(predicted) {
                if let Some(gold) = e.labels[task] {
                    for group in [0, 1].into_iter().filter(|&g| g == 1 || e.transcript) {
                        counts[group][task] += 1;
                        hits[group][task] += (gold == p) as usize;
                    }
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    for (task, name) in TASKS.iter().enumerate() {
        for (group, prefix) in [(0, ""), (1, "all_")] {
            if counts[group][task] > 0 {
                out.insert(format!("{prefix}{name}"), hits[group][task] as f64 / counts[group][task] as f64);
            }
        }
    }
    Ok(out)
}

/// What a run is judged by on dev: department and topic on the spoken calls.
fn score(dev: &BTreeMap<String, f64>) -> f64 {
    (dev.get("department").copied().unwrap_or(0.0) + dev.get("topic").copied().unwrap_or(0.0)) / 2.0
}

/// Train an adapter for `folder`'s encoder from the heads' training files in `data_dir`
/// (`department.jsonl`, `topic.jsonl`, `appeal_type.jsonl`, `urgency.jsonl`: text, label, split,
/// source) and write it to `out`. `checkpoints` holds the run's state for `resume`.
pub fn adapt(folder: &ModelFolder, data_dir: &Path, out: &Path, checkpoints: &Path, options: &AdaptOptions, resume: bool) -> Result<AdaptSummary, TrainError> {
    if folder.adapter.is_some() {
        return Err(TrainError::Data { path: folder.dir.clone(), reason: "adapt the base encoder, not one with an adapter already merged".into() });
    }
    if options.layers == 0 || options.layers > folder.config.num_hidden_layers || options.rank == 0 || options.batch_size == 0 {
        return Err(TrainError::Data { path: out.to_path_buf(), reason: format!("layers must be 1..={}, rank and batch size positive", folder.config.num_hidden_layers) });
    }
    let base_encoder = folder.checksum();
    let (mut examples, labels) = read_examples(data_dir)?;
    let data = {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for e in &examples {
            h.update(e.text.as_bytes());
            h.update(format!("{:?}{:?}", e.split, e.labels).as_bytes());
        }
        hex::encode(h.finalize())[..16].to_string()
    };
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(options.seed);
    if options.max_texts > 0 {
        examples.shuffle(&mut rng);
        let (mut kept_train, mut kept) = (0, Vec::new());
        for e in examples {
            if e.split == Split::Dev || kept_train < options.max_texts {
                kept_train += (e.split == Split::Train) as usize;
                kept.push(e);
            }
        }
        examples = kept;
    }

    // The lower layers' output, once per text.
    let started = Instant::now();
    let encoder = Encoder::load(folder, recipe_options(&EncoderOptions::default(), options.max_tokens, 1))?;
    let lower = folder.config.num_hidden_layers - options.layers;
    let progress = Progress::new(examples.len() as u64, "adapt: states of the lower layers");
    let mut states: Vec<Vec<f16>> = Vec::with_capacity(examples.len());
    for chunk in examples.chunks(256) {
        let texts: Vec<&str> = chunk.iter().map(|e| e.text.as_str()).collect();
        let windows = encoder.first_windows(&texts)?;
        for s in encoder.lower_states(&windows, lower)? {
            states.push(s.into_iter().map(f16::from_f32).collect());
        }
        progress.inc(chunk.len() as u64);
    }
    progress.finish();
    drop(encoder);
    let seconds_states = started.elapsed().as_secs_f64();

    let train: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].split == Split::Train).collect();
    let dev: Vec<usize> = (0..examples.len()).filter(|&i| examples[i].split == Split::Dev).collect();
    if train.is_empty() || dev.is_empty() {
        return Err(TrainError::Data { path: data_dir.to_path_buf(), reason: "needs train and dev rows".into() });
    }
    let dev_examples: Vec<&Example> = dev.iter().map(|&i| &examples[i]).collect();
    let dev_states: Vec<&Vec<f16>> = dev.iter().map(|&i| &states[i]).collect();

    let classes: Vec<usize> = labels.iter().map(Vec::len).collect();
    let model = build_model(folder, options, &classes, &mut rng)?;
    std::fs::create_dir_all(checkpoints).map_err(|e| TrainError::io(checkpoints, e))?;
    let state_path = checkpoints.join("state.json");
    let (last_path, best_path) = (checkpoints.join("last.safetensors"), checkpoints.join("best.safetensors"));
    let mut state = RunState { options: options.clone(), base_encoder: base_encoder.clone(), data: data.clone(), epoch: 0, step_in_epoch: 0, steps: 0, best_epoch: 0, best_score: f64::NEG_INFINITY, dev_by_epoch: Vec::new(), seconds_training: 0.0 };
    let saved: Option<RunState> = if resume && state_path.is_file() {
        let bytes = std::fs::read(&state_path).map_err(|e| TrainError::io(&state_path, e))?;
        serde_json::from_slice(&bytes).ok()
    } else {
        None
    };
    match saved {
        Some(saved) if saved.options == *options && saved.base_encoder == base_encoder && saved.data == data => {
            model.restore(&last_path)?;
            state = saved;
            tracing::info!("adapt: resuming at epoch {} step {}", state.epoch + 1, state.step_in_epoch);
        }
        other => {
            if other.is_some() {
                tracing::warn!("adapt: the checkpoint in {} was made with other options, data or encoder; starting afresh", checkpoints.display());
            }
            // Dev before the first step, so the log shows that learning happened.
            let dev0 = evaluate(&model, &dev_examples, &dev_states, 64)?;
            state.dev_by_epoch.push(dev0);
        }
    }
    let save_state = |state: &RunState| -> Result<(), TrainError> {
        std::fs::write(&state_path, serde_json::to_vec_pretty(state).expect("state serializes")).map_err(|e| TrainError::io(&state_path, e))
    };

    let params = ParamsAdamW { lr: options.learning_rate, weight_decay: 0.0, ..Default::default() };
    let mut optimizer = AdamW::new(model.vars().into_iter().map(|(_, v)| v).collect(), params)?;
    let budget = options.max_minutes * 60.0;
    let run_started = Instant::now();
    let seconds_before = state.seconds_training;
    let mut stopped_by_time = false;
    let mut texts_seen = 0usize;
    while state.epoch < options.epochs {
        // The same order on resume: shuffled by the seed and the epoch.
        let mut order: Vec<usize> = train.iter().flat_map(|&i| std::iter::repeat_n(i, if examples[i].transcript { options.transcript_repeats.max(1) } else { 1 })).collect();
        order.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(options.seed ^ (state.epoch as u64 + 1)));
        let batches: Vec<&[usize]> = order.chunks(options.batch_size).collect();
        let total_steps = batches.len();
        let progress = Progress::new(total_steps as u64, &format!("adapt: epoch {}/{}", state.epoch + 1, options.epochs));
        progress.inc(state.step_in_epoch as u64);
        for batch in &batches[state.step_in_epoch.min(total_steps)..] {
            let ex: Vec<&Example> = batch.iter().map(|&i| &examples[i]).collect();
            let st: Vec<&Vec<f16>> = batch.iter().map(|&i| &states[i]).collect();
            let loss = batch_loss(&model, &ex, &st)?;
            optimizer.backward_step(&loss)?;
            state.step_in_epoch += 1;
            state.steps += 1;
            texts_seen += batch.len();
            progress.inc(1);
            if state.steps.is_multiple_of(20) {
                progress.set_message(format!("loss {:.3}", loss.to_scalar::<f32>()?));
            }
            let elapsed = run_started.elapsed().as_secs_f64();
            if state.steps.is_multiple_of(options.checkpoint_every.max(1)) || seconds_before + elapsed > budget {
                state.seconds_training = seconds_before + elapsed;
                model.save(&last_path)?;
                save_state(&state)?;
            }
            if seconds_before + elapsed > budget {
                stopped_by_time = true;
                break;
            }
        }
        progress.finish();
        if stopped_by_time {
            break;
        }
        let dev_figures = evaluate(&model, &dev_examples, &dev_states, 64)?;
        tracing::info!("adapt: epoch {} dev {:?}", state.epoch + 1, dev_figures);
        state.epoch += 1;
        state.step_in_epoch = 0;
        if score(&dev_figures) > state.best_score {
            state.best_score = score(&dev_figures);
            state.best_epoch = state.epoch;
            model.save(&best_path)?;
        }
        state.dev_by_epoch.push(dev_figures);
        state.seconds_training = seconds_before + run_started.elapsed().as_secs_f64();
        model.save(&last_path)?;
        save_state(&state)?;
    }
    if state.best_epoch == 0 {
        return Err(TrainError::Data { path: out.to_path_buf(), reason: format!("no epoch finished within {} minutes; run again with --resume", options.max_minutes) });
    }
    model.restore(&best_path)?;

    let pairs: Vec<(String, Tensor, Tensor)> = model
        .layers
        .iter()
        .flat_map(|l| TARGETS.iter().zip(&l.linears).map(move |(t, (_, _, a, b))| (format!("encoder.layer.{}.{t}.weight", l.index), a.as_tensor().clone(), b.as_tensor().clone())))
        .collect();
    let seconds_training = state.seconds_training;
    let summary = AdaptSummary {
        out: out.to_path_buf(),
        train_texts: train.len(),
        dev_texts: dev.len(),
        steps: state.steps,
        epochs_done: state.epoch as f64,
        best_epoch: state.best_epoch,
        dev_by_epoch: state.dev_by_epoch.clone(),
        seconds_states,
        seconds_training,
        texts_per_second: texts_seen as f64 / run_started.elapsed().as_secs_f64().max(1e-9),
        stopped_by_time,
    };
    let training = serde_json::json!({ "options": options, "labels": TASKS.iter().zip(&labels).map(|(t, l)| (t.to_string(), l.clone())).collect::<BTreeMap<_, _>>(), "summary": &summary });
    Adapter::write(out, &base_encoder, options.rank, options.alpha, &pairs, training)?;
    // The adapter must load onto the encoder it was trained on.
    Adapter::open(out, &base_encoder)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tiny;

    /// Two departments told apart by their words, with a topic, appeal type and urgency each.
    fn write_tasks(dir: &Path) {
        let calls = [("燃气", "utilities", "urgent", ["楼道里燃气味很大", "厨房漏气了", "闻到煤气味", "燃气管道漏气"]), ("教育", "education", "routine", ["孩子上学入学手续", "小学入学需要什么材料", "学校乱收费", "孩子转学怎么办理"])];
        let mut files: Vec<Vec<String>> = vec![Vec::new(); TASKS.len()];
        for round in 0..6 {
            for (department, topic, urgency, texts) in &calls {
                for (j, t) in texts.iter().enumerate() {
                    let split = if (round + j) % 3 == 0 { "dev" } else { "train" };
                    let text = format!("市民反映{t}第{round}次");
                    for (f, label) in files.iter_mut().zip([department, topic, &"complaint", urgency]) {
                        f.push(serde_json::json!({"text": text, "label": label, "split": split, "source": "transcript"}).to_string());
                    }
                }
            }
        }
        for (task, lines) in TASKS.iter().zip(files) {
            std::fs::write(dir.join(format!("{task}.jsonl")), lines.join("\n")).unwrap();
        }
    }

    #[test]
    fn adapts_the_top_layer_writes_a_loadable_adapter_and_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let folder = tiny::write_folder(&dir.path().join("enc"));
        write_tasks(dir.path());
        let options = AdaptOptions { layers: 1, rank: 4, epochs: 3, batch_size: 8, learning_rate: 5e-3, checkpoint_every: 5, ..AdaptOptions::default() };
        let (out, checkpoints) = (dir.path().join("adapter"), dir.path().join("ck"));
        let summary = adapt(&folder, dir.path(), &out, &checkpoints, &options, false).unwrap();
        assert_eq!(summary.epochs_done, 3.0);
        let before = &summary.dev_by_epoch[0];
        let best = &summary.dev_by_epoch[summary.best_epoch];
        assert!(best["department"] > before["department"] || best["department"] == 1.0, "no learning: {:?}", summary.dev_by_epoch);

        // The adapter loads onto its base encoder, changes it, and is refused on another.
        let adapted = folder.clone().with_adapter(&out).unwrap();
        let texts = ["市民反映厨房漏气了"];
        let base = Encoder::load(&folder, EncoderOptions::default()).unwrap().embed(&texts).unwrap();
        let new = Encoder::load(&adapted, EncoderOptions::default()).unwrap().embed(&texts).unwrap();
        assert!(crate::model::cosine(&base[0].vector, &new[0].vector) < 0.99999);
        let err = Adapter::open(&out, "0000000000000000").unwrap_err().to_string();
        assert!(err.contains("was trained on encoder"), "{err}");

        // A finished run resumes to the same adapter without another step; other options start afresh.
        let again = adapt(&folder, dir.path(), &out, &checkpoints, &options, true).unwrap();
        assert_eq!(again.steps, summary.steps);
        let fresh = adapt(&folder, dir.path(), &out, &checkpoints, &AdaptOptions { epochs: 1, ..options.clone() }, true).unwrap();
        assert!(fresh.steps < summary.steps);
        // An adapter is trained from the base encoder only.
        assert!(adapt(&adapted, dir.path(), &out, &checkpoints, &options, false).is_err());
    }
}
