//! Who was connected at the platform (the upstream organisation), read once per sign-in, and
//! the question asked when a reconnect signs in to a different organisation than the
//! connection had.
//!
//! The question is answered in a later request, so the new grant has to wait somewhere in
//! between. It waits server-side only: encrypted (AAD = tenant + connection + purpose) in an
//! OAuth-state row of the flow store, which is already single-use, bound to the browser session,
//! short-lived and purged by housekeeping once expired. The page holds only a random handle,
//! useless without the session cookie; the handle is stored as a hash.

use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::connection::{Connection, ConnectionStatus, TokenSet, Upstream};
use accord_domain::consent::Consent;
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{BrowserSession, ManageLink, OAuthFlow};
use accord_domain::ids::{ConnectionId, ConsentId, JobId, TenantId};
use accord_domain::ledger::{EventBody, EventKind};
use accord_platform::tokens_aad;
use accord_store::{ConsentWrite, LinkWrite, Linked, RefreshSchedule, RefreshedTokens, StoreError};
use serde::{Deserialize, Serialize};

/// How long the customer has to answer the question: as long as an OAuth `state` lives.
const QUESTION_TTL: time::Duration = time::Duration::minutes(10);
/// Marks a flow-store row as a held grant rather than an authorization in flight, so neither
/// can be consumed as the other (the callback would also fail to decrypt it as a verifier).
const HELD_MARKER: &str = "accord:organisation-question";
/// The error code a connection records when the customer kept it over a sign-in to another
/// organisation.
pub const KEPT_CODE: &str = "organisation_changed";

/// How one connection is named wherever two connections to one platform must be told apart:
/// "Bluebell Bakery Ltd · Accord Sandbox Books", or the platform alone when the platform did not
/// say who was connected.
pub fn label(upstream: Option<&Upstream>, platform_name: &str) -> String {
    match upstream {
        Some(u) => format!("{} · {platform_name}", u.name),
        None => platform_name.to_owned(),
    }
}

/// Reads who was connected with a fresh access token. A platform that cannot say (no identity
/// endpoint, an outage, an odd answer) must not strand the customer: the connection is linked
/// without it, and the failure is logged without the token.
///
/// `callback` is the authorization redirect's query: a platform that names the organisation
/// there (`identity.callback_param`, `QuickBooks`' `realmId`) is read from it.
pub async fn read<S: std::hash::BuildHasher + Sync>(
    state: &AppState,
    platform: &Platform,
    tokens: &TokenSet,
    connection: ConnectionId,
    callback: &std::collections::HashMap<String, String, S>,
) -> Option<Upstream> {
    let identity = platform.identity.as_ref()?;
    let named = identity
        .callback_param
        .as_ref()
        .and_then(|param| callback.get(param))
        .map(String::as_str);
    let p = &state.platforms;
    let token = &tokens.access_token;
    match accord_platform::data::identity(&p.http, platform, &p.urls, None, token, named).await {
        Ok(u) => Some(u),
        Err(e) => {
            tracing::warn!(%connection, platform = %platform.key, error = %e, "could not read who was connected; linking without it");
            None
        }
    }
}

/// The grant waiting for the customer's answer.
#[derive(Serialize, Deserialize)]
pub struct Held {
    pub tokens: TokenSet,
    pub upstream: Upstream,
}

/// The question to ask: the connection, the organisation it had and the one just signed in to,
/// and the handle that finds the held grant again.
#[derive(Debug, Clone)]
pub struct Question {
    pub connection: ConnectionId,
    pub platform_key: String,
    pub previous: Upstream,
    pub new: Upstream,
    pub handle: String,
}

fn held_aad(tenant: TenantId, connection: ConnectionId) -> Vec<u8> {
    format!("{tenant}/{connection}/organisation-question").into_bytes()
}

