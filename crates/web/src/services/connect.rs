//! The consent action and what follows it: record the consent with its connection and OAuth
//! state in one transaction, send the customer to the platform, finish the callback, and
//! disconnect. Pages and API call these, so both surfaces behave identically.

use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::connection::{Connection, ConnectionStatus, TokenSet, Upstream};
use accord_domain::consent::{Consent, ConsentEvidence};
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{BrowserSession, OAuthFlow};
use accord_domain::ids::{CompanyId, ConnectionId, ConsentId, TenantId};
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::locale::Locale;
use accord_domain::notice::{NoticeVersion, RenderedNotice};
use accord_platform::OAuthError;
use accord_store::{ConsentWrite, Disconnected, StoreError};

use super::notice::NoticeView;

/// What the customer agreed to, and how.
pub struct ConsentAction<'a> {
    pub tenant: TenantId,
    pub company: CompanyId,
    pub platform: &'a Platform,
    pub version: &'a NoticeVersion,
    pub view: &'a NoticeView,
    pub rendered: RenderedNotice,
    pub locale: Locale,
    pub evidence: ConsentEvidence,
}

/// Records the consent (connection `pending_auth`, consent, OAuth state — one transaction) and
/// returns the platform's authorization URL. A connection of this company to this platform
/// still waiting for sign-in, or whose access the platform ended (`deauthorized`), is reused
/// rather than duplicated: reconnecting keeps the connection's id, as the tenant knows it.
pub async fn consent_and_authorize(
    state: &AppState,
    action: ConsentAction<'_>,
    session: &BrowserSession,
) -> Result<(String, ConnectionId), OAuthError> {
    let (url, id, _) = record(state, action, Some(session)).await?;
    Ok((url.unwrap_or_default(), id))
}

/// Records a consent the tenant's own UI collected (the build-your-own API): the same
/// connection, consent and ledger event as the hosted flow, without an authorization yet
/// (the tenant starts it separately).
pub async fn consent_only(
    state: &AppState,
    action: ConsentAction<'_>,
) -> Result<(ConnectionId, ConsentId), OAuthError> {
    let (_, id, consent) = record(state, action, None).await?;
    Ok((id, consent))
}

/// One transaction: connection (`pending_auth`), consent, its `given` ledger event and, with a
/// browser session, the OAuth state for the authorization URL it returns.
async fn record(
    state: &AppState,
    action: ConsentAction<'_>,
    session: Option<&BrowserSession>,
) -> Result<(Option<String>, ConnectionId, ConsentId), OAuthError> {
    let now = state.clock.now();
    let mut existing: Vec<Connection> = state
        .connections()
        .company_connections(action.tenant, action.company)
        .await?
        .into_iter()
        .filter(|c| {
            c.platform_key == action.platform.key
                && matches!(
                    c.status,
                    ConnectionStatus::PendingAuth | ConnectionStatus::Deauthorized
                )
        })
        .collect();
    // One waiting for sign-in first, else the newest deauthorized one.
    existing.sort_by_key(|c| (c.status == ConnectionStatus::PendingAuth, c.id));
    let consent_id = ConsentId::new();
    let connection = match existing.pop() {
        Some(mut c) => {
            c.status = ConnectionStatus::PendingAuth;
            c.data_uses.clone_from(&action.view.data_uses);
            c.consent_id = Some(consent_id);
            c.last_error = None;
            c.updated_at = now;
            c
        }
        None => Connection {
            id: ConnectionId::new(),
            tenant_id: action.tenant,
            company_id: action.company,
            platform_key: action.platform.key.clone(),
            status: ConnectionStatus::PendingAuth,
            data_uses: action.view.data_uses.clone(),
            consent_id: Some(consent_id),
            granted_scope: None,
            last_error: None,
            created_at: now,
            updated_at: now,
            linked_at: None,
            disconnected_at: None,
            upstream: None,
        },
    };
    let (url, flow) = match session {
        Some(session) => {
            let (url, flow) = accord_platform::start(
                &state.platforms,
                action.tenant,
                action.platform,
                connection.id,
                session.id,
                &action.view.data_uses,
            )
            .await?;
            (Some(url), Some(flow))
        }
        None => (None, None),
    };
    let consent = Consent {
        id: consent_id,
        tenant_id: action.tenant,
        company_id: action.company,
        connection_id: connection.id,
        platform_key: action.platform.key.clone(),
        category: action.platform.category,
        notice_version_id: action.version.id,
        notice_version: action.version.version,
        locale: action.locale,
        data_uses: action.view.data_uses.clone(),
        notice_text: action.rendered.text,
        notice_sha256: action.rendered.sha256,
        evidence: action.evidence,
        given_at: now,
        withdrawn_at: None,
    };
    let id = connection.id;
    let method = serde_json::to_value(consent.evidence.method)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let event = EventBody::for_consent(
        EventKind::Given,
        &consent,
        &action.view.purpose,
        &method,
        now,
    );
    let event = super::receipts::freeze_controller(state, action.tenant, event).await?;
    state
        .consents()
        .record_consent(&ConsentWrite {
            connection,
            consent,
            oauth_flow: flow,
            event,
        })
        .await?;
    Ok((url, id, consent_id))
}

