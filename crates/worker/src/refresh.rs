//! The `refresh_token` job: keeps a linked connection's access token alive (RFC 6749 §6).
//!
//! The job holds no token: it reads the connection's current token ciphertext when it runs,
//! refreshes at the platform, and hands the result to the store together with the ciphertext
//! it started from. The store applies it only if the connection still holds exactly that
//! ciphertext (compare-and-swap), so a connection disconnected, deauthorized or linked anew
//! while the platform answered keeps its state and tokens; the fresh tokens, which nothing
//! holds then, are queued for revocation. The write that stores the new tokens completes the
//! job and queues the next refresh in one transaction, and the store keeps at most one refresh
//! pending per connection: with the job lease, two refreshes of one connection never run side
//! by side, which matters because platforms rotate refresh tokens and revoke the whole grant
//! when a spent one comes back (RFC 9700 §4.14.2).
//!
//! Outcomes: new tokens stored (next refresh queued); `invalid_grant` (RFC 6749 §5.2: the
//! customer removed Accord's access at the platform, or the grant ran out) — the connection
//! becomes `deauthorized`, its tokens destroyed, `connection.deauthorized` written in the same
//! transaction; anything else (network, timeout, 5xx, another refusal) is an error, retried on
//! the job schedule while the connection keeps its tokens.

use accord_domain::connection::TokenSet;
use accord_domain::ids::{ConnectionId, JobId};
use accord_domain::tenant::Job;
use accord_platform::{tokens_aad, OAuthError, PlatformClient};
use accord_store::{RefreshSchedule, RefreshStored, RefreshedTokens};
use serde::Deserialize;

/// How long a refresh holds the connection's refresh lease: longer than a platform call may
/// take, short enough that a refresh that died with it does not hold up the next one for long.
const REFRESH_LEASE: time::Duration = time::Duration::minutes(2);

#[derive(Deserialize)]
struct RefreshPayload {
    connection_id: ConnectionId,
    platform_key: String,
}

/// Runs one `refresh_token` job. `Ok` when there is nothing more to do (refreshed,
/// deauthorized, or the connection moved on); `Err` to retry.
pub async fn run(platforms: &PlatformClient, job: &Job) -> Result<(), String> {
    let p: RefreshPayload =
        serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad payload: {e}"))?;
    let (store, tenant, id) = (&platforms.store, job.tenant_id, p.connection_id);
    let Some(connection) = store
        .connection(tenant, id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    if !connection.status.holds_tokens() {
        // Disconnected or deauthorized since the job was queued: never revived by a refresh.
        return Ok(());
    }
    let Some(platform) = platforms.catalog.find(&p.platform_key) else {
        tracing::warn!(platform = %p.platform_key, "platform no longer in the catalog; refresh skipped");
        return Ok(());
    };
    // One refresh at a time per connection, across instances: the data gateway refreshes on
    // demand too, and a refresh token presented twice can cost the whole grant. Retried on the
    // job schedule; a refresh stored meanwhile ends this job.
    let now = platforms.clock.now();
    let until = now + REFRESH_LEASE;
    if !store
        .lease_token_refresh(tenant, id, until, now)
        .await
        .map_err(|e| e.to_string())?
    {
        return Err("refresh_in_progress: another refresh of this connection is running".into());
    }
    let outcome = refresh_leased(platforms, job, platform, tenant, id).await;
    // A stored refresh or a deauthorization already ended the lease; any other outcome gives
    // it back, so the retry (or a data call) need not wait for it to expire.
    if let Err(e) = store.release_token_refresh(tenant, id, until).await {
        tracing::warn!(connection = %id, error = %e, "refresh lease not released; it expires on its own");
    }
    outcome
}

/// The refresh itself, under the connection's lease.
async fn refresh_leased(
    platforms: &PlatformClient,
    job: &Job,
    platform: &accord_domain::catalog::Platform,
    tenant: accord_domain::ids::TenantId,
    id: ConnectionId,
) -> Result<(), String> {
    let store = &platforms.store;
    let Some(previous_ct) = store
        .connection_tokens(tenant, id)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(());
    };
    let aad = tokens_aad(tenant, id);
    let plain = platforms
        .secrets
        .open(tenant, &previous_ct, &aad)
        .await
        .map_err(|e| format!("token ciphertext unreadable: {e}"))?;
    let tokens: TokenSet =
        serde_json::from_slice(&plain).map_err(|e| format!("token set unreadable: {e}"))?;
    if tokens.refresh_token.is_none() {
        return Ok(());
    }
    match accord_platform::refresh(platforms, tenant, platform, &tokens).await {
        Ok(fresh) => {
            let now = platforms.clock.now();
            let json = serde_json::to_vec(&fresh).map_err(|e| format!("token set: {e}"))?;
            let refreshed = RefreshedTokens {
                job: Some(job.id),
                previous_tokens_ct: previous_ct,
                tokens_ct: platforms
                    .secrets
                    .seal(tenant, &json, &aad)
                    .await
                    .map_err(|e| format!("token set not sealed: {e}"))?,
                granted_scope: fresh.scope.clone(),
                next: fresh.refresh_at(now).map(|run_at| RefreshSchedule {
                    job: JobId::new(),
                    run_at,
                }),
                revoke_if_stale: platform.revoke_url.is_some(),
            };
            match store
                .store_refreshed_tokens(tenant, id, &refreshed, now)
                .await
                .map_err(|e| e.to_string())?
            {
                RefreshStored::Stored => {
                    accord_metrics::token_refresh("refreshed");
                    let next = refreshed.next.map(|n| n.run_at);
                    tracing::info!(connection = %id, platform = %platform.key, next_refresh = ?next, "tokens refreshed");
                }
                RefreshStored::Stale { revoke_job } => {
                    accord_metrics::token_refresh("stale");
                    tracing::info!(connection = %id, platform = %platform.key, revoke_queued = revoke_job.is_some(), "the connection moved on during the refresh; its tokens were left as they are");
                }
            }
            Ok(())
        }
        Err(OAuthError::GrantRevoked) => {
            accord_metrics::token_refresh("grant_revoked");
            let now = platforms.clock.now();
            let error_code = OAuthError::GrantRevoked.code();
            match store
                .deauthorize_connection(tenant, id, &previous_ct, error_code, now)
                .await
                .map_err(|e| e.to_string())?
            {
                Some(_) => {
                    tracing::info!(connection = %id, platform = %platform.key, error_code, "the platform ended Accord's access; connection deauthorized");
                }
                None => {
                    tracing::info!(connection = %id, platform = %platform.key, "refresh refused for tokens the connection no longer holds; nothing changed");
                }
            }
            Ok(())
        }
        Err(e) => {
            accord_metrics::token_refresh("failed");
            Err(format!("{}: {e}", e.code()))
        }
    }
}

