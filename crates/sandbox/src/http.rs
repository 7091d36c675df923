//! HTTP plumbing shared by the sandbox's endpoints: strict parameter parsing, the base URL of
//! wherever the router is mounted, HTML pages with their security headers, and OAuth error
//! bodies.

use askama::Template;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, PRAGMA, WWW_AUTHENTICATE,
};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::crypto::random_token;

/// Request parameters, from a query string or a form body.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

/// The parameters are not valid `application/x-www-form-urlencoded`.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed;

impl Params {
    pub fn parse(encoded: &[u8]) -> Result<Params, Malformed> {
        serde_urlencoded::from_bytes(encoded)
            .map(Params)
            .map_err(|_| Malformed)
    }

    /// RFC 6749 §3.1 and §3.2: parameters must not be included more than once. Returns the
    /// first repeated name, if any.
    pub fn repeated(&self) -> Option<&str> {
        let pairs = &self.0;
        pairs
            .iter()
            .enumerate()
            .find(|(i, (name, _))| pairs[..*i].iter().any(|(n, _)| n == name))
            .map(|(_, (name, _))| name.as_str())
    }

    /// RFC 6749 §3.1: a parameter sent without a value is treated as omitted.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// The path the sandbox router is mounted at (`""` at the root, `"/sandbox"` when nested):
/// the original request path minus the path the nested router saw.
pub fn mount_prefix(original: &Uri, inner: &Uri) -> String {
    original
        .path()
        .strip_suffix(inner.path())
        .unwrap_or("")
        .trim_end_matches('/')
        .to_owned()
}

/// The issuer / base URL as seen by the client: scheme, `Host` and mount path. The sandbox
/// is a test platform served over loopback, so a plain `Host` header is trusted here.
pub fn base_url(headers: &HeaderMap, prefix: &str) -> String {
    let host = headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes().eq_ignore_ascii_case(b"https"));
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{host}{prefix}")
}

/// An OAuth error (RFC 6749 §5.2), also used for RFC 7009 and the data API (RFC 6750 §3):
/// a JSON body `{error, error_description}` and, for 401/403, a `WWW-Authenticate` challenge.
#[derive(Debug)]
pub struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
    challenge: Option<String>,
}

impl OAuthError {
    pub fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            status,
            error,
            description: description.into(),
            challenge: None,
        }
    }

    pub fn bad_request(error: &'static str, description: impl Into<String>) -> Self {
        OAuthError::new(StatusCode::BAD_REQUEST, error, description)
    }

    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "error_description": self.description });
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        // RFC 6749 §5.1 asks for no-store on token responses; errors get the same treatment.
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(PRAGMA, HeaderValue::from_static("no-cache"));
        if let Some(challenge) = self.challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            headers.insert(WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// A fresh CSP nonce for one page.
pub fn csp_nonce() -> String {
    random_token("")
}

/// Renders a page with its Content-Security-Policy: nothing may load but the inline style
/// carrying this response's nonce, and the page cannot be framed (clickjacking on a sign-in
/// page). `form-action` is left out on purpose: browsers apply it to the redirect that follows
/// the form post, which goes to the client's redirect URI.
pub fn html_page(status: StatusCode, page: &impl Template, nonce: &str) -> Response {
    let Ok(body) = page.render() else {
        tracing::error!("sandbox page failed to render");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let csp = format!(
        "default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; frame-ancestors 'none'"
    );
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        headers.insert(CONTENT_SECURITY_POLICY, csp);
    }
    response
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nonce: &'a str,
    title: &'a str,
    message: &'a str,
}

/// The page shown when the sandbox must not redirect (RFC 6749 §4.1.2.1: unknown client or
/// redirect URI), or when a sign-in form cannot be trusted.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let nonce = csp_nonce();
    html_page(
        status,
        &ErrorPage {
            nonce: &nonce,
            title,
            message,
        },
        &nonce,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(Params::parse(b"a=1&b=2&a=3").unwrap().repeated(), Some("a"));
        let params = Params::parse(b"a=1&b=&c=x+y%2B").unwrap();
        assert_eq!(params.repeated(), None);
        assert_eq!(params.get("a"), Some("1"));
        assert_eq!(params.get("b"), None);
        assert_eq!(params.get("c"), Some("x y+"));
    }

    #[test]
    fn prefix_is_what_nesting_stripped() {
        let original: Uri = "/sandbox/oauth/authorize?x=1".parse().unwrap();
        let inner: Uri = "/oauth/authorize?x=1".parse().unwrap();
        assert_eq!(mount_prefix(&original, &inner), "/sandbox");
        assert_eq!(mount_prefix(&inner, &inner), "");
    }

    #[test]
    fn base_url_uses_the_host_header() {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("127.0.0.1:8080"));
        assert_eq!(
            base_url(&headers, "/sandbox"),
            "http://127.0.0.1:8080/sandbox"
        );
        headers.insert(HOST, HeaderValue::from_static("evil\"host"));
        assert_eq!(base_url(&headers, ""), "http://localhost");
    }
}
