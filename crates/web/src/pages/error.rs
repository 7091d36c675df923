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
    /// A callback for an authorization the tenant started through the API that was already
    /// completed or has expired (build your own UI): there is no browser session to speak of.
    AuthorizationOver,
    /// The sign-in is over, but the tenant removed the return URL the customer was to go back
    /// to since the authorization started (build your own UI).
    ReturnGone,
    /// The form's CSRF token is missing or wrong, or the post came from another site.
    Forbidden,
    BadRequest,
    /// The form's body is over the request size limit.
    TooLarge,
    /// Too many requests from this browser.
    TooMany,
    Internal,
    /// The database cannot take the request for now (unreachable, shutting down, disk full):
    /// a `503` with `Retry-After`, asking the customer to try again in a moment.
    Unavailable,
}

impl PageErrorKind {
    pub fn status(self) -> StatusCode {
        match self {
            Self::SessionMissing | Self::Forbidden => StatusCode::FORBIDDEN,
            Self::LinkUnusable | Self::ReturnGone => StatusCode::GONE,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::BadState | Self::AuthorizationOver | Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooMany => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The Fluent id prefix of the page's title and text.
    fn message(self) -> &'static str {
        match self {
            Self::SessionMissing => "error-session",
            Self::LinkUnusable => "error-link",
            Self::NotFound => "error-not-found",
            Self::BadState => "error-state",
            Self::AuthorizationOver => "error-authorization-over",
            Self::ReturnGone => "error-return",
            Self::Forbidden => "error-forbidden",
            Self::BadRequest => "error-bad-request",
            Self::TooLarge => "error-too-large",
            Self::TooMany => "error-too-many",
            Self::Internal => "error-internal",
            Self::Unavailable => "error-unavailable",
        }
    }

    /// The code the embed SDK's host hears in `onError` (documented in `link.d.ts`).
    pub fn code(self) -> &'static str {
        match self {
            Self::SessionMissing => "session_expired",
            Self::LinkUnusable => "link_unusable",
            Self::NotFound => "not_found",
            Self::BadState | Self::AuthorizationOver => "sign_in_unconfirmed",
            Self::ReturnGone => "return_url_removed",
            Self::Forbidden => "forbidden",
            Self::BadRequest => "bad_request",
            Self::TooLarge => "too_large",
            Self::TooMany => "rate_limited",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
        }
    }

    /// What the host's developer reads in `onError` (the customer reads the page).
    fn developer_message(self) -> &'static str {
        match self {
            Self::SessionMissing => "The flow's session ended or was never opened in this frame; create a new link session.",
            Self::LinkUnusable => "The link session URL was already used, has expired or does not exist; create a new link session.",
            Self::NotFound => "The flow asked for a page that does not exist.",
            Self::BadState => "The platform's answer did not match an authorization in progress; start the connection again.",
            Self::AuthorizationOver => "This authorization was already completed or has expired; start a new one.",
            Self::ReturnGone => "The return URL was removed from integration.return_urls while the sign-in was under way.",
            Self::Forbidden => "A form of the flow was refused (CSRF check); the customer should start again.",
            Self::BadRequest => "The flow received a malformed request.",
            Self::TooLarge => "A form of the flow was over the request size limit.",
            Self::TooMany => "Too many requests from this client; try again in a moment.",
            Self::Internal => "Accord failed to serve the page (the server log has the reference shown to the customer).",
            Self::Unavailable => "Accord's database is unavailable for now; the same step may succeed in a moment (Retry-After).",
        }
    }
}

/// An error page of the embedded flow reached without a session to vouch for the host origin
/// (the iframe's entry with a link that cannot be used): who may frame it, and whose page it is.
#[derive(Clone, Debug)]
pub struct Framed {
    /// The host page's origin, where the page's messages go.
    pub origin: String,
    /// `frame-ancestors` for the page.
    pub ancestors: Vec<String>,
    /// The tenant the link belonged to, for its contacts; `None` for a link nobody made.
    pub tenant: Option<accord_domain::ids::TenantId>,
    /// The link's language, if it named one.
    pub locale: Option<accord_domain::locale::Locale>,
}

#[derive(Debug)]
pub struct PageError {
    pub kind: PageErrorKind,
    correlation_id: Option<String>,
    framed: Option<Box<Framed>>,
}

impl PageError {
    pub fn new(kind: PageErrorKind) -> Self {
        Self {
            kind,
            correlation_id: None,
            framed: None,
        }
    }

    /// An error page the embed SDK's host may frame (see [`Framed`]).
    pub fn framed(kind: PageErrorKind, framed: Framed) -> Self {
        Self {
            kind,
            correlation_id: None,
            framed: Some(Box::new(framed)),
        }
    }