/// After a failed attempt: once the refresh has failed through the whole ordinary retry schedule
/// (`job_retry_delay`; it goes on every 6 hours), the tenant is told, once, with the failure's
/// code — `last_error` and a `connection.refresh_failing` webhook — while the grant may still be
/// saved (a customer can reconnect; an operator can fix a client secret). Best effort: a failure
/// here is logged and the refresh goes on.
pub async fn after_failure(platforms: &PlatformClient, job: &Job, reason: &str) {
    if accord_domain::tenant::job_retry_delay(job.attempts).is_some()
        || accord_domain::tenant::job_retry_delay(job.attempts - 1).is_none()
    {
        return;
    }
    let Ok(p) = serde_json::from_value::<RefreshPayload>(job.payload.clone()) else {
        return;
    };
    let code = failure_code(reason);
    let now = platforms.clock.now();
    match platforms
        .store
        .refresh_failing(job.tenant_id, p.connection_id, &code, now)
        .await
    {
        Ok(Some(_)) => {
            tracing::warn!(connection = %p.connection_id, platform = %p.platform_key, error_code = %code, attempts = job.attempts, "token refresh failing through its schedule; tenant told");
        }
        Ok(None) => {}
        Err(e) => {
            tracing::error!(connection = %p.connection_id, error = %e, "could not record the failing refresh");
        }
    }
}

/// The platform error's code a failure's reason starts with (`platform_unreachable: …`, as
/// [`run`] writes an OAuth failure), the part safe to show a tenant; `refresh_failed` for any
/// other reason (a store error, an unreadable token set).
fn failure_code(reason: &str) -> String {
    let code = reason.split_once(':').map_or(reason, |(code, _)| code);
    let plain = !code.is_empty()
        && code.len() <= 40
        && code
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain { code } else { "refresh_failed" }.to_owned()
}

#[cfg(test)]
mod failure_code_tests {
    use super::failure_code;

    #[test]
    fn only_the_leading_code_is_kept() {
        assert_eq!(
            failure_code("platform_unreachable: connect to 10.0.0.1 refused"),
            "platform_unreachable"
        );
        assert_eq!(failure_code("invalid_client"), "invalid_client");
        assert_eq!(failure_code("token set unreadable: eof"), "refresh_failed");
        assert_eq!(failure_code(": odd"), "refresh_failed");
        assert_eq!(failure_code(""), "refresh_failed");
    }
}
