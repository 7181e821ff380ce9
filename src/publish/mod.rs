//! Delivering the outbox's events (`crate::events`) to downstream systems, at least once.
//!
//! - [`webhook`]: HTTP POST, signed with HMAC-SHA256, with the event id as idempotency key;
//! - [`nats`]: NATS JetStream, with the event id as message id, so JetStream drops repeats.
//!
//! One task per sink claims due deliveries with a lease (on PostgreSQL, `FOR UPDATE SKIP
//! LOCKED`: replicas never claim the same one), delivers them, and marks each delivered, or
//! due again after an exponential backoff with jitter, or dead after `max_attempts`. A replica
//! killed mid-delivery leaves leases that run out; another replica then delivers those events.
//! `triage events replay --since` makes past events due again.

pub mod nats;
pub mod webhook;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use serde::{Deserialize, Serialize};

use crate::store::{Database, DueEvent};

/// Where and how events are delivered (`[events]` in the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PublishSettings {
    /// POST every event here (https://... or http://...).
    pub webhook_url: Option<String>,
    /// A file holding the webhook's HMAC key (or set TRIAGE_WEBHOOK_SECRET).
    pub webhook_secret_file: Option<PathBuf>,
    /// Publish every event to this NATS server's JetStream (nats://host:4222).
    pub nats_url: Option<String>,
    /// The JetStream stream, created if absent, holding `<nats_subject>.>`.
    pub nats_stream: String,
    /// Events go to `<nats_subject>.<type>`, e.g. hotline.events.case.classified.
    pub nats_subject: String,
    /// Tries before a delivery is dead (kept, with its last error, for `replay`).
    pub max_attempts: u32,
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// How long a claimed delivery is held before another replica may take it over.
    pub lease_ms: u64,
    /// How often an idle publisher looks for due events.
    pub poll_ms: u64,
    /// Deliveries claimed at once.
    pub batch: u32,
    /// One delivery's time limit.
    pub timeout_ms: u64,
    /// Events older than this are deleted with their deliveries (checked hourly).
    pub retention_days: u32,
}

impl Default for PublishSettings {
    fn default() -> Self {
        PublishSettings {
            webhook_url: None,
            webhook_secret_file: None,
            nats_url: None,
            nats_stream: "HOTLINE_EVENTS".into(),
            nats_subject: "hotline.events".into(),
            max_attempts: 12,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 300_000,
            lease_ms: 30_000,
            poll_ms: 500,
            batch: 50,
            timeout_ms: 10_000,
            retention_days: 90,
        }
    }
}

impl PublishSettings {
    /// The sinks configured, by the names their deliveries carry.
    pub fn sinks(&self) -> Vec<String> {
        let mut sinks = Vec::new();
        if self.webhook_url.is_some() {
            sinks.push(webhook::SINK.to_string());
        }
        if self.nats_url.is_some() {
            sinks.push(nats::SINK.to_string());
        }
        sinks
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("webhook: {0}")]
    Webhook(String),
    #[error("nats: {0}")]
    Nats(String),
    #[error("events: {0}")]
    Settings(String),
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SinkLabel {
    pub sink: String,
}

/// Publisher counters, registered in `/metrics` by the server.
#[derive(Default)]
pub struct PublishMetrics {
    pub delivered: Family<SinkLabel, Counter>,
    pub failed: Family<SinkLabel, Counter>,
    pub dead: Family<SinkLabel, Counter>,
}

/// A configured destination.
pub enum Sink {
    Webhook(webhook::Webhook),
    Nats(nats::Nats),
}

impl Sink {
    pub fn name(&self) -> &'static str {
        match self {
            Sink::Webhook(_) => webhook::SINK,
            Sink::Nats(_) => nats::SINK,
        }
    }

    async fn deliver(&mut self, e: &DueEvent) -> Result<(), PublishError> {
        match self {
            Sink::Webhook(w) => w.deliver(e).await,
            Sink::Nats(n) => n.deliver(e).await,
        }
    }
}

