//! Build your own UI: what the tenant API needs to run the flow from the tenant's own pages —
//! the platforms offered, the notice rendered exactly as the hosted flow renders it, and an
//! authorization whose `state` and PKCE verifier Accord keeps.
//!
//! Binding: the hosted flow binds `state` to the browser's session cookie. A tenant-started
//! authorization has no Accord cookie in the customer's browser (the tenant's server asked for
//! it), so it gets a server-side browser session of its own whose token is an HMAC of the
//! `state` under Accord's MAC key: the callback finds the session from the `state` alone, only
//! for flows started this way (no hosted-flow session has such a token), and the session is
//! bound to one link session that holds the tenant's exactly matched return URL.

use crate::i18n::Tr;
use crate::services::connect::CallbackQuery;
use crate::services::notice::NoticeView;
use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::connection::Connection;
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{BrowserSession, LinkSession, SessionKind, OAUTH_STATE_TTL};
use accord_domain::ids::{BrowserSessionId, CompanyId, LinkSessionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeVersion, RenderedNotice};
use accord_domain::tenant::Tenant;
use accord_platform::OAuthError;
use accord_store::StoreError;
use time::OffsetDateTime;

/// The MAC purpose of the session token derived from a tenant-started `state`.
const STATE_SESSION: &str = "byo-state-session";

/// The platforms a tenant enabled that the flow can offer, in catalog order.
pub async fn offered_platforms(
    state: &AppState,
    tenant: TenantId,
) -> Result<Vec<Platform>, StoreError> {
    let enabled = state.tenants().tenant_platforms(tenant).await?;
    Ok(state
        .catalog
        .all()
        .iter()
        .filter(|p| enabled.iter().any(|e| e.enabled && e.platform_key == p.key))
        .filter(|p| !p.needs_shop())
        .cloned()
        .collect())
}

/// The notice in force for the platform's category in `locale` (else English), as the hosted
/// flow renders it: the same view, the same canonical text and SHA-256.
pub async fn render_notice(
    state: &AppState,
    tenant: &Tenant,
    platform: &Platform,
    locale: Locale,
) -> Result<Option<(NoticeVersion, NoticeView, RenderedNotice)>, StoreError> {
    let version = match state
        .notices()
        .current_notice_version(tenant.id, platform.category, locale)
        .await?
    {
        Some(v) => v,
        None => match state
            .notices()
            .current_notice_version(tenant.id, platform.category, Locale::En)
            .await?
        {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    let tr = Tr::new(state.i18n.clone(), locale);
    let view = NoticeView::build(&tr, &tenant.name, platform, &version);
    if view.data_uses.is_empty() {
        return Ok(None);
    }
    let rendered = view.render(&tr);
    Ok(Some((version, view, rendered)))
}

fn session_token(state: &AppState, raw_state: &str) -> String {
    state.keyring.mac(STATE_SESSION, raw_state.as_bytes())
}

/// Starts the platform authorization for a connection waiting for sign-in; returns the
/// platform URL and when its `state` expires.
pub async fn authorize(
    state: &AppState,
    company: CompanyId,
    connection: &Connection,
    platform: &Platform,
    return_url: &str,
) -> Result<(String, OffsetDateTime), OAuthError> {
    let now = state.clock.now();
    let session_id = BrowserSessionId::new();
    let (url, flow) = accord_platform::start(
        &state.platforms,
        connection.tenant_id,
        platform,
        connection.id,
        session_id,
        &connection.data_uses,
    )
    .await?;
    let raw_state = url::Url::parse(&url)
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "state")
                .map(|(_, v)| v.into_owned())
        })
        .ok_or_else(|| OAuthError::BadEndpoint("authorization URL without state".into()))?;
    // A link session only to hold the return URL; its own token is never handed out.
    let link_token = random_token(32);
    let link = LinkSession {
        id: LinkSessionId::new(),
        tenant_id: connection.tenant_id,
        company_id: company,
        kind: SessionKind::Link,
        token_hash: TokenHash::of(&link_token),
        locale: None,
        categories: Vec::new(),
        return_url: Some(return_url.to_owned()),
        created_at: now,
        expires_at: now + OAUTH_STATE_TTL,
        used_at: None,
    };
    state.flow().create_link_session(&link).await?;
    let browser = BrowserSession {
        id: session_id,
        tenant_id: connection.tenant_id,
        company_id: company,
        kind: SessionKind::Link,
        link_session_id: Some(link.id),
        token_hash: TokenHash::of(&session_token(state, &raw_state)),
        created_at: now,
        expires_at: now + OAUTH_STATE_TTL,
    };
    state
        .flow()
        .consume_link_session(&link.token_hash, now, &browser)
        .await?
        .ok_or(OAuthError::Store(StoreError::NotFound))?;
    state.flow().create_oauth_flow(&flow).await?;
    Ok((url, flow.expires_at))
}

/// The session of a tenant-started authorization, from the callback's `state`.
pub async fn session_for_state(
    state: &AppState,
    query: &CallbackQuery,
) -> Result<Option<BrowserSession>, StoreError> {
    session_alive_at(state, query, state.clock.now()).await
}

/// How long after its authorization URL expired a tenant-started authorization is still told
/// apart from a stray `state`: so a customer who comes back late reads that this authorization
/// is over, not that the sign-in was started in another browser (there is no browser session).
const RECOGNISED_AFTER_EXPIRY: time::Duration = time::Duration::days(1);

/// Whether the callback's `state` is of a tenant-started authorization whose session has
/// expired lately (so the callback says the authorization is over and to start a new one).
pub async fn expired_authorization(
    state: &AppState,
    query: &CallbackQuery,
) -> Result<bool, StoreError> {
    let then = state.clock.now() - RECOGNISED_AFTER_EXPIRY;
    Ok(session_alive_at(state, query, then).await?.is_some())
}

async fn session_alive_at(
    state: &AppState,
    query: &CallbackQuery,
    at: OffsetDateTime,
) -> Result<Option<BrowserSession>, StoreError> {
    let Some(raw) = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
    else {
        return Ok(None);
    };
    state
        .flow()
        .browser_session(
            &TokenHash::of(&session_token(state, raw)),
            SessionKind::Link,
            at,
        )
        .await
}
