//! [`ConnectionStore`] on PostgreSQL: connections, their encrypted platform tokens, and the
//! writes that change them outside the consent action (which is `batch.rs`, run by the
//! group-commit writer): linking (`link.rs`, with the earlier connections to the same upstream
//! organisation it replaces), token refresh and its lease (`refresh.rs`), failures,
//! deauthorization, disconnection. Each of these locks the connection's row first (`for update`,
//! or the update itself), so two instances changing one connection at once take turns and see
//! each other's outcome: two disconnects queue one revocation job, not two, and of many callers
//! asking for one connection's refresh lease at once, one gets it.

use crate::codec::RowExt;
use crate::consents::ended_consents;
use crate::error::db;
use crate::PgStore;
use accord_domain::access::ConsentTerms;
use accord_domain::connection::{Connection, ConnectionStatus, Upstream};
use accord_domain::consent::Consent;
use accord_domain::ids::{CompanyId, ConnectionId, TenantId};
use accord_domain::ledger::{EventBody, EventKind};
use accord_domain::outbox::WebhookEvent;
use accord_store::{
    AccessFence, AccessView, ConnectionStore, Disconnected, LinkWrite, Linked, RefreshStored,
    RefreshedTokens, Result, StoreError,
};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::PgConnection;
use time::OffsetDateTime;

mod link;
mod refresh;

macro_rules! connection_cols {
    () => {
        "id, tenant_id, company_id, platform_key, status, data_uses, consent_id, granted_scope, last_error, \
         created_at, updated_at, linked_at, disconnected_at, upstream_id, upstream_name"
    };
}
pub(crate) use connection_cols;

pub(crate) fn connection_from(row: &PgRow) -> Result<Connection> {
    Ok(Connection {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        platform_key: row.platform("platform_key")?,
        status: row.parsed("status")?,
        data_uses: row.json("data_uses")?,
        consent_id: row.opt_id("consent_id")?,
        granted_scope: row.opt_text("granted_scope")?,
        last_error: row.opt_text("last_error")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
        linked_at: row.opt_time("linked_at")?,
        disconnected_at: row.opt_time("disconnected_at")?,
        upstream: upstream_from(row)?,
    })
}

/// Who the connection reaches at its platform: both columns or neither (a check of migration
/// 0020).
fn upstream_from(row: &PgRow) -> Result<Option<Upstream>> {
    Ok(row
        .opt_text("upstream_id")?
        .zip(row.opt_text("upstream_name")?)
        .map(|(id, name)| Upstream { id, name }))
}

/// After a conditional change of one connection that matched no row: `None` (nothing written)
/// if the connection exists and moved on meanwhile, `NotFound` if it does not exist for `tenant`.
async fn moved_on(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    match store.connection(tenant, id).await? {
        Some(_) => Ok(None),
        None => Err(StoreError::NotFound),
    }
}

