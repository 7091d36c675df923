//! Connections and consents of a company, and disconnecting (effective at once).

use crate::api::companies::own_company;
use crate::api::dto::{ConnectionDto, ConnectionList, ConsentDto, ConsentList};
use crate::api::extract::{ApiPath, Auth};
use crate::error::{ApiError, Problem, Resource};
use crate::services::{connect, integrity};
use crate::state::AppState;
use accord_domain::ids::{ConnectionId, ConsentId};
use axum::extract::State;
use axum::Json;
use uuid::Uuid;

/// List a company's connections.
#[utoipa::path(get, path = "/v1/companies/{company_id}/connections", operation_id = "list_connections", tag = "connections",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = ConnectionList), (status = 404, body = Problem)))]
pub async fn list(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<ConnectionList>, ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let data = state
        .connections()
        .company_connections(tenant.id, company.id)
        .await?;
    Ok(Json(ConnectionList {
        data: data.into_iter().map(Into::into).collect(),
    }))
}

async fn own_connection(
    state: &AppState,
    tenant: &accord_domain::tenant::Tenant,
    company_id: Uuid,
    id: Uuid,
) -> Result<accord_domain::connection::Connection, ApiError> {
    state
        .connections()
        .connection(tenant.id, ConnectionId(id))
        .await?
        .filter(|c| c.company_id.0 == company_id)
        .ok_or(ApiError::NotFound(Resource::Connection))
}

/// Get a connection.
#[utoipa::path(get, path = "/v1/companies/{company_id}/connections/{connection_id}", operation_id = "get_connection", tag = "connections",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path)),
    responses((status = 200, body = ConnectionDto), (status = 404, body = Problem)))]
pub async fn get(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath((company_id, connection_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<ConnectionDto>, ApiError> {
    Ok(Json(
        own_connection(&state, &tenant, company_id, connection_id)
            .await?
            .into(),
    ))
}

/// Disconnect: the status flips, tokens are destroyed and the consent withdrawn at once;
/// revocation at the platform follows as a durable job. Idempotent.
#[utoipa::path(delete, path = "/v1/companies/{company_id}/connections/{connection_id}", operation_id = "disconnect_connection", tag = "connections",
    params(("company_id" = Uuid, Path), ("connection_id" = Uuid, Path)),
    responses((status = 200, body = ConnectionDto, description = "The connection, now `disconnected`."), (status = 404, body = Problem)))]
pub async fn disconnect(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath((company_id, connection_id)): ApiPath<(Uuid, Uuid)>,
) -> Result<Json<ConnectionDto>, ApiError> {
    let conn = own_connection(&state, &tenant, company_id, connection_id).await?;
    let done = connect::disconnect(&state, tenant.id, conn.id, "tenant_api")
        .await?
        .ok_or(ApiError::NotFound(Resource::Connection))?;
    Ok(Json(done.connection.into()))
}

/// List a company's consents, withdrawn ones included.
#[utoipa::path(get, path = "/v1/companies/{company_id}/consents", operation_id = "list_consents", tag = "consents",
    params(("company_id" = Uuid, Path)), responses((status = 200, body = ConsentList), (status = 404, body = Problem),
        (status = 500, description = "A consent disagrees with its ledger event (`ledger-integrity`)", body = Problem)))]
pub async fn list_consents(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(company_id): ApiPath<Uuid>,
) -> Result<Json<ConsentList>, ApiError> {
    let company = own_company(&state, &tenant, company_id).await?;
    let mut data = Vec::new();
    for c in state
        .consents()
        .company_consents(tenant.id, company.id)
        .await?
    {
        data.push(integrity::checked_consent(&state, c).await?.into());
    }
    Ok(Json(ConsentList { data }))
}

/// Get a consent with its evidence and the exact text agreed to.
#[utoipa::path(get, path = "/v1/consents/{consent_id}", operation_id = "get_consent", tag = "consents",
    params(("consent_id" = Uuid, Path)), responses((status = 200, body = ConsentDto), (status = 404, body = Problem),
        (status = 500, description = "The consent disagrees with its ledger event (`ledger-integrity`)", body = Problem)))]
pub async fn get_consent(
    State(state): State<AppState>,
    Auth(tenant): Auth,
    ApiPath(consent_id): ApiPath<Uuid>,
) -> Result<Json<ConsentDto>, ApiError> {
    let c = state
        .consents()
        .consent(tenant.id, ConsentId(consent_id))
        .await?
        .ok_or(ApiError::NotFound(Resource::Consent))?;
    Ok(Json(integrity::checked_consent(&state, c).await?.into()))
}
