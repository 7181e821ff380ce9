//! Prometheus metrics for `GET /metrics`: requests by route and status, latency, queue
//! depth, batch sizes, tokens per batch, model time, and the encoder kernels in use.

use std::sync::atomic::{AtomicI64, AtomicU64};

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DepartmentLabel {
    pub department: String,
}

/// The encoder's kernel path (`crate::model::KernelPath`), as an info metric's labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KernelLabel {
    pub weights: String,
    pub matrix: String,
    pub elementwise: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DriftLabel {
    pub department: String,
    pub metric: String,
    pub direction: String,
}

/// The case record's rates over the last 7 days, refreshed in the background (see
/// [`refresh_kpis`]): a scrape never waits for them.
#[derive(Default)]
pub struct KpiGauges {
    pub first_dispatch_accuracy: Family<DepartmentLabel, Gauge<f64, AtomicU64>>,
    pub return_rate: Family<DepartmentLabel, Gauge<f64, AtomicU64>>,
    pub drift: Family<DriftLabel, Gauge<i64, AtomicI64>>,
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
    pub kpis: KpiGauges,
    encoder_kernels: Family<KernelLabel, Gauge>,
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
        let kpis = KpiGauges::default();
        registry.register("kpi_first_dispatch_accuracy", "Last 7 days: dispatched cases whose final department was the first suggestion, by final department", kpis.first_dispatch_accuracy.clone());
        registry.register("kpi_return_rate", "Last 7 days: dispatched cases returned at least once, by final department", kpis.return_rate.clone());
        registry.register("kpi_drift_alarm", "1 while a department's last 7 days depart from its previous 28 (exact binomial test, p < 0.01)", kpis.drift.clone());
        let encoder_kernels = Family::<KernelLabel, Gauge>::default();
        registry.register("encoder_kernel_info", "1 for the kernels the encoder runs on this CPU: weight format, matrix products, element-wise passes", encoder_kernels.clone());
        Metrics { registry, requests, latency, queue_depth, batch_size, batch_tokens, inference_seconds, feedback_embeddings_reused, events, kpis, encoder_kernels }
    }
}

impl Metrics {
    /// Say which kernels the encoder runs (one series at 1).
    pub fn set_encoder_kernels(&self, kernels: crate::model::KernelPath) {
        self.encoder_kernels.clear();
        let label = KernelLabel { weights: kernels.weights.into(), matrix: kernels.matrix.into(), elementwise: kernels.elementwise.into() };
        self.encoder_kernels.get_or_create(&label).set(1);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

/// Recompute the KPI gauges every `every` from the case record, until the runtime stops.
pub async fn refresh_kpis(state: std::sync::Arc<super::AppState>, every: std::time::Duration) {
    loop {
        let now = chrono::Utc::now().timestamp();
        let filter = crate::cases::kpis::KpiFilter { from: now - 7 * 86_400, to: now, ..Default::default() };
        let (store, offset) = (state.cases.clone(), state.city_offset.local_minus_utc() as i64);
        match tokio::task::spawn_blocking(move || store.kpis(&filter, offset, super::record::DRIFT_ALPHA)).await {
            Ok(Ok(report)) => {
                let g = &state.metrics.kpis;
                g.first_dispatch_accuracy.clear();
                g.return_rate.clear();
                g.drift.clear();
                for d in &report.by_department {
                    let label = DepartmentLabel { department: d.key.clone() };
                    if let Some(v) = d.rates.first_dispatch_accuracy {
                        g.first_dispatch_accuracy.get_or_create(&label).set(v);
                    }
                    if let Some(v) = d.rates.return_rate {
                        g.return_rate.get_or_create(&label).set(v);
                    }
                }
                for a in &report.drift {
                    g.drift.get_or_create(&DriftLabel { department: a.department.clone(), metric: a.metric.clone(), direction: a.direction.clone() }).set(1);
                }
                // Downstream systems hear of each alarm once a day.
                let day = chrono::Utc::now().with_timezone(&state.city_offset).format("%Y-%m-%d").to_string();
                let store = state.cases.clone();
                match tokio::task::spawn_blocking(move || store.publish_drift(&report.drift, &day)).await {
                    Ok(Ok(n)) if n > 0 => tracing::warn!(alarms = n, "drift alarms published"),
                    Ok(Err(e)) => tracing::warn!(error = %e, "cannot publish the drift alarms"),
                    _ => {}
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot refresh the KPI gauges"),
            Err(_) => return,
        }
        tokio::time::sleep(every).await;
    }
}
