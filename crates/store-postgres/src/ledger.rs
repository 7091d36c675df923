//! The consent ledger's SQL: appending to tenants' hash chains inside the caller's transaction,
//! and reading them back. An appender locks the chains it extends first
//! (`accord_lock_ledger_heads`, `migrations/0002_ledger.sql`), so appends to one tenant's chain
//! from several writers and instances take turns and the chain cannot fork; the primary key
//! `(tenant_id, seq)` would refuse a fork anyway.
//!
//! Lock order, everywhere: a tenant's chain before any connection row. The group-commit batch,
//! a disconnect, a company deletion and consent expiry all follow it, so none deadlock.

use crate::error::{corrupt, db};
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::{append, ChainedEvent, EventBody, LedgerEvent};
use accord_store::Result;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, PgPool, Row as _};
use std::collections::HashMap;
use time::OffsetDateTime;
use uuid::Uuid;

/// The last (position, hash) of each chain, `None` for an empty one.
pub(crate) type Heads = HashMap<TenantId, Option<(i64, String)>>;

/// Locks the chains of `tenants` until the caller's transaction ends, and reads their heads.
pub(crate) async fn lock_heads(conn: &mut PgConnection, tenants: &[TenantId]) -> Result<Heads> {
    let mut ids: Vec<Uuid> = tenants.iter().map(TenantId::as_uuid).collect();
    ids.sort_unstable();
    ids.dedup();
    let rows = sqlx::query("select tenant_id, seq, hash from accord_lock_ledger_heads($1)")
        .bind(&ids)
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
    let mut heads = Heads::with_capacity(rows.len());
    for row in rows {
        let tenant: Uuid = row.try_get("tenant_id").map_err(db)?;
        let seq: Option<i64> = row.try_get("seq").map_err(db)?;
        let hash: Option<String> = row.try_get("hash").map_err(db)?;
        heads.insert(TenantId::from(tenant), seq.zip(hash));
    }
    Ok(heads)
}

/// Chains `bodies` (in order) after the locked heads, advancing them.
pub(crate) fn chain(heads: &mut Heads, bodies: impl IntoIterator<Item = (TenantId, EventBody)>) -> Vec<ChainedEvent> {
    bodies
        .into_iter()
        .map(|(tenant, body)| {
            let head = heads.entry(tenant).or_default();
            let e = append(tenant, head.as_ref().map(|(s, h)| (*s, h.as_str())), body);
            *head = Some((e.event.seq, e.hash.clone()));
            e
        })
        .collect()
}

/// Column arrays of chained events, for one multi-row insert (`unnest`).
#[derive(Default)]
pub(crate) struct Columns {
    pub tenant_id: Vec<Uuid>,
    pub seq: Vec<i64>,
    pub kind: Vec<&'static str>,
    pub consent_id: Vec<Uuid>,
    pub event: Vec<String>,
    pub hash: Vec<String>,
    pub prev_hash: Vec<String>,
    pub at: Vec<OffsetDateTime>,
}

impl Columns {
    pub(crate) fn of(events: &[ChainedEvent]) -> Self {
        let mut c = Self::default();
        for e in events {
            c.tenant_id.push(e.event.tenant_id.as_uuid());
            c.seq.push(e.event.seq);
            c.kind.push(e.event.body.kind.as_str());
            c.consent_id.push(e.event.body.consent_id.as_uuid());
            // The exact text hashed: verification recomputes the hash over this JSON.
            c.event.push(e.event.canonical_json());
            c.hash.push(e.hash.clone());
            c.prev_hash.push(e.event.prev_hash.clone());
            c.at.push(e.event.body.at);
        }
        c
    }
}

/// Inserts chained events (any tenants) in one statement.
async fn insert(conn: &mut PgConnection, events: &[ChainedEvent]) -> Result<()> {
    let c = Columns::of(events);
    sqlx::query(
        "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
         select * from unnest($1::uuid[], $2::int8[], $3::text[], $4::uuid[], $5::text[], $6::text[],
             $7::text[], $8::timestamptz[])",
    )
    .bind(c.tenant_id)
    .bind(c.seq)
    .bind(c.kind)
    .bind(c.consent_id)
    .bind(c.event)
    .bind(c.hash)
    .bind(c.prev_hash)
    .bind(c.at)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Appends `bodies` (in order, each to its tenant's chain) in the caller's transaction, locking
/// those chains first (a caller that also changes connections must have locked them before:
/// see the lock order above).
pub(crate) async fn append_in(conn: &mut PgConnection, bodies: Vec<(TenantId, EventBody)>) -> Result<Vec<ChainedEvent>> {
    if bodies.is_empty() {
        return Ok(Vec::new());
    }
    let tenants: Vec<TenantId> = bodies.iter().map(|(t, _)| *t).collect();
    let mut heads = lock_heads(conn, &tenants).await?;
    let events = chain(&mut heads, bodies);
    insert(conn, &events).await?;
    Ok(events)
}

fn event_from(row: &PgRow) -> Result<ChainedEvent> {
    let json: String = row.try_get("event").map_err(db)?;
    let event: LedgerEvent = serde_json::from_str(&json).map_err(|e| corrupt("ledger_events.event", e))?;
    let hash: String = row.try_get("hash").map_err(db)?;
    Ok(ChainedEvent { event, hash })
}

pub(crate) async fn events(pool: &PgPool, tenant: TenantId, after_seq: i64, limit: u32) -> Result<Vec<ChainedEvent>> {
    sqlx::query("select event, hash from ledger_events where tenant_id = $1 and seq > $2 order by seq limit $3")
        .bind(tenant.as_uuid())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(event_from)
        .collect()
}

pub(crate) async fn consent_events(pool: &PgPool, tenant: TenantId, consent: ConsentId) -> Result<Vec<ChainedEvent>> {
    sqlx::query("select event, hash from ledger_events where consent_id = $1 and tenant_id = $2 order by seq")
        .bind(consent.as_uuid())
        .bind(tenant.as_uuid())
        .fetch_all(pool)
        .await
        .map_err(db)?
        .iter()
        .map(event_from)
        .collect()
}

pub(crate) async fn tenants_with_events(pool: &PgPool) -> Result<Vec<TenantId>> {
    // One index probe per tenant (the primary key starts with tenant_id), not a scan of events.
    let ids: Vec<Uuid> = sqlx::query_scalar(
        "select t.id from tenants t
         where exists (select 1 from ledger_events e where e.tenant_id = t.id)
         order by t.id",
    )
    .fetch_all(pool)
    .await
    .map_err(db)?;
    Ok(ids.into_iter().map(TenantId::from).collect())
}
