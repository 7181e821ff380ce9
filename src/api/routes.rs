use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::AppState;
use crate::text::PreparedTranscript;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    pub text: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    pub texts: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct EmbedResponse {
    pub model: String,
    pub dimension: usize,
    pub embeddings: Vec<EmbeddingItem>,
}

#[derive(Debug, Serialize)]
pub struct EmbeddingItem {
    pub vector: Vec<f32>,
    pub tokens: usize,
    pub windows: usize,
}

pub async fn healthz() -> &'static str {
    "ok"
}

/// The server only listens once the encoder is loaded and warmed up, so being able to
/// answer means being ready.
pub async fn readyz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ready", "model": state.encoder.version() }))
}

fn check_text(state: &AppState, text: &str, field: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::unprocessable("text_empty", format!("{field} is empty")));
    }
    let chars = text.chars().count();
    if chars > state.limits.max_text_chars {
        return Err(ApiError::unprocessable(
            "text_too_long",
            format!("{field} has {chars} characters; the limit is {}", state.limits.max_text_chars),
        ));
    }
    Ok(())
}

pub async fn segment(
    State(state): State<Arc<AppState>>,
    body: Result<Json<TextRequest>, JsonRejection>,
) -> Result<Json<PreparedTranscript>, ApiError> {
    let Json(req) = body?;
    check_text(&state, &req.text, "text")?;
    let pipeline = state.text.clone();
    let prepared = tokio::task::spawn_blocking(move || pipeline.prepare(&req.text))
        .await
        .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    Ok(Json(prepared))
}

pub async fn embed(
    State(state): State<Arc<AppState>>,
    body: Result<Json<EmbedRequest>, JsonRejection>,
) -> Result<Json<EmbedResponse>, ApiError> {
    let Json(req) = body?;
    if req.texts.is_empty() {
        return Err(ApiError::unprocessable("texts_empty", "texts is empty"));
    }
    if req.texts.len() > state.limits.max_batch_items {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{} texts; the limit is {}", req.texts.len(), state.limits.max_batch_items),
        ));
    }
    for (i, t) in req.texts.iter().enumerate() {
        check_text(&state, t, &format!("texts[{i}]"))?;
    }
    let (text, encoder) = (state.text.clone(), state.encoder.clone());
    // The encoder is CPU-bound for tens of milliseconds: keep it off the async workers.
    let embeddings = tokio::task::spawn_blocking(move || {
        let prepared: Vec<String> = req.texts.iter().map(|t| text.prepare(t).text).collect();
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        encoder.embed(&refs)
    })
    .await
    .map_err(|e| ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))??;
    Ok(Json(EmbedResponse {
        model: state.encoder.version().to_string(),
        dimension: state.encoder.dimension(),
        embeddings: embeddings.into_iter().map(|e| EmbeddingItem { vector: e.vector, tokens: e.tokens, windows: e.windows }).collect(),
    }))
}