    /// A 500 whose cause is logged under a correlation id shown to the customer.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        let id = accord_domain::crypto::random_token(9);
        tracing::error!(correlation_id = %id, %cause, "page request failed");
        Self {
            kind: PageErrorKind::Internal,
            correlation_id: Some(id),
            framed: None,
        }
    }

    /// A 503: the database is unavailable. Its cause (which may name a host or a disk) is
    /// logged under a correlation id shown to the customer, never shown itself.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        let id = accord_domain::crypto::random_token(9);
        tracing::error!(correlation_id = %id, %cause, "page request failed: the database is unavailable");
        Self {
            kind: PageErrorKind::Unavailable,
            correlation_id: Some(id),
            framed: None,
        }
    }

    /// A failure of the consent and authorization services: the database being unavailable is
    /// a 503 like any store call; any other failure is internal.
    pub fn from_service(e: &accord_platform::OAuthError) -> Self {
        match e {
            accord_platform::OAuthError::Store(StoreError::Unavailable(cause)) => {
                PageError::unavailable(cause)
            }
            other => PageError::internal(other),
        }
    }
}

impl From<StoreError> for PageError {
    fn from(e: StoreError) -> Self {
        PageError::of_store(&e)
    }
}

impl PageError {
    /// The page for a store error: not found, unavailable (503) or internal.
    pub fn of_store(e: &StoreError) -> Self {
        match e {
            StoreError::NotFound => PageError::new(PageErrorKind::NotFound),
            StoreError::Unavailable(cause) => PageError::unavailable(cause),
            other => PageError::internal(other),
        }
    }
}

impl From<crate::services::integrity::Integrity> for PageError {
    fn from(e: crate::services::integrity::Integrity) -> Self {
        match e {
            crate::services::integrity::Integrity::Store(e) => e.into(),
            disagrees @ crate::services::integrity::Integrity::Disagrees { .. } => {
                PageError::internal(&disagrees)
            }
        }
    }
}

impl From<crate::services::nda::PdfFailure> for PageError {
    fn from(e: crate::services::nda::PdfFailure) -> Self {
        match e {
            crate::services::nda::PdfFailure::Store(e) => e.into(),
            crate::services::nda::PdfFailure::Pdf(e) => PageError::internal(&e),
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
    framed: Option<Box<Framed>>,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let mut res = self.kind.status().into_response();
        res.extensions_mut().insert(Unrendered {
            kind: self.kind,
            correlation_id: self.correlation_id,
            framed: self.framed,
        });
        res
    }
}

/// The chrome of a [`Framed`] error page: its tenant's (contacts, brand), in the language the
/// request names, else the browser's; no session, so nothing to carry but the host origin.
async fn framed_chrome(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    nonce: String,
    framed: &Framed,
) -> crate::pages::ctx::Chrome {
    use crate::pages::ctx::{lang_links, load_chrome, negotiate_locale, Chrome, PagePlace};
    let tenant = match framed.tenant {
        Some(id) => crate::pages::ctx::tenant(state, id).await.ok().flatten(),
        None => None,
    };
    let locale = negotiate_locale(uri, headers, framed.locale);
    let tr = crate::i18n::Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(uri, locale, true, uri.path());
    let kind = accord_domain::flow::SessionKind::Link;
    let mut chrome = match &tenant {
        Some(t) => {
            let place = PagePlace {
                path: uri.path(),
                ..PagePlace::default()
            };
            let mut chrome = load_chrome(state, tr, nonce, t, langs, kind, place).await;
            // No session to file a request against: the phone and e-mail remain.
            chrome.support_form = None;
            chrome
        }
        None => Chrome::for_tenant(tr, nonce, None, langs, kind),
    };
    chrome.embed = Some(crate::pages::embed::EmbedChrome::sessionless(
        &framed.origin,
    ));
    chrome
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
    let embed = crate::pages::embed::EmbedChrome::of(req.extensions(), uri.path());
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
                framed: None,
            }
        }
        None => return res,
    };
    let request = ErrorRequest {
        uri: &uri,
        headers: &headers,
        is_get,
        nonce,
    };
    let mut out = render(&state, &request, unrendered, embed).await;
    // Keep headers the handler set (e.g. Retry-After).
    for (k, v) in res.headers() {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

/// What an error page is rendered for.
struct ErrorRequest<'a> {
    uri: &'a axum::http::Uri,
    headers: &'a axum::http::HeaderMap,
    is_get: bool,
    nonce: String,
}

/// How long the page of an unavailable database waits for the tenant's contacts and brand:
/// read from the same database, they come at once when only writes fail (a full disk), and
/// not at all when the server is down, when the page goes out without them rather than later.
const UNAVAILABLE_CHROME_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

