//! The security baseline on every response, so that no page can run injected script, be framed
//! by a site the tenant did not name, or leak a flow token to a cache or a referrer: a CSP with
//! a per-request nonce (for the script, and for the `<style>` holding the tenant's validated
//! brand colours) and no `unsafe-inline`, `frame-ancestors` from the tenant's allowed embedding
//! origins (embed SDK pages) else `'none'`, `nosniff`, `no-referrer` and `no-store` on flow and
//! API responses; plus the CSRF token check for every form.

use accord_domain::crypto::{ct_eq, random_token, Keyring, TokenHash};
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

/// The nonce of this request's CSP, for `<script nonce>` in templates.
#[derive(Clone, Debug)]
pub struct CspNonce(pub String);

/// Extra `form-action` sources a page needs: Chrome applies `form-action` to the redirect that
/// follows a form post, so the consent page must allow the platform's authorization origin.
#[derive(Clone, Debug)]
pub struct FormActionSources(pub Vec<String>);

/// The origins allowed to frame this response: set by the embed SDK's pages from the tenant's
/// `integration.embedding_origins` (validated canonical origins); absent means `'none'`.
#[derive(Clone, Debug)]
pub struct FrameAncestors(pub Vec<String>);

/// What a page may frame (`frame-src`): the console's settings editor and preview frame the
/// console's own preview route; absent means nothing (`default-src 'none'`).
#[derive(Clone, Debug)]
pub struct FrameSources(pub Vec<String>);

/// Middleware for HTML pages: sets the nonce, then the headers.
pub async fn page_headers(mut req: Request, next: Next) -> Response {
    let nonce = random_token(18);
    req.extensions_mut().insert(CspNonce(nonce.clone()));
    let mut res = next.run(req).await;
    set_page_headers(&mut res, &nonce);
    res
}

/// The headers of an HTML page whose script and style carry `nonce`.
pub fn set_page_headers(res: &mut Response, nonce: &str) {
    let extra = res
        .extensions()
        .get::<FormActionSources>()
        .map(|s| s.0.join(" "))
        .unwrap_or_default();
    let ancestors = res
        .extensions()
        .get::<FrameAncestors>()
        .filter(|a| !a.0.is_empty())
        .map(|a| a.0.join(" "));
    let framed = ancestors.is_some();
    let ancestors = ancestors.unwrap_or_else(|| "'none'".to_owned());
    let frame_src = res
        .extensions()
        .get::<FrameSources>()
        .filter(|f| !f.0.is_empty())
        .map(|f| format!(" frame-src {};", f.0.join(" ")))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self' 'nonce-{nonce}'; img-src 'self' data:; \
         connect-src 'self';{frame_src} form-action 'self' {extra}; frame-ancestors {ancestors}; base-uri 'none'"
    );
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_str(csp.trim()).expect("CSP is ASCII"),
    );
    common(h);
    if framed {
        // `X-Frame-Options` cannot name origins; CSP `frame-ancestors` says who may frame.
        h.remove(header::X_FRAME_OPTIONS);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}

/// Outermost on the whole router: `nosniff` on every response (health checks, the JWKS and the
/// OpenAPI document included), and an error answered before any surface's own middleware ran
/// (a body over the limit, a path that is not UTF-8) gets the API's baseline rather than none.
pub async fn baseline_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let failed = res.status().as_u16() >= 400;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if failed && !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
        );
        common(h);
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
    }
    res
}

/// Middleware for the JSON API: no script context at all.
pub async fn api_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    set_api_headers(res.headers_mut());
    res
}

/// The JSON API's headers.
pub fn set_api_headers(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    common(h);
}

fn common(h: &mut axum::http::HeaderMap) {
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// The CSRF token of a browser session: an HMAC of the session's token hash under the keyring's
/// MAC key, so nothing more is stored and it changes with the session.
pub fn csrf_token(keyring: &Keyring, session_hash: &TokenHash) -> String {
    keyring.mac("csrf", session_hash.0.as_bytes())
}

pub fn csrf_ok(keyring: &Keyring, session_hash: &TokenHash, presented: &str) -> bool {
    ct_eq(
        csrf_token(keyring, session_hash).as_bytes(),
        presented.as_bytes(),
    )
}
