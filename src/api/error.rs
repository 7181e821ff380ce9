//! The one place where library errors become HTTP responses, all in one JSON shape:
//! `{"error": {"code": "text_empty", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::model::ModelError;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds, sent as `Retry-After` (overload).
    pub retry_after: Option<u32>,
}

/// The one error shape of the API.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `text_empty`, `invalid_json`, `overloaded`, ...
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), retry_after: None }
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message } };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(s) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from(s));
        }
        response
    }
}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        // Input errors are caught before the model; what reaches here is the service's fault.
        tracing::error!("model error: {e}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "model_error", e.to_string())
    }
}

impl From<crate::feedback::FeedbackError> for ApiError {
    fn from(e: crate::feedback::FeedbackError) -> Self {
        use crate::feedback::FeedbackError as F;
        match e {
            // Transient: the caller keeps the decision and retries; nothing was half-written.
            F::Busy => Self::new(StatusCode::SERVICE_UNAVAILABLE, "feedback_store_busy", e.to_string()).retry_after(1),
            F::Full => Self::new(StatusCode::INSUFFICIENT_STORAGE, "feedback_store_full", e.to_string()),
            // PostgreSQL is away: nothing was written, and the caller may retry.
            F::Unavailable(_) => Self::new(StatusCode::SERVICE_UNAVAILABLE, "store_unavailable", e.to_string()).retry_after(2),
            other => {
                tracing::error!("feedback store error: {other}");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "feedback_store_unavailable", other.to_string())
            }
        }
    }
}

impl From<crate::feedback::InvalidFeedback> for ApiError {
    fn from(e: crate::feedback::InvalidFeedback) -> Self {
        Self::unprocessable(e.code, e.message)
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    fn from(r: axum::extract::rejection::JsonRejection) -> Self {
        use axum::extract::rejection::JsonRejection as R;
        let text = r.body_text();
        match r {
            R::MissingJsonContentType(_) => Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", "expected Content-Type: application/json"),
            R::JsonSyntaxError(_) => Self::new(StatusCode::BAD_REQUEST, "invalid_json", text),
            R::JsonDataError(_) if text.contains("unknown field") => Self::unprocessable("unknown_field", text),
            R::JsonDataError(_) => Self::unprocessable("invalid_request", text),
            R::BytesRejection(_) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => Self::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", text),
            // The body did not arrive within server.body_read_timeout_ms (a slow client).
            R::BytesRejection(_) if text.contains("timeout") => Self::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", text),
            _ => Self::new(r.status(), "invalid_request", text),
        }
    }
}
