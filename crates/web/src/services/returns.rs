//! The return redirect: when the customer finishes, the tenant's registered return URL (chosen
//! for the link session, matched exactly when it was minted, and matched again when used) with
//! the outcome in its query: `companyId`, `connectionId`, `platform`, `status`, `errorCode`.
//! Also what the embed SDK's `onFinish` receives.

use crate::state::AppState;
use accord_domain::connection::Connection;
use accord_domain::flow::BrowserSession;
use accord_domain::ids::ConnectionId;
use accord_domain::integration::{return_redirect, ReturnParams};
use accord_store::StoreError;

/// The outcome for this browser session: `connection` when named (and the company's), else the
/// company's connection most recently changed during this session; `exited` without one.
pub async fn outcome(
    state: &AppState,
    session: &BrowserSession,
    connection: Option<ConnectionId>,
) -> Result<ReturnParams, StoreError> {
    let connections = state
        .connections()
        .company_connections(session.tenant_id, session.company_id)
        .await?;
    let chosen = match connection {
        Some(id) => connections.into_iter().find(|c| c.id == id),
        None => connections
            .into_iter()
            .filter(|c| c.updated_at >= session.created_at)
            .max_by_key(|c| c.updated_at),
    };
    Ok(params(session, chosen.as_ref()))
}

pub fn params(session: &BrowserSession, c: Option<&Connection>) -> ReturnParams {
    ReturnParams {
        company_id: session.company_id.to_string(),
        connection_id: c.map(|c| c.id.to_string()),
        platform: c.map(|c| c.platform_key.to_string()),
        status: c.map_or_else(|| "exited".to_owned(), |c| c.status.as_str().to_owned()),
        error_code: c.and_then(|c| c.last_error.clone()),
    }
}

/// The link session's return URL with `params`, when the tenant gave one and it is still one of
/// the tenant's return URLs. A tenant that removes a URL from `integration.return_urls` (it
/// moved, or it was a mistake) means no customer is sent there any more, sessions minted
/// before the change included; they end on Accord's own page instead.
pub async fn redirect_url(
    state: &AppState,
    session: &BrowserSession,
    params: &ReturnParams,
) -> Result<Option<String>, StoreError> {
    let Some(id) = session.link_session_id else {
        return Ok(None);
    };
    let Some(link) = state.flow().link_session(session.tenant_id, id).await? else {
        return Ok(None);
    };
    let Some(stored) = link.return_url.as_deref() else {
        return Ok(None);
    };
    let Some(tenant) = state.tenants().tenant(session.tenant_id).await? else {
        return Ok(None);
    };
    Ok(tenant
        .settings
        .integration
        .return_url(stored)
        .and_then(|registered| return_redirect(registered, params)))
}

/// The JSON form of `params` (the embed SDK's `onFinish` data; camelCase like the query).
pub fn json(params: &ReturnParams) -> serde_json::Value {
    serde_json::json!({
        "companyId": params.company_id,
        "connectionId": params.connection_id,
        "platform": params.platform,
        "status": params.status,
        "errorCode": params.error_code,
    })
}
