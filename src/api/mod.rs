//! HTTP transport: routes, request limits, error mapping. The handlers only translate;
//! the work happens in [`crate::text`] and [`crate::model`].

mod auth;
mod batcher;
mod cases;
mod console;
mod error;
mod feedback;
mod metrics;
mod model_slot;
mod openapi;
mod recent;
mod record;
mod routes;
mod server;
mod settings;

use std::sync::Arc;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use auth::ApiKeys;
pub use batcher::{BatchSettings, Batcher};
pub use error::ApiError;
pub use metrics::{refresh_kpis, Metrics};
pub use model_slot::{ModelLoader, ModelSlot};
pub use openapi::ApiDoc;
pub use recent::RecentEmbeddings;

/// Transcripts whose embeddings `/v1/classify` keeps for feedback (about 1.5 KB each).
pub const RECENT_EMBEDDINGS: usize = 4096;
pub use server::serve;
pub use settings::ServerSettings;

use crate::model::Encoder;
use crate::text::TextPipeline;

/// What every handler shares.
pub struct AppState {
    pub api_keys: ApiKeys,
    /// The model in service; `dispatch.current()` for one request (see [`ModelSlot`]).
    pub dispatch: Arc<ModelSlot>,
    /// Keys for `/admin/*` (none: the admin routes are refused).
    pub admin_keys: ApiKeys,
    pub batcher: Batcher,
    pub metrics: Arc<Metrics>,
    pub encoder: Arc<Encoder>,
    pub text: Arc<TextPipeline>,
    pub feedback: Arc<crate::feedback::FeedbackStore>,
    /// Recent cases (those classified with an id): related cases, groups, hot spots.
    pub cases: Arc<crate::cases::CaseStore>,
    /// What `/v1/classify` just embedded, so feedback on the same text need not embed it again.
    pub recent: RecentEmbeddings,
    /// The city's UTC offset, for times sent without one.
    pub city_offset: chrono::FixedOffset,
    pub limits: ServerSettings,
    /// Operators' decisions on the same matter as evidence in `/v1/classify`.
    pub precedents: crate::dispatch::precedents::PrecedentSettings,
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    let v1 = Router::new()
        .route("/v1/segment", post(routes::segment))
        .route("/v1/embed", post(routes::embed))
        .route("/v1/classify", post(routes::classify))
        .route("/v1/classify/batch", post(routes::classify_batch))
        .route("/v1/taxonomy", get(routes::taxonomy))
        .route("/v1/feedback", post(feedback::record))
        .route("/v1/feedback/stats", get(feedback::stats))
        .route("/v1/hotspots", get(cases::hotspots))
        .route("/v1/cases/merge", post(cases::merge))
        .route("/v1/cases/{id}/events", post(record::record_event).get(record::case_events))
        .route("/v1/kpis", get(record::kpis))
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), auth::require_key));
    Router::new()
        .route("/", get(console::page))
        .route("/kpis", get(console::kpis_page))
        .route("/console/{asset}", get(console::asset))
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/metrics", get(routes::metrics))
        .route("/admin/reload", post(routes::reload))
        .route("/openapi.json", get(|| async { axum::Json(<ApiDoc as utoipa::OpenApi>::openapi()) }))
        .merge(v1)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(cors(&state.limits.cors_allowed_origins))
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Closed by default: with no allowed origins no CORS headers are sent at all.
fn cors(origins: &[String]) -> tower_http::cors::CorsLayer {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let allowed: Vec<axum::http::HeaderValue> = origins.iter().filter_map(|o| o.parse().ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE, axum::http::header::AUTHORIZATION])
}

/// Count and time every request under its route template (not the raw path, which would
/// let clients create unbounded label values), give it a request id, and log one structured
/// line for it. Bodies are never logged: they may hold unmasked transcripts.
async fn record(State(state): State<Arc<AppState>>, mut request: Request, next: Next) -> Response {
    static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 64 && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .map(String::from)
        .unwrap_or_else(|| format!("{:x}-{}", std::process::id(), NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed)));
    request.extensions_mut().insert(RequestId(request_id.clone()));
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let method = request.method().clone();
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    state.metrics.requests.get_or_create(&metrics::RouteStatus { route: route.clone(), status }).inc();
    state.metrics.latency.get_or_create(&metrics::Route { route: route.clone() }).observe(elapsed.as_secs_f64());
    if let Ok(v) = axum::http::HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-request-id", v);
    }
    tracing::info!(request_id = %request_id, method = %method, route = %route, status, latency_ms = elapsed.as_secs_f64() * 1000.0, "request");
    response
}

/// The id of the request being served, for handlers that log.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Fuzzing entry point (`fuzz/fuzz_targets/request_json.rs`): deserialise `bytes` as every
/// request body the API accepts, as the handlers would, and validate what parses. The result
/// is how many types accepted the bytes; only a panic is a bug.
#[doc(hidden)]
pub fn parse_request_bodies(bytes: &[u8]) -> usize {
    let mut accepted = 0;
    accepted += serde_json::from_slice::<routes::TextRequest>(bytes).is_ok() as usize;
    accepted += serde_json::from_slice::<routes::ClassifyRequest>(bytes).is_ok() as usize;
    accepted += serde_json::from_slice::<routes::EmbedRequest>(bytes).is_ok() as usize;
    accepted += serde_json::from_slice::<cases::MergeRequest>(bytes).is_ok() as usize;
    if let Ok(batch) = serde_json::from_slice::<routes::BatchRequest>(bytes) {
        accepted += 1;
        // The batch route parses each item on its own.
        for item in batch.items {
            let _ = serde_json::from_value::<routes::ClassifyRequest>(item);
        }
    }
    if let Ok(record) = serde_json::from_slice::<crate::feedback::FeedbackRecord>(bytes) {
        accepted += 1;
        let _ = record.validate(|_| true);
    }
    accepted
}
