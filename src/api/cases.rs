//! `GET /v1/hotspots` and `POST /v1/cases/merge`: the proactive side of the service, over the
//! cases `/v1/classify` recorded (those sent with an `id`).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::routes::{internal, RequestErrors};
use super::AppState;
use crate::cases::hotspots::{bursts_since, describe};
use crate::cases::time::parse_case_time;
use crate::cases::HotSpot;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct HotspotQuery {
    /// Start of the window: RFC 3339 or a wall-clock time such as `2026-11-27 00:00:00`
    /// (the city's zone). Default: 24 hours ago.
    pub since: Option<String>,
    /// End of the window; default now.
    pub until: Option<String>,
    /// At most this many hot spots (1 to 50, default 10).
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HotspotsResponse {
    pub since: String,
    pub until: String,
    /// The test behind the list, in words.
    pub test: String,
    pub hot_spots: Vec<HotSpot>,
}

/// A time parameter (RFC 3339 or city wall-clock time), or `default`; 422 `invalid_time` names it.
pub(super) fn time_param(state: &AppState, name: &str, raw: Option<&str>, default: chrono::DateTime<chrono::Utc>) -> Result<chrono::DateTime<chrono::Utc>, ApiError> {
    match raw {
        None => Ok(default),
        Some(t) => parse_case_time(t, state.city_offset).map_err(|e| ApiError::unprocessable("invalid_time", format!("{name}: {e}"))),
    }
}

/// Groups of the same matter whose count since `since` rises clearly above their own
/// baseline (the `baseline_days` before it): a one-sided exact Poisson test, ranked by p-value.
#[utoipa::path(get, path = "/v1/hotspots", params(HotspotQuery), responses(
    (status = 200, description = "Hot spots, most significant first", body = HotspotsResponse),
    (status = 422, description = "Bad time or limit", body = ErrorBody)))]
pub async fn hotspots(State(state): State<Arc<AppState>>, query: Result<Query<HotspotQuery>, QueryRejection>) -> Result<Json<HotspotsResponse>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable("invalid_query", e.body_text()))?;
    let now = chrono::Utc::now();
    let until = time_param(&state, "until", q.until.as_deref(), now)?;
    let since = time_param(&state, "since", q.since.as_deref(), until - chrono::Duration::hours(24))?;
    if since >= until {
        return Err(ApiError::unprocessable("invalid_time", "since must be before until"));
    }
    let limit = match q.limit.unwrap_or(10) {
        n @ 1..=50 => n,
        _ => return Err(ApiError::unprocessable("invalid_limit", "limit must be 1 to 50")),
    };
    let (store, dispatch) = (state.cases.clone(), state.dispatch.current());
    let hot_spots = tokio::task::spawn_blocking(move || {
        let settings = store.settings().hotspots.clone();
        let bursts = bursts_since(&store, since.timestamp(), until.timestamp(), &settings)?;
        describe(&store, &bursts, limit, |id| dispatch.taxonomy.topic(id).map(|t| t.name.clone()).unwrap_or_else(|| id.to_string()))
    })
    .await
    .map_err(internal)??;
    let h = &state.cases.settings().hotspots;
    Ok(Json(HotspotsResponse {
        since: since.to_rfc3339(),
        until: until.to_rfc3339(),
        test: format!("one-sided exact Poisson test against the {} days before `since` (expected at least {}), p <= {}, at least {} cases", h.baseline_days, h.expected_floor, h.alpha, h.min_count),
        hot_spots,
    }))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The new case, as sent to `/v1/classify` with `id`.
    pub case_id: String,
    /// The earlier case it repeats.
    pub into: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MergeReceipt {
    pub case_id: String,
    pub into: String,
    pub group: i64,
}

/// An operator merges a repeat into the earlier case instead of dispatching it again.
#[utoipa::path(post, path = "/v1/cases/merge", request_body = MergeRequest, responses(
    (status = 200, description = "Merged", body = MergeReceipt), RequestErrors,
    (status = 404, description = "Either case is unknown", body = ErrorBody)))]
pub async fn merge(State(state): State<Arc<AppState>>, body: Result<Json<MergeRequest>, JsonRejection>) -> Result<Json<MergeReceipt>, ApiError> {
    let Json(req) = body?;
    if req.case_id == req.into {
        return Err(ApiError::unprocessable("invalid_request", "a case cannot be merged into itself"));
    }
    let store = state.cases.clone();
    let (case_id, into) = (req.case_id.clone(), req.into.clone());
    let merged = tokio::task::spawn_blocking(move || -> Result<Option<i64>, crate::feedback::FeedbackError> {
        if !store.contains(&case_id)? {
            return Ok(None);
        }
        store.merge(&case_id, &into)
    })
    .await
    .map_err(internal)??;
    match merged {
        Some(group) => Ok(Json(MergeReceipt { case_id: req.case_id, into: req.into, group })),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_case", format!("{:?} or {:?} was never classified with an id", req.case_id, req.into))),
    }
}
