//! The operator console and the 考核 page, with their assets, compiled into the binary so the service
//! needs no CDN and no asset folder beside it.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const INDEX_HTML: &str = include_str!("console/index.html");
const CONSOLE_JS: &str = include_str!("console/console.js");
const CONSOLE_CSS: &str = include_str!("console/console.css");
const KPIS_HTML: &str = include_str!("console/kpis.html");
const KPIS_JS: &str = include_str!("console/kpis.js");
const API_JS: &str = include_str!("console/api.js");

/// Same-origin only: the page loads nothing from elsewhere and runs no inline script, so a
/// transcript that carries markup cannot execute.
const CSP: &str = "default-src 'self'; style-src 'self'; script-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn asset_response(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Assets change with the binary; a short cache keeps upgrades visible.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

pub async fn page() -> Response {
    asset_response(INDEX_HTML, "text/html; charset=utf-8")
}

/// The 考核 page: the case record's rates and drift alarms, for supervisors.
pub async fn kpis_page() -> Response {
    asset_response(KPIS_HTML, "text/html; charset=utf-8")
}

pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "console.js" => asset_response(CONSOLE_JS, "text/javascript; charset=utf-8"),
        "console.css" => asset_response(CONSOLE_CSS, "text/css; charset=utf-8"),
        "kpis.js" => asset_response(KPIS_JS, "text/javascript; charset=utf-8"),
        "api.js" => asset_response(API_JS, "text/javascript; charset=utf-8"),
        _ => super::ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no console asset {name:?}")).into_response(),
    }
}
