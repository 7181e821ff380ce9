//! Fitting the head's linear layer with candle: AdamW on a class-weighted cross-entropy with an
//! optional L2 penalty (one per side, chosen on dev from a list), early stopping on dev macro-F1,
//! the best epoch kept.
//!
//! With `Fusion::Late` each side (embedding, lexical) is fitted alone and their logits are mixed
//! by a weight chosen on dev. Fitted together, the 384 dense inputs fit in a few epochs and early
//! stopping ends the run before the sparse side has learnt much; apart, each stops at its own
//! best epoch. The mix folds into one weight matrix per side, so the shipped head is unchanged.

use candle_core::{DType, Device, Tensor, Var, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use serde::{Deserialize, Serialize};

use super::error::TrainError;
use super::metrics::evaluate;
use crate::model::head::HeadParameters;
use crate::model::lexical::SparseVector;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerOptions {
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub weight_decay: f64,
    /// Epochs without a better dev macro-F1 before stopping.
    pub patience: usize,
    /// Exponent on inverse class frequency for the loss weights: 0 = plain cross-entropy,
    /// 1 = fully balanced. In between helps macro-F1 without wrecking accuracy.
    pub class_balance: f64,
    /// The `λ`s to try for a `λ/2 · ‖W‖²` penalty added to the loss (biases are not penalised),
    /// as a regularised logistic regression has it; AdamW's `weight_decay` shrinks the weights
    /// apart from the loss instead. Each is fitted and the best on dev macro-F1 kept (with late
    /// fusion, one per side): the tasks disagree on it (tipdm dev gains 0.011 at 1e-4, Dalian's
    /// department loses 0.013), so a fixed value would suit one task and cost another.
    #[serde(default = "penalties_to_try")]
    pub l2: Vec<f64>,
    #[serde(default)]
    pub fusion: Fusion,
    pub seed: u64,
}

/// How the two sides of a head are fitted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// One layer over both sides, one early stop. The Beijing heads keep it: on the dev calls
    /// late fusion gained nothing (docs/accuracy.md, "Late fusion").
    Joint,
    /// Each side alone, then their logits mixed by a weight chosen on dev: the default, for its
    /// mean dev macro-F1 on the letters' four tasks (0.665 against 0.612; it gains on three).
    #[default]
    Late,
}

impl Default for TrainerOptions {
    fn default() -> Self {
        TrainerOptions {
            epochs: 60,
            batch_size: 64,
            learning_rate: 0.01,
            weight_decay: 1e-4,
            patience: 12,
            class_balance: 0.5,
            l2: penalties_to_try(),
            fusion: Fusion::Late,
            seed: 17,
        }
    }
}

/// The default: none, light and the letters' best (docs/accuracy.md, "A penalty per side").
fn penalties_to_try() -> Vec<f64> {
    vec![0.0, 1e-5, 1e-4]
}

/// One split's inputs: standardised embeddings (rows of `dim`), sparse lexical rows, gold ids.
pub struct Inputs<'a> {
    pub embeddings: &'a [Vec<f32>],
    pub lexical: &'a [SparseVector],
    pub gold: &'a [usize],
}

#[derive(Debug, Clone, Serialize)]
pub struct TrainingLog {
    pub epochs_run: usize,
    pub best_epoch: usize,
    pub best_dev_macro_f1: f64,
    pub dev_macro_f1_by_epoch: Vec<f64>,
    /// Late fusion only: the embedding side's share of the logits, and each side's own log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedding_share: Option<f64>,
    /// The L2 penalty this layer was fitted with, of those tried (late fusion: each side's own).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<f64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sides: Vec<TrainingLog>,
}

struct Layer {
    we: Var,
    wl: Var,
    b: Var,
}

