//! Link settings (the tenant's voice in the flow) and the support requests customers sent.

use crate::api::dto::SupportRequestList;
use crate::api::extract::{ApiJson, ApiQuery, Auth};
use crate::error::{ApiError, Problem};
use crate::state::AppState;
use accord_domain::ids::SupportRequestId;
use accord_domain::settings::LinkSettings;
use accord_store::Page;
use axum::extract::State;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

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

#[derive(Debug, Deserialize, IntoParams)]
pub struct SupportRequestQuery {
    /// Return requests received after this one (the previous page's `next_cursor`).
    after: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<u32>,
}

/// Support requests from customers, oldest first, with their diagnostics.
#[utoipa::path(get, path = "/v1/support-requests", operation_id = "list_support_requests", tag = "support", params(SupportRequestQuery),
    responses((status = 200, body = SupportRequestList), (status = 422, body = Problem)))]
pub async fn support_requests(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiQuery(q): ApiQuery<SupportRequestQuery>,
) -> Result<Json<SupportRequestList>, ApiError> {
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 200"));
    }
    let page = state
        .store
        .support_requests(
            tenant.id,
            Page {
                after: q.after.map(SupportRequestId),
                limit,
            },
        )
        .await?;
    let next_cursor = (page.len() == limit as usize)
        .then(|| page.last().map(|r| r.id.0))
        .flatten();
    Ok(Json(SupportRequestList {
        data: page.into_iter().map(Into::into).collect(),
        next_cursor,
    }))
}
