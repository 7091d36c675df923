//! Link settings (the tenant's voice in the flow) and the support requests customers sent.

use crate::api::dto::SupportRequestList;
use crate::api::extract::{ApiJson, Auth};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use accord_domain::settings::LinkSettings;
use accord_store::Page;
use axum::extract::State;
use axum::Json;

/// The current link settings.
#[utoipa::path(get, path = "/v1/link-settings", operation_id = "get_link_settings", tag = "settings",
    responses((status = 200, description = "The link settings document", body = Object)))]
pub async fn get(Auth(tenant): Auth) -> Json<LinkSettings> {
    Json(tenant.settings)
}

/// Replace the link settings (validated as a whole; nothing changes on error).
#[utoipa::path(put, path = "/v1/link-settings", operation_id = "put_link_settings", tag = "settings",
    request_body(content = Object, description = "The link settings document"),
    responses((status = 200, body = Object), (status = 422, body = Problem)))]
pub async fn put(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiJson(settings): ApiJson<LinkSettings>,
) -> Result<Json<LinkSettings>, ApiError> {
    settings.validate(state.config.allow_http_localhost)?;
    state
        .store
        .update_link_settings(tenant.id, &settings)
        .await?;
    Ok(Json(settings))
}

/// Support requests from customers, oldest first.
#[utoipa::path(get, path = "/v1/support-requests", operation_id = "list_support_requests", tag = "support", responses((status = 200, body = SupportRequestList)))]
pub async fn support_requests(
    State(state): State<AppState>,
    Auth(tenant): Auth,
) -> Result<Json<SupportRequestList>, ApiError> {
    let data = state
        .store
        .support_requests(
            tenant.id,
            Page {
                after: None,
                limit: 200,
            },
        )
        .await?;
    Ok(Json(SupportRequestList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}
