//! A connection's token refresh: the lease that lets one caller at a time, across every
//! instance, refresh it (the worker's job and the data gateway's refresh on demand alike), and
//! storing a refresh's tokens over the ones it started from. Platforms that rotate refresh
//! tokens revoke the whole grant when a spent one is presented again, so two refreshes of one
//! connection must never run side by side, and a refresh must never overwrite tokens that moved
//! on meanwhile.

use super::moved_on;
use crate::codec::RowExt;
use crate::error::db;
use crate::PgStore;
use accord_domain::connection::ConnectionStatus;
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use accord_store::{RefreshStored, RefreshedTokens, Result, StoreError};
use sqlx::PgConnection;
use time::OffsetDateTime;

/// [`lease_token_refresh`](accord_store::ConnectionStore::lease_token_refresh): one
/// conditional update of the row. Concurrent callers on any instance queue on its lock, and
/// each re-checks the condition on the row as the one before committed it, so only the first
/// finds no unexpired lease.
pub(super) async fn lease(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
    until: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<bool> {
    let leased = sqlx::query(
        "update connections set refresh_leased_until = $1
         where tenant_id = $2 and id = $3 and status in ('linked', 'reconsent_required')
             and (refresh_leased_until is null or refresh_leased_until <= $4)",
    )
    .bind(until)
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(now)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    if leased.rows_affected() == 1 {
        return Ok(true);
    }
    moved_on(store, tenant, id).await.map(|_| false)
}

/// Clears the lease taken with `until`, if it is still that one.
pub(super) async fn release(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
    until: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "update connections set refresh_leased_until = null
         where tenant_id = $1 and id = $2 and refresh_leased_until = $3",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(until)
    .execute(&store.pool)
    .await
    .map_err(db)?;
    Ok(())
}

/// Whether the refresh may be stored, inside its transaction (the connection's row locked):
/// its job, when it had one, is completed now (`false` if it was ended meanwhile); a refresh on
/// demand had none, and ends the refresh job pending for the connection, which its `next`
/// replaces.
async fn job_still_due(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    job: Option<JobId>,
    at: OffsetDateTime,
) -> Result<bool> {
    if let Some(job) = job {
        return crate::jobs::complete_in(conn, job, at).await;
    }
    crate::jobs::end_refreshes(conn, tenant, id, at).await?;
    Ok(true)
}

/// [`store_refreshed_tokens`](accord_store::ConnectionStore::store_refreshed_tokens): a
/// refresh's tokens replace the ones it started from, if the connection still holds them.
/// The connection's row is locked first (`for update`): a disconnect, a link or another refresh
/// of it waits for this transaction, then sees its outcome.
pub(super) async fn store(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
    r: &RefreshedTokens,
    at: OffsetDateTime,
) -> Result<RefreshStored> {
    let mut tx = store.pool.begin().await.map_err(db)?;
    let row = sqlx::query(
        "select platform_key, tokens_ct, status from connections where tenant_id = $1 and id = $2 for update",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        return Err(StoreError::NotFound);
    };
    let platform_key = row.platform("platform_key")?;
    let held = row.opt_text("tokens_ct")?;
    let holds = row.parsed::<ConnectionStatus>("status")?.holds_tokens();
    if holds
        && held.as_deref() == Some(r.previous_tokens_ct.as_str())
        && job_still_due(&mut tx, tenant, id, r.job, at).await?
    {
        // The refresh lease ends with the refresh it guarded.
        sqlx::query(
            "update connections set tokens_ct = $1, granted_scope = coalesce($2, granted_scope), last_error = null,
                 refresh_leased_until = null, updated_at = $3
             where tenant_id = $4 and id = $5",
        )
        .bind(&r.tokens_ct)
        .bind(&r.granted_scope)
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(next) = r.next {
            crate::jobs::schedule_refresh(&mut tx, tenant, id, &platform_key, next, at).await?;
        }
        tx.commit().await.map_err(db)?;
        return Ok(RefreshStored::Stored);
    }
    let revoke_job = if r.revoke_if_stale {
        let job =
            crate::jobs::queue_revocation(&mut tx, tenant, id, &platform_key, &r.tokens_ct, at)
                .await?;
        tx.commit().await.map_err(db)?;
        Some(job)
    } else {
        None
    };
    Ok(RefreshStored::Stale { revoke_job })
}
