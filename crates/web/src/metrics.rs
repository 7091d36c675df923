//! `/metrics` for Prometheus, and the per-request counts behind it. The registry itself is
//! `accord_metrics`; what only a scrape can know (the job queue) is read from the store here, at
//! scrape time. An optional bearer token (`metrics.token`) keeps the endpoint from the public.

use crate::state::AppState;
use accord_domain::crypto::ct_eq;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use std::time::Instant;

/// Counts each request under its route template, never its URI: link tokens, OAuth codes and
/// ids travel in URIs, and a label per id would also grow without bound. The template is kept
/// across the handler as the router's own `MatchedPath` (a shared string: cloning it copies
/// nothing).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = known_method(req.method());
    let started = Instant::now();
    let res = next.run(req).await;
    accord_metrics::http_request(
        method,
        route.as_ref().map_or("unmatched", MatchedPath::as_str),
        res.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// A method label from a fixed set: any other method is `other`, so a client cannot make
/// series up.
fn known_method(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// `GET /metrics`: the `OpenMetrics` text, the job queue sampled now.
pub async fn scrape(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.config.metrics_token {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map_or("", |(_, t)| t.trim());
        if !ct_eq(presented.as_bytes(), token.expose_secret().as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "metrics: bearer token required\n",
            )
                .into_response();
        }
    }
    let pool = state.store.pool_status();
    accord_metrics::db_pool(pool.backend, pool.open, pool.idle, pool.max);
    let now = state.clock.now();
    match state.jobs().queue_stats(now).await {
        Ok(q) => {
            let age = q
                .oldest_due
                .map_or(0.0, |t| (now - t).as_seconds_f64().max(0.0));
            accord_metrics::job_queue(
                i64::try_from(q.pending).unwrap_or(i64::MAX),
                i64::try_from(q.due).unwrap_or(i64::MAX),
                age,
            );
        }
        // The rest is still worth scraping; the queue gauges keep their last value.
        Err(e) => tracing::warn!(error = %e, "metrics: job queue not sampled"),
    }
    (
        [
            (header::CONTENT_TYPE, accord_metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        accord_metrics::render(),
    )
        .into_response()
}