/// Starts a new authorization for a connection still pending sign-in (the "Try again" button):
/// its consent stands, only a fresh `state` and PKCE pair are made.
pub async fn retry_authorize(
    state: &AppState,
    connection: &Connection,
    platform: &Platform,
    session: &BrowserSession,
) -> Result<String, OAuthError> {
    let (url, flow) = accord_platform::start(
        &state.platforms,
        connection.tenant_id,
        platform,
        connection.id,
        session.id,
        &connection.data_uses,
    )
    .await?;
    state.flow().create_oauth_flow(&flow).await?;
    Ok(url)
}

/// Why a callback did not link a connection.
#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    /// Missing, unknown, expired, replayed or other-session `state`: no token request is made.
    #[error("invalid state")]
    BadState,
    /// The platform said no, or the exchange failed; the connection records the code. The
    /// failure was logged under `correlation_id`, which the page shows and the support form
    /// carries, so a support request finds its log line.
    #[error("platform error {code} ({correlation_id})")]
    Platform {
        code: String,
        connection: ConnectionId,
        correlation_id: String,
    },
    /// The connection was last linked to another organisation than the one just signed in
    /// to: nothing is linked until the customer answers (the new grant is held meanwhile).
    #[error("signed in to another organisation")]
    OrganisationChanged(super::organisation::Question),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The query a platform sends back (RFC 6749 §4.1.2 and §4.1.2.1).
#[derive(Debug, serde::Deserialize, Default)]
pub struct CallbackQuery {
    pub state: Option<String>,
    pub code: Option<String>,
    pub error: Option<String>,
    /// Whatever else the platform added (`QuickBooks` names the company as `realmId`).
    #[serde(flatten)]
    pub extra: std::collections::HashMap<String, String>,
}

/// A callback that linked its connection.
pub struct Completed {
    pub connection: Connection,
    /// The token of the company's personal manage link created with the link, when asked for.
    pub personal_link: Option<String>,
}

/// How the callback is answered: in the customer's hosted flow, the customer is `ask`ed about
/// a sign-in to another organisation, and a `personal_link` is wanted for the success page.
#[derive(Clone, Copy)]
pub struct CallbackFor {
    pub ask: bool,
    pub personal_link: bool,
}