/// When the connection this sign-in is for was last linked to another organisation, holds the
/// new grant and returns the question; otherwise `None` and the caller links.
pub async fn question_if_changed(
    state: &AppState,
    flow: &OAuthFlow,
    tokens: &TokenSet,
    upstream: Option<&Upstream>,
) -> Result<Option<Question>, StoreError> {
    let Some(new) = upstream else {
        return Ok(None);
    };
    let conn = state
        .connections()
        .connection(flow.tenant_id, flow.connection_id)
        .await?
        .ok_or(StoreError::NotFound)?;
    let Some(previous) = conn.upstream.filter(|p| p.id != new.id) else {
        return Ok(None);
    };
    let handle = random_token(32);
    let held = Held {
        tokens: tokens.clone(),
        upstream: new.clone(),
    };
    let json = serde_json::to_vec(&held).expect("a held grant serialises");
    let now = state.clock.now();
    state
        .flow()
        .create_oauth_flow(&OAuthFlow {
            state_hash: TokenHash::of(&handle),
            tenant_id: flow.tenant_id,
            browser_session_id: flow.browser_session_id,
            connection_id: flow.connection_id,
            platform_key: flow.platform_key.clone(),
            pkce_verifier_ct: state
                .secrets()
                .seal(
                    flow.tenant_id,
                    &json,
                    &held_aad(flow.tenant_id, flow.connection_id),
                )
                .await?,
            redirect_uri: HELD_MARKER.to_owned(),
            created_at: now,
            expires_at: now + QUESTION_TTL,
        })
        .await?;
    Ok(Some(Question {
        connection: flow.connection_id,
        platform_key: flow.platform_key.to_string(),
        previous,
        new: new.clone(),
        handle,
    }))
}

/// Takes the held grant for `connection` (single use, this browser session only, unexpired).
pub async fn take(
    state: &AppState,
    session: &BrowserSession,
    connection: ConnectionId,
    handle: &str,
) -> Result<Option<Held>, StoreError> {
    if handle.is_empty() || handle.len() > 128 {
        return Ok(None);
    }
    let flow = state
        .flow()
        .consume_oauth_flow(&TokenHash::of(handle), session.id, state.clock.now())
        .await?;
    let Some(flow) = flow.filter(|f| {
        f.redirect_uri == HELD_MARKER
            && f.connection_id == connection
            && f.tenant_id == session.tenant_id
    }) else {
        return Ok(None);
    };
    let plain = state
        .secrets()
        .open(
            flow.tenant_id,
            &flow.pkce_verifier_ct,
            &held_aad(flow.tenant_id, connection),
        )
        .await;
    Ok(plain.ok().and_then(|p| serde_json::from_slice(&p).ok()))
}

/// "Keep the one I had": the new grant is held by nobody, so its revocation at the platform is
/// queued as a durable job (the refresh path's stale case does exactly that: it never stores
/// tokens on a connection that does not hold the ones named), and the connection records why
/// its sign-in did not complete. It keeps its organisation and id.
pub async fn keep_previous(
    state: &AppState,
    conn: &Connection,
    held: &Held,
) -> Result<(), StoreError> {
    let json = serde_json::to_vec(&held.tokens).expect("token set serialises");
    let tokens_ct = state
        .secrets()
        .seal(conn.tenant_id, &json, &tokens_aad(conn.tenant_id, conn.id))
        .await?;
    let now = state.clock.now();
    state
        .connections()
        .store_refreshed_tokens(
            conn.tenant_id,
            conn.id,
            &RefreshedTokens {
                job: None,
                // No connection holds an empty ciphertext: the tokens are never stored here.
                previous_tokens_ct: String::new(),
                tokens_ct,
                granted_scope: None,
                next: None,
                revoke_if_stale: true,
            },
            now,
        )
        .await?;
    state.jobs.notify_one();
    if conn.status == ConnectionStatus::PendingAuth {
        state
            .connections()
            .fail_connection(conn.tenant_id, conn.id, KEPT_CODE, now)
            .await?;
    }
    Ok(())
}

