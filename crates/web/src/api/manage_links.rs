//! The company's personal links to its manage page: the tenant hands out a fresh one (it lasts
//! while a connection of the company is in force) or revokes them all.

use crate::api::companies::own_company;
use crate::api::extract::{ApiPath, Auth};
use crate::error::{ApiError, Problem};
use crate::services::manage_links;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// A personal manage link.
#[derive(Serialize, ToSchema)]
pub struct ManageLinkUrl {
    /// Opens the company's manage page; no time limit, but it opens nothing once no
    /// connection of the company is in force, and it is replaced when used from a new browser.
    pub url: String,
}

/// How many links were revoked.
#[derive(Serialize, ToSchema)]
pub struct ManageLinksRevoked {
    pub revoked: u64,
}

/// Create a personal manage link for the company, to send it yourself. 409 when none of its
/// connections is in force (such a link would open nothing).
#[utoipa::path(post, path = "/v1/companies/{company_id}/manage-links", operation_id = "create_manage_link", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 201, body = ManageLinkUrl), (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn create(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<ManageLinkUrl>), ApiError> {
    let company = own_company(&state, &tenant, company_id).await?.id;
    let url = manage_links::issue(&state, tenant.id, company)
        .await?
        .ok_or(ApiError::Conflict(
            "the company has no connection in force".to_owned(),
        ))?;
    Ok((StatusCode::CREATED, Json(ManageLinkUrl { url })))
}

/// Revoke every personal manage link of the company (those already sent open nothing).
#[utoipa::path(delete, path = "/v1/companies/{company_id}/manage-links", operation_id = "revoke_manage_links", tag = "companies",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = ManageLinksRevoked), (status = 404, body = Problem)))]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<ManageLinksRevoked>, ApiError> {
    let company = own_company(&state, &tenant, company_id).await?.id;
    let revoked = state
        .flow()
        .revoke_manage_links(tenant.id, company, state.clock.now())
        .await?;
    Ok(Json(ManageLinksRevoked { revoked }))
}
