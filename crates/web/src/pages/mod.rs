//! The HTML surfaces: the hosted flow (`/link/...`) and the manage page (`/manage/...`), with
//! their own middleware (CSP nonces and headers, language cookie, error pages). Sessions are
//! cookies; every form carries a CSRF token.

pub mod brand;
pub mod ctx;
pub mod embed;
pub mod error;
pub mod exit;
pub mod form;
pub mod info;
pub mod link;
pub mod manage;
pub mod nda;
pub mod receipts;
pub mod reconsent;
pub mod support;
pub mod templates;

use crate::state::AppState;
use accord_domain::locale::Locale;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

pub fn router(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/link/{token}", get(link::open))
        .route("/link/start", get(link::landing))
        .route("/link/platforms", get(link::select))
        .route(
            "/link/platforms/{key}/consent",
            get(link::consent).post(link::consent_submit),
        )
        .route("/link/callback/{key}", get(link::callback))
        .route("/link/connections/{id}", get(link::success))
        .route("/link/connections/{id}/retry", post(link::retry))
        .route(
            "/link/connections/{id}/reconsent",
            get(reconsent::link_show).post(reconsent::link_submit),
        )
        .route(
            "/link/connections/{id}/reconsented",
            get(reconsent::link_done),
        )
        .route("/link/nda", get(nda::show).post(nda::submit))
        .route("/link/nda/{file}", get(nda::link_file))
        .route("/manage/nda/{file}", get(nda::manage_file))
        .route("/link/manage", post(link::to_manage))
        .route("/link/finish", get(link::finish))
        .route("/link/exit", get(exit::show).post(exit::confirm))
        .route(
            "/link/support",
            get(support::link_form).post(support::link_submit),
        )
        .route("/manage", get(manage::index))
        .route("/manage/{token}", get(manage::open))
        .route(
            "/manage/connections/{id}/disconnect",
            get(manage::confirm).post(manage::disconnect),
        )
        .route(
            "/manage/connections/{id}/reconnect",
            post(manage::reconnect),
        )
        .route(
            "/manage/connections/{id}/reconsent",
            get(reconsent::manage_show).post(reconsent::manage_submit),
        )
        .route(
            "/manage/connections/{id}/reconsented",
            get(reconsent::manage_done),
        )
        .route(
            "/manage/support",
            get(support::manage_form).post(support::manage_submit),
        )
        .route("/link/receipts/{id}", get(receipts::link_page))
        .route("/link/receipts/{id}/{file}", get(receipts::link_download))
        .route("/manage/receipts/{id}", get(receipts::manage_page))
        .route(
            "/manage/receipts/{id}/{file}",
            get(receipts::manage_download),
        )
        .route("/guide", get(info::guide))
        .route("/privacy", get(info::privacy))
        .route("/assets/accord.css", get(info::css))
        .route("/assets/accord.js", get(info::js))
        .route("/assets/embed.js", get(info::embed_js))
        .route("/assets/marks/{file}", get(info::mark))
        .route("/brand/{tenant}/logo", get(brand::logo))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(state.clone(), limit_posts))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            error::render_errors,
        ))
        .layer(middleware::from_fn(remember_language))
        .layer(middleware::from_fn_with_state(state, embed::bridge))
        .layer(middleware::from_fn(crate::security::page_headers))
}

/// `?lang=fr` from the language switch is remembered in a cookie, so the next pages keep it.
async fn remember_language(req: Request, next: Next) -> Response {
    let chosen = req.uri().query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| v.parse::<Locale>().ok())
    });
    let mut res = next.run(req).await;
    if let Some(l) = chosen {
        let c = cookie::Cookie::build((ctx::LANG_COOKIE, l.as_str()))
            .path("/")
            .same_site(cookie::SameSite::Lax)
            .http_only(true)
            .max_age(cookie::time::Duration::days(365))
            .build();
        if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Every form post of the flow and manage pages counts against its client IP's limit; over it,
/// the friendly 429 page (rendered by `render_errors`) and the handler never runs.
async fn limit_posts(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    if parts.method == axum::http::Method::POST {
        if let Some(ip) = form::client_ip(&parts, &state.config.trusted_proxies) {
            if let Err(limited) = state.limits.post(ip) {
                tracing::info!(
                    retry_after = limited.retry_after_secs,
                    "form post refused: rate limit"
                );
                return error::too_many(limited.retry_after_secs);
            }
        }
    }
    next.run(Request::from_parts(parts, body)).await
}

/// Unknown URLs get the friendly 404 page with the security headers.
async fn not_found() -> error::PageError {
    error::PageError::new(error::PageErrorKind::NotFound)
}
