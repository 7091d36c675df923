//! Connections, consents and the writes that change them together: the consent action
//! (its rows are written by the group commit, `writer.rs` and `batch.rs`), linking, token refresh, failures,
//! deauthorization and disconnection.

use crate::codec::{micros, RowExt};
use crate::conn::begin;
use crate::error::db;
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::Consent;
use accord_domain::ids::{CompanyId, ConnectionId, ConsentId, JobId, NoticeId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody, EventKind};
use accord_domain::outbox::WebhookEvent;
use accord_store::{
    ConsentWrite, Disconnected, RefreshSchedule, RefreshStored, RefreshedTokens, Result, StoreError,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row as _, SqliteConnection, SqlitePool};
use time::OffsetDateTime;

macro_rules! connection_cols {
    () => {
        "id, tenant_id, company_id, platform_key, status, data_uses, consent_id, granted_scope, last_error, \
         created_at, updated_at, linked_at, disconnected_at"
    };
}

macro_rules! consent_cols {
    () => {
        "id, tenant_id, company_id, connection_id, platform_key, category, notice_version_id, notice_version, \
         locale, data_uses, notice_text, notice_sha256, evidence, given_at, withdrawn_at"
    };
}

fn connection_from(row: &SqliteRow) -> Result<Connection> {
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
    })
}

fn consent_from(row: &SqliteRow) -> Result<Consent> {
    Ok(Consent {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        connection_id: row.id("connection_id")?,
        platform_key: row.platform("platform_key")?,
        category: row.parsed("category")?,
        notice_version_id: row.id("notice_version_id")?,
        notice_version: row.int("notice_version")?,
        locale: row.parsed("locale")?,
        data_uses: row.json("data_uses")?,
        notice_text: row.text("notice_text")?,
        notice_sha256: row.text("notice_sha256")?,
        evidence: row.json("evidence")?,
        given_at: row.time("given_at")?,
        withdrawn_at: row.opt_time("withdrawn_at")?,
    })
}

/// The consent, the connection and the OAuth flow of a write name the same owner and connection.
pub(crate) fn consistent(w: &ConsentWrite) -> bool {
    let (c, k) = (&w.connection, &w.consent);
    let flow_ok = w
        .oauth_flow
        .as_ref()
        .is_none_or(|f| f.tenant_id == c.tenant_id && f.connection_id == c.id);
    k.connection_id == c.id && k.tenant_id == c.tenant_id && k.company_id == c.company_id && flow_ok
}

pub(crate) async fn link_connection(
    write: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    tokens_ct: &str,
    granted_scope: Option<&str>,
    refresh: Option<RefreshSchedule>,
    at: OffsetDateTime,
) -> Result<Option<JobId>> {
    // A disconnected connection is never revived by a late callback: only a new consent may
    // start it again (DESIGN.md: withdrawal takes effect at once).
    let mut tx = begin(write).await?;
    // The tokens this link replaces (the write transaction holds the database).
    let previous: Option<Option<String>> =
        sqlx::query_scalar("select tokens_ct from connections where tenant_id = ? and id = ?")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(db)?;
    let row = sqlx::query(concat!(
        "update connections set status = 'linked', tokens_ct = ?, granted_scope = ?, last_error = null,
             linked_at = ?, updated_at = ?
         where tenant_id = ? and id = ? and status <> 'disconnected' returning ",
        connection_cols!()
    ))
    .bind(tokens_ct)
    .bind(granted_scope)
    .bind(micros(at))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        // Told apart in the same transaction (nothing was written).
        let exists: Option<i64> =
            sqlx::query_scalar("select 1 from connections where tenant_id = ? and id = ?")
                .bind(tenant.to_string())
                .bind(id.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        return match exists {
            Some(_) => Err(StoreError::Conflict(format!(
                "connection {id} is disconnected"
            ))),
            None => Err(StoreError::NotFound),
        };
    };
    let linked = connection_from(&row)?;
    crate::webhooks::insert_events(
        &mut tx,
        &[WebhookEvent::connection("connection.linked", &linked, at)],
    )
    .await?;
    if let Some(next) = refresh {
        crate::jobs::schedule_refresh(&mut tx, tenant, id, &linked.platform_key, next, at).await?;
    }
    // The grant replaced is held by nobody now: revoked at the platform, as a disconnect would.
    let revoke_job = match previous.flatten() {
        Some(old) if old != tokens_ct => Some(
            crate::jobs::queue_revocation(&mut tx, tenant, id, &linked.platform_key, &old, at)
                .await?,
        ),
        _ => None,
    };
    tx.commit().await.map_err(db)?;
    Ok(revoke_job)
}