/// Sets `last_error` on a connection in `status`, with its `event_type` outbox row (`when`), in
/// one transaction. `None`, and nothing written, when the connection is in another status.
async fn record_error(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
    when: (ConnectionStatus, &'static str),
    error_code: &str,
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let (status, event_type) = when;
    let mut tx = store.pool.begin().await.map_err(db)?;
    let row = sqlx::query(concat!(
        "update connections set last_error = $1, updated_at = $2
         where tenant_id = $3 and id = $4 and status = $5 returning ",
        connection_cols!()
    ))
    .bind(error_code)
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(status.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        drop(tx);
        return moved_on(store, tenant, id).await;
    };
    let changed = connection_from(&row)?;
    crate::webhooks::insert_events(
        &mut tx,
        &[WebhookEvent::connection(event_type, &changed, at)],
    )
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(Some(changed))
}

/// The disconnect, inside the caller's transaction (also used by `delete_company`): status, token
/// destruction, consent withdrawal with its `withdrawn` events, and the revocation job commit
/// together. The connection row is locked first, so a concurrent disconnect of the same
/// connection waits, then finds it disconnected and returns it unchanged, queueing no second job
/// and no second event; the tenant's ledger chain is locked last, when the events are appended
/// (the lock order of `ledger.rs`).
pub(crate) async fn disconnect_in(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    revoke: bool,
    method: &str,
    at: OffsetDateTime,
) -> Result<Option<Disconnected>> {
    let Some((out, events)) = disconnect_unchained(conn, tenant, id, revoke, method, at).await?
    else {
        return Ok(None);
    };
    crate::ledger::append_in(conn, events).await?;
    Ok(Some(out))
}

/// The `withdrawn` ledger events of a disconnect, still to be appended to the chain.
pub(crate) type Unchained = Vec<(TenantId, EventBody)>;

/// Everything of a disconnect but the ledger append: the events are returned for the caller to
/// append once it has changed every row it changes, since the chain is the last lock taken (a
/// link that replaces several connections appends all their events at once).
pub(crate) async fn disconnect_unchained(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    revoke: bool,
    method: &str,
    at: OffsetDateTime,
) -> Result<Option<(Disconnected, Unchained)>> {
    let row = sqlx::query(concat!(
        "select ",
        connection_cols!(),
        ", tokens_ct from connections where tenant_id = $1 and id = $2 for update"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let current = connection_from(&row)?;
    if current.status == ConnectionStatus::Disconnected {
        let out = Disconnected {
            connection: current,
            revoke_job: None,
        };
        return Ok(Some((out, Vec::new())));
    }
    let tokens_ct = row.opt_text("tokens_ct")?;
    // The refresh lease goes with the tokens: nothing is left to refresh.
    let row = sqlx::query(concat!(
        "update connections set status = 'disconnected', tokens_ct = null, refresh_leased_until = null,
             disconnected_at = $1, updated_at = $1
         where tenant_id = $2 and id = $3 returning ",
        connection_cols!()
    ))
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let connection = connection_from(&row)?;
    crate::jobs::end_refreshes(conn, tenant, id, at).await?;
    let ended = withdraw_consents(conn, tenant, id, at).await?;
    let mut outbox = vec![WebhookEvent::connection(
        "connection.disconnected",
        &connection,
        at,
    )];
    outbox.extend(
        ended
            .iter()
            .map(|(k, _)| WebhookEvent::consent("consent.withdrawn", k, Some(method), at)),
    );
    crate::webhooks::insert_events(conn, &outbox).await?;
    let revoke_job = match tokens_ct {
        Some(tokens_ct) if revoke => Some(
            crate::jobs::queue_revocation(
                conn,
                tenant,
                id,
                &connection.platform_key,
                &tokens_ct,
                at,
            )
            .await?,
        ),
        _ => None,
    };
    let events = ended
        .iter()
        .map(|(k, purpose)| {
            let body = EventBody::for_consent(EventKind::Withdrawn, k, purpose, method, at);
            (tenant, body)
        })
        .collect();
    let out = Disconnected {
        connection,
        revoke_job,
    };
    Ok(Some((out, events)))
}

/// Every consent still in force on the disconnected connection ends now, not only the latest
/// one. Returns the consents ended, with their purposes, for their `withdrawn` events.
async fn withdraw_consents(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    at: OffsetDateTime,
) -> Result<Vec<(Consent, String)>> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "update consents set withdrawn_at = $1 where tenant_id = $2 and connection_id = $3 and withdrawn_at is null returning id",
    )
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    ended_consents(conn, tenant, ids).await
}

/// The connections of a company that can still be disconnected, for `delete_company`, locked
/// (`for update`) in id order (the order every multi-row writer locks connections in, so none
/// deadlock).
pub(crate) async fn active_ids(
    conn: &mut PgConnection,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Vec<ConnectionId>> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "select id from connections where tenant_id = $1 and company_id = $2 and status <> 'disconnected' order by id for update",
    )
    .bind(tenant.as_uuid())
    .bind(company.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    Ok(ids.into_iter().map(ConnectionId::from).collect())
}

#[async_trait]
impl ConnectionStore for PgStore {
    async fn link_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        link: &LinkWrite,
        at: OffsetDateTime,
    ) -> Result<Linked> {
        link::link_connection(self, tenant, id, link, at).await
    }

    async fn lease_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool> {
        refresh::lease(self, tenant, id, until, now).await
    }

    async fn release_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
    ) -> Result<()> {
        refresh::release(self, tenant, id, until).await
    }

    async fn store_refreshed_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        r: &RefreshedTokens,
        at: OffsetDateTime,
    ) -> Result<RefreshStored> {
        refresh::store(self, tenant, id, r, at).await
    }

    /// `last_error` and the `connection.refresh_failing` outbox row, only while linked.
    async fn refresh_failing(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        let when = (ConnectionStatus::Linked, "connection.refresh_failing");
        record_error(self, tenant, id, when, error_code, at).await
    }

    /// The platform refused the refresh with `invalid_grant`: the connection loses its tokens.
    /// The update re-checks status and tokens on the row it locks, so a disconnect or a link that
    /// committed first makes it change nothing.
    async fn deauthorize_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        previous_tokens_ct: &str,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let row = sqlx::query(concat!(
            "update connections set status = 'deauthorized', tokens_ct = null, refresh_leased_until = null,
                 last_error = $1, updated_at = $2
             where tenant_id = $3 and id = $4 and status in ('linked', 'reconsent_required') and tokens_ct = $5
             returning ",
            connection_cols!()
        ))
        .bind(error_code)
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(previous_tokens_ct)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            drop(tx);
            return moved_on(self, tenant, id).await;
        };
        let deauthorized = connection_from(&row)?;
        crate::jobs::end_refreshes(&mut tx, tenant, id, at).await?;
        crate::webhooks::insert_events(
            &mut tx,
            &[WebhookEvent::connection(
                "connection.deauthorized",
                &deauthorized,
                at,
            )],
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(deauthorized))
    }

    /// Records a failure code on a connection still pending sign-in, with its
    /// `connection.failed` outbox row; one that moved on (linked, disconnected) keeps its state: a late failure report does not
    /// describe it any more.
    async fn fail_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        let when = (ConnectionStatus::PendingAuth, "connection.failed");
        record_error(self, tenant, id, when, error_code, at).await?;
        Ok(())
    }

    async fn connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<Connection>> {
        sqlx::query(concat!(
            "select ",
            connection_cols!(),
            " from connections where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| connection_from(&r))
        .transpose()
    }

    /// One statement, so one snapshot: the consent's columns are renamed in a subquery so the
    /// connection's own names stay unambiguous for [`connection_from`].
    async fn access_view(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<AccessView>> {
        let row = sqlx::query(concat!(
            "select ",
            connection_cols!(),
            ", tokens_ct, k_id, k_given_at, k_withdrawn_at, k_data_uses
             from connections left join
                 (select tenant_id as k_tenant_id, id as k_id, given_at as k_given_at,
                         withdrawn_at as k_withdrawn_at, data_uses as k_data_uses
                  from consents) k on k_tenant_id = tenant_id and k_id = consent_id
             where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let consent = match row.opt_id("k_id")? {
            Some(id) => Some(ConsentTerms {
                id,
                given_at: row.time("k_given_at")?,
                withdrawn_at: row.opt_time("k_withdrawn_at")?,
                data_uses: row.json("k_data_uses")?,
            }),
            None => None,
        };
        Ok(Some(AccessView {
            connection: connection_from(&row)?,
            tokens_ct: row.opt_text("tokens_ct")?,
            consent,
        }))
    }

    /// One statement: the connection's row and its consent's, each found by its primary key.
    async fn access_fence(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<Option<AccessFence>> {
        let row = sqlx::query(
            "select c.status, c.consent_id, k.withdrawn_at
             from connections c left join consents k
                 on k.tenant_id = c.tenant_id and k.id = c.consent_id
             where c.tenant_id = $1 and c.id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|row| {
            Ok(AccessFence {
                status: row.parsed("status")?,
                consent_id: row.opt_id("consent_id")?,
                consent_withdrawn_at: row.opt_time("withdrawn_at")?,
            })
        })
        .transpose()
    }

    async fn tenant_connections(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>> {
        // The nil UUID sorts before every id: one range of the primary key serves each page.
        sqlx::query(concat!(
            "select ",
            connection_cols!(),
            " from connections where tenant_id = $1
                 and id > coalesce($2, '00000000-0000-0000-0000-000000000000'::uuid)
             order by id limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after.map(|a| a.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(connection_from)
        .collect()
    }

    async fn company_connections(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<Connection>> {
        sqlx::query(concat!(
            "select ",
            connection_cols!(),
            " from connections where tenant_id = $1 and company_id = $2 order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(company.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(connection_from)
        .collect()
    }

    async fn connection_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<Option<String>> {
        let tokens: Option<Option<String>> = sqlx::query_scalar(
            "select tokens_ct from connections where tenant_id = $1 and id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        Ok(tokens.flatten())
    }

    async fn disconnect(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        revoke: bool,
        method: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Disconnected>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let out = disconnect_in(&mut tx, tenant, id, revoke, method, at).await?;
        tx.commit().await.map_err(db)?;
        Ok(out)
    }
}
