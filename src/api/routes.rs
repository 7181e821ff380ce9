use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::batcher::Reply;
use crate::dispatch::EmbeddedSuggestion;
use super::AppState;
use crate::dispatch::precedents::{self, Precedent};
use crate::dispatch::{DispatchSuggestion, Taxonomy};
use crate::cases::{NewCase, Related};
use crate::feedback::SimilarCase;
use crate::text::PreparedTranscript;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextRequest {
    pub text: String,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmbedRequest {
    pub texts: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbedResponse {
    pub model: String,
    pub dimension: usize,
    pub embeddings: Vec<EmbeddingItem>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EmbeddingItem {
    pub vector: Vec<f32>,
    pub tokens: usize,
    pub windows: usize,
}

#[utoipa::path(get, path = "/healthz", responses((status = 200, description = "Alive", body = String)))]
pub async fn healthz() -> &'static str {
    "ok"
}

/// The server only listens once the encoder is loaded and warmed up, so being able to
/// answer means being ready.
/// Reload the heads and the taxonomy from their configured folders without dropping a request
/// (as SIGHUP does). Needs an admin key (`server.admin_key_file`); the model in service stays
/// when the new one cannot be loaded.
#[utoipa::path(post, path = "/admin/reload", responses(
    (status = 200, description = "Reloaded; the versions now in service", body = crate::dispatch::ModelVersions),
    (status = 401, description = "No admin key sent", body = ErrorBody),
    (status = 403, description = "Wrong key, or no admin keys configured", body = ErrorBody),
    (status = 500, description = "The new model could not be loaded; the old one still serves", body = ErrorBody)))]
pub async fn reload(State(state): State<Arc<AppState>>, headers: axum::http::HeaderMap) -> Result<Json<crate::dispatch::ModelVersions>, ApiError> {
    use axum::http::StatusCode;
    if !state.admin_keys.enabled() {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "admin_disabled", "no admin keys are configured (server.admin_key_file); send SIGHUP to reload"));
    }
    let presented = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match presented {
        None => return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "an admin key is required: Authorization: Bearer KEY")),
        Some(k) if !state.admin_keys.accepts(k.trim()) => return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", "the admin key is not valid")),
        Some(_) => {}
    }
    state.dispatch.reload().await.map(Json).map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "reload_failed", e))
}

#[utoipa::path(get, path = "/readyz", responses((status = 200, description = "Models loaded and warmed up; `status` is `degraded` while the database does not answer (classification still works)", body = Object)))]
pub async fn readyz(State(state): State<Arc<AppState>>) -> Json<serde_json::Value> {
    // Ready even when the database is away: classification needs only the model, so taking the
    // replica out of the load balancer would turn a partial outage into a full one.
    let db = state.feedback.database().clone();
    let store = tokio::task::spawn_blocking(move || db.ping()).await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string()));
    let engine = state.feedback.database().engine();
    match store {
        Ok(()) => Json(serde_json::json!({ "status": "ready", "model": state.encoder.version(), "store": { "engine": engine, "status": "ok" } })),
        Err(e) => Json(serde_json::json!({ "status": "degraded", "model": state.encoder.version(), "store": { "engine": engine, "status": "unavailable", "error": e } })),
    }
}

