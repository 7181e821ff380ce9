//! Encoder throughput on a fixed set of texts, for `scripts/bench.sh`: the same measurement the
//! PyTorch and ONNX Runtime baselines make (scripts/bench_baselines.py), so the ratios mean
//! something.

use std::time::Instant;

use serde::Serialize;

use super::{Encoder, KernelPath, ModelError, QUERY_PREFIX};

#[derive(Debug, Clone, Serialize)]
pub struct Throughput {
    pub runtime: String,
    /// The kernels that ran.
    pub kernels: KernelPath,
    pub batch_size: usize,
    pub max_tokens: usize,
    pub threads: usize,
    pub texts: usize,
    /// Tokens through the model, specials and prefix included, after truncation.
    pub tokens: usize,
    pub seconds: f64,
    pub texts_per_second: f64,
    pub tokens_per_second: f64,
    /// The layers' matrix products (attention's excluded), operations a second (a multiply-add
    /// counts 2).
    pub matrix_ops_per_second: f64,
    /// The same instruction's ceiling on these cores (`peak.rs`), and the share reached.
    pub peak_ops_per_second: Option<f64>,
    pub roofline_share: Option<f64>,
}

/// Embed every text once (after a short warm-up), `batch_size` texts per call in input order,
/// as a client sending batches would. Inside a call the encoder sorts windows by length and runs
/// them in packed passes.
///
/// With `sort_all`, the whole set is one call instead, so the encoder sorts all of it by length
/// (what a batch job does), reported under `batch_size` for comparison with runtimes that sort
/// globally and then batch.
pub fn encoder_throughput(encoder: &Encoder, texts: &[&str], batch_size: usize, sort_all: bool, threads: usize) -> Result<Throughput, ModelError> {
    let opts = encoder.options();
    let batch_size = batch_size.max(1);
    let per_call = if sort_all { texts.len().max(1) } else { batch_size };
    let mut tokens = 0;
    for t in texts {
        tokens += encoder.count_tokens(&format!("{QUERY_PREFIX}{t}"))?.min(opts.max_tokens - 2) + 2;
    }
    encoder.embed(&texts[..texts.len().min(8)])?;
    let started = Instant::now();
    for call in texts.chunks(per_call) {
        encoder.embed(call)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    let kernels = encoder.kernels();
    let matrix_ops_per_second = tokens as f64 * encoder.config().matrix_ops_per_token() as f64 / seconds;
    let peak = super::peak::peak_ops_per_second(&kernels, threads);
    Ok(Throughput {
        runtime: match (batch_size, sort_all) {
            (1, _) => format!("hotline-triage ({})", kernels.weights),
            (_, false) => format!("hotline-triage ({}), input order", kernels.weights),
            (_, true) => format!("hotline-triage ({}), sorted by length", kernels.weights),
        },
        kernels,
        batch_size,
        max_tokens: opts.max_tokens,
        threads,
        texts: texts.len(),
        tokens,
        seconds,
        texts_per_second: texts.len() as f64 / seconds,
        tokens_per_second: tokens as f64 / seconds,
        matrix_ops_per_second,
        peak_ops_per_second: peak,
        roofline_share: peak.map(|p| matrix_ops_per_second / p),
    })
}
