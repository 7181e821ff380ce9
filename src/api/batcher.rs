//! Dynamic batching: concurrent classify requests are gathered into one model batch on a
//! dedicated compute thread, bounded by count, tokens and wait time.
//!
//! The tokio workers only enqueue and await a reply; they never run the model. The queue is
//! bounded: when it is full the request is refused at once (429 with Retry-After) instead of
//! joining an ever-growing backlog.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::metrics::Metrics;
use super::model_slot::ModelSlot;
use crate::dispatch::EmbeddedSuggestion;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSettings {
    /// Jobs waiting for the model; beyond this, requests get 429.
    pub queue_capacity: usize,
    pub max_batch_items: usize,
    /// Tokens the encoder will see in one batch (each text counts at most one window).
    pub max_batch_tokens: usize,
    /// How long a batch waits for more jobs when others were already queued; a job that
    /// finds the queue empty runs at once.
    pub max_wait_ms: u64,
    /// A request whose answer takes longer gets 504.
    pub request_timeout_ms: u64,
}

impl Default for BatchSettings {
    fn default() -> Self {
        BatchSettings { queue_capacity: 256, max_batch_items: 16, max_batch_tokens: 4096, max_wait_ms: 5, request_timeout_ms: 30_000 }
    }
}

pub type Reply = Result<EmbeddedSuggestion, String>;

struct Job {
    text: String,
    tokens: usize,
    top_k: usize,
    reply: oneshot::Sender<Reply>,
}

pub struct Batcher {
    tx: SyncSender<Job>,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
    pub settings: BatchSettings,
}

#[derive(Debug)]
pub struct QueueFull;

impl Batcher {
    pub fn start(model: Arc<ModelSlot>, settings: BatchSettings, metrics: Arc<Metrics>) -> std::io::Result<Self> {
        let (tx, rx) = sync_channel(settings.queue_capacity.max(1));
        let depth = Arc::new(AtomicUsize::new(0));
        let worker = Worker { rx, model, settings: settings.clone(), depth: depth.clone(), metrics: metrics.clone() };
        std::thread::Builder::new().name("triage-compute".into()).spawn(move || worker.run())?;
        Ok(Batcher { tx, depth, metrics, settings })
    }

    /// Enqueue one transcript; the receiver yields its suggestion.
    pub fn submit(&self, text: String, top_k: usize) -> Result<oneshot::Receiver<Reply>, QueueFull> {
        let (reply, rx) = oneshot::channel();
        match self.tx.try_send(Job { text, tokens: 0, top_k, reply }) {
            Ok(()) => {
                let d = self.depth.fetch_add(1, Ordering::SeqCst) + 1;
                self.metrics.queue_depth.set(d as i64);
                Ok(rx)
            }
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(QueueFull),
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.settings.request_timeout_ms)
    }
}

struct Worker {
    rx: Receiver<Job>,
    model: Arc<ModelSlot>,
    settings: BatchSettings,
    depth: Arc<AtomicUsize>,
    metrics: Arc<Metrics>,
}

impl Worker {
    fn run(self) {
        while let Ok(first) = self.rx.recv() {
            // The model of this batch: a reload swaps it between batches, never within one.
            let model = self.model.current();
            // The encoder reads at most one window of this many tokens per text.
            let window = model.encoder().options().max_tokens;
            let tokens_of = |job: &mut Job| {
                job.tokens = model.encoder().count_tokens(&job.text).unwrap_or(window).min(window);
                job.tokens
            };
            let mut batch = gather(&self.rx, first, &self.settings, tokens_of);
            let d = self.depth.fetch_sub(batch.len(), Ordering::SeqCst).saturating_sub(batch.len());
            self.metrics.queue_depth.set(d as i64);
            // Callers that timed out have dropped their receiver: skip their work.
            batch.retain(|j| !j.reply.is_closed());
            if batch.is_empty() {
                continue;
            }
            self.metrics.batch_size.observe(batch.len() as f64);
            self.metrics.batch_tokens.observe(batch.iter().map(|j| j.tokens).sum::<usize>() as f64);
            let top_k = batch.iter().map(|j| j.top_k).max().unwrap_or(1);
            let started = Instant::now();
            let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
            // Taken again now the batch is complete: a reload during the gathering counts.
            let model = self.model.current();
            // A panic inside the model must cost this batch, not the compute thread.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| model.classify_batch_embedded(&texts, top_k)));
            self.metrics.inference_seconds.observe(started.elapsed().as_secs_f64());
            match result {
                Ok(Ok(results)) => {
                    for (job, mut result) in batch.into_iter().zip(results) {
                        result.suggestion.topics.truncate(job.top_k);
                        result.suggestion.departments.truncate(job.top_k);
                        let _ = job.reply.send(Ok(result));
                    }
                }
                Ok(Err(e)) => batch.into_iter().for_each(|j| {
                    let _ = j.reply.send(Err(e.to_string()));
                }),
                Err(_) => batch.into_iter().for_each(|j| {
                    let _ = j.reply.send(Err("the model failed on this batch".into()));
                }),
            }
        }
    }
}

/// The batch that `first` opens. Jobs that queued while the last batch ran join it at once.
/// Only when some did (concurrent load) does it also wait up to `max_wait_ms` for more: a lone
/// call never waits for company that is not coming. `tokens_of` counts (and records) a job's
/// encoder tokens against `max_batch_tokens`.
fn gather<J>(rx: &Receiver<J>, mut first: J, settings: &BatchSettings, mut tokens_of: impl FnMut(&mut J) -> usize) -> Vec<J> {
    let mut tokens = tokens_of(&mut first);
    let mut batch = vec![first];
    let deadline = Instant::now() + Duration::from_millis(settings.max_wait_ms);
    while batch.len() < settings.max_batch_items && tokens < settings.max_batch_tokens {
        let next = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) if batch.len() > 1 => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())).ok(),
            Err(_) => None,
        };
        let Some(mut job) = next else { break };
        tokens += tokens_of(&mut job);
        batch.push(job);
    }
    batch
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_wait_ms: u64) -> BatchSettings {
        BatchSettings { max_batch_items: 4, max_batch_tokens: 100, max_wait_ms, ..BatchSettings::default() }
    }

    #[test]
    fn a_lone_job_does_not_wait_for_company() {
        let (tx, rx) = sync_channel::<u32>(8);
        // Job 2 comes well inside max_wait_ms: a batch that waited would take it in.
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            tx.send(2).unwrap();
            tx
        });
        assert_eq!(gather(&rx, 1, &settings(2_000), |_| 1), vec![1]);
        late.join().unwrap();
    }

    #[test]
    fn queued_jobs_join_and_the_batch_waits_for_more_under_load() {
        let (tx, rx) = sync_channel::<u32>(8);
        tx.send(2).unwrap();
        let late = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            tx.send(3).unwrap();
            tx
        });
        // Job 2 was queued, so the batch waits (its full 1.5 s, being short of 4 jobs) and
        // takes job 3 too.
        assert_eq!(gather(&rx, 1, &settings(1_500), |_| 1), vec![1, 2, 3]);
        late.join().unwrap();
    }

    #[test]
    fn a_batch_stops_at_its_item_and_token_limits() {
        let (tx, rx) = sync_channel::<u32>(8);
        (2..=7).for_each(|j| tx.send(j).unwrap());
        assert_eq!(gather(&rx, 1, &settings(0), |_| 1), vec![1, 2, 3, 4]);
        // 60 tokens each: the second job reaches the 100-token limit.
        assert_eq!(gather(&rx, 10, &settings(0), |_| 60), vec![10, 5]);
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), vec![6, 7]);
    }
}