pub(super) fn check_text(state: &AppState, text: &str, field: &str) -> Result<(), ApiError> {
    // A text of nothing but spaces and characters the normaliser drops is empty.
    if text.chars().all(|c| c.is_whitespace() || crate::text::normalize::is_invisible(c)) {
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

/// The errors every `/v1` POST route may answer with, for the OpenAPI description.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum RequestErrors {
    #[response(status = 400, description = "Malformed JSON or invalid UTF-8")]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "API key missing")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "API key wrong")]
    Forbidden(ErrorBody),
    #[response(status = 413, description = "Body or batch too large")]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not JSON")]
    UnsupportedMediaType(ErrorBody),
    #[response(status = 422, description = "Invalid request: empty or over-long text, unknown field, bad top_k")]
    Unprocessable(ErrorBody),
}

/// A batch must hold something and stay within the configured limit.
fn check_batch_len(state: &AppState, len: usize, field: &'static str) -> Result<(), ApiError> {
    if len == 0 {
        let code = if field == "texts" { "texts_empty" } else { "items_empty" };
        return Err(ApiError::unprocessable(code, format!("{field} is empty")));
    }
    if len > state.limits.max_batch_items {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{len} {field}; the limit is {}", state.limits.max_batch_items),
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/segment", request_body = TextRequest, responses((status = 200, description = "Normalised, masked and segmented transcript", body = PreparedTranscript), RequestErrors))]
pub async fn segment(
    State(state): State<Arc<AppState>>,
    body: Result<Json<TextRequest>, JsonRejection>,
) -> Result<Json<PreparedTranscript>, ApiError> {
    let Json(req) = body?;
    check_text(&state, &req.text, "text")?;
    let pipeline = state.text.clone();
    let prepared = tokio::task::spawn_blocking(move || pipeline.prepare(&req.text))
        .await
        .map_err(internal)?;
    Ok(Json(prepared))
}

#[utoipa::path(post, path = "/v1/embed", request_body = EmbedRequest, responses((status = 200, description = "Embeddings in input order", body = EmbedResponse), RequestErrors))]
pub async fn embed(
    State(state): State<Arc<AppState>>,
    body: Result<Json<EmbedRequest>, JsonRejection>,
) -> Result<Json<EmbedResponse>, ApiError> {
    let Json(req) = body?;
    check_batch_len(&state, req.texts.len(), "texts")?;
    for (i, t) in req.texts.iter().enumerate() {
        check_text(&state, t, &format!("texts[{i}]"))?;
    }
    let (text, encoder) = (state.text.clone(), state.encoder.clone());
    // The encoder is CPU-bound for tens of milliseconds: keep it off the async workers.
    let embeddings = tokio::task::spawn_blocking(move || {
        let prepared: Vec<String> = req.texts.iter().map(|t| text.clean(t)).collect();
        let refs: Vec<&str> = prepared.iter().map(String::as_str).collect();
        encoder.embed(&refs)
    })
    .await
    .map_err(internal)??;
    Ok(Json(EmbedResponse {
        model: state.encoder.version().to_string(),
        dimension: state.encoder.dimension(),
        embeddings: embeddings.into_iter().map(|e| EmbeddingItem { vector: e.vector, tokens: e.tokens, windows: e.windows }).collect(),
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClassifyRequest {
    pub text: String,
    /// The call-centre's case id. With one, `/v1/classify` keeps the case (masked) for
    /// related-case search and hot spots, and the same id again replaces it. The batch route
    /// only echoes it.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub top_k: Option<usize>,
    /// How many similar earlier cases (from operators' decisions) to return, 0 to 10.
    #[serde(default)]
    pub similar: Option<usize>,
    /// When the call came in (RFC 3339, or `2019/2/28 11:25:05` in the city's zone); default now.
    /// Only used with `id`.
    #[serde(default)]
    pub submitted: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClassifyResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(flatten)]
    pub result: DispatchSuggestion,
    /// The transcript as the model read it: normalised, with phone and ID numbers masked. The
    /// ticket's spans are character offsets in this text, so a page can mark exactly where each
    /// field came from.
    pub masked_text: String,
    /// Present when the request asked for `similar`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similar_cases: Option<Vec<SimilarCase>>,
    /// Present when the request had an `id`: the case is kept (masked) and compared with the
    /// recent cases; near-duplicates, its group's size, and `duplicate_of` when it repeats one.
    /// Absent, with a warning in the log, when the case store cannot be written (locked, full, unreachable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub related: Option<Related>,
}

const MAX_SIMILAR: usize = 10;

const DEFAULT_TOP_K: usize = 3;
const MAX_TOP_K: usize = 25;

fn check_top_k(top_k: Option<usize>) -> Result<usize, ApiError> {
    match top_k.unwrap_or(DEFAULT_TOP_K) {
        0 => Err(ApiError::unprocessable("invalid_top_k", "top_k must be at least 1")),
        k if k > MAX_TOP_K => Err(ApiError::unprocessable("invalid_top_k", format!("top_k must be at most {MAX_TOP_K}"))),
        k => Ok(k),
    }
}

pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::new(axum::http::StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
}

type Pending = tokio::sync::oneshot::Receiver<Reply>;

/// Queue one transcript for the compute thread.
pub(super) fn enqueue(state: &AppState, text: String, top_k: usize) -> Result<Pending, ApiError> {
    state.batcher.submit(text, top_k).map_err(|_| {
        ApiError::new(axum::http::StatusCode::TOO_MANY_REQUESTS, "overloaded", "the classify queue is full; retry shortly").retry_after(1)
    })
}

/// Wait for a queued transcript's suggestion, up to the request timeout.
pub(super) async fn answer(state: &AppState, pending: Pending) -> Result<EmbeddedSuggestion, ApiError> {
    match tokio::time::timeout(state.batcher.timeout(), pending).await {
        Ok(Ok(Ok(result))) => Ok(result),
        Ok(Ok(Err(e))) => Err(internal(e)),
        Ok(Err(_)) => Err(internal("the compute thread dropped the request")),
        Err(_) => Err(ApiError::new(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "timeout",
            format!("no answer within {} ms", state.batcher.settings.request_timeout_ms),
        )),
    }
}

#[utoipa::path(post, path = "/v1/classify", request_body = ClassifyRequest, responses((status = 200, description = "Dispatch suggestion", body = ClassifyResponse), RequestErrors, (status = 429, description = "Queue full; see Retry-After", body = ErrorBody), (status = 504, description = "No answer within the request timeout", body = ErrorBody)))]
pub async fn classify(
    State(state): State<Arc<AppState>>,
    body: Result<Json<ClassifyRequest>, JsonRejection>,
) -> Result<Json<ClassifyResponse>, ApiError> {
    let Json(req) = body?;
    check_text(&state, &req.text, "text")?;
    let top_k = check_top_k(req.top_k)?;
    let similar = match req.similar.unwrap_or(0) {
        n if n > MAX_SIMILAR => return Err(ApiError::unprocessable("invalid_similar", format!("similar must be at most {MAX_SIMILAR}"))),
        n => n,
    };
    let submitted = case_time(&state, req.id.as_deref(), req.submitted.as_deref(), "submitted")?;
    let classified = answer(&state, enqueue(&state, req.text, top_k)?).await?;
    state.recent.remember(&classified.text, &classified.embedding);
    let (feedback, cases, case) = (state.feedback.clone(), state.cases.clone(), req.id.clone());
    let (precedents, dispatch) = (state.precedents, state.dispatch.current());
    let (classified, similar_cases, related) = tokio::task::spawn_blocking(move || -> Result<_, crate::feedback::FeedbackError> {
        let mut classified = classified;
        // The suggestion is the product; the history store only adds to it. A locked, full or
        // unreachable database costs the precedents, `similar_cases` and `related`, not the answer.
        let wanted = if precedents.enabled { similar.max(precedents.neighbours) } else { similar };
        let nearest = if wanted > 0 {
            match feedback.similar(&classified.embedding, wanted, case.as_deref()) {
                Ok(s) => Some(s),
                Err(e) => {
                    tracing::warn!(error = %e, "no similar cases: the database did not answer");
                    None
                }
            }
        } else {
            None
        };
        if let Some(nearest) = &nearest {
            // Operators' decisions on the same matter, made before this call came in.
            let reference = submitted.unwrap_or_else(chrono::Utc::now);
            let found: Vec<Precedent> = nearest
                .iter()
                .filter_map(|n| {
                    let decided = chrono::DateTime::parse_from_rfc3339(&n.decided_at).ok()?;
                    let age_days = (reference - decided.with_timezone(&chrono::Utc)).num_seconds() as f32 / 86_400.0;
                    Some(Precedent { department: n.department.clone(), similarity: n.similarity, age_days })
                })
                .collect();
            precedents::apply(&mut classified.suggestion, &found, &dispatch.taxonomy, &precedents);
        }
        let similar_cases = if similar > 0 { nearest.map(|mut n| { n.truncate(similar); n }) } else { None };
        let related = match (&case, submitted) {
            (Some(id), Some(at)) => match cases.observe(&NewCase::from_suggestion(id, at, &classified)) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(error = %e, "case not recorded; answering without related cases");
                    None
                }
            },
            _ => None,
        };
        Ok((classified, similar_cases, related))
    })
    .await
    .map_err(internal)??;
    Ok(Json(ClassifyResponse { id: req.id, result: classified.suggestion, masked_text: classified.text, similar_cases, related }))
}

/// When a case with an id came in: its `submitted` time, or now. Checked before the model
/// runs, so a bad time costs nothing. `None` when there is no id (nothing is recorded).
fn case_time(state: &AppState, id: Option<&str>, submitted: Option<&str>, field: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ApiError> {
    let Some(id) = id else { return Ok(None) };
    if id.trim().is_empty() || !crate::feedback::printable_id(id) {
        return Err(ApiError::unprocessable("invalid_id", "id must be 1 to 128 printable characters"));
    }
    match submitted {
        None => Ok(Some(chrono::Utc::now())),
        Some(t) => {
            let at = crate::cases::time::parse_case_time(t, state.city_offset).map_err(|e| ApiError::unprocessable("invalid_time", format!("{field}: {e}")))?;
            // The store's clock is its newest case: a time far ahead would expire every real case.
            if at > chrono::Utc::now() + chrono::Duration::days(1) {
                return Err(ApiError::unprocessable("invalid_time", format!("{field}: {t:?} is in the future")));
            }
            Ok(Some(at))
        }
    }
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub items: Vec<serde_json::Value>,
    #[serde(default)]
    pub top_k: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BatchResponse {
    pub results: Vec<serde_json::Value>,
}

/// Items are checked one by one, so one bad item gets its own error and the rest are still
/// classified; results keep the request's order.
#[utoipa::path(post, path = "/v1/classify/batch", request_body = BatchRequest, responses((status = 200, description = "One entry per item, in order: a suggestion or {id, error}", body = BatchResponse), RequestErrors))]
pub async fn classify_batch(
    State(state): State<Arc<AppState>>,
    body: Result<Json<BatchRequest>, JsonRejection>,
) -> Result<Json<BatchResponse>, ApiError> {
    let Json(req) = body?;
    check_batch_len(&state, req.items.len(), "items")?;
    let top_k = check_top_k(req.top_k)?;
    let mut slots: Vec<Result<(Option<String>, String), (Option<String>, ApiError)>> = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.into_iter().enumerate() {
        let parsed = serde_json::from_value::<ClassifyRequest>(item.clone())
            .map_err(|e| ApiError::unprocessable(if e.to_string().contains("unknown field") { "unknown_field" } else { "invalid_item" }, format!("items[{i}]: {e}")))
            .and_then(|r| match r.similar {
                Some(n) if n > 0 => Err(ApiError::unprocessable("invalid_item", format!("items[{i}]: similar is only offered by /v1/classify"))),
                _ => Ok(r),
            })
            .and_then(|r| check_text(&state, &r.text, &format!("items[{i}].text")).map(|_| (r.id, r.text)));
        let id = item.get("id").and_then(|v| v.as_str()).map(String::from);
        slots.push(parsed.map_err(|e| (id, e)));
    }
    // Every valid item joins the shared queue before any is awaited, so the compute thread
    // can batch them together (and with other callers' requests).
    let pending: Vec<(Option<String>, Result<Pending, ApiError>)> = slots
        .into_iter()
        .map(|slot| match slot {
            Ok((id, text)) => (id, enqueue(&state, text, top_k)),
            Err((id, e)) => (id, Err(e)),
        })
        .collect();
    let mut results = Vec::with_capacity(pending.len());
    for (id, p) in pending {
        let outcome = match p {
            Ok(p) => answer(&state, p).await,
            Err(e) => Err(e),
        };
        results.push(match outcome {
            Ok(c) => serde_json::to_value(ClassifyResponse { id, result: c.suggestion, masked_text: c.text, similar_cases: None, related: None }).unwrap_or(serde_json::Value::Null),
            Err(e) => serde_json::json!({"id": id, "error": {"code": e.code, "message": e.message}}),
        });
    }
    Ok(Json(BatchResponse { results }))
}

#[utoipa::path(get, path = "/v1/taxonomy", responses((status = 200, description = "Topics and departments", body = Taxonomy)))]
pub async fn taxonomy(State(state): State<Arc<AppState>>) -> Json<Taxonomy> {
    Json(state.dispatch.current().taxonomy.clone())
}

#[utoipa::path(get, path = "/metrics", responses((status = 200, description = "Prometheus text format", body = String)))]
pub async fn metrics(State(state): State<Arc<AppState>>) -> ([(axum::http::header::HeaderName, &'static str); 1], String) {
    ([(axum::http::header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], state.metrics.render())
}