/// Finishes an authorization: consumes `state` (bound to this browser session), exchanges the
/// code once, reads who was connected, stores the tokens encrypted, marks the connection linked.
/// With `ask`, a connection last linked to another organisation is not linked: the customer is
/// asked first ([`CallbackError::OrganisationChanged`]). With `personal_link`, the company's
/// personal manage link is created in the link's own transaction (no commit of its own).
pub async fn complete_callback(
    state: &AppState,
    session: &BrowserSession,
    platform: &Platform,
    query: &CallbackQuery,
    answer: CallbackFor,
) -> Result<Completed, CallbackError> {
    let raw_state = query
        .state
        .as_deref()
        .filter(|s| !s.is_empty() && s.len() <= 512)
        .ok_or(CallbackError::BadState)?;
    let now = state.clock.now();
    let flow = state
        .flow()
        .consume_oauth_flow(&TokenHash::of(raw_state), session.id, now)
        .await?
        .ok_or(CallbackError::BadState)?;
    // Mix-up defence (RFC 9700 §4.4): the state must have been issued for this platform's callback.
    if flow.platform_key != platform.key || flow.tenant_id != session.tenant_id {
        return Err(CallbackError::BadState);
    }
    // Each failure is logged once, under a fresh correlation id the customer sees.
    let fail = |code: String, why: &str| {
        let correlation_id = random_token(9);
        tracing::warn!(
            correlation_id = %correlation_id,
            connection = %flow.connection_id,
            platform = %platform.key,
            error_code = %code,
            "platform sign-in failed: {why}"
        );
        CallbackError::Platform {
            code,
            connection: flow.connection_id,
            correlation_id,
        }
    };
    if let Some(err) = &query.error {
        let code = sanitize_code(err);
        state
            .connections()
            .fail_connection(flow.tenant_id, flow.connection_id, &code, now)
            .await?;
        return Err(fail(code, "the platform sent back an error"));
    }
    let Some(code) = query
        .code
        .as_deref()
        .filter(|c| !c.is_empty() && c.len() <= 2048)
    else {
        state
            .connections()
            .fail_connection(flow.tenant_id, flow.connection_id, "invalid_response", now)
            .await?;
        return Err(fail(
            "invalid_response".into(),
            "the platform sent back neither a code nor an error",
        ));
    };
    match accord_platform::exchange(&state.platforms, &flow, platform, code).await {
        Ok(tokens) => {
            let upstream = super::organisation::read(
                state,
                platform,
                &tokens,
                flow.connection_id,
                &query.extra,
            )
            .await;
            if answer.ask {
                let question = super::organisation::question_if_changed(
                    state,
                    &flow,
                    &tokens,
                    upstream.as_ref(),
                )
                .await?;
                if let Some(q) = question {
                    return Err(CallbackError::OrganisationChanged(q));
                }
            }
            let personal = answer.personal_link;
            link_signed_in(state, session, &flow, &tokens, upstream, personal).await
        }
        Err(e) => {
            state
                .connections()
                .fail_connection(
                    flow.tenant_id,
                    flow.connection_id,
                    e.code(),
                    state.clock.now(),
                )
                .await?;
            Err(fail(e.code().to_owned(), "token exchange failed"))
        }
    }
}

/// Links the connection with the sign-in's tokens and who was connected; with `personal`, the
/// company's personal manage link is made in the same transaction and its token returned.
async fn link_signed_in(
    state: &AppState,
    session: &BrowserSession,
    flow: &OAuthFlow,
    tokens: &TokenSet,
    upstream: Option<Upstream>,
    personal: bool,
) -> Result<Completed, CallbackError> {
    let (token, manage_link) = if personal {
        let (token, link) = super::manage_links::mint(state, flow.tenant_id, session.company_id);
        (Some(token), Some(link))
    } else {
        (None, None)
    };
    let (tenant, id) = (flow.tenant_id, flow.connection_id);
    let linked =
        super::organisation::link(state, tenant, id, tokens, upstream, manage_link).await?;
    Ok(Completed {
        connection: linked.connection,
        personal_link: token,
    })
}

/// A platform's error code reduced to a safe identifier for storage and display.
fn sanitize_code(raw: &str) -> String {
    let s: String = raw
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(40)
        .collect();
    if s.is_empty() {
        "platform_error".to_owned()
    } else {
        s.to_ascii_lowercase()
    }
}

/// Disconnects at once: status flips, tokens are destroyed and the consent is withdrawn in the
/// transaction answering the click; revocation at the platform follows as a durable job.
/// `method` says where the withdrawal came from (`manage_page`, `tenant_api`); it goes into the
/// `withdrawn` ledger event.
pub async fn disconnect(
    state: &AppState,
    tenant: TenantId,
    id: ConnectionId,
    method: &str,
) -> Result<Option<Disconnected>, StoreError> {
    let Some(conn) = state.connections().connection(tenant, id).await? else {
        return Ok(None);
    };
    let revoke = state
        .catalog
        .get(&conn.platform_key)
        .is_some_and(|p| p.revoke_url.is_some());
    // Exclusive: every data call through this connection that passed its last consent check
    // is answered before the disconnect commits (and is acknowledged).
    let gate = state.access_gates.lock_for(id);
    let exclusive = gate.write().await;
    let out = state
        .connections()
        .disconnect(tenant, id, revoke, method, state.clock.now())
        .await?;
    drop(exclusive);
    if out.as_ref().is_some_and(|d| d.revoke_job.is_some()) {
        state.jobs.notify_one();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::sanitize_code;

    #[test]
    fn platform_error_codes_are_sanitised() {
        assert_eq!(sanitize_code("access_denied"), "access_denied");
        assert_eq!(sanitize_code("<script>"), "script");
        assert_eq!(sanitize_code("!!!"), "platform_error");
    }
}
