//! Webhooks: the tenant's endpoints, each with its latest deliveries and their attempts'
//! status; admins replay a delivery (a new delivery of the same event, the same
//! `webhook-id`) and rotate an endpoint's secret (the new one shown once; the previous one
//! keeps signing beside it for the configured overlap). Endpoints are registered through the API.

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, notice, Chrome};
use crate::state::AppState;
use accord_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use accord_domain::outbox::secret_aad;
use accord_domain::webhook::new_secret;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};

/// Deliveries listed per endpoint.
const DELIVERIES: u32 = 10;

struct DeliveryRow {
    id: String,
    event_type: String,
    status: String,
    attempts: i64,
    last: String,
    created: String,
}

struct EndpointRow {
    id: String,
    url: String,
    description: String,
    enabled: bool,
    deliveries: Vec<DeliveryRow>,
}

#[derive(Template)]
#[template(path = "console/webhooks.html")]
struct WebhooksPage {
    c: Chrome,
    csrf: String,
    endpoints: Vec<EndpointRow>,
    can_act: bool,
    /// A secret just made by a rotation: for which endpoint, and the secret, shown once.
    secret: Option<(String, String)>,
    notice: Option<String>,
    error: Option<String>,
}

async fn page(state: &AppState, m: &Member) -> Result<WebhooksPage, ConsoleError> {
    let mut endpoints = Vec::new();
    for e in state.webhooks().webhook_endpoints(m.tenant.id).await? {
        let mut deliveries = Vec::new();
        for d in state
            .webhooks()
            .webhook_deliveries(m.tenant.id, e.id, None, DELIVERIES)
            .await?
        {
            let attempts = state.webhooks().webhook_attempts(m.tenant.id, d.id).await?;
            let last =
                attempts
                    .last()
                    .map_or_else(String::new, |a| match (a.response_status, &a.error) {
                        (_, Some(err)) => err.clone(),
                        (Some(s), None) => s.to_string(),
                        (None, None) => String::new(),
                    });
            deliveries.push(DeliveryRow {
                id: d.id.to_string(),
                event_type: d.event_type,
                status: d.status.as_str().to_owned(),
                attempts: d.attempts,
                last,
                created: m.chrome.when(d.created_at),
            });
        }
        endpoints.push(EndpointRow {
            id: e.id.to_string(),
            url: e.url,
            description: e.description.unwrap_or_default(),
            enabled: e.enabled,
            deliveries,
        });
    }
    Ok(WebhooksPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        endpoints,
        can_act: m.user.role.allows(accord_domain::console::Role::Admin),
        secret: None,
        notice: None,
        error: None,
    })
}

pub async fn list(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<crate::console::account::DoneQuery>,
) -> Result<Response, ConsoleError> {
    let mut p = page(&state, &m).await?;
    p.notice = notice(&m.chrome.tr, q.done.as_deref());
    html(&p)
}

fn parse<T: std::str::FromStr>(raw: &str) -> Result<T, ConsoleError> {
    raw.parse().map_err(|_| ConsoleError::NotFound)
}

pub async fn replay(
    State(state): State<AppState>,
    Path((endpoint, delivery)): Path<(String, String)>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let endpoint: WebhookEndpointId = parse(&endpoint)?;
    let delivery: WebhookDeliveryId = parse(&delivery)?;
    let replayed = state
        .webhooks()
        .replay_webhook_delivery(m.tenant.id, endpoint, delivery, state.clock.now())
        .await?
        .ok_or(ConsoleError::NotFound)?;
    state.jobs.notify_one();
    m.audit(
        &state,
        "webhook.replayed",
        Some(delivery.to_string()),
        serde_json::json!({ "endpoint": endpoint.to_string(), "new_delivery": replayed.id.to_string() }),
    )
    .await?;
    Ok(Redirect::to("/console/webhooks?done=webhook-replayed").into_response())
}

pub async fn rotate(
    State(state): State<AppState>,
    Path(endpoint): Path<String>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let id: WebhookEndpointId = parse(&endpoint)?;
    let now = state.clock.now();
    let now = now
        .replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now);
    let secret = new_secret();
    let ct = state
        .secrets()
        .seal(m.tenant.id, secret.as_bytes(), &secret_aad(m.tenant.id, id))
        .await
        .map_err(accord_store::StoreError::from)?;
    state
        .webhooks()
        .rotate_webhook_secret(
            m.tenant.id,
            id,
            &ct,
            now + state.config.webhook_secret_overlap,
            now,
        )
        .await?
        .ok_or(ConsoleError::NotFound)?;
    m.audit(
        &state,
        "webhook.secret_rotated",
        Some(id.to_string()),
        serde_json::json!({}),
    )
    .await?;
    let mut p = page(&state, &m).await?;
    p.secret = Some((id.to_string(), secret));
    html(&p)
}
