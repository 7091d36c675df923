//! Page errors. A handler returns a [`PageError`]; the `render_errors` middleware turns it into a
//! friendly page in the customer's language, with the tenant's support contacts, guide link and
//! language switch when the browser has a session: a customer who hits an error is the one who
//! most needs help, so these are on every page, errors included.
//! 5xx causes are logged with a correlation id, never shown.

use crate::pages::ctx::anonymous_chrome;
use crate::pages::templates::ErrorPage;
use crate::security::CspNonce;
use crate::state::AppState;
use accord_store::StoreError;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageErrorKind {
    /// No valid session cookie: the link was never opened in this browser, or it expired.
    SessionMissing,
    /// The link-session URL was already used or has expired.
    LinkUnusable,
    NotFound,
    /// The callback's `state` is missing, unknown, expired, replayed or from another session.
    BadState,
    /// The sign-in is over, but the tenant removed the return URL the customer was to go back
    /// to since the authorization started (build your own UI).
    ReturnGone,
    /// The form's CSRF token is missing or wrong, or the post came from another site.
    Forbidden,
    BadRequest,
    /// Too many requests from this browser.
    TooMany,
    Internal,
}

impl PageErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::SessionMissing | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::LinkUnusable | Self::ReturnGone => StatusCode::GONE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadState | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Fluent id prefix of the page's title and text.
    fn message(self) -> &'static str {
        match self {
            Self::SessionMissing => "error-session",
            Self::LinkUnusable => "error-link",
            Self::NotFound => "error-not-found",
            Self::BadState => "error-state",
            Self::ReturnGone => "error-return",
            Self::Forbidden => "error-forbidden",
            Self::BadRequest => "error-bad-request",
            Self::TooMany => "error-too-many",
            Self::Internal => "error-internal",
        }
    }
}

#[derive(Debug)]
pub struct PageError {
    pub kind: PageErrorKind,
    correlation_id: Option<String>,
}

impl PageError {
    pub fn new(kind: PageErrorKind) -> Self {
        Self {
            kind,
            correlation_id: None,
        }
    }

    /// A 500 whose cause is logged under a correlation id shown to the customer.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = accord_domain::crypto::random_token(9);
        tracing::error!(correlation_id = %id, %cause, "page request failed");
        Self {
            kind: PageErrorKind::Internal,
            correlation_id: Some(id),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => PageError::new(PageErrorKind::NotFound),
            other => PageError::internal(&other),
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(e: askama::Error) -> Self {
        PageError::internal(&e)
    }
}

/// The friendly 429 page, with `Retry-After` in seconds (RFC 9110 §10.2.3).
pub fn too_many(retry_after_secs: u64) -> Response {
    let mut res = PageError::new(PageErrorKind::TooMany).into_response();
    res.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from(retry_after_secs),
    );
    res
}

/// Marker left on the response for the middleware to render.
#[derive(Clone, Debug)]
struct Unrendered {
    kind: PageErrorKind,
    correlation_id: Option<String>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = self.kind.status().into_response();
        res.extensions_mut().insert(Unrendered {
            kind: self.kind,
            correlation_id: self.correlation_id,
        });
        res
    }
}

/// Renders [`PageError`]s (and bare 404s of unknown routes) as full pages.
pub async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let is_get = req.method() == axum::http::Method::GET;
    let nonce = req
        .extensions()
        .get::<CspNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let embed = crate::pages::embed::EmbedChrome::of(req.extensions());
    let res = next.run(req).await;
    let unrendered = match res.extensions().get::<Unrendered>() {
        Some(u) => u.clone(),
        None if res.status() == StatusCode::NOT_FOUND
            && res
                .headers()
                .get(axum::http::header::CONTENT_TYPE)
                .is_none() =>
        {
            Unrendered {
                kind: PageErrorKind::NotFound,
                correlation_id: None,
            }
        }
        None => return res,
    };
    let mut chrome = anonymous_chrome(&state, &uri, &headers, is_get, nonce).await;
    chrome.embed = embed;
    let key = unrendered.kind.message();
    let page = ErrorPage {
        title: chrome.tr.t(&format!("{key}-title")),
        body: chrome.tr.t(&format!("{key}-body")),
        correlation_id: unrendered.correlation_id,
        code: key.to_owned(),
        chrome,
    };
    let mut out = match page.render() {
        Ok(html) => (unrendered.kind.status(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    };
    // Keep headers the handler set (e.g. Retry-After).
    for (k, v) in res.headers() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
