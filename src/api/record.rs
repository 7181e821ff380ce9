//! The case record over HTTP: `POST /v1/cases/{id}/events` (what happened after dispatch),
//! `GET /v1/cases/{id}/events`, and `GET /v1/kpis` (the rates, with drift alarms).

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorBody};
use super::routes::{internal, RequestErrors};
use super::cases::time_param;
use super::AppState;
use crate::cases::kpis::{KpiFilter, KpiReport};
use crate::cases::record::{CaseEvent, CaseState};
use crate::cases::store::{CaseEventError, Recorded};

/// Drift alarms report a department at p below this.
pub const DRIFT_ALPHA: f64 = 0.01;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseEventReceipt {
    pub case_id: String,
    pub event_id: String,
    /// False when this event_id was recorded before (nothing was counted twice).
    pub recorded: bool,
    /// Where the case stands now; absent for a repeat.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<CaseState>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseStep {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub department: Option<String>,
    pub operator_id: Option<String>,
    pub reason: Option<String>,
    pub rating: Option<String>,
    pub at: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CaseHistory {
    pub case_id: String,
    pub state: CaseState,
    pub events: Vec<CaseStep>,
}

impl From<CaseEventError> for ApiError {
    fn from(e: CaseEventError) -> Self {
        match e {
            CaseEventError::UnknownCase(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_case", e.to_string()),
            CaseEventError::Invalid(i) => ApiError::unprocessable(i.code, i.message),
            CaseEventError::Conflict(_) => ApiError::new(StatusCode::CONFLICT, "event_id_conflict", e.to_string()),
            CaseEventError::Store(s) => s.into(),
        }
    }
}

/// Record one step of a case's life after the suggestion. Steps must come in an order a case
/// can live (dispatched, then returned / redispatched / responded, then resolved or unresolved,
/// then satisfaction); the same `event_id` again is accepted once.
#[utoipa::path(post, path = "/v1/cases/{id}/events", request_body = CaseEvent, params(("id" = String, Path, description = "The case id sent to /v1/classify")), responses(
    (status = 201, description = "Recorded", body = CaseEventReceipt),
    (status = 200, description = "This event_id was recorded before; nothing counted twice", body = CaseEventReceipt),
    RequestErrors,
    (status = 404, description = "No case with this id was classified", body = ErrorBody),
    (status = 409, description = "The event_id belongs to another case", body = ErrorBody)))]
pub async fn record_event(
    State(state): State<Arc<AppState>>,
    Path(case_id): Path<String>,
    body: Result<Json<CaseEvent>, JsonRejection>,
) -> Result<(StatusCode, Json<CaseEventReceipt>), ApiError> {
    let Json(event) = body?;
    let now = chrono::Utc::now();
    let at = time_param(&state, "at", event.at.as_deref(), now)?;
    if at > now + chrono::Duration::days(1) {
        return Err(ApiError::unprocessable("invalid_time", "at is in the future"));
    }
    let (store, dispatch) = (state.cases.clone(), state.dispatch.current());
    let (id, ev) = (case_id.clone(), event.clone());
    let recorded = tokio::task::spawn_blocking(move || store.record_event(&id, &ev, at.timestamp(), |d| dispatch.taxonomy.department(d).is_some()))
        .await
        .map_err(internal)??;
    let (status, recorded, state) = match recorded {
        Recorded::New(s) => (StatusCode::CREATED, true, Some(s)),
        Recorded::Repeat => (StatusCode::OK, false, None),
    };
    Ok((status, Json(CaseEventReceipt { case_id, event_id: event.event_id, recorded, state })))
}

/// A case's recorded steps, in the order they arrived.
#[utoipa::path(get, path = "/v1/cases/{id}/events", params(("id" = String, Path, description = "The case id")), responses(
    (status = 200, description = "The steps", body = CaseHistory),
    (status = 404, description = "No case with this id", body = ErrorBody)))]
pub async fn case_events(State(state): State<Arc<AppState>>, Path(case_id): Path<String>) -> Result<Json<CaseHistory>, ApiError> {
    let store = state.cases.clone();
    let id = case_id.clone();
    let Some(rows) = tokio::task::spawn_blocking(move || store.case_events(&id)).await.map_err(internal)?? else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "unknown_case", format!("no case {case_id:?}")));
    };
    let state_now = crate::cases::record::state_of(&rows);
    let events = rows
        .into_iter()
        .map(|r| CaseStep { event_id: r.event_id, kind: r.kind, department: r.department, operator_id: r.operator_id, reason: r.reason, rating: r.rating, at: crate::cases::time::rfc3339(r.at) })
        .collect();
    Ok(Json(CaseHistory { case_id, state: state_now, events }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct KpiQuery {
    /// Cases that came in from this time (RFC 3339 or `2026-11-01 00:00:00`, city time);
    /// default 28 days before `to`.
    pub from: Option<String>,
    /// ... until this time (exclusive); default now. Drift alarms compare the 7 days before it
    /// with the 28 before those.
    pub to: Option<String>,
    /// Only cases whose final department is this.
    pub department: Option<String>,
    pub topic: Option<String>,
    pub district: Option<String>,
}

/// First-dispatch accuracy, top-3 agreement, returns, re-dispatches, response, resolution and
/// satisfaction, and the median hours to response and resolution: overall, per department,
/// topic, district and week; with the departments whose last 7 days drift from their own
/// previous 28 (exact binomial test, p < 0.01).
#[utoipa::path(get, path = "/v1/kpis", params(KpiQuery), responses(
    (status = 200, description = "The rates", body = KpiReport),
    (status = 422, description = "Bad time or filter", body = ErrorBody)))]
pub async fn kpis(State(state): State<Arc<AppState>>, query: Result<Query<KpiQuery>, QueryRejection>) -> Result<Json<KpiReport>, ApiError> {
    let Query(q) = query.map_err(|e| ApiError::unprocessable("invalid_query", e.body_text()))?;
    let to = time_param(&state, "to", q.to.as_deref(), chrono::Utc::now())?;
    let from = time_param(&state, "from", q.from.as_deref(), to - chrono::Duration::days(28))?.timestamp();
    let to = to.timestamp();
    if from >= to {
        return Err(ApiError::unprocessable("invalid_time", "from must be before to"));
    }
    if let Some(d) = &q.department {
        if state.dispatch.current().taxonomy.department(d).is_none() {
            return Err(ApiError::unprocessable("unknown_department", format!("department {d:?} is not in the taxonomy")));
        }
    }
    let filter = KpiFilter { from, to, department: q.department, topic: q.topic, district: q.district };
    let (store, offset) = (state.cases.clone(), state.city_offset.local_minus_utc() as i64);
    Ok(Json(tokio::task::spawn_blocking(move || store.kpis(&filter, offset, DRIFT_ALPHA)).await.map_err(internal)??))
}
