//! The tenant API (`/v1/...`): JSON, bearer API key, RFC 9457 problem+json errors. The OpenAPI
//! 3.1 document is generated from these handlers (utoipa) and served at `/openapi.json`.

pub mod analytics;
pub mod api_keys;
pub mod byo;
pub mod companies;
mod conform;
pub mod connections;
pub mod data;
pub mod dto;
pub mod extract;
pub mod ledger;
pub mod manage_links;
pub mod ndas;
pub mod notices;
pub mod platforms;
pub mod receipts;
pub mod settings;
pub mod webhooks;

use crate::state::AppState;
use axum::middleware;
use axum::routing::any;
use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Accord tenant API",
        description = "Send your customers through Accord's consent-first flow, and read what they connected and agreed to.",
        license(name = "Apache-2.0")
    ),
    security(("api_key" = [])),
    modifiers(&BearerAuth),
    components(schemas(crate::error::Problem, crate::error::ProblemField)),
    // The proxy takes any method on a path with a wildcard, which the router gets directly.
    paths(data::proxy),
    tags(
        (name = "companies", description = "Your customers, and the links that send them to Accord"),
        (name = "connections", description = "Company × platform links"),
        (name = "data", description = "The customer's data through a connection, served only while the consent covers it, every access logged"),
        (name = "consents", description = "Recorded agreements, with evidence"),
        (name = "platforms", description = "The catalog, and your OAuth clients"),
        (name = "notices", description = "The consent text, versioned"),
        (name = "ndas", description = "Mutual NDAs your customers signed (optional, beside the consent)"),
        (name = "settings", description = "Your voice in the flow"),
        (name = "support", description = "Requests from your customers"),
        (name = "build-your-own", description = "Run the flow from your own UI: platforms, rendered notices, consents, authorizations"),
        (name = "analytics", description = "The funnel of the hosted flow, without personal data"),
        (name = "api-keys", description = "Your API keys: named, listed with their last use, revoked; the whole key shown once"),
        (name = "webhooks", description = "Signed events (Standard Webhooks) posted to your endpoints, with every delivery attempt"),
        (name = "ledger", description = "Each tenant's consent ledger as a public transparency log (RFC 9162 Merkle tree, C2SP signed checkpoints): hashes and signatures only, no API key; and, with your API key, the list of checkpoints signed for you to keep")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("acc_…")
                    .build(),
            ),
        );
    }
}

/// The API router and its OpenAPI document.
pub fn router() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(companies::create, companies::list))
        .routes(routes!(companies::get, companies::delete))
        .routes(routes!(companies::create_link_session))
        .routes(routes!(companies::create_manage_session))
        .routes(routes!(manage_links::create, manage_links::revoke))
        .routes(routes!(connections::list))
        .routes(routes!(connections::get, connections::disconnect))
        .routes(routes!(connections::list_consents))
        .routes(routes!(connections::get_consent))
        .routes(routes!(data::read, data::write))
        .routes(routes!(data::access_token))
        .routes(routes!(data::access_log))
        .routes(routes!(receipts::get))
        .routes(routes!(receipts::proof))
        .routes(routes!(ndas::list))
        .routes(routes!(ndas::pdf))
        .routes(routes!(platforms::list))
        .routes(routes!(platforms::put))
        .routes(routes!(notices::list, notices::publish))
        .routes(routes!(notices::versions))
        .routes(routes!(settings::get, settings::put, settings::patch))
        .routes(routes!(settings::versions))
        .routes(routes!(settings::put_logo, settings::delete_logo))
        .routes(routes!(settings::support_requests))
        .routes(routes!(byo::platforms))
        .routes(routes!(byo::render))
        .routes(routes!(byo::record_consent))
        .routes(routes!(byo::authorize))
        .routes(routes!(analytics::funnel))
        .routes(routes!(api_keys::list, api_keys::create))
        .routes(routes!(api_keys::revoke))
        .routes(routes!(webhooks::create, webhooks::list))
        .routes(routes!(webhooks::get, webhooks::update, webhooks::delete))
        .routes(routes!(webhooks::rotate_secret))
        .routes(routes!(webhooks::deliveries))
        .routes(routes!(webhooks::replay))
        .routes(routes!(ledger::checkpoint))
        .routes(routes!(ledger::key))
        .routes(routes!(ledger::inclusion))
        .routes(routes!(ledger::consistency))
        .routes(routes!(ledger::list_checkpoints))
        .split_for_parts();
    let mut doc = doc;
    unique_proxy_operation_ids(&mut doc);
    conform::conform(&mut doc);
    // The proxy takes any method (those the catalog cannot place are refused and logged, not
    // answered 405), so it is routed here rather than through `routes!`.
    let router = router.route(
        "/v1/companies/{company_id}/connections/{connection_id}/proxy/{*path}",
        any(data::proxy),
    );
    // Unknown `/v1/...` paths answer like the rest of the API (problem+json), not with the
    // hosted flow's HTML 404 page.
    let router = router.route(
        "/v1/{*rest}",
        any(|| async { crate::error::ApiError::NotFound(crate::error::Resource::Endpoint) }),
    );
    (
        router.layer(middleware::from_fn(crate::security::api_headers)),
        doc,
    )
}

/// The proxy is one handler for every method, documented once per method under one
/// `operationId`; ids must be unique (client generators name methods after them), so each
/// method's operation gets its own (`proxy_get`, `proxy_post`…).
fn unique_proxy_operation_ids(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        let ops = [
            ("get", &mut item.get),
            ("put", &mut item.put),
            ("post", &mut item.post),
            ("delete", &mut item.delete),
            ("options", &mut item.options),
            ("head", &mut item.head),
            ("patch", &mut item.patch),
            ("trace", &mut item.trace),
        ];
        for (method, op) in ops {
            if let Some(op) = op
                .as_mut()
                .filter(|o| o.operation_id.as_deref() == Some("proxy"))
            {
                op.operation_id = Some(format!("proxy_{method}"));
            }
        }
    }
}

/// The OpenAPI document as pretty JSON (what `accord openapi` prints and `openapi.json` holds).
pub fn openapi_json() -> String {
    let (_, doc) = router();
    doc.to_pretty_json()
        .expect("the OpenAPI document serialises")
}