fn dense_batch(rows: &[&SparseVector], features: usize) -> candle_core::Result<Tensor> {
    // A head may have no lexical or no embedding side (or late fusion fits one side alone);
    // one zero column keeps the shapes valid.
    if features == 0 {
        return Tensor::zeros((rows.len(), 1), DType::F32, &Device::Cpu);
    }
    let mut data = vec![0f32; rows.len() * features];
    for (r, row) in rows.iter().enumerate() {
        for &(f, x) in row.iter() {
            data[r * features + f as usize] = x;
        }
    }
    Tensor::from_vec(data, (rows.len(), features), &Device::Cpu)
}

fn embedding_batch(rows: &[&Vec<f32>], dim: usize) -> candle_core::Result<Tensor> {
    if dim == 0 {
        return Tensor::zeros((rows.len(), 1), DType::F32, &Device::Cpu);
    }
    let data: Vec<f32> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    Tensor::from_vec(data, (rows.len(), dim), &Device::Cpu)
}

impl Layer {
    fn logits(&self, xe: &Tensor, xl: &Tensor) -> candle_core::Result<Tensor> {
        xe.matmul(&self.we.as_tensor().t()?)?.add(&xl.matmul(&self.wl.as_tensor().t()?)?)?.broadcast_add(self.b.as_tensor())
    }

    fn predict_logits(&self, inputs: &Inputs, dim: usize, features: usize) -> candle_core::Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(inputs.gold.len());
        for start in (0..inputs.gold.len()).step_by(256) {
            let end = (start + 256).min(inputs.gold.len());
            let e: Vec<&Vec<f32>> = inputs.embeddings[start..end].iter().collect();
            let l: Vec<&SparseVector> = inputs.lexical[start..end].iter().collect();
            out.extend(self.logits(&embedding_batch(&e, dim)?, &dense_batch(&l, features)?)?.to_vec2::<f32>()?);
        }
        Ok(out)
    }

    fn snapshot(&self) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
        Ok((self.we.as_tensor().copy()?, self.wl.as_tensor().copy()?, self.b.as_tensor().copy()?))
    }
}

/// A tiny deterministic shuffle (SplitMix64), so a retrain on the same data gives the same head.
fn shuffle(indices: &mut [usize], seed: &mut u64) {
    for i in (1..indices.len()).rev() {
        *seed = seed.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        z ^= z >> 31;
        indices.swap(i, (z % (i as u64 + 1)) as usize);
    }
}

/// What every fit of one head shares: the data, the labels and the options.
#[derive(Clone, Copy)]
struct Problem<'a> {
    train: &'a Inputs<'a>,
    dev: &'a Inputs<'a>,
    labels: &'a [String],
    options: &'a TrainerOptions,
}

/// Train; returns the parameters of the best dev epoch (embedding mean/std left empty for
/// the caller to fill).
pub fn fit(
    train: &Inputs,
    dev: &Inputs,
    labels: &[String],
    dim: usize,
    features: usize,
    options: &TrainerOptions,
) -> Result<(HeadParameters, TrainingLog), TrainError> {
    let problem = Problem { train, dev, labels, options };
    let Fitted { we, wl, b, log, .. } = if options.fusion == Fusion::Late && dim > 0 && features > 0 {
        fit_late(&problem, dim, features)?
    } else {
        best_on_dev(fit_each_penalty(&problem, dim, features)?)
    };
    // Drop the placeholder column of an absent side.
    let we = we.narrow(1, 0, dim)?;
    let wl = wl.narrow(1, 0, features)?;
    let params = HeadParameters {
        embedding_weight: we.contiguous()?.flatten_all()?.to_vec1()?,
        // Stored features × classes, the layout sparse inference wants, in f16 as shipped.
        lexical_weight: wl.t()?.contiguous()?.to_dtype(candle_core::DType::F16)?.flatten_all()?.to_vec1()?,
        bias: b.to_vec1()?,
        embedding_mean: Vec::new(),
        embedding_std: Vec::new(),
    };
    Ok((params, log))
}

