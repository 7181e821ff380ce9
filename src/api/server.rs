//! The accept loop: HTTP/1.1 connections with read deadlines, and graceful shutdown.
//!
//! `axum::serve` installs no timer in hyper, so hyper's header-read timeout never fires and a
//! client that dribbles its request head (slow-loris) holds a connection for ever. This loop
//! is axum's own, with a timer and deadlines: the head must arrive within
//! `header_read_timeout_ms`, the body within `body_read_timeout_ms`.

use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;

use super::{router, AppState};

/// Serve until SIGTERM or Ctrl-C, then let in-flight requests finish (at most `drain`).
pub async fn serve(listener: tokio::net::TcpListener, state: Arc<AppState>) -> std::io::Result<()> {
    let header_timeout = Duration::from_millis(state.limits.header_read_timeout_ms.max(1));
    let body_timeout = Duration::from_millis(state.limits.body_read_timeout_ms.max(1));
    let drain = Duration::from_millis(state.limits.batching.request_timeout_ms) + Duration::from_secs(5);
    let app = router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(body_timeout));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(header_timeout).keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut stop = std::pin::pin!(shutdown_signal());
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("connection closed: {e}");
            }
        });
    }
    // No new connections from here; open ones finish their current request.
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(drain) => tracing::warn!("connections still open after {} s; stopping anyway", drain.as_secs()),
    }
    Ok(())
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
