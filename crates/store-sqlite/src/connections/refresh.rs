//! Token refresh of a connection, in the caller's transaction: the lease that lets one refresh
//! run at a time per connection, the compare-and-swap that stores a refresh's tokens, and the
//! deauthorization the platform's `invalid_grant` calls for.

use super::{connection_cols, connection_from, moved_on};
use crate::codec::{exec, micros, one, RowExt};
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::ids::{ConnectionId, TenantId};
use accord_domain::outbox::WebhookEvent;
use accord_store::{RefreshStored, RefreshedTokens, Result, StoreError};
use rusqlite::params;
use time::OffsetDateTime;

/// Takes the refresh lease until `until` if the connection holds tokens and nobody holds an
/// unexpired lease at `now`. The writer runs one transaction at a time, and the condition is in
/// the `update` itself, so of many callers exactly one finds it free.
pub(super) fn lease(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool> {
    let taken = exec(
        tx,
        "update connections set refresh_leased_until = ?1
         where tenant_id = ?2 and id = ?3
             and status in ('linked', 'reconsent_required') and tokens_ct is not null
             and (refresh_leased_until is null or refresh_leased_until <= ?4)",
        params![
            micros(until),
            tenant.to_string(),
            id.to_string(),
            micros(now)
        ],
    )?;
    if taken == 1 {
        return Ok(true);
    }
    moved_on(tx, tenant, id).map(|_| false)
}

/// Clears the lease taken with `until`, if it is still that one.
pub(super) fn release(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    until: OffsetDateTime,
) -> Result<()> {
    exec(
        tx,
        "update connections set refresh_leased_until = null
         where tenant_id = ?1 and id = ?2 and refresh_leased_until = ?3",
        params![tenant.to_string(), id.to_string(), micros(until)],
    )?;
    Ok(())
}

/// A refresh's tokens replace the ones it started from, if the connection still holds them and
/// its job (when it has one) is not done.
pub(super) fn store_refreshed(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    r: &RefreshedTokens,
    at: OffsetDateTime,
) -> Result<RefreshStored> {
    let (platform_key, held, status) = one(
        tx,
        "select platform_key, tokens_ct, status from connections where tenant_id = ?1 and id = ?2",
        [tenant.to_string(), id.to_string()],
        |row| {
            Ok((
                row.platform("platform_key")?,
                row.opt_text("tokens_ct")?,
                row.parsed::<ConnectionStatus>("status")?,
            ))
        },
    )?
    .ok_or(StoreError::NotFound)?;
    // The job is completed only once the tokens are known to match: a stale refresh leaves it
    // pending, as it always has.
    let current = status.holds_tokens() && held.as_deref() == Some(r.previous_tokens_ct.as_str());
    let job_open = match r.job {
        Some(job) if current => crate::jobs::complete(tx, job, at)?,
        _ => current,
    };
    if current && job_open {
        exec(
            tx,
            "update connections set tokens_ct = ?1, granted_scope = coalesce(?2, granted_scope),
                 last_error = null, refresh_leased_until = null, updated_at = ?3
             where tenant_id = ?4 and id = ?5",
            params![
                r.tokens_ct,
                r.granted_scope,
                micros(at),
                tenant.to_string(),
                id.to_string()
            ],
        )?;
        // A refresh made on demand takes the place of the pending job: `next` is the one
        // refresh pending from now on (or none, when these tokens cannot be refreshed).
        crate::jobs::end_refreshes(tx, tenant, id, at)?;
        if let Some(next) = r.next {
            crate::jobs::schedule_refresh(tx, tenant, id, &platform_key, next, at)?;
        }
        return Ok(RefreshStored::Stored);
    }
    let revoke_job = if r.revoke_if_stale {
        let job = crate::jobs::queue_revocation(tx, tenant, id, &platform_key, &r.tokens_ct, at)?;
        Some(job)
    } else {
        None
    };
    Ok(RefreshStored::Stale { revoke_job })
}

/// The platform ended Accord's access: status `deauthorized`, tokens and lease gone, pending
/// refreshes ended, `connection.deauthorized` in the outbox; `None` if the connection no longer
/// holds exactly `previous` (the first of `(previous, error_code)`).
pub(super) fn deauthorize(
    tx: &rusqlite::Connection,
    tenant: TenantId,
    id: ConnectionId,
    (previous, error_code): (&str, &str),
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let deauthorized = one(
        tx,
        concat!(
            "update connections set status = 'deauthorized', tokens_ct = null,
                 refresh_leased_until = null, last_error = ?1, updated_at = ?2
             where tenant_id = ?3 and id = ?4
                 and status in ('linked', 'reconsent_required') and tokens_ct = ?5
             returning ",
            connection_cols!()
        ),
        params![
            error_code,
            micros(at),
            tenant.to_string(),
            id.to_string(),
            previous
        ],
        connection_from,
    )?;
    let Some(deauthorized) = deauthorized else {
        return moved_on(tx, tenant, id);
    };
    crate::jobs::end_refreshes(tx, tenant, id, at)?;
    let event = WebhookEvent::connection("connection.deauthorized", &deauthorized, at);
    crate::webhooks::insert_events(tx, vec![event])?;
    Ok(Some(deauthorized))
}
