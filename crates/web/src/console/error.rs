//! The console's error pages. A handler returns a [`ConsoleError`]; [`render_errors`] turns it
//! into a page in the reader's language with the console's own chrome. 5xx causes are logged
//! with a correlation id, never shown.

use crate::console::view::Chrome;
use crate::security::CspNonce;
use crate::state::AppState;
use accord_store::StoreError;
use askama::Template;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

#[derive(Debug, Clone)]
pub enum ConsoleError {
    /// The signed-in user's role does not allow this page or action.
    Forbidden,
    /// The form's CSRF token is missing or wrong, or it came from another site.
    Refused,
    NotFound,
    BadRequest,
    /// Too many requests; retry after this many seconds.
    TooMany(u64),
    /// A failure whose cause was logged under this correlation id.
    Internal(String),
}

impl ConsoleError {
    /// A 500 whose cause is logged under a correlation id shown to the reader.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = accord_domain::crypto::random_token(9);
        tracing::error!(correlation_id = %id, %cause, "console request failed");
        Self::Internal(id)
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::Forbidden | Self::Refused => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The Fluent id prefix of the page's title and text.
    fn message(&self) -> &'static str {
        match self {
            Self::Forbidden => "console-error-forbidden",
            Self::Refused => "console-error-refused",
            Self::NotFound => "console-error-not-found",
            Self::BadRequest => "console-error-bad-request",
            Self::TooMany(_) => "console-error-too-many",
            Self::Internal(_) => "console-error-internal",
        }
    }
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound,
            other => Self::internal(&other),
        }
    }
}

impl From<askama::Error> for ConsoleError {
    fn from(e: askama::Error) -> Self {
        Self::internal(&e)
    }
}

/// Marker left on the response for the middleware to render.
#[derive(Clone, Debug)]
struct Unrendered(ConsoleError);

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let mut res = self.status().into_response();
        if let Self::TooMany(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(Unrendered(self));
        res
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage {
    c: Chrome,
    title: String,
    body: String,
    correlation_id: Option<String>,
}

/// Renders [`ConsoleError`]s (and bare 404s) as full pages.
pub async fn render_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let nonce = req
        .extensions()
        .get::<CspNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    let res = next.run(req).await;
    let error = match res.extensions().get::<Unrendered>() {
        Some(u) => u.0.clone(),
        None if res.status() == StatusCode::NOT_FOUND
            && res.headers().get(header::CONTENT_TYPE).is_none() =>
        {
            ConsoleError::NotFound
        }
        None => return res,
    };
    let c = Chrome::signed_out(&state, &uri, &headers, nonce);
    let key = error.message();
    let page = ErrorPage {
        title: c.tr.t(&format!("{key}-title")),
        body: c.tr.t(&format!("{key}-body")),
        correlation_id: match &error {
            ConsoleError::Internal(id) => Some(id.clone()),
            _ => None,
        },
        c,
    };
    let mut out = match page.render() {
        Ok(html) => (error.status(), Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console error page failed to render");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    };
    for (k, v) in res.headers() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}