/// The chrome of an error page: its tenant's (contacts, brand, language) when the browser's
/// session, the link in the URL or the framing names one.
async fn error_chrome(
    state: &AppState,
    request: &ErrorRequest<'_>,
    framed: Option<&Framed>,
    embed: Option<crate::pages::embed::EmbedChrome>,
) -> crate::pages::ctx::Chrome {
    if let Some(f) = framed {
        return framed_chrome(
            state,
            request.uri,
            request.headers,
            request.nonce.clone(),
            f,
        )
        .await;
    }
    let mut chrome = anonymous_chrome(
        state,
        request.uri,
        request.headers,
        request.is_get,
        request.nonce.clone(),
    )
    .await;
    chrome.embed = embed;
    chrome
}

/// Accord's own chrome, in the request's language, for a page that could not learn its tenant.
fn plain_chrome(
    state: &AppState,
    request: &ErrorRequest<'_>,
    framed: Option<&Framed>,
    embed: Option<crate::pages::embed::EmbedChrome>,
) -> crate::pages::ctx::Chrome {
    use crate::pages::ctx::{lang_links, negotiate_locale, Chrome};
    let locale = negotiate_locale(request.uri, request.headers, framed.and_then(|f| f.locale));
    let tr = crate::i18n::Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(request.uri, locale, request.is_get, request.uri.path());
    let kind = accord_domain::flow::SessionKind::Link;
    let mut chrome = Chrome::for_tenant(tr, request.nonce.clone(), None, langs, kind);
    chrome.embed = match framed {
        Some(f) => Some(crate::pages::embed::EmbedChrome::sessionless(&f.origin)),
        None => embed,
    };
    chrome
}

async fn render(
    state: &AppState,
    request: &ErrorRequest<'_>,
    unrendered: Unrendered,
    embed: Option<crate::pages::embed::EmbedChrome>,
) -> Response {
    let framed = unrendered.framed.as_deref();
    let mut chrome = if unrendered.kind == PageErrorKind::Unavailable {
        let lookup = error_chrome(state, request, framed, embed.clone());
        match tokio::time::timeout(UNAVAILABLE_CHROME_WAIT, lookup).await {
            Ok(chrome) => chrome,
            Err(_) => plain_chrome(state, request, framed, embed),
        }
    } else {
        error_chrome(state, request, framed, embed).await
    };
    if let Some(e) = chrome.embed.as_mut() {
        // In the embed SDK's frame the host hears of it too, and the page is a step of its own.
        "error".clone_into(&mut e.step);
        e.event(
            "error",
            &serde_json::json!({
                "code": unrendered.kind.code(),
                "message": unrendered.kind.developer_message(),
                "recoverable": false,
            }),
        );
    }
    let ancestors = framed.map(|f| crate::security::FrameAncestors(f.ancestors.clone()));
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
    if unrendered.kind == PageErrorKind::Unavailable {
        // RFC 9110 §10.2.3: when to try again, as the API says it.
        out.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from(crate::error::UNAVAILABLE_RETRY_AFTER_SECS),
        );
    }
    if let Some(a) = ancestors {
        out.extensions_mut().insert(a);
    }
    out
}

/// The friendly page of `kind` for a response made outside the page router (the request size
/// limit, an unparsable path), with the pages' security headers.
pub async fn friendly_page(
    state: &AppState,
    kind: PageErrorKind,
    uri: &axum::http::Uri,
    headers: &axum::http::HeaderMap,
    is_get: bool,
) -> Response {
    let nonce = accord_domain::crypto::random_token(18);
    let request = ErrorRequest {
        uri,
        headers,
        is_get,
        nonce: nonce.clone(),
    };
    let unrendered = Unrendered {
        kind,
        correlation_id: None,
        framed: None,
    };
    let mut res = render(state, &request, unrendered, None).await;
    crate::security::set_page_headers(&mut res, &nonce);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unavailable_database_is_a_503_page_and_other_failures_keep_theirs() {
        let unavailable = PageError::from(StoreError::Unavailable("connection refused".into()));
        assert_eq!(unavailable.kind, PageErrorKind::Unavailable);
        assert_eq!(unavailable.kind.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(unavailable.correlation_id.is_some());
        assert_eq!(unavailable.kind.code(), "unavailable");
        let checked = crate::services::integrity::Integrity::Store(StoreError::Unavailable(
            "connection refused".into(),
        ));
        assert_eq!(PageError::from(checked).kind, PageErrorKind::Unavailable);
        let service = accord_platform::OAuthError::Store(StoreError::Unavailable("gone".into()));
        assert_eq!(
            PageError::from_service(&service).kind,
            PageErrorKind::Unavailable
        );
        let other = PageError::from(StoreError::Backend("disk I/O error".into()));
        assert_eq!(other.kind, PageErrorKind::Internal);
        assert_eq!(
            PageError::from(StoreError::NotFound).kind,
            PageErrorKind::NotFound
        );
    }
}