/// "Connect it as a new connection": a connection of its own for the new organisation, with a
/// consent that repeats the one the customer just gave for this sign-in (same notice text,
/// version, evidence and purpose, one transaction with its ledger event), linked with the held
/// grant. The earlier connection keeps its organisation and id.
pub async fn connect_new(
    state: &AppState,
    conn: &Connection,
    held: Held,
) -> Result<Linked, StoreError> {
    let tenant = conn.tenant_id;
    let given = match conn.consent_id {
        Some(id) => state.consents().consent(tenant, id).await?,
        None => None,
    }
    .ok_or(StoreError::NotFound)?;
    let (purpose, method, controller) = state
        .ledger()
        .consent_events(tenant, given.id)
        .await?
        .into_iter()
        .find(|e| e.event.body.kind == EventKind::Given)
        .map(|e| {
            (
                e.event.body.purpose,
                e.event.body.method,
                e.event.body.controller,
            )
        })
        .unwrap_or_default();
    let now = state.clock.now();
    let id = ConnectionId::new();
    let consent = Consent {
        id: ConsentId::new(),
        connection_id: id,
        given_at: now,
        withdrawn_at: None,
        ..given
    };
    let connection = Connection {
        id,
        status: ConnectionStatus::PendingAuth,
        consent_id: Some(consent.id),
        granted_scope: None,
        last_error: None,
        created_at: now,
        updated_at: now,
        linked_at: None,
        disconnected_at: None,
        upstream: None,
        ..conn.clone()
    };
    // The repeated consent names the controller as the one it repeats did.
    let mut event = EventBody::for_consent(EventKind::Given, &consent, &purpose, &method, now);
    event.controller = controller;
    state
        .consents()
        .record_consent(&ConsentWrite {
            connection,
            consent,
            oauth_flow: None,
            event,
        })
        .await?;
    let linked = link(state, tenant, id, &held.tokens, Some(held.upstream), None).await?;
    if conn.status == ConnectionStatus::PendingAuth {
        state
            .connections()
            .fail_connection(tenant, conn.id, KEPT_CODE, state.clock.now())
            .await?;
    }
    Ok(linked)
}

/// Stores a sign-in's tokens on the connection (encrypted, AAD = tenant + connection) with who
/// was connected, and queues its first refresh in the same transaction: a connection is never
/// linked without the job that keeps its tokens alive. `manage_link`, the company's personal
/// manage link, commits in that transaction too.
pub async fn link(
    state: &AppState,
    tenant: TenantId,
    id: ConnectionId,
    tokens: &TokenSet,
    upstream: Option<Upstream>,
    manage_link: Option<ManageLink>,
) -> Result<Linked, StoreError> {
    let json = serde_json::to_vec(tokens).expect("token set serialises");
    let tokens_ct = state
        .secrets()
        .seal(tenant, &json, &tokens_aad(tenant, id))
        .await?;
    let now = state.clock.now();
    let refresh = tokens.refresh_at(now).map(|run_at| RefreshSchedule {
        job: JobId::new(),
        run_at,
    });
    let linked = state
        .connections()
        .link_connection(
            tenant,
            id,
            &LinkWrite {
                tokens_ct,
                granted_scope: tokens.scope.clone(),
                refresh,
                upstream,
                manage_link,
            },
            now,
        )
        .await?;
    if !linked.revoke_jobs.is_empty() {
        tracing::info!(connection = %id, revocations = linked.revoke_jobs.len(), replaced = linked.replaced.len(), "grants this sign-in replaced are queued for revocation");
        state.jobs.notify_one();
    }
    Ok(linked)
}

/// The connections a link replaced: the company's other connections to the same organisation
/// at the same platform, disconnected in the very transaction that linked `conn`.
pub fn replaced_by<'a>(conn: &Connection, all: &'a [Connection]) -> Vec<&'a Connection> {
    let Some(upstream) = conn.upstream.as_ref() else {
        return Vec::new();
    };
    all.iter()
        .filter(|c| {
            c.id != conn.id
                && c.platform_key == conn.platform_key
                && c.status == ConnectionStatus::Disconnected
                && c.upstream.as_ref().is_some_and(|u| u.id == upstream.id)
                && c.disconnected_at.is_some()
                && c.disconnected_at == conn.linked_at
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_named_by_its_organisation_then_its_platform() {
        let u = Upstream {
            id: "org-1".into(),
            name: "Bluebell Bakery Ltd".into(),
        };
        assert_eq!(
            label(Some(&u), "Accord Sandbox Books"),
            "Bluebell Bakery Ltd · Accord Sandbox Books"
        );
        assert_eq!(label(None, "Accord Sandbox Books"), "Accord Sandbox Books");
    }
}
