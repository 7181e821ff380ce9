//! HTTP transport: routes, request limits, error mapping. The handlers only translate;
//! the work happens in [`crate::text`] and [`crate::model`].

mod batcher;
mod error;
mod metrics;
mod routes;

use std::sync::Arc;

use std::time::Instant;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub use batcher::{BatchSettings, Batcher};
pub use error::ApiError;
pub use metrics::Metrics;

use crate::config::ServerSettings;
use crate::dispatch::DispatchModel;
use crate::model::Encoder;
use crate::text::TextPipeline;

/// What every handler shares.
pub struct AppState {
    pub dispatch: Arc<DispatchModel>,
    pub batcher: Batcher,
    pub metrics: Arc<Metrics>,
    pub encoder: Arc<Encoder>,
    pub text: Arc<TextPipeline>,
    pub limits: ServerSettings,
}

pub fn router(state: Arc<AppState>) -> Router {
    let body_limit = state.limits.max_body_bytes;
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/readyz", get(routes::readyz))
        .route("/v1/segment", post(routes::segment))
        .route("/v1/embed", post(routes::embed))
        .route("/v1/classify", post(routes::classify))
        .route("/v1/classify/batch", post(routes::classify_batch))
        .route("/v1/taxonomy", get(routes::taxonomy))
        .route("/metrics", get(routes::metrics))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), record))
        .with_state(state)
}

/// Count and time every request under its route template (not the raw path, which would
/// let clients create unbounded label values).
async fn record(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.requests.get_or_create(&metrics::RouteStatus { route: route.clone(), status: response.status().as_u16() }).inc();
    state.metrics.latency.get_or_create(&metrics::Route { route }).observe(started.elapsed().as_secs_f64());
    response
}

/// Serve until SIGTERM or Ctrl-C, then let in-flight requests finish.
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    axum::serve(listener, router(state)).with_graceful_shutdown(shutdown_signal()).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
