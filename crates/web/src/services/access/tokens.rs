//! A connection's platform tokens on the data path: read and decrypted for each call, and
//! refreshed on demand when they are about to expire or the platform refused them.
//!
//! At most one refresh runs per connection at a time. Within this instance, callers queue on a
//! per-connection async lock (so twenty calls on an expired token wait for one refresh rather
//! than poll); across instances, the store's refresh lease decides. Platforms rotate refresh
//! tokens and revoke the whole grant when a spent one is presented again, so a second refresh
//! racing the first would end the customer's connection. The refreshed tokens are stored
//! (compare-and-swap on the ciphertext the refresh started from) before anything uses them, and
//! a caller that did not refresh re-reads the stored tokens afterwards.

use super::{Access, Failure};
use accord_domain::access::Refusal;
use accord_domain::connection::TokenSet;
use accord_domain::ids::{ConnectionId, JobId};
use accord_platform::{tokens_aad, OAuthError};
use accord_store::{RefreshSchedule, RefreshStored, RefreshedTokens};
use axum::http::StatusCode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

/// An access token this close to its expiry is refreshed before the call rather than sent to
/// be refused.
const LEEWAY: time::Duration = time::Duration::seconds(60);
/// How long the store's refresh lease is taken for: longer than a token request may take
/// (the platform client's timeouts), so the lease never ends while a refresh is still running.
const LEASE: time::Duration = time::Duration::seconds(30);
/// How often a caller checks whether another instance's refresh has been stored, and for how
/// long at most before it answers with a retry hint.
const POLL: Duration = Duration::from_millis(50);
const WAIT: Duration = Duration::from_secs(20);

/// One lock per connection in this instance, handed out shared. Entries live while someone
/// holds or waits on the lock, and are swept when a lock is handed out.
#[derive(Debug)]
pub struct PerConnection<L> {
    locks: Mutex<HashMap<ConnectionId, Weak<L>>>,
}

impl<L> Default for PerConnection<L> {
    fn default() -> Self {
        Self {
            locks: Mutex::new(HashMap::new()),
        }
    }
}

impl<L: Default> PerConnection<L> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn lock_for(&self, id: ConnectionId) -> Arc<L> {
        // A poisoned map only means a holder panicked between two plain map operations.
        let mut locks = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        locks.retain(|_, weak| weak.strong_count() > 0);
        if let Some(lock) = locks.get(&id).and_then(Weak::upgrade) {
            return lock;
        }
        let lock = Arc::new(L::default());
        locks.insert(id, Arc::downgrade(&lock));
        lock
    }
}

/// The per-connection refresh locks of this instance: one refresh at a time per connection.
pub type RefreshLocks = PerConnection<tokio::sync::Mutex<()>>;

/// The per-connection access gates of this instance. A data call holds its connection's gate
/// shared from its last consent check until its answer is handed to the server; a disconnect
/// holds it exclusively while it commits. So a disconnect is acknowledged only after every call
/// that passed its last check has been answered, and every call checking after it sees the
/// connection disconnected: once the customer's withdrawal is acknowledged, no call through
/// this instance returns data. (Across instances the store's state is the fence: the last check
/// reads it after the data arrived.)
pub type AccessGates = PerConnection<tokio::sync::RwLock<()>>;

/// The tokens a call uses, with the ciphertext they were read from (what a refresh swaps).
pub(super) struct Held {
    pub ct: String,
    pub set: TokenSet,
}

/// The connection's tokens as read when the call opened, refreshed first when the access token
/// is about to expire.
pub(super) async fn current(access: &Access<'_>) -> Result<Held, Failure> {
    let Some(ct) = access.tokens_ct.clone() else {
        return Err(access.gone().await);
    };
    let held = decrypt(access, ct).await?;
    let now = access.state.clock.now();
    let expiring = held.set.refresh_token.is_some()
        && held.set.expires_at.is_some_and(|at| at - now <= LEEWAY);
    if expiring {
        refresh_from(access, held).await
    } else {
        Ok(held)
    }
}

/// New tokens after the platform refused `spent` (a `401`): refreshed once, whatever their
/// expiry said, unless someone already replaced them.
pub(super) async fn renew(access: &Access<'_>, spent: Held) -> Result<Held, Failure> {
    if spent.set.refresh_token.is_none() {
        return Err(Failure::platform(
            StatusCode::BAD_GATEWAY,
            "platform_unauthorized",
            "The platform refused the connection's access token, and it cannot be refreshed.",
            Some(401),
        ));
    }
    refresh_from(access, spent).await
}

/// Reads and decrypts the stored tokens. None stored: the connection was disconnected or
/// deauthorized (both destroy the tokens in their transaction), refused with its reason.
async fn read(access: &Access<'_>) -> Result<Held, Failure> {
    let (tenant, id) = (access.tenant.id, access.connection.id);
    let Some(ct) = access
        .state
        .connections()
        .connection_tokens(tenant, id)
        .await?
    else {
        return Err(access.gone().await);
    };
    decrypt(access, ct).await
}

