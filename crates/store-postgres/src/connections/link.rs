//! Linking a connection after the platform sign-in, in one transaction: its tokens and who it
//! reaches at the platform stored, its first refresh queued, the grant it held before revoked,
//! and the earlier connections of the same company to the same upstream organisation
//! disconnected (two live connections never hold grants to one organisation's data).

use super::{connection_cols, connection_from, disconnect_unchained};
use crate::codec::RowExt;
use crate::error::db;
use crate::PgStore;
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use accord_domain::outbox::WebhookEvent;
use accord_store::{LinkWrite, Linked, Result, StoreError};
use sqlx::PgConnection;
use time::OffsetDateTime;
use uuid::Uuid;

/// The method of the `withdrawn` events of the connections a link replaces.
const REPLACED: &str = "replaced";

/// A connection locked for a link, as last committed.
struct Locked {
    id: Uuid,
    status: ConnectionStatus,
    tokens_ct: Option<String>,
    upstream_id: Option<String>,
}

/// Locks the connection to link and, with `siblings` (the sign-in named its upstream
/// organisation), every other connection of its company to its platform that is not
/// disconnected, whatever their upstream: all in id order, the order every multi-row writer
/// locks connections in. Two links of one company's connections to one platform then take
/// turns, and each reads the other's upstream as committed, so two connections to one
/// organisation linked at the same moment still end with one of them. Empty when the
/// connection does not exist for `tenant`.
async fn lock_for_link(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    siblings: bool,
) -> Result<Vec<Locked>> {
    let rows = sqlx::query(
        "select c.id, c.status, c.tokens_ct, c.upstream_id
         from connections x
         join connections c on c.company_id = x.company_id and c.tenant_id = x.tenant_id
             and c.platform_key = x.platform_key
         where x.tenant_id = $1 and x.id = $2
             and (c.id = x.id or ($3 and c.status <> 'disconnected'))
         order by c.id
         for update of c",
    )
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .bind(siblings)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(Locked {
                id: r.id("id")?,
                status: r.parsed("status")?,
                tokens_ct: r.opt_text("tokens_ct")?,
                upstream_id: r.opt_text("upstream_id")?,
            })
        })
        .collect()
}

/// The locked connection becomes `linked` with the sign-in's tokens, scope and upstream (the
/// upstream replaces what was known, `None` included), with its `connection.linked` outbox row.
async fn set_linked(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    link: &LinkWrite,
    at: OffsetDateTime,
) -> Result<Connection> {
    let (upstream_id, upstream_name) = link
        .upstream
        .as_ref()
        .map(|u| (u.id.as_str(), u.name.as_str()))
        .unzip();
    let row = sqlx::query(concat!(
        "update connections set status = 'linked', tokens_ct = $1, granted_scope = $2, last_error = null,
             linked_at = $3, updated_at = $3, upstream_id = $4, upstream_name = $5
         where tenant_id = $6 and id = $7 returning ",
        connection_cols!()
    ))
    .bind(&link.tokens_ct)
    .bind(&link.granted_scope)
    .bind(at)
    .bind(upstream_id)
    .bind(upstream_name)
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_one(&mut *conn)
    .await
    .map_err(db)?;
    let linked = connection_from(&row)?;
    crate::webhooks::insert_events(
        conn,
        &[WebhookEvent::connection("connection.linked", &linked, at)],
    )
    .await?;
    Ok(linked)
}

/// The earlier connections to the organisation `link` names (locked by [`lock_for_link`]),
/// disconnected as a disconnect with revocation does, their `withdrawn` events appended last
/// (the chain is the last lock taken). Returns them as disconnected, with their revocation jobs.
async fn replace_earlier(
    conn: &mut PgConnection,
    tenant: TenantId,
    id: ConnectionId,
    locked: &[Locked],
    link: &LinkWrite,
    at: OffsetDateTime,
) -> Result<(Vec<Connection>, Vec<JobId>)> {
    let Some(upstream) = &link.upstream else {
        return Ok((Vec::new(), Vec::new()));
    };
    let earlier = locked.iter().filter(|c| {
        c.id != id.as_uuid()
            && c.status != ConnectionStatus::Disconnected
            && c.upstream_id.as_deref() == Some(upstream.id.as_str())
    });
    let (mut replaced, mut jobs, mut events) = (Vec::new(), Vec::new(), Vec::new());
    for c in earlier {
        let out = disconnect_unchained(conn, tenant, c.id.into(), true, REPLACED, at).await?;
        // Locked above and not disconnected, so it is there.
        let Some((disconnected, unchained)) = out else {
            continue;
        };
        jobs.extend(disconnected.revoke_job);
        replaced.push(disconnected.connection);
        events.extend(unchained);
    }
    crate::ledger::append_in(conn, events).await?;
    Ok((replaced, jobs))
}

/// [`ConnectionStore::link_connection`](accord_store::ConnectionStore::link_connection).
pub(super) async fn link_connection(
    store: &PgStore,
    tenant: TenantId,
    id: ConnectionId,
    link: &LinkWrite,
    at: OffsetDateTime,
) -> Result<Linked> {
    let mut tx = store.pool.begin().await.map_err(db)?;
    let locked = lock_for_link(&mut tx, tenant, id, link.upstream.is_some()).await?;
    let Some(own) = locked.iter().find(|c| c.id == id.as_uuid()) else {
        return Err(StoreError::NotFound);
    };
    // A disconnected connection is never revived by a late callback: only a new consent may
    // start it again (withdrawal takes effect at once, and for good). Read under the row's
    // lock, so a disconnect that committed first is seen.
    if own.status == ConnectionStatus::Disconnected {
        return Err(StoreError::Conflict(format!(
            "connection {id} is disconnected"
        )));
    }
    let connection = set_linked(&mut tx, tenant, id, link, at).await?;
    if let Some(l) = &link.manage_link {
        if l.tenant_id != tenant || l.company_id != connection.company_id {
            return Err(StoreError::Conflict(
                "a manage link is for the connection's own company".into(),
            ));
        }
        crate::flow::insert_manage_link(&mut tx, l).await?;
    }
    if let Some(next) = link.refresh {
        crate::jobs::schedule_refresh(&mut tx, tenant, id, &connection.platform_key, next, at)
            .await?;
    }
    // The grant replaced is held by nobody now: revoked at the platform, as a disconnect would.
    let mut revoke_jobs = Vec::new();
    if let Some(old) = own
        .tokens_ct
        .as_deref()
        .filter(|old| *old != link.tokens_ct)
    {
        let platform = &connection.platform_key;
        let job = crate::jobs::queue_revocation(&mut tx, tenant, id, platform, old, at).await?;
        revoke_jobs.push(job);
    }
    let (replaced, jobs) = replace_earlier(&mut tx, tenant, id, &locked, link, at).await?;
    revoke_jobs.extend(jobs);
    tx.commit().await.map_err(db)?;
    Ok(Linked {
        connection,
        revoke_jobs,
        replaced,
    })
}
