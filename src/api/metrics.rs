//! Prometheus metrics for `GET /metrics`: requests by route and status, latency, queue
//! depth, batch sizes, tokens per batch and model time.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteStatus {
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Route {
    pub route: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.002, 2.0, 14))
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RouteStatus, Counter>,
    pub latency: Family<Route, Histogram, fn() -> Histogram>,
    pub queue_depth: Gauge<i64, AtomicI64>,
    pub batch_size: Histogram,
    pub batch_tokens: Histogram,
    pub inference_seconds: Histogram,
    pub feedback_embeddings_reused: Counter,
    /// The event publishers' counters (`crate::publish`).
    pub events: std::sync::Arc<crate::publish::PublishMetrics>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("triage");
        let requests = Family::<RouteStatus, Counter>::default();
        let latency = Family::<Route, Histogram, fn() -> Histogram>::new_with_constructor(latency_histogram as fn() -> Histogram);
        let queue_depth = Gauge::<i64, AtomicI64>::default();
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 8));
        let batch_tokens = Histogram::new(exponential_buckets(16.0, 2.0, 10));
        let inference_seconds = latency_histogram();
        let feedback_embeddings_reused = Counter::default();
        registry.register("http_requests", "HTTP requests by route and status", requests.clone());
        registry.register("http_request_duration_seconds", "HTTP request latency by route", latency.clone());
        registry.register("queue_depth", "Classify jobs waiting for the compute thread", queue_depth.clone());
        registry.register("batch_size", "Transcripts per model batch", batch_size.clone());
        registry.register("batch_tokens", "Encoder tokens per model batch", batch_tokens.clone());
        registry.register("inference_duration_seconds", "Model time per batch", inference_seconds.clone());
        registry.register("feedback_embeddings_reused", "Decisions stored with the embedding /v1/classify had just computed for the same text", feedback_embeddings_reused.clone());
        let events = std::sync::Arc::new(crate::publish::PublishMetrics::default());
        registry.register("events_delivered", "Events delivered, by sink", events.delivered.clone());
        registry.register("events_failed", "Event deliveries that failed and will be retried, by sink", events.failed.clone());
        registry.register("events_dead", "Events given up on after max_attempts (triage events replay resends them), by sink", events.dead.clone());
        Metrics { registry, requests, latency, queue_depth, batch_size, batch_tokens, inference_seconds, feedback_embeddings_reused, events }
    }
}

impl Metrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
