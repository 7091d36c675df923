//! Webhook endpoints (`/v1/webhook-endpoints`): register the URLs Accord posts signed events
//! to, rotate their secrets, list deliveries with every attempt, replay one.
//!
//! The secret is shown once, when it is made (creation, rotation); Accord keeps it encrypted
//! because it must sign with it. URLs are checked against server-side request forgery here (a
//! literal private, loopback or link-local address is refused, and so is a name that resolves
//! to one, or does not resolve) and again at send time, after a new resolution, because DNS can
//! change (`accord_worker::webhooks`).

use crate::api::extract::{ApiJson, ApiPath, ApiQuery, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use accord_domain::netguard::{self, Refused, Resolver};
use accord_domain::outbox::{secret_aad, WebhookAttempt, WebhookDelivery, WebhookEndpoint};
use accord_domain::tenant::Tenant;
use accord_domain::validate::{text_field, FieldError, Invalid};
use accord_domain::webhook::{new_secret, EVENT_TYPES};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use time::OffsetDateTime;
use url::Host;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most endpoints a tenant may have: each event is sent to each of them.
const MAX_ENDPOINTS: usize = 20;

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointDto {
    pub id: Uuid,
    /// Where Accord posts events: https (http only to loopback, in development).
    pub url: String,
    pub description: Option<String>,
    /// The event types sent to this endpoint; empty means every type.
    pub event_types: Vec<String>,
    pub enabled: bool,
    /// Why Accord disabled the endpoint: `gone` when it answered 410.
    pub disabled_reason: Option<String>,
    /// After a rotation: until when the previous secret still signs beside the new one.
    #[serde(with = "time::serde::rfc3339::option")]
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl WebhookEndpointDto {
    fn of(e: WebhookEndpoint, now: OffsetDateTime) -> Self {
        Self {
            id: e.id.0,
            url: e.url,
            description: e.description,
            event_types: e.event_types,
            enabled: e.enabled,
            disabled_reason: e.disabled_reason,
            previous_secret_expires_at: e.previous_secret_until.filter(|t| *t > now),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// An endpoint with its signing secret, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointWithSecret {
    #[serde(flatten)]
    pub endpoint: WebhookEndpointDto,
    /// The Standard Webhooks secret (`whsec_…`): verify each request's `webhook-signature`
    /// with it. Shown once; keep it safe.
    pub secret: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointList {
    pub data: Vec<WebhookEndpointDto>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWebhookEndpoint {
    pub url: String,
    pub description: Option<String>,
    /// Event types to send; omitted or empty means every type.
    pub event_types: Option<Vec<String>>,
    /// Default true.
    pub enabled: Option<bool>,
}

/// Changes to an endpoint; omitted fields stay as they are. An empty `description` removes it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateWebhookEndpoint {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    /// Re-enabling an endpoint Accord disabled clears `disabled_reason`; its pending
    /// deliveries resume.
    pub enabled: Option<bool>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAttemptDto {
    /// 1 for the first attempt.
    pub n: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub duration_ms: i64,
    /// The endpoint's HTTP status, when it answered.
    pub response_status: Option<i64>,
    /// Why the attempt failed (`status 503`, `timeout`, `address refused: …`); null on success.
    pub error: Option<String>,
}

impl From<WebhookAttempt> for WebhookAttemptDto {
    fn from(a: WebhookAttempt) -> Self {
        Self {
            n: a.n,
            at: a.at,
            duration_ms: a.duration_ms,
            response_status: a.response_status,
            error: a.error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryDto {
    pub id: Uuid,
    /// The event's id: the `webhook-id` header of every attempt, replays included.
    pub event_id: Uuid,
    pub event_type: String,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    /// When the next attempt is due (pending deliveries).
    #[serde(with = "time::serde::rfc3339::option")]
    pub next_attempt_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Every attempt, first first.
    pub attempts: Vec<WebhookAttemptDto>,
}

impl WebhookDeliveryDto {
    fn of(d: WebhookDelivery, attempts: Vec<WebhookAttempt>) -> Self {
        Self {
            id: d.id.0,
            event_id: d.event_id.0,
            event_type: d.event_type,
            status: d.status.as_str().to_owned(),
            next_attempt_at: d.next_attempt_at,
            created_at: d.created_at,
            attempts: attempts.into_iter().map(Into::into).collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDeliveryList {
    pub data: Vec<WebhookDeliveryDto>,
    /// Pass as `before` for the next (older) page; null on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Return deliveries older than this one (the previous page's `next_cursor`).
    before: Option<Uuid>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
}

/// How long registration waits for a name's addresses.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The endpoint URL, checked: its shape and literal host, then every address its name resolves
/// to (all must be public; `allow_loopback` admits loopback only). Refusing at registration
/// tells the tenant at once, rather than in a failed delivery later.
async fn url_of(
    raw: &str,
    allow_loopback: bool,
    resolver: &dyn Resolver,
    timeout: Duration,
) -> Result<String, FieldError> {
    if raw.len() > 2048 {
        return Err(FieldError::new("url", "must be at most 2048 characters"));
    }
    let url = netguard::check_url(raw, allow_loopback).map_err(|m| FieldError::new("url", m))?;
    if let Some(Host::Domain(name)) = url.host() {
        let answer = tokio::time::timeout(
            timeout,
            netguard::resolve_public(resolver, name, allow_loopback),
        )
        .await;
        // The address is not repeated in the answer: it could map the inside of the network.
        let why = match answer {
            Ok(Ok(_)) => None,
            Ok(Err(Refused::Inward(_))) => Some(format!(
                "has a host ({name}) that resolves to a private, loopback or link-local address; Accord calls public addresses only"
            )),
            Ok(Err(Refused::DoesNotResolve)) => Some(format!(
                "has a host ({name}) that does not resolve to any address"
            )),
            Err(_) => Some(format!(
                "has a host ({name}) that did not resolve within {} ms",
                timeout.as_millis()
            )),
        };
        if let Some(why) = why {
            return Err(FieldError::new("url", why));
        }
    }
    Ok(url.to_string())
}

fn event_types_of(list: &[String], invalid: &mut Invalid) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for (i, t) in list.iter().enumerate() {
        if !EVENT_TYPES.contains(&t.as_str()) {
            invalid.push(FieldError::new(
                format!("event_types[{i}]"),
                format!("is not an event type; allowed: {}", EVENT_TYPES.join(", ")),
            ));
        } else if !out.contains(t) {
            out.push(t.clone());
        }
    }
    out
}

fn description_of(raw: Option<&str>, invalid: &mut Invalid) -> Option<String> {
    match raw.map(str::trim) {
        None | Some("") => None,
        Some(d) => text_field("description", d, 500)
            .map_err(|e| invalid.push(e))
            .ok(),
    }
}

/// Microsecond precision, as stored: answer with what a later GET returns.
fn now_us(state: &AppState) -> OffsetDateTime {
    let now = state.clock.now();
    now.replace_nanosecond(now.nanosecond() / 1_000 * 1_000)
        .unwrap_or(now)
}

async fn encrypt_secret(
    state: &AppState,
    e: &WebhookEndpoint,
    secret: &str,
) -> Result<String, accord_store::StoreError> {
    Ok(state
        .secrets()
        .seal(
            e.tenant_id,
            secret.as_bytes(),
            &secret_aad(e.tenant_id, e.id),
        )
        .await?)
}

async fn own_endpoint(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
) -> Result<WebhookEndpoint, ApiError> {
    state
        .webhooks()
        .webhook_endpoint(tenant.id, WebhookEndpointId(id))
        .await?
        .ok_or(ApiError::NotFound(Resource::WebhookEndpoint))
}

/// Register a webhook endpoint. The answer holds its secret, shown only this once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", operation_id = "create_webhook_endpoint", tag = "webhooks",
    request_body = CreateWebhookEndpoint,
    responses((status = 201, body = WebhookEndpointWithSecret), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiJson(body): ApiJson<CreateWebhookEndpoint>,
) -> Result<(StatusCode, Json<WebhookEndpointWithSecret>), ApiError> {
    let mut invalid = Invalid::default();
    let url = url_of(
        &body.url,
        state.config.webhooks_allow_loopback,
        state.resolver.as_ref(),
        RESOLVE_TIMEOUT,
    )
    .await
    .map_err(|e| invalid.push(e))
    .ok();
    let description = description_of(body.description.as_deref(), &mut invalid);
    let event_types = event_types_of(
        body.event_types.as_deref().unwrap_or_default(),
        &mut invalid,
    );
    invalid.into_result()?;
    if state.webhooks().webhook_endpoints(tenant.id).await?.len() >= MAX_ENDPOINTS {
        return Err(ApiError::Conflict(format!(
            "a tenant may have at most {MAX_ENDPOINTS} webhook endpoints"
        )));
    }
    let now = now_us(&state);
    let secret = new_secret();
    let mut endpoint = WebhookEndpoint {
        id: WebhookEndpointId::new(),
        tenant_id: tenant.id,
        url: url.unwrap_or_default(),
        description,
        event_types,
        enabled: body.enabled.unwrap_or(true),
        disabled_reason: None,
        secret_ct: String::new(),
        previous_secret_ct: None,
        previous_secret_until: None,
        created_at: now,
        updated_at: now,
    };
    endpoint.secret_ct = encrypt_secret(&state, &endpoint, &secret).await?;
    state.webhooks().create_webhook_endpoint(&endpoint).await?;
    tracing::info!(endpoint = %endpoint.id, "webhook endpoint registered");
    Ok((
        StatusCode::CREATED,
        Json(WebhookEndpointWithSecret {
            endpoint: WebhookEndpointDto::of(endpoint, now),
            secret,
        }),
    ))
}

/// List your webhook endpoints, oldest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints", operation_id = "list_webhook_endpoints", tag = "webhooks",
    responses((status = 200, body = WebhookEndpointList)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
) -> Result<Json<WebhookEndpointList>, ApiError> {
    let now = state.clock.now();
    let data = state.webhooks().webhook_endpoints(tenant.id).await?;
    Ok(Json(WebhookEndpointList {
        data: data
            .into_iter()
            .map(|e| WebhookEndpointDto::of(e, now))
            .collect(),
    }))
}

/// Get a webhook endpoint (without its secret).
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}", operation_id = "get_webhook_endpoint", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointDto), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookEndpointDto>, ApiError> {
    let e = own_endpoint(&state, &tenant, id).await?;
    Ok(Json(WebhookEndpointDto::of(e, state.clock.now())))
}

/// Change a webhook endpoint: URL, description, event types, enabled.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{endpoint_id}", operation_id = "update_webhook_endpoint", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)), request_body = UpdateWebhookEndpoint,
    responses((status = 200, body = WebhookEndpointDto), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn update(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiJson(body): ApiJson<UpdateWebhookEndpoint>,
) -> Result<Json<WebhookEndpointDto>, ApiError> {
    let mut e = own_endpoint(&state, &tenant, id).await?;
    let mut invalid = Invalid::default();
    if let Some(raw) = &body.url {
        if let Ok(url) = url_of(
            raw,
            state.config.webhooks_allow_loopback,
            state.resolver.as_ref(),
            RESOLVE_TIMEOUT,
        )
        .await
        .map_err(|err| invalid.push(err))
        {
            e.url = url;
        }
    }
    if body.description.is_some() {
        e.description = description_of(body.description.as_deref(), &mut invalid);
    }
    if let Some(types) = &body.event_types {
        e.event_types = event_types_of(types, &mut invalid);
    }
    invalid.into_result()?;
    if let Some(enabled) = body.enabled {
        if enabled {
            e.disabled_reason = None;
        }
        e.enabled = enabled;
    }
    let now = now_us(&state);
    e.updated_at = now;
    state.webhooks().update_webhook_endpoint(&e).await?;
    Ok(Json(WebhookEndpointDto::of(e, now)))
}

/// Delete a webhook endpoint. Its pending deliveries are abandoned.
#[utoipa::path(delete, path = "/v1/webhook-endpoints/{endpoint_id}", operation_id = "delete_webhook_endpoint", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = Problem)))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    if state
        .webhooks()
        .delete_webhook_endpoint(tenant.id, WebhookEndpointId(id), state.clock.now())
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound(Resource::WebhookEndpoint))
    }
}

/// Rotate the endpoint's secret. The new secret is in the answer, shown only this once; the
/// previous one keeps signing beside it (two signatures in `webhook-signature`) until
/// `previous_secret_expires_at`, so you can switch without missing an event.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", operation_id = "rotate_webhook_secret", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path)),
    responses((status = 200, body = WebhookEndpointWithSecret), (status = 404, body = Problem)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<Json<WebhookEndpointWithSecret>, ApiError> {
    let e = own_endpoint(&state, &tenant, id).await?;
    let now = now_us(&state);
    let secret = new_secret();
    let ct = encrypt_secret(&state, &e, &secret).await?;
    let rotated = state
        .webhooks()
        .rotate_webhook_secret(
            tenant.id,
            e.id,
            &ct,
            now + state.config.webhook_secret_overlap,
            now,
        )
        .await?
        .ok_or(ApiError::NotFound(Resource::WebhookEndpoint))?;
    tracing::info!(endpoint = %e.id, "webhook secret rotated");
    Ok(Json(WebhookEndpointWithSecret {
        endpoint: WebhookEndpointDto::of(rotated, now),
        secret,
    }))
}

/// An endpoint's deliveries, newest first, each with every attempt.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries", operation_id = "list_webhook_deliveries", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path), DeliveriesQuery),
    responses((status = 200, body = WebhookDeliveryList), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<DeliveriesQuery>,
) -> Result<Json<WebhookDeliveryList>, ApiError> {
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 100"));
    }
    let e = own_endpoint(&state, &tenant, id).await?;
    let page = state
        .webhooks()
        .webhook_deliveries(tenant.id, e.id, q.before.map(WebhookDeliveryId), limit)
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|d| d.id.0))
        .flatten();
    let mut data = Vec::with_capacity(page.len());
    for d in page {
        let attempts = state.webhooks().webhook_attempts(tenant.id, d.id).await?;
        data.push(WebhookDeliveryDto::of(d, attempts));
    }
    Ok(Json(WebhookDeliveryList { data, next_cursor }))
}

/// Send a delivery's event again, now: a new delivery with the same `webhook-id`.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replay", operation_id = "replay_webhook_delivery", tag = "webhooks",
    params(("endpoint_id" = Uuid, Path), ("delivery_id" = Uuid, Path)),
    responses((status = 202, body = WebhookDeliveryDto), (status = 404, body = Problem)))]
pub async fn replay(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath((endpoint_id, delivery_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<(StatusCode, Json<WebhookDeliveryDto>), ApiError> {
    let d = state
        .webhooks()
        .replay_webhook_delivery(
            tenant.id,
            WebhookEndpointId(endpoint_id),
            WebhookDeliveryId(delivery_id),
            state.clock.now(),
        )
        .await?
        .ok_or(ApiError::NotFound(Resource::WebhookDelivery))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(WebhookDeliveryDto::of(d, Vec::new())),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use accord_domain::netguard::{Lookup, StaticResolver};
    use std::net::IpAddr;

    /// A resolver that never answers.
    #[derive(Debug)]
    struct Silent;

    impl Resolver for Silent {
        fn lookup(&self, _host: &str) -> Lookup {
            Box::pin(std::future::pending())
        }
    }

    async fn check(raw: &str, allow_loopback: bool, r: &dyn Resolver) -> Result<String, String> {
        url_of(raw, allow_loopback, r, Duration::from_millis(50))
            .await
            .map_err(|e| e.message)
    }

    #[tokio::test]
    async fn names_are_resolved_at_registration_and_must_all_be_public() {
        let r = StaticResolver::default();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        r.set("hooks.lender.example", &[ip("93.184.216.34")]);
        r.set("inward.lender.example", &[ip("127.0.0.1")]);
        r.set(
            "split.lender.example",
            &[ip("93.184.216.34"), ip("10.1.2.3")],
        );
        r.set("private.lender.example", &[ip("192.168.1.10")]);
        r.set("metadata.lender.example", &[ip("169.254.169.254")]);
        r.set("nat64.lender.example", &[ip("64:ff9b::a9fe:a9fe")]);
        assert_eq!(
            check("https://hooks.lender.example/accord", false, &r).await,
            Ok("https://hooks.lender.example/accord".to_owned())
        );
        for name in ["inward", "split", "private", "metadata", "nat64", "INWARD"] {
            let err = check(&format!("https://{name}.lender.example/"), false, &r)
                .await
                .unwrap_err();
            assert!(
                err.contains("resolves to a private, loopback or link-local address"),
                "{name}: {err}"
            );
            assert!(
                !err.contains("127.0.0.1") && !err.contains("10.1.2.3"),
                "{err}"
            );
        }
        let err = check("https://nowhere.lender.example/", false, &r)
            .await
            .unwrap_err();
        assert!(err.contains("does not resolve"), "{err}");
        let err = check("https://hooks.lender.example/", false, &Silent)
            .await
            .unwrap_err();
        assert!(err.contains("did not resolve within 50 ms"), "{err}");
        // Development: loopback names are allowed, nothing else inward. (Plain http stays
        // for literal loopback hosts only.)
        assert!(check("https://inward.lender.example/", true, &r)
            .await
            .is_ok());
        assert!(check("https://private.lender.example/", true, &r)
            .await
            .is_err());
        assert!(check("https://split.lender.example/", true, &r)
            .await
            .is_err());
        // A literal address is not looked up at all.
        assert!(check("https://93.184.216.34/", false, &Silent)
            .await
            .is_ok());
    }
}
