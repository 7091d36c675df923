//! The catalog as one tenant sees it, and enabling a platform with the tenant's own OAuth client.

use crate::api::extract::{ApiJson, ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::tenant::TenantPlatform;
use accord_domain::validate::{text_field, Invalid};
use accord_platform::client_secret_aad;
use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct MarkDto {
    pub monogram: String,
    pub background: String,
    pub foreground: String,
    /// An SVG of the mark served by Accord.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformDto {
    pub key: String,
    pub name: String,
    /// `accounting`, `banking` or `commerce`.
    pub category: String,
    pub mark: MarkDto,
    pub enabled: bool,
    pub client_id: Option<String>,
    /// Whether a client secret is stored (it is never returned).
    pub has_client_secret: bool,
    /// Register exactly this redirect URI with the platform.
    pub redirect_uri: String,
    /// Data types this platform can serve, with directions.
    pub data_uses: Vec<crate::api::dto::DataUseDto>,
    pub pkce: bool,
    pub supports_revocation: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PlatformList {
    pub data: Vec<PlatformDto>,
}

fn dto(state: &AppState, p: &Platform, cfg: Option<&TenantPlatform>) -> PlatformDto {
    let mut data_uses = Vec::new();
    for (dt, set) in &p.scopes {
        if set.read.is_some() {
            data_uses.push(crate::api::dto::DataUseDto {
                data_type: dt.as_str().into(),
                direction: "read".into(),
            });
        }
        if set.write.is_some() {
            data_uses.push(crate::api::dto::DataUseDto {
                data_type: dt.as_str().into(),
                direction: "write".into(),
            });
        }
    }
    PlatformDto {
        key: p.key.to_string(),
        name: p.name.clone(),
        category: p.category.to_string(),
        mark: MarkDto {
            monogram: p.mark.monogram.clone(),
            background: p.mark.background.clone(),
            foreground: p.mark.foreground.clone(),
            url: state.config.url(&format!("/assets/marks/{}.svg", p.key)),
        },
        enabled: cfg.is_some_and(|c| c.enabled),
        client_id: cfg.and_then(|c| c.client_id.clone()),
        has_client_secret: cfg.is_some_and(|c| c.client_secret_ct.is_some()),
        redirect_uri: state.config.urls.redirect_uri(p),
        data_uses,
        pkce: p.pkce,
        supports_revocation: p.revoke_url.is_some(),
    }
}

/// List the catalog's platforms with this tenant's configuration.
#[utoipa::path(get, path = "/v1/platforms", operation_id = "list_platforms", tag = "platforms", responses((status = 200, body = PlatformList)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
) -> Result<Json<PlatformList>, ApiError> {
    let configured = state.tenants().tenant_platforms(tenant.id).await?;
    let data = state
        .catalog
        .all()
        .iter()
        .map(|p| {
            dto(
                &state,
                p,
                configured.iter().find(|c| c.platform_key == p.key),
            )
        })
        .collect();
    Ok(Json(PlatformList { data }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPlatform {
    pub enabled: bool,
    /// Your OAuth client id at the platform (required to enable).
    pub client_id: Option<String>,
    /// Your OAuth client secret; stored encrypted, never returned. Omit to keep the stored one.
    pub client_secret: Option<String>,
}

/// Enable or disable a platform and set your OAuth client credentials for it.
#[utoipa::path(put, path = "/v1/platforms/{platform_key}", operation_id = "put_platform", tag = "platforms", request_body = PutPlatform,
    params(("platform_key" = String, Path)),
    responses((status = 200, body = PlatformDto), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<PutPlatform>,
) -> Result<Json<PlatformDto>, ApiError> {
    let platform = state
        .catalog
        .find(&key)
        .ok_or(ApiError::NotFound(Resource::Platform))?;
    let existing = state
        .tenants()
        .tenant_platform(tenant.id, &platform.key)
        .await?;
    let mut invalid = Invalid::default();
    let client_id = match body.client_id.as_deref() {
        Some(id) => text_field("client_id", id, 500)
            .map_err(|e| invalid.push(e))
            .ok(),
        None => existing.as_ref().and_then(|e| e.client_id.clone()),
    };
    let secret_ct = match body.client_secret.as_deref() {
        Some(s) => match text_field("client_secret", s, 2000).map_err(|e| invalid.push(e)) {
            Ok(s) => Some(
                state
                    .secrets()
                    .seal(
                        tenant.id,
                        s.as_bytes(),
                        &client_secret_aad(tenant.id, platform),
                    )
                    .await
                    .map_err(accord_store::StoreError::from)?,
            ),
            Err(()) => None,
        },
        None => existing.as_ref().and_then(|e| e.client_secret_ct.clone()),
    };
    if body.enabled && client_id.is_none() && body.client_id.is_none() {
        invalid.push(accord_domain::validate::FieldError::new(
            "client_id",
            "is required to enable a platform",
        ));
    }
    invalid.into_result()?;
    let cfg = TenantPlatform {
        tenant_id: tenant.id,
        platform_key: platform.key.clone(),
        enabled: body.enabled,
        client_id,
        client_secret_ct: secret_ct,
        updated_at: state.clock.now(),
    };
    let saved = state.tenants().upsert_tenant_platform(&cfg).await;
    // Whatever the answer (a failure may come after the commit), the pages read anew.
    state.snapshots.forget(tenant.id);
    saved?;
    Ok(Json(dto(&state, platform, Some(&cfg))))
}
