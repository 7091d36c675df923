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
    if announced.is_some_and(|n| n > BODY_LIMIT as u64) {
        return refuse(&state, StatusCode::PAYLOAD_TOO_LARGE, Surface::of(&req)).await;
    }
    let kept = Kept::of(&req);
    let res = next.run(req).await;
    if !framework_error(&res) {
        return res;
    }
    let surface = match &kept {
        Kept::Probe => return res,
        Kept::Api => Surface::Api,
        Kept::Page {
            uri,
            headers,
            is_get,
        } => Surface::Page {
            uri,
            headers,
            is_get: *is_get,
        },
    };
    let status = res.status();
    let mut out = refuse(&state, status, surface).await;
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

/// What [`refuse`] will need of a request once its handler has taken it, kept before the
/// handler runs. The API's answer depends on the status alone and a health check's error is
/// passed on as it is, so for those (every data call among them) nothing is copied; the flow's
/// friendly page reads its language and tenant from the URI and the headers (cookies
/// included), so a page request keeps a copy of both.
enum Kept {
    Probe,
    Api,
    Page {
        uri: Uri,
        headers: HeaderMap,
        is_get: bool,
    },
}

impl Kept {
    fn of(req: &Request) -> Self {
        if is_probe(req.uri()) {
            Kept::Probe
        } else if is_api(req.uri()) {
            Kept::Api
        } else {
            Kept::Page {
                uri: req.uri().clone(),
                headers: req.headers().clone(),
                is_get: is_get(req),
            }
        }
    }
}

/// Which surface answers an error, with what its answer is made from.
enum Surface<'a> {
    /// problem+json.
    Api,
    /// The friendly page.
    Page {
        uri: &'a Uri,
        headers: &'a HeaderMap,
        is_get: bool,
    },
}

impl<'a> Surface<'a> {
    fn of(req: &'a Request) -> Self {
        if is_api(req.uri()) {
            Surface::Api
        } else {
            Surface::Page {
                uri: req.uri(),
                headers: req.headers(),
                is_get: is_get(req),
            }
        }
    }
}

fn is_get(req: &Request) -> bool {
    req.method() == axum::http::Method::GET
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

async fn refuse(state: &AppState, status: StatusCode, surface: Surface<'_>) -> Response {
    let Surface::Page {
        uri,
        headers,
        is_get,
    } = surface
    else {
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
    };
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
