//! A company's personal link back to its manage page. The manage sessions a tenant mints last
//! an hour, so "disconnect at any time" would otherwise depend on the tenant; this link lasts
//! as long as a connection of the company is in force. It is stored by hash, opens one
//! company's page, is replaced by a fresh one when used from a new browser (a leaked old copy
//! then opens nothing), and the tenant can revoke every link of a company.

use crate::state::AppState;
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::ManageLink;
use accord_domain::ids::{CompanyId, TenantId};
use accord_store::StoreError;

/// The path a manage link's token opens.
pub fn path(token: &str) -> String {
    format!("/manage/return/{token}")
}

/// Whether the company has a connection in force (the condition for its links to open).
pub async fn live(
    state: &AppState,
    tenant: TenantId,
    company: CompanyId,
) -> Result<bool, StoreError> {
    let conns = state
        .connections()
        .company_connections(tenant, company)
        .await?;
    Ok(in_force(&conns))
}

/// Whether any of a company's connections `conns` holds a consent in force: sharing, or paused
/// until the customer agrees again (who then needs the page most). A sign-in never finished
/// holds no consent.
pub fn in_force(conns: &[Connection]) -> bool {
    conns.iter().any(|c| {
        c.consent_id.is_some()
            && matches!(
                c.status,
                ConnectionStatus::Linked | ConnectionStatus::ReconsentRequired
            )
    })
}

/// A fresh link (its full URL) for the company, or `None` when nothing of it is in force.
pub async fn issue(
    state: &AppState,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Option<String>, StoreError> {
    if !live(state, tenant, company).await? {
        return Ok(None);
    }
    Ok(Some(issue_unchecked(state, tenant, company).await?))
}

/// A fresh link (its full URL), whatever the company's connections.
pub async fn issue_unchecked(
    state: &AppState,
    tenant: TenantId,
    company: CompanyId,
) -> Result<String, StoreError> {
    let (token, link) = mint(state, tenant, company);
    state.flow().create_manage_link(&link).await?;
    Ok(url(state, &token))
}

/// A fresh token and the link to store for it (by its hash), not yet stored: the caller stores
/// it, alone or in a transaction of its own (the callback's link).
pub fn mint(state: &AppState, tenant: TenantId, company: CompanyId) -> (String, ManageLink) {
    let token = random_token(32);
    let link = ManageLink {
        tenant_id: tenant,
        company_id: company,
        token_hash: TokenHash::of(&token),
        created_at: state.clock.now(),
        revoked_at: None,
    };
    (token, link)
}

/// The full URL a link's token opens.
pub fn url(state: &AppState, token: &str) -> String {
    state.config.url(&path(token))
}

/// The link whose token this is, when it may open the manage page (unrevoked, its company's
/// connections in force). Nothing is changed.
pub async fn usable(state: &AppState, token: &str) -> Result<Option<ManageLink>, StoreError> {
    let Some(link) = state.flow().manage_link(&TokenHash::of(token)).await? else {
        return Ok(None);
    };
    if !live(state, link.tenant_id, link.company_id).await? {
        return Ok(None);
    }
    Ok(Some(link))
}
