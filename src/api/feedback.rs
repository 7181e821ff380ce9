//! `POST /v1/feedback` and `GET /v1/feedback/stats`: operators' decisions in and summaries out.

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorBody};
use super::routes::{answer, check_text, enqueue, internal, RequestErrors};
use super::AppState;
use crate::feedback::{FeedbackRecord, FeedbackStats};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FeedbackReceipt {
    pub case_id: String,
    /// 1 for a new case; more when the case's decision was replaced.
    pub revision: u32,
    pub decided_at: String,
}

/// Store an operator's decision, masked, with the transcript's embedding so later calls can find
/// it as a precedent: the one `/v1/classify` just computed for the same text, or a new one
/// (through the same compute queue as classification).
#[utoipa::path(post, path = "/v1/feedback", request_body = FeedbackRecord, responses(
    (status = 201, description = "Stored", body = FeedbackReceipt), RequestErrors,
    (status = 503, description = "Feedback store busy or unavailable; nothing was stored", body = ErrorBody),
    (status = 507, description = "Feedback store cannot grow; nothing was stored", body = ErrorBody)))]
pub async fn record(
    State(state): State<Arc<AppState>>,
    body: Result<Json<FeedbackRecord>, JsonRejection>,
) -> Result<(StatusCode, Json<FeedbackReceipt>), ApiError> {
    let Json(decision) = body?;
    check_text(&state, &decision.text, "text")?;
    let model = state.dispatch.current();
    let taxonomy = &model.taxonomy;
    let decided_at = decision.validate(|d| taxonomy.department(d).is_some())?;
    // Normalising and masking is cheap; the encoder is not, and the console has usually just
    // classified this very text.
    let masked = model.pipeline().clean(&decision.text);
    let embedding = match state.recent.recall(&masked) {
        Some(embedding) => {
            state.metrics.feedback_embeddings_reused.inc();
            embedding
        }
        None => answer(&state, enqueue(&state, decision.text.clone(), 1)?).await?.embedding,
    };
    // The operator typed the ticket; a phone number in it is masked like one in the transcript.
    let ticket = decision.ticket.as_ref().map(|t| t.masked(|s| crate::text::mask_pii(s).text));
    let store = state.feedback.clone();
    let at = decided_at.clone();
    let revision = tokio::task::spawn_blocking(move || store.record(&decision, &masked, ticket.as_ref(), &at, Some(&embedding)).map(|r| (r, decision.case_id)))
        .await
        .map_err(internal)??;
    Ok((StatusCode::CREATED, Json(FeedbackReceipt { case_id: revision.1, revision: revision.0, decided_at })))
}

#[utoipa::path(get, path = "/v1/feedback/stats", responses((status = 200, description = "Acceptance, agreement, most-corrected departments", body = FeedbackStats)))]
pub async fn stats(State(state): State<Arc<AppState>>) -> Result<Json<FeedbackStats>, ApiError> {
    let store = state.feedback.clone();
    Ok(Json(tokio::task::spawn_blocking(move || store.stats(10)).await.map_err(internal)??))
}