/// Each side fitted alone under each penalty tried, then `share · embedding + (1 - share) ·
/// lexical` for the pair of sides and the share that score best on dev macro-F1 (ties to the
/// earlier penalties and to the share nearest an even mix). The log sums the chosen sides'
/// epochs and keeps each side's own log.
fn fit_late(problem: &Problem, dim: usize, features: usize) -> Result<Fitted, TrainError> {
    let embedding_sides = fit_each_penalty(problem, dim, 0)?;
    let lexical_sides = fit_each_penalty(problem, 0, features)?;
    let mix = |e: &Fitted, l: &Fitted, share: f32| -> Vec<Vec<f32>> {
        e.dev_logits.iter().zip(&l.dev_logits).map(|(a, b)| a.iter().zip(b).map(|(x, y)| share * x + (1.0 - share) * y).collect()).collect()
    };
    // (dev macro-F1, share, embedding side, lexical side)
    let mut best: (f64, f64, usize, usize) = (f64::NEG_INFINITY, 0.5, 0, 0);
    for (i, e) in embedding_sides.iter().enumerate() {
        for (j, l) in lexical_sides.iter().enumerate() {
            for step in 0..=20 {
                let share = step as f64 / 20.0;
                let f1 = dev_macro_f1(problem, &mix(e, l, share as f32));
                let nearer_even = (f1 - best.0).abs() <= 1e-9 && (i, j) == (best.2, best.3) && (share - 0.5).abs() < (best.1 - 0.5).abs();
                if f1 > best.0 + 1e-9 || nearer_even {
                    best = (f1, share, i, j);
                }
            }
        }
    }
    let (f1, share, i, j) = best;
    let dev_logits = mix(&embedding_sides[i], &lexical_sides[j], share as f32);
    let e = embedding_sides.into_iter().nth(i).expect("a side per penalty");
    let l = lexical_sides.into_iter().nth(j).expect("a side per penalty");
    let log = TrainingLog {
        epochs_run: e.log.epochs_run + l.log.epochs_run,
        best_epoch: e.log.best_epoch.max(l.log.best_epoch),
        best_dev_macro_f1: f1,
        dev_macro_f1_by_epoch: Vec::new(),
        embedding_share: Some(share),
        l2: None,
        sides: vec![e.log, l.log],
    };
    Ok(Fitted { we: (e.we * share)?, wl: (l.wl * (1.0 - share))?, b: ((e.b * share)? + (l.b * (1.0 - share))?)?, dev_logits, log })
}

/// One layer over the sides present for each penalty in the options, in their order.
fn fit_each_penalty(problem: &Problem, dim: usize, features: usize) -> Result<Vec<Fitted>, TrainError> {
    let penalties = if problem.options.l2.is_empty() { vec![0.0] } else { problem.options.l2.clone() };
    penalties.into_iter().map(|l2| fit_layer(problem, dim, features, l2)).collect()
}

/// The fit with the best dev macro-F1, the earliest of equals.
fn best_on_dev(fits: Vec<Fitted>) -> Fitted {
    let mut fits = fits.into_iter();
    let first = fits.next().expect("at least one penalty is tried");
    fits.fold(first, |best, f| if f.log.best_dev_macro_f1 > best.log.best_dev_macro_f1 + 1e-9 { f } else { best })
}

/// A fitted layer: its weights (each side with at least one column), its logits on dev, its log.
struct Fitted {
    we: Tensor,
    wl: Tensor,
    b: Tensor,
    dev_logits: Vec<Vec<f32>>,
    log: TrainingLog,
}

/// Macro-F1 on dev of a layer's dev logits.
fn dev_macro_f1(problem: &Problem, dev_logits: &[Vec<f32>]) -> f64 {
    let probs: Vec<Vec<f32>> = dev_logits.iter().map(|l| crate::model::probability::softmax(l, 1.0)).collect();
    evaluate(problem.labels, problem.dev.gold, &probs).macro_f1
}

