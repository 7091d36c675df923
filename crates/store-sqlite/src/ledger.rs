//! The consent ledger's SQL: appending to a tenant's hash chain inside the caller's transaction,
//! and reading it back. Appends happen on the single writer connection, so a tenant's chain
//! cannot fork; the primary key `(tenant_id, seq)` would refuse a fork anyway.

use crate::codec::micros;
use crate::error::{corrupt, db};
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::{append, parse_stored, ChainedEvent, EventBody, StoredColumns};
use accord_store::Result;
use sqlx::{Row as _, SqliteConnection, SqlitePool};

/// The last (position, hash) of a tenant's chain.
async fn head(conn: &mut SqliteConnection, tenant: TenantId) -> Result<Option<(i64, String)>> {
    let row = sqlx::query(
        "select seq, hash from ledger_events where tenant_id = ? order by seq desc limit 1",
    )
    .bind(tenant.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    row.map(|r| {
        Ok((
            r.try_get::<i64, _>("seq").map_err(db)?,
            r.try_get::<String, _>("hash").map_err(db)?,
        ))
    })
    .transpose()
}

/// Appends `bodies` (in order) to `tenant`'s chain, in the caller's transaction.
pub(crate) async fn append_in(
    conn: &mut SqliteConnection,
    tenant: TenantId,
    bodies: Vec<EventBody>,
) -> Result<Vec<ChainedEvent>> {
    if bodies.is_empty() {
        return Ok(Vec::new());
    }
    let mut prev = head(conn, tenant).await?;
    let mut out = Vec::with_capacity(bodies.len());
    for body in bodies {
        let e = append(tenant, prev.as_ref().map(|(s, h)| (*s, h.as_str())), body);
        prev = Some((e.event.seq, e.hash.clone()));
        out.push(e);
    }
    insert(conn, &out).await?;
    Ok(out)
}

#[derive(serde::Serialize)]
struct Row<'a> {
    tenant_id: TenantId,
    seq: i64,
    kind: &'static str,
    consent_id: ConsentId,
    event: String,
    hash: &'a str,
    prev_hash: &'a str,
    at: i64,
}

/// Inserts chained events (any tenants) in one statement.
async fn insert(conn: &mut SqliteConnection, events: &[ChainedEvent]) -> Result<()> {
    let rows: Vec<Row<'_>> = events
        .iter()
        .map(|e| Row {
            tenant_id: e.event.tenant_id,
            seq: e.event.seq,
            kind: e.event.body.kind.as_str(),
            consent_id: e.event.body.consent_id,
            event: e.event.canonical_json(),
            hash: &e.hash,
            prev_hash: &e.event.prev_hash,
            at: micros(e.event.body.at),
        })
        .collect();
    sqlx::query(
        "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
         select j.value ->> '$.tenant_id', j.value ->> '$.seq', j.value ->> '$.kind', j.value ->> '$.consent_id',
             j.value ->> '$.event', j.value ->> '$.hash', j.value ->> '$.prev_hash', j.value ->> '$.at'
         from json_each(?) j",
    )
    .bind(crate::codec::to_json(&rows)?)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Appends the events of a whole group-commit batch: per tenant, in batch order.
pub(crate) async fn append_batch(
    conn: &mut SqliteConnection,
    bodies: Vec<(TenantId, EventBody)>,
) -> Result<Vec<ChainedEvent>> {
    let mut heads: std::collections::HashMap<TenantId, Option<(i64, String)>> =
        std::collections::HashMap::new();
    let mut out = Vec::with_capacity(bodies.len());
    for (tenant, body) in bodies {
        let prev = match heads.entry(tenant) {
            std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::hash_map::Entry::Vacant(v) => v.insert(head(conn, tenant).await?),
        };
        let e = append(tenant, prev.as_ref().map(|(s, h)| (*s, h.as_str())), body);
        *prev = Some((e.event.seq, e.hash.clone()));
        out.push(e);
    }
    insert(conn, &out).await?;
    Ok(out)
}

fn event_from(row: &sqlx::sqlite::SqliteRow) -> Result<ChainedEvent> {
    let json: String = row.try_get("event").map_err(db)?;
    let text = |c: &str| row.try_get::<String, _>(c).map_err(db);
    let (tenant, kind, consent, prev) = (
        text("tenant_id")?,
        text("kind")?,
        text("consent_id")?,
        text("prev_hash")?,
    );
    let cols = StoredColumns {
        tenant_id: tenant
            .parse()
            .map_err(|e| corrupt("ledger_events.tenant_id", e))?,
        seq: row.try_get("seq").map_err(db)?,
        kind: &kind,
        consent_id: consent
            .parse()
            .map_err(|e| corrupt("ledger_events.consent_id", e))?,
        prev_hash: &prev,
        at_micros: row.try_get("at").map_err(db)?,
    };
    let event = parse_stored(&json, &cols).map_err(|e| corrupt("ledger_events.event", e))?;
    let hash: String = row.try_get("hash").map_err(db)?;
    Ok(ChainedEvent { event, hash })
}

pub(crate) async fn events(
    read: &SqlitePool,
    tenant: TenantId,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<ChainedEvent>> {
    let rows = sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where tenant_id = ? and seq > ? order by seq limit ?")
        .bind(tenant.to_string())
        .bind(after_seq)
        .bind(i64::from(limit))
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn consent_events(
    read: &SqlitePool,
    tenant: TenantId,
    consent: ConsentId,
) -> Result<Vec<ChainedEvent>> {
    let rows = sqlx::query("select tenant_id, seq, kind, consent_id, prev_hash, at, event, hash from ledger_events where tenant_id = ? and consent_id = ? order by seq")
        .bind(tenant.to_string())
        .bind(consent.to_string())
        .fetch_all(read)
        .await
        .map_err(db)?;
    rows.iter().map(event_from).collect()
}

pub(crate) async fn tenants_with_events(read: &SqlitePool) -> Result<Vec<TenantId>> {
    let ids: Vec<String> =
        sqlx::query_scalar("select distinct tenant_id from ledger_events order by tenant_id")
            .fetch_all(read)
            .await
            .map_err(db)?;
    ids.iter()
        .map(|s| s.parse().map_err(|e| corrupt("ledger_events.tenant_id", e)))
        .collect()
}
