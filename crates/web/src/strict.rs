//! Strict input at the edge of the whole router, before any surface's own middleware: a body
//! announced over the size limit is refused before anything reads it (the embed SDK's rewrite
//! included), and an error answered in plain text by the framework itself (a body that grew over
//! the limit while streaming, a path parameter that is not UTF-8) is answered the way its surface
//! answers every other error: problem+json on the API, the friendly page on the flow.

use crate::error::ApiError;
use crate::pages::error::{friendly_page, PageErrorKind};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The largest request body accepted anywhere (a logo upload is the largest legitimate one).
pub const BODY_LIMIT: usize = 256 * 1024;

pub async fn strict(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let is_get = req.method() == axum::http::Method::GET;
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return refuse(
            &state,
            StatusCode::PAYLOAD_TOO_LARGE,
            &uri,
            &headers,
            is_get,
        )
        .await;
    }
    let res = next.run(req).await;
    if !framework_error(&res) || is_probe(&uri) {
        return res;
    }
    let status = res.status();
    let mut out = refuse(&state, status, &uri, &headers, is_get).await;
    if out.status() != status {
        // Not a status this surface has its own answer for: keep the original (the baseline
        // headers still reach it).
        return res;
    }
    for (k, v) in res.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().entry(k.clone()).or_insert(v.clone());
        }
    }
    out
}

/// An error response in plain text or without a body type: the framework's own rejections.
/// Ours are problem+json or HTML.
fn framework_error(res: &Response) -> bool {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return false;
    }
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_none_or(|t| t.starts_with("text/plain"))
}

/// Health checks answer machines, in plain text.
fn is_probe(uri: &Uri) -> bool {
    matches!(uri.path(), "/healthz" | "/readyz")
}

fn is_api(uri: &Uri) -> bool {
    uri.path().starts_with("/v1/")
}

async fn refuse(
    state: &AppState,
    status: StatusCode,
    uri: &Uri,
    headers: &HeaderMap,
    is_get: bool,
) -> Response {
    if is_api(uri) {
        let error = match status {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(format!(
                "the request body is over the limit of {BODY_LIMIT} bytes"
            )),
            StatusCode::NOT_FOUND => ApiError::NotFound(crate::error::Resource::Endpoint),
            StatusCode::BAD_REQUEST => ApiError::BadRequest("the request cannot be read".into()),
            _ => return status.into_response(),
        };
        let mut res = error.into_response();
        crate::security::set_api_headers(res.headers_mut());
        return res;
    }
    let kind = match status {
        StatusCode::PAYLOAD_TOO_LARGE => PageErrorKind::TooLarge,
        StatusCode::NOT_FOUND => PageErrorKind::NotFound,
        StatusCode::BAD_REQUEST => PageErrorKind::BadRequest,
        StatusCode::FORBIDDEN => PageErrorKind::Forbidden,
        StatusCode::TOO_MANY_REQUESTS => PageErrorKind::TooMany,
        StatusCode::INTERNAL_SERVER_ERROR => PageErrorKind::Internal,
        _ => return status.into_response(),
    };
    friendly_page(state, kind, uri, headers, is_get).await
}
