//! The OpenAPI 3 description of the HTTP API, generated from the types (`GET /openapi.json`).

use utoipa::OpenApi;

use super::error::{ErrorBody, ErrorDetail};
use super::{cases, feedback, record, routes};
use crate::cases::hotspots::HotSpotExample;
use crate::cases::{HotSpot, Related, RelatedCase};
use crate::feedback::{CorrectedDepartment, DepartmentCount, FeedbackRecord, FeedbackStats, SimilarCase};
use crate::dispatch::{AppealType, Department, Dispatch, DispatchSuggestion, ModelVersions, ScoredDepartment, ScoredTopic, Taxonomy, Topic};
use crate::text::{Keyword, PiiKind, PreparedTranscript, Speaker, Turn};

#[derive(OpenApi)]
#[openapi(
    info(title = "hotline-triage", description = "Dispatch suggestions for Chinese citizen-hotline transcripts."),
    paths(
        routes::healthz,
        routes::readyz,
        routes::reload,
        routes::metrics,
        routes::segment,
        routes::embed,
        routes::classify,
        routes::classify_batch,
        routes::taxonomy,
        feedback::record,
        feedback::stats,
        cases::hotspots,
        cases::merge,
        record::record_event,
        record::case_events,
        record::kpis,
    ),
    components(schemas(
        routes::TextRequest, routes::EmbedRequest, routes::EmbedResponse, routes::EmbeddingItem,
        routes::ClassifyRequest, routes::ClassifyResponse, routes::BatchRequest, routes::BatchResponse,
        ErrorBody, ErrorDetail, DispatchSuggestion, ScoredTopic, ScoredDepartment, Dispatch, AppealType,
        crate::dispatch::ticket::Ticket, crate::dispatch::ticket::TicketAddress, crate::dispatch::ticket::Span, crate::dispatch::ticket::Vulnerable,
        crate::dispatch::ticket::Matter, crate::dispatch::ticket::MatterSource,
        ModelVersions, Taxonomy, Topic, Department, PreparedTranscript, Turn, Speaker, PiiKind, Keyword,
        FeedbackRecord, crate::feedback::TicketForm, feedback::FeedbackReceipt, FeedbackStats, CorrectedDepartment, DepartmentCount, SimilarCase,
        cases::HotspotsResponse, cases::MergeRequest, cases::MergeReceipt, HotSpot, HotSpotExample, Related, RelatedCase,
        crate::cases::record::CaseEvent, crate::cases::record::CaseState, record::CaseEventReceipt, record::CaseHistory, record::CaseStep,
        crate::cases::kpis::KpiReport, crate::cases::kpis::Rates, crate::cases::kpis::GroupRates, crate::cases::kpis::DriftAlarm,
    ))
)]
pub struct ApiDoc;
