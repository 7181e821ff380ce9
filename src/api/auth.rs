//! Optional API keys: bearer tokens from a file, checked on every `/v1` route.

use std::path::Path;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

#[derive(Debug, Clone, Default)]
pub struct ApiKeys {
    keys: Vec<String>,
}

impl ApiKeys {
    pub fn none() -> Self {
        ApiKeys::default()
    }

    /// One key per line; blank lines and `#` comments are skipped. An empty file is an error:
    /// someone meant to turn auth on, and a silent open door is the worst outcome.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let keys: Vec<String> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(String::from).collect();
        if keys.is_empty() {
            return Err(format!("{}: no API keys in the file", path.display()));
        }
        Ok(ApiKeys { keys })
    }

    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// Compares every byte of every key, so timing does not reveal how much of a guess matched.
    pub(super) fn accepts(&self, presented: &str) -> bool {
        self.keys.iter().fold(false, |ok, k| {
            let same_len = k.len() == presented.len();
            let diff = k.bytes().zip(presented.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b));
            ok | (same_len && diff == 0)
        })
    }
}

pub async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if !state.api_keys.enabled() {
        return next.run(request).await;
    }
    let presented = request.headers().get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "an API key is required: Authorization: Bearer KEY").into_response(),
        Some(k) if !state.api_keys.accepts(k.trim()) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the API key is not valid").into_response(),
        Some(_) => next.run(request).await,
    }
}