/// The sinks the settings name, ready to deliver.
pub fn sinks(settings: &PublishSettings) -> Result<Vec<Sink>, PublishError> {
    let mut out = Vec::new();
    if let Some(url) = &settings.webhook_url {
        out.push(Sink::Webhook(webhook::Webhook::new(url, &webhook::secret(settings)?, Duration::from_millis(settings.timeout_ms))?));
    }
    if let Some(url) = &settings.nats_url {
        out.push(Sink::Nats(nats::Nats::new(url, &settings.nats_stream, &settings.nats_subject, Duration::from_millis(settings.timeout_ms))));
    }
    Ok(out)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Wait before try `attempts + 1`: doubling from `initial`, capped, then scaled by a random
/// factor in [0.5, 1) so that replicas and receivers coming back do not retry in step.
pub fn backoff_ms(settings: &PublishSettings, attempts: u32) -> u64 {
    let doubled = settings.backoff_initial_ms.saturating_mul(1u64 << attempts.saturating_sub(1).min(30));
    let capped = doubled.min(settings.backoff_max_ms);
    (capped as f64 * (0.5 + rand::random::<f64>() * 0.5)) as u64
}

/// Deliver `sink`'s due events until the runtime stops.
pub async fn run(db: Arc<dyn Database>, mut sink: Sink, settings: PublishSettings, metrics: Arc<PublishMetrics>) {
    let name = sink.name();
    let label = SinkLabel { sink: name.to_string() };
    let idle = Duration::from_millis(settings.poll_ms.max(10));
    loop {
        let (claim_db, lease, batch) = (db.clone(), settings.lease_ms as i64, settings.batch.max(1) as i64);
        let claimed = tokio::task::spawn_blocking(move || {
            let now = now_ms();
            claim_db.with_events(|t| t.claim(name, now, now + lease, batch))
        })
        .await;
        let due = match claimed {
            Ok(Ok(due)) => due,
            Ok(Err(e)) => {
                tracing::warn!(sink = name, error = %e, "cannot claim events; retrying");
                tokio::time::sleep(idle * 4).await;
                continue;
            }
            Err(_) => return,
        };
        if due.is_empty() {
            tokio::time::sleep(idle).await;
            continue;
        }
        for e in due {
            let outcome = sink.deliver(&e).await;
            let attempts = e.attempts + 1;
            let dead = outcome.is_err() && attempts >= settings.max_attempts;
            match &outcome {
                Ok(()) => {
                    metrics.delivered.get_or_create(&label).inc();
                }
                Err(err) if dead => {
                    metrics.dead.get_or_create(&label).inc();
                    tracing::error!(sink = name, event = %e.event_id, attempts, error = %err, "event not delivered; giving up (triage events replay resends it)");
                }
                Err(err) => {
                    metrics.failed.get_or_create(&label).inc();
                    tracing::warn!(sink = name, event = %e.event_id, attempts, error = %err, "event not delivered; will retry");
                }
            }
            let next = now_ms() + backoff_ms(&settings, attempts) as i64;
            let mark_db = db.clone();
            let marked = tokio::task::spawn_blocking(move || match outcome {
                Ok(()) => mark_db.with_events(|t| t.delivered(e.row, name, now_ms())),
                Err(err) => mark_db.with_events(|t| t.failed(e.row, name, &err.to_string(), next, dead)),
            })
            .await;
            if let Ok(Err(err)) = marked {
                // The lease runs out and the event is delivered again: at least once.
                tracing::warn!(sink = name, error = %err, "cannot record a delivery");
            }
        }
    }
}

/// Delete events past `retention_days`, hourly, so the outbox does not grow without bound.
async fn purge(db: Arc<dyn Database>, retention_days: u32) {
    loop {
        let before = now_ms() - retention_days as i64 * 86_400_000;
        let db2 = db.clone();
        match tokio::task::spawn_blocking(move || db2.with_events(|t| t.purge_events(before))).await {
            Ok(Ok(n)) if n > 0 => tracing::info!(events = n, "old events purged"),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot purge old events"),
            _ => {}
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Start one publisher task per sink (see [`sinks`]) on the current runtime, and the hourly
/// purge of old events.
pub fn start(db: Arc<dyn Database>, sinks: Vec<Sink>, settings: &PublishSettings, metrics: Arc<PublishMetrics>) {
    for sink in sinks {
        tracing::info!(sink = sink.name(), "publishing events");
        tokio::spawn(run(db.clone(), sink, settings.clone(), metrics.clone()));
    }
    tokio::spawn(purge(db, settings.retention_days));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_cap_with_jitter_below_it() {
        let s = PublishSettings { backoff_initial_ms: 1_000, backoff_max_ms: 60_000, ..PublishSettings::default() };
        for _ in 0..50 {
            let first = backoff_ms(&s, 1);
            assert!((500..1_000).contains(&first), "{first}");
            let third = backoff_ms(&s, 3);
            assert!((2_000..4_000).contains(&third), "{third}");
            let late = backoff_ms(&s, 40);
            assert!((30_000..60_000).contains(&late), "{late}");
        }
    }
}