async fn decrypt(access: &Access<'_>, ct: String) -> Result<Held, Failure> {
    let (tenant, id) = (access.tenant.id, access.connection.id);
    let plain = access
        .state
        .secrets()
        .open(tenant, &ct, &tokens_aad(tenant, id))
        .await
        .map_err(|e| Failure::Internal(format!("token ciphertext unreadable: {e}")))?;
    let set: TokenSet = serde_json::from_slice(&plain)
        .map_err(|e| Failure::Internal(format!("token set unreadable: {e}")))?;
    Ok(Held { ct, set })
}

/// One refresh per connection: wait for this instance's lock, then for the store's lease;
/// whoever finds the tokens already replaced uses the stored ones.
async fn refresh_from(access: &Access<'_>, stale: Held) -> Result<Held, Failure> {
    let lock = access.state.refresh_locks.lock_for(access.connection.id);
    let _guard = lock.lock().await;
    let deadline = Instant::now() + WAIT;
    loop {
        let held = read(access).await?;
        if held.ct != stale.ct {
            return Ok(held);
        }
        let now = access.state.clock.now();
        let until = now + LEASE;
        let leased = access
            .state
            .connections()
            .lease_token_refresh(access.tenant.id, access.connection.id, until, now)
            .await?;
        if leased {
            // Another instance may have stored its refresh between the read and the lease.
            let held = read(access).await;
            let outcome = match held {
                Ok(held) if held.ct == stale.ct => refresh_now(access, held).await,
                other => other,
            };
            // A stored refresh or a deauthorization already ended the lease; any other
            // outcome gives it back, so the next call need not wait for it to expire.
            if let Err(e) = access
                .state
                .connections()
                .release_token_refresh(access.tenant.id, access.connection.id, until)
                .await
            {
                tracing::warn!(connection = %access.connection.id, error = %e, "refresh lease not released; it expires on its own");
            }
            return outcome;
        }
        if Instant::now() >= deadline {
            let mut busy = Failure::platform(
                StatusCode::SERVICE_UNAVAILABLE,
                "refresh_in_progress",
                "The connection's tokens are being refreshed; try again shortly.",
                None,
            );
            if let Failure::Platform(p) = &mut busy {
                p.retry_after = Some((axum::http::HeaderValue::from_static("1"), 1));
            }
            return Err(busy);
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Refreshes at the platform under the lease and stores the result before it is used.
async fn refresh_now(access: &Access<'_>, held: Held) -> Result<Held, Failure> {
    let (state, tenant, id) = (access.state, access.tenant.id, access.connection.id);
    let platform = access.platform;
    match accord_platform::refresh(&state.platforms, tenant, platform, &held.set).await {
        Ok(fresh) => {
            let now = state.clock.now();
            let json = serde_json::to_vec(&fresh)
                .map_err(|e| Failure::Internal(format!("token set: {e}")))?;
            let tokens_ct = state
                .secrets()
                .seal(tenant, &json, &tokens_aad(tenant, id))
                .await
                .map_err(|e| Failure::Internal(format!("token set not sealed: {e}")))?;
            let refreshed = RefreshedTokens {
                job: None,
                previous_tokens_ct: held.ct,
                tokens_ct: tokens_ct.clone(),
                granted_scope: fresh.scope.clone(),
                next: fresh.refresh_at(now).map(|run_at| RefreshSchedule {
                    job: JobId::new(),
                    run_at,
                }),
                revoke_if_stale: platform.revoke_url.is_some(),
            };
            match state
                .connections()
                .store_refreshed_tokens(tenant, id, &refreshed, now)
                .await?
            {
                RefreshStored::Stored => {
                    tracing::info!(connection = %id, platform = %platform.key, "tokens refreshed on demand");
                    Ok(Held {
                        ct: tokens_ct,
                        set: fresh,
                    })
                }
                // The connection moved on while the platform answered: what it holds now (if
                // anything) decides.
                RefreshStored::Stale { .. } => read(access).await,
            }
        }
        Err(OAuthError::GrantRevoked) => {
            let now = state.clock.now();
            let code = OAuthError::GrantRevoked.code();
            if state
                .connections()
                .deauthorize_connection(tenant, id, &held.ct, code, now)
                .await?
                .is_none()
            {
                return Err(access.gone().await);
            }
            tracing::info!(connection = %id, platform = %platform.key, "refresh refused with invalid_grant; connection deauthorized");
            Err(Failure::Refused(
                Refusal::Deauthorized,
                "The platform ended Accord's access to this connection; the customer must connect again.".into(),
            ))
        }
        Err(e) => {
            tracing::warn!(connection = %id, platform = %platform.key, error_code = e.code(), "on-demand refresh failed");
            Err(Failure::platform(
                StatusCode::BAD_GATEWAY,
                "platform_refresh_failed",
                &format!(
                    "The platform did not refresh the connection's tokens ({}).",
                    e.code()
                ),
                None,
            ))
        }
    }
}
