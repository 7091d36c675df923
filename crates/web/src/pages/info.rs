//! Pages reachable without a session: the connection guide and how Accord handles data, plus
//! the static assets (stylesheet, enhancement script, platform marks).

use crate::pages::ctx::anonymous_chrome;
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::templates::{GuidePage, PrivacyPage};
use crate::security::CspNonce;
use crate::state::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

pub async fn guide(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Extension(nonce): Extension<CspNonce>,
) -> Result<Response, PageError> {
    let chrome = anonymous_chrome(&state, &uri, &headers, true, nonce.0).await;
    Ok(Html(GuidePage { chrome }.render()?).into_response())
}

pub async fn privacy(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    Extension(nonce): Extension<CspNonce>,
) -> Result<Response, PageError> {
    let chrome = anonymous_chrome(&state, &uri, &headers, true, nonce.0).await;
    Ok(Html(PrivacyPage { chrome }.render()?).into_response())
}

const CSS: &str = include_str!("../../assets/accord.css");
const JS: &str = include_str!("../../assets/accord.js");
const EMBED_JS: &str = include_str!("../../assets/embed.js");

fn asset(content_type: &'static str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// The site icon browsers ask for on a first visit, so that view has no 404: a small SVG (the
/// browsers Accord supports take one at this path), cached for a day.
pub async fn favicon() -> Response {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
        .into_response()
}

const FAVICON: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\">\
<rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#1f4e79\"/>\
<path d=\"M4 8.5l2.5 2.5L12 5.5\" fill=\"none\" stroke=\"#fff\" stroke-width=\"2\" \
stroke-linecap=\"round\" stroke-linejoin=\"round\"/></svg>";

pub async fn css() -> Response {
    asset("text/css; charset=utf-8", CSS.to_owned())
}

pub async fn js() -> Response {
    asset("text/javascript; charset=utf-8", JS.to_owned())
}

/// The framed flow's side of the embed SDK (loaded only by pages shown in its iframe).
pub async fn embed_js() -> Response {
    asset("text/javascript; charset=utf-8", EMBED_JS.to_owned())
}

/// A platform's mark as SVG, drawn from the catalog's monogram and colours.
pub async fn mark(
    State(state): State<AppState>,
    Path(file): Path<String>,
) -> Result<Response, PageError> {
    let key = file
        .strip_suffix(".svg")
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let p = state
        .catalog
        .find(key)
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let text: String = p
        .mark
        .monogram
        .chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let size = if p.mark.monogram.chars().count() > 2 {
        12
    } else {
        15
    };
    // Colours were validated as #RRGGBB when the catalog loaded.
    let svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32" role="img"><rect width="32" height="32" rx="7" fill="{}"/><text x="16" y="21" font-family="system-ui,sans-serif" font-size="{size}" font-weight="700" text-anchor="middle" fill="{}">{text}</text></svg>"#,
        p.mark.background, p.mark.foreground
    );
    Ok(asset("image/svg+xml", svg))
}
