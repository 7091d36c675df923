//! API keys (`/v1/api-keys`): list the tenant's keys (paged by `after` and `limit`, as other
//! lists), make a named one (its full value shown in
//! that answer only), revoke one.
//!
//! A key is `acc_<key id>_<secret>`; Accord keeps the key id and the SHA-256 of the secret, so a
//! lost key cannot be shown again: make a new one and revoke the old. A revoked key is refused
//! (401) from the next request on, the key making the call included: a tenant may revoke the
//! key it is calling with, and that call is the last one it answers. Each creation and
//! revocation is recorded in the tenant's audit trail, by the calling key (`api key <name>`).

use crate::api::extract::{ApiJson, ApiPath, ApiQuery, AuthKey};
use crate::error::{ApiError, Problem, Resource};
use crate::services::tenants::add_named_api_key;
use crate::state::AppState;
use accord_domain::console::{api_key_actor, AuditEntry, AuditId};
use accord_domain::ids::ApiKeyId;
use accord_domain::tenant::{api_key_name_field, ApiKeyRecord, Tenant};
use accord_domain::validate::Invalid;
use accord_store::Page;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The most keys a tenant may hold unrevoked at once.
const MAX_LIVE_KEYS: usize = 50;

/// An API key, without its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub name: String,
    /// The public part of the key (`acc_<key_id>_…`): tells keys apart without the secret.
    pub key_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When a request last authenticated with the key, within a minute (it is written at most
    /// once a minute); null if never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When the key was revoked; a revoked key is refused with 401.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKeyRecord> for ApiKeyDto {
    fn from(k: ApiKeyRecord) -> Self {
        Self {
            id: k.id.0,
            name: k.name,
            key_id: k.key_id,
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyList {
    /// Oldest first, revoked keys included.
    pub data: Vec<ApiKeyDto>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_cursor: Option<Uuid>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Return keys created after this one (the previous page's `next_cursor`).
    after: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
}

/// A new key with its full value, shown only in this answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyWithSecret {
    #[serde(flatten)]
    pub api_key: ApiKeyDto,
    /// The whole key (`acc_…`), for `Authorization: Bearer`. Shown once; keep it safe.
    pub key: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for ("production", "billing job"): 1 to 100 characters.
    pub name: String,
}

async fn audit(
    state: &AppState,
    tenant: &Tenant,
    caller: &ApiKeyRecord,
    action: &str,
    key: &ApiKeyRecord,
) -> Result<(), ApiError> {
    state
        .console()
        .record_audit(&AuditEntry {
            id: AuditId::new(),
            tenant_id: tenant.id,
            actor: api_key_actor(&caller.name),
            action: action.to_owned(),
            target: Some(key.id.to_string()),
            detail: serde_json::json!({ "name": key.name, "key_id": key.key_id }),
            at: state.clock.now(),
        })
        .await?;
    Ok(())
}

/// List your API keys a page at a time, oldest first, revoked ones included (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", operation_id = "list_api_keys", tag = "api-keys",
    params(ListQuery),
    responses((status = 200, body = ApiKeyList), (status = 422, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    AuthKey(tenant, _): AuthKey,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<ApiKeyList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let page = state
        .tenants()
        .api_keys_page(
            tenant.id,
            Page {
                after: q.after.map(ApiKeyId),
                limit,
            },
        )
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|k| k.id.0))
        .flatten();
    Ok(Json(ApiKeyList {
        data: page.into_iter().map(ApiKeyDto::from).collect(),
        next_cursor,
    }))
}

/// Make an API key. The answer holds the whole key, shown only this once.
#[utoipa::path(post, path = "/v1/api-keys", operation_id = "create_api_key", tag = "api-keys",
    request_body = CreateApiKey,
    responses((status = 201, body = ApiKeyWithSecret), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    AuthKey(tenant, caller): AuthKey,
    ApiJson(body): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<ApiKeyWithSecret>), ApiError> {
    let name = api_key_name_field("name", &body.name).map_err(|e| Invalid(vec![e]))?;
    let live = state
        .tenants()
        .api_keys(tenant.id)
        .await?
        .iter()
        .filter(|k| k.revoked_at.is_none())
        .count();
    if live >= MAX_LIVE_KEYS {
        return Err(ApiError::Conflict(format!(
            "a tenant may hold at most {MAX_LIVE_KEYS} unrevoked API keys: revoke one first"
        )));
    }
    let (record, full) = add_named_api_key(&state, tenant.id, &name).await?;
    audit(&state, &tenant, &caller, "api_key.created", &record).await?;
    tracing::info!(api_key = %record.id, "API key created");
    Ok((
        StatusCode::CREATED,
        Json(ApiKeyWithSecret {
            api_key: ApiKeyDto::from(record),
            key: full.expose_secret().to_owned(),
        }),
    ))
}

/// Revoke an API key, named by its `id` or by its public `key_id` (the part after `acc_` of
/// the key itself, so a key can be revoked by whoever holds it): it is refused (401) from the
/// next request on. Revoking the key this request is made with is allowed (this is then its
/// last answer). Revoking a revoked key changes nothing.
#[utoipa::path(delete, path = "/v1/api-keys/{key_id}", operation_id = "revoke_api_key", tag = "api-keys",
    params(("key_id" = String, Path, description = "The key's `id` (a UUID) or its public `key_id` (16 hex digits)")),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    AuthKey(tenant, caller): AuthKey,
    ApiPath(named): ApiPath<String>,
) -> Result<Json<ApiKeyDto>, ApiError> {
    let not_found = || ApiError::NotFound(Resource::ApiKey);
    let by_id = named.parse::<Uuid>().ok().map(ApiKeyId);
    let find = |keys: Vec<ApiKeyRecord>| {
        keys.into_iter()
            .find(|k| by_id.map_or(k.key_id == named, |id| k.id == id))
    };
    let key = find(state.tenants().api_keys(tenant.id).await?).ok_or_else(not_found)?;
    let revoked = state
        .tenants()
        .revoke_api_key(tenant.id, key.id, state.clock.now())
        .await?;
    state.api_keys.forget_tenant(tenant.id);
    let key = find(state.tenants().api_keys(tenant.id).await?).ok_or_else(not_found)?;
    if revoked {
        audit(&state, &tenant, &caller, "api_key.revoked", &key).await?;
        tracing::info!(api_key = %key.id, "API key revoked");
    }
    Ok(Json(ApiKeyDto::from(key)))
}
