//! Accord's HTTP surfaces: the hosted flow and manage pages (`pages`), the tenant console
//! (`console`), the tenant API (`api`), health endpoints, and the security baseline every
//! response carries.
//!
//! `app(state)` returns the whole router; the binary serves it and tests spawn it on
//! `127.0.0.1:0`.

pub mod api;
pub mod console;
pub mod error;
pub mod i18n;
pub mod markdown;
pub mod metrics;
pub mod pages;
pub mod ratelimit;
pub mod sdk;
pub mod security;
pub mod services;
pub mod state;
pub mod strict;

pub use state::{AppState, WebConfig};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::trace::TraceLayer;

/// The whole application router.
pub fn app(state: AppState) -> Router {
    let (api, doc) = api::router();
    let doc = Arc::new(doc.to_pretty_json().expect("OpenAPI serialises"));
    let routes = routes(state.clone(), api, doc);
    // The embed SDK's framed pages post their session handle in form bodies; a post standing
    // for a link click must become its GET before routing picks the route (`pages::embed`).
    let rewrite = axum::middleware::from_fn_with_state(state.clone(), pages::embed::rewrite);
    let strict = axum::middleware::from_fn_with_state(state, strict::strict);
    Router::new()
        .fallback_service(tower::Layer::layer(&rewrite, routes))
        .layer(strict)
        .layer(axum::middleware::from_fn(security::baseline_headers))
}

fn routes(state: AppState, api: Router<AppState>, doc: Arc<String>) -> Router {
    Router::new()
        .merge(pages::router(state.clone()))
        .merge(console::router(&state))
        .merge(api)
        .merge(sdk::router())
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/metrics", get(metrics::scrape))
        .route(
            "/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        doc.as_str().to_owned(),
                    )
                }
            }),
        )
        .layer(RequestBodyLimitLayer::new(strict::BODY_LIMIT))
        // Pages stay well under the 14 KB first-round-trip budget compressed (each flow step
        // arrives in the first round trip on a slow phone connection).
        .layer(CompressionLayer::new())
        // Spans name the route template, never the raw URI: link tokens, OAuth codes and
        // `state` travel in URIs and must not reach the logs.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map_or("unmatched", MatchedPath::as_str);
            tracing::info_span!("request", method = %req.method(), route = %route)
        }))
        .layer(axum::middleware::from_fn(metrics::track))
        .with_state(state)
}

/// The public keys that sign consent receipts, retired ones included (RFC 7517).
async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        state.keyring.signing_keys().jwks().to_string(),
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, "ready"),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable")
        }
    }
}