/// One linear layer over the sides present (`dim` or `features` 0 leaves a side out), with L2
/// penalty `l2`, as it was at its best dev epoch.
fn fit_layer(problem: &Problem, dim: usize, features: usize, l2: f64) -> Result<Fitted, TrainError> {
    let Problem { train, dev, labels, options } = *problem;
    let c = labels.len();
    let device = Device::Cpu;
    let layer = Layer {
        we: Var::zeros((c, dim.max(1)), DType::F32, &device)?,
        wl: Var::zeros((c, features.max(1)), DType::F32, &device)?,
        b: Var::zeros(c, DType::F32, &device)?,
    };
    let mut opt = AdamW::new(
        vec![layer.we.clone(), layer.wl.clone(), layer.b.clone()],
        ParamsAdamW { lr: options.learning_rate, weight_decay: options.weight_decay, ..Default::default() },
    )?;

    let mut counts = vec![0usize; c];
    train.gold.iter().for_each(|&g| counts[g] += 1);
    let n = train.gold.len() as f64;
    let class_weight: Vec<f32> = counts.iter().map(|&k| (n / (c as f64 * k.max(1) as f64)).powf(options.class_balance) as f32).collect();

    let mut order: Vec<usize> = (0..train.gold.len()).collect();
    let mut seed = options.seed;
    let mut best = (f64::NEG_INFINITY, 0usize, layer.snapshot()?, Vec::new());
    let mut log = TrainingLog { epochs_run: 0, best_epoch: 0, best_dev_macro_f1: 0.0, dev_macro_f1_by_epoch: Vec::new(), embedding_share: None, l2: Some(l2), sides: Vec::new() };
    let bar = crate::progress::Progress::new(options.epochs as u64, "training");
    for epoch in 1..=options.epochs {
        // Linear decay to a tenth: late epochs settle instead of bouncing around the optimum.
        let progress = (epoch - 1) as f64 / options.epochs.max(1) as f64;
        opt.set_learning_rate(options.learning_rate * (1.0 - 0.9 * progress));
        shuffle(&mut order, &mut seed);
        for batch in order.chunks(options.batch_size.max(1)) {
            let e: Vec<&Vec<f32>> = batch.iter().map(|&i| &train.embeddings[i]).collect();
            let l: Vec<&SparseVector> = batch.iter().map(|&i| &train.lexical[i]).collect();
            let gold: Vec<u32> = batch.iter().map(|&i| train.gold[i] as u32).collect();
            let w: Vec<f32> = batch.iter().map(|&i| class_weight[train.gold[i]]).collect();
            let logits = layer.logits(&embedding_batch(&e, dim)?, &dense_batch(&l, features)?)?;
            let log_probs = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let gold = Tensor::from_vec(gold, (batch.len(), 1), &device)?;
            let picked = log_probs.gather(&gold, 1)?.squeeze(1)?;
            let w = Tensor::from_vec(w, batch.len(), &device)?;
            let mut loss = (picked.mul(&w)?.sum_all()? / -(batch.len() as f64))?;
            if l2 > 0.0 {
                let norm = (layer.we.as_tensor().sqr()?.sum_all()? + layer.wl.as_tensor().sqr()?.sum_all()?)?;
                loss = (loss + (norm * (l2 / 2.0))?)?;
            }
            opt.backward_step(&loss)?;
        }
        let dev_logits = layer.predict_logits(dev, dim, features)?;
        let f1 = dev_macro_f1(problem, &dev_logits);
        log.dev_macro_f1_by_epoch.push(f1);
        log.epochs_run = epoch;
        bar.inc(1);
        bar.set_message(format!("training (dev macro-F1 {f1:.3})"));
        if f1 > best.0 + 1e-6 {
            best = (f1, epoch, layer.snapshot()?, dev_logits);
        } else if epoch - best.1 >= options.patience {
            break;
        }
    }
    bar.finish();
    log.best_epoch = best.1;
    log.best_dev_macro_f1 = best.0;
    let (we, wl, b) = best.2;
    Ok(Fitted { we, wl, b, dev_logits: best.3, log })
}