/// A refresh's tokens replace the ones it started from, if the connection still holds them.
pub(crate) async fn store_refreshed_tokens(
    write: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    r: &RefreshedTokens,
    at: OffsetDateTime,
) -> Result<RefreshStored> {
    let mut tx = begin(write).await?;
    let row = sqlx::query(
        "select platform_key, tokens_ct, status from connections where tenant_id = ? and id = ?",
    )
    .bind(tenant.to_string())
    .bind(id.to_string())
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
        && crate::jobs::complete_in(&mut tx, r.job, at).await?
    {
        sqlx::query(
            "update connections set tokens_ct = ?, granted_scope = coalesce(?, granted_scope), last_error = null, updated_at = ?
             where tenant_id = ? and id = ?",
        )
        .bind(&r.tokens_ct)
        .bind(&r.granted_scope)
        .bind(micros(at))
        .bind(tenant.to_string())
        .bind(id.to_string())
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
/// After a conditional change of one connection that matched no row: `None` (nothing written)
/// if the connection exists and moved on meanwhile, `NotFound` if it does not exist for `tenant`.
async fn moved_on(
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    match connection(read, tenant, id).await? {
        Some(_) => Ok(None),
        None => Err(StoreError::NotFound),
    }
}

/// The platform refused the refresh with `invalid_grant`: the connection loses its tokens.
pub(crate) async fn deauthorize_connection(
    write: &SqlitePool,
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    previous_tokens_ct: &str,
    error_code: &str,
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let mut tx = begin(write).await?;
    let row = sqlx::query(concat!(
        "update connections set status = 'deauthorized', tokens_ct = null, last_error = ?, updated_at = ?
         where tenant_id = ? and id = ? and status in ('linked', 'reconsent_required') and tokens_ct = ?
         returning ",
        connection_cols!()
    ))
    .bind(error_code)
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(previous_tokens_ct)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        drop(tx);
        return moved_on(read, tenant, id).await;
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

/// Records a failure code on a connection still pending sign-in (see `Store::fail_connection`);
/// one that moved on (linked, disconnected) keeps its state: a late failure report does not
/// describe it any more.
pub(crate) async fn fail_connection(
    write: &SqlitePool,
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    error_code: &str,
    at: OffsetDateTime,
) -> Result<()> {
    let when = (ConnectionStatus::PendingAuth, "connection.failed");
    record_error(write, read, tenant, id, when, error_code, at).await?;
    Ok(())
}

/// See `Store::refresh_failing`.
pub(crate) async fn refresh_failing(
    write: &SqlitePool,
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    error_code: &str,
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let when = (ConnectionStatus::Linked, "connection.refresh_failing");
    record_error(write, read, tenant, id, when, error_code, at).await
}

/// Sets `last_error` on a connection in `status`, with its `event_type` outbox row (`when`), in
/// one transaction. `None`, and nothing written, when the connection is in another status.
async fn record_error(
    write: &SqlitePool,
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    when: (ConnectionStatus, &'static str),
    error_code: &str,
    at: OffsetDateTime,
) -> Result<Option<Connection>> {
    let (status, event_type) = when;
    let mut tx = begin(write).await?;
    let row = sqlx::query(concat!(
        "update connections set last_error = ?, updated_at = ?
         where tenant_id = ? and id = ? and status = ? returning ",
        connection_cols!()
    ))
    .bind(error_code)
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .bind(status.as_str())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(row) = row else {
        drop(tx);
        return moved_on(read, tenant, id).await;
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

pub(crate) async fn connection(
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<Connection>> {
    sqlx::query(concat!(
        "select ",
        connection_cols!(),
        " from connections where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| connection_from(&r))
    .transpose()
}

pub(crate) async fn company_connections(
    read: &SqlitePool,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Vec<Connection>> {
    sqlx::query(concat!(
        "select ",
        connection_cols!(),
        " from connections where tenant_id = ? and company_id = ? order by id"
    ))
    .bind(tenant.to_string())
    .bind(company.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(connection_from)
    .collect()
}

pub(crate) async fn connection_tokens(
    read: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
) -> Result<Option<String>> {
    let tokens: Option<Option<String>> =
        sqlx::query_scalar("select tokens_ct from connections where tenant_id = ? and id = ?")
            .bind(tenant.to_string())
            .bind(id.to_string())
            .fetch_optional(read)
            .await
            .map_err(db)?;
    Ok(tokens.flatten())
}

pub(crate) async fn disconnect(
    write: &SqlitePool,
    tenant: TenantId,
    id: ConnectionId,
    revoke: bool,
    method: &str,
    at: OffsetDateTime,
) -> Result<Option<Disconnected>> {
    let mut tx = begin(write).await?;
    let out = disconnect_in(&mut tx, tenant, id, revoke, method, at).await?;
    tx.commit().await.map_err(db)?;
    Ok(out)
}

/// The disconnect, inside the caller's transaction (also used by `delete_company`): status,
/// token destruction, consent withdrawal and the revocation job commit together.
pub(crate) async fn disconnect_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    id: ConnectionId,
    revoke: bool,
    method: &str,
    at: OffsetDateTime,
) -> Result<Option<Disconnected>> {
    let row = sqlx::query(concat!(
        "select ",
        connection_cols!(),
        ", tokens_ct from connections where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    let Some(row) = row else { return Ok(None) };
    let current = connection_from(&row)?;
    if current.status == ConnectionStatus::Disconnected {
        return Ok(Some(Disconnected {
            connection: current,
            revoke_job: None,
        }));
    }
    let tokens_ct = row.opt_text("tokens_ct")?;
    let row = sqlx::query(concat!(
        "update connections set status = 'disconnected', tokens_ct = null, disconnected_at = ?, updated_at = ?
         where tenant_id = ? and id = ? returning ",
        connection_cols!()
    ))
    .bind(micros(at))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let connection = connection_from(&row)?;
    crate::jobs::end_refreshes(conn, tenant, id, at).await?;
    // Every consent still in force on this connection ends now, not only the latest one, each
    // with its `withdrawn` ledger event.
    let ended = end_consents(conn, tenant, "connection_id = ?", &id.to_string(), at).await?;
    let bodies = ended
        .iter()
        .map(|(k, purpose)| EventBody::for_consent(EventKind::Withdrawn, k, purpose, method, at))
        .collect();
    crate::ledger::append_in(conn, tenant, bodies).await?;
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
    Ok(Some(Disconnected {
        connection,
        revoke_job,
    }))
}

pub(crate) async fn consent(
    read: &SqlitePool,
    tenant: TenantId,
    id: ConsentId,
) -> Result<Option<Consent>> {
    sqlx::query(concat!(
        "select ",
        consent_cols!(),
        " from consents where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| consent_from(&r))
    .transpose()
}

pub(crate) async fn company_consents(
    read: &SqlitePool,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Vec<Consent>> {
    sqlx::query(concat!(
        "select ",
        consent_cols!(),
        // Through the company's connections (`connections_company`, `consents_connection`):
        // consents have no per-company index, which every consent write would pay for.
        " from consents where tenant_id = ? and connection_id in
             (select id from connections where tenant_id = ? and company_id = ?)
         order by id"
    ))
    .bind(tenant.to_string())
    .bind(tenant.to_string())
    .bind(company.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(consent_from)
    .collect()
}

/// The connections of a company that can still be disconnected, for `delete_company`.
pub(crate) async fn active_ids(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    company: CompanyId,
) -> Result<Vec<ConnectionId>> {
    let ids: Vec<String> =
        sqlx::query_scalar("select id from connections where tenant_id = ? and company_id = ? and status <> 'disconnected' order by id")
            .bind(tenant.to_string())
            .bind(company.to_string())
            .fetch_all(&mut *conn)
            .await
            .map_err(db)?;
    ids.iter()
        .map(|s| s.parse().map_err(|e| crate::error::corrupt("id", e)))
        .collect()
}

/// Ends the consents in force of `tenant` matching `filter` (an SQL condition on `consents`
/// with one `?`), returning them with the purpose of their notice version.
async fn end_consents(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    filter: &str,
    arg: &str,
    at: OffsetDateTime,
) -> Result<Vec<(Consent, String)>> {
    let ids: Vec<String> = sqlx::query_scalar(&format!(
        "update consents set withdrawn_at = ? where tenant_id = ? and withdrawn_at is null and {filter} returning id"
    ))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(arg)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let mut out = Vec::with_capacity(ids.len());
    for cid in ids {
        let row = sqlx::query(concat!(
            "select ",
            consent_cols!(),
            ", (select nv.content ->> '$.purpose' from notice_versions nv
                 where nv.tenant_id = consents.tenant_id and nv.id = consents.notice_version_id) as purpose
             from consents where tenant_id = ? and id = ?"
        ))
        .bind(tenant.to_string())
        .bind(&cid)
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
        let purpose: Option<String> = row.try_get("purpose").map_err(db)?;
        out.push((consent_from(&row)?, purpose.unwrap_or_default()));
    }
    out.sort_by_key(|(k, _)| k.id);
    Ok(out)
}

/// Material notice change: linked connections whose consent in force quotes an older version of
/// the notice need the customer's agreement again.
pub(crate) async fn require_reconsent(
    write: &SqlitePool,
    tenant: TenantId,
    notice: NoticeId,
    at: OffsetDateTime,
) -> Result<Vec<Connection>> {
    let mut tx = begin(write).await?;
    let rows = sqlx::query(concat!(
        "update connections set status = 'reconsent_required', updated_at = ?
         where tenant_id = ? and status = 'linked' and consent_id in (
             select k.id from consents k
             join notice_versions nv on nv.tenant_id = k.tenant_id and nv.id = k.notice_version_id
             join notices n on n.tenant_id = nv.tenant_id and n.id = nv.notice_id
             where k.tenant_id = ? and n.id = ? and k.withdrawn_at is null and nv.version < n.current_version)
         returning ",
        connection_cols!()
    ))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(tenant.to_string())
    .bind(notice.to_string())
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let connections = rows
        .iter()
        .map(connection_from)
        .collect::<Result<Vec<_>>>()?;
    let outbox: Vec<WebhookEvent> = connections
        .iter()
        .map(|c| WebhookEvent::reconsent_required(c, "notice_changed", at))
        .collect();
    crate::webhooks::insert_events(&mut tx, &outbox).await?;
    tx.commit().await.map_err(db)?;
    Ok(connections)
}

/// Consent validity: consents in force on linked connections, given before `given_before`,
/// end with an `expired` event; their connections need the customer's agreement again.
pub(crate) async fn expire_consents(
    write: &SqlitePool,
    tenant: TenantId,
    given_before: OffsetDateTime,
    at: OffsetDateTime,
) -> Result<Vec<ChainedEvent>> {
    let mut tx = begin(write).await?;
    let ended = end_consents(
        &mut tx,
        tenant,
        "given_at < ? and id in (select consent_id from connections c where c.tenant_id = consents.tenant_id and c.status = 'linked')",
        &micros(given_before).to_string(),
        at,
    )
    .await?;
    let mut outbox = Vec::with_capacity(ended.len());
    for (k, _) in &ended {
        let row = sqlx::query(concat!(
            "update connections set status = 'reconsent_required', updated_at = ?
             where tenant_id = ? and id = ? and status = 'linked' returning ",
            connection_cols!()
        ))
        .bind(micros(at))
        .bind(tenant.to_string())
        .bind(k.connection_id.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(row) = row {
            let c = connection_from(&row)?;
            outbox.push(WebhookEvent::reconsent_required(&c, "consent_expired", at));
        }
    }
    crate::webhooks::insert_events(&mut tx, &outbox).await?;
    let bodies = ended
        .iter()
        .map(|(k, purpose)| {
            EventBody::for_consent(EventKind::Expired, k, purpose, "validity_expired", at)
        })
        .collect();
    let events = crate::ledger::append_in(&mut tx, tenant, bodies).await?;
    tx.commit().await.map_err(db)?;
    Ok(events)
}
