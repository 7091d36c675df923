//! Webhooks (`migrations/0010_webhooks.sql`): endpoints, the outbox written inside the
//! transactions of the changes it describes ([`insert_events`]), fan-out into deliveries, and
//! claims for one attempt at a time. Every write runs on the single writer connection, so an
//! `update … returning` is enough to hand a delivery to one worker only.

use crate::codec::{micros, opt_micros, to_json, RowExt as _};
use crate::conn::begin;
use crate::error::{corrupt, db};
use accord_domain::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId};
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, DeliveryStatus, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint, WebhookEvent,
};
use accord_domain::webhook::EVENT_TYPES;
use accord_store::{Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const ENDPOINT_COLS: &str = "e.id, e.tenant_id, e.url, e.description, e.event_types, e.enabled, \
    e.disabled_reason, e.secret_ct, e.previous_secret_ct, e.previous_secret_until, e.created_at, e.updated_at";
const DELIVERY_COLS: &str =
    "d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, d.status, \
    d.attempts, d.next_attempt_at, d.created_at, d.updated_at";

/// An outbox event's columns as text and integers, as the statements that insert it bind them
/// (here, and in the consent batch, `batch.rs`).
#[derive(Debug)]
pub(crate) struct OutboxRow {
    pub(crate) id: String,
    pub(crate) tenant_id: String,
    pub(crate) event_type: &'static str,
    pub(crate) body: String,
    pub(crate) created_at: i64,
}

impl From<WebhookEvent> for OutboxRow {
    fn from(e: WebhookEvent) -> Self {
        Self {
            id: e.id.to_string(),
            tenant_id: e.tenant_id.to_string(),
            event_type: e.event_type,
            body: e.body,
            created_at: micros(e.created_at),
        }
    }
}

static INSERT_EVENTS: std::sync::LazyLock<crate::values::Values> = std::sync::LazyLock::new(|| {
    crate::values::Values::new(
        "insert into webhook_events (id, tenant_id, event_type, body, created_at) values",
        5,
        "",
    )
});

/// Inserts outbox events inside the caller's transaction.
pub(crate) async fn insert_events(
    conn: &mut SqliteConnection,
    events: &[WebhookEvent],
) -> Result<()> {
    let rows: Vec<OutboxRow> = events.iter().cloned().map(OutboxRow::from).collect();
    INSERT_EVENTS
        .run(conn, &rows, |q, r| {
            q.bind(r.id.as_str())
                .bind(r.tenant_id.as_str())
                .bind(r.event_type)
                .bind(r.body.as_str())
                .bind(r.created_at)
        })
        .await?;
    Ok(())
}

fn endpoint_from(r: &SqliteRow) -> Result<WebhookEndpoint> {
    Ok(WebhookEndpoint {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        url: r.text("url")?,
        description: r.opt_text("description")?,
        event_types: r.json("event_types")?,
        enabled: r.flag("enabled")?,
        disabled_reason: r.opt_text("disabled_reason")?,
        secret_ct: r.text("secret_ct")?,
        previous_secret_ct: r.opt_text("previous_secret_ct")?,
        previous_secret_until: r.opt_time("previous_secret_until")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn delivery_from(r: &SqliteRow) -> Result<WebhookDelivery> {
    Ok(WebhookDelivery {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        endpoint_id: r.id("endpoint_id")?,
        event_id: r.id("event_id")?,
        event_type: r.text("event_type")?,
        status: r.parsed("status")?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.opt_time("next_attempt_at")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

pub(crate) async fn create_endpoint(write: &SqlitePool, e: &WebhookEndpoint) -> Result<()> {
    sqlx::query(
        "insert into webhook_endpoints (id, tenant_id, url, description, event_types, enabled, disabled_reason,
             secret_ct, previous_secret_ct, previous_secret_until, created_at, updated_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.id.to_string())
    .bind(e.tenant_id.to_string())
    .bind(&e.url)
    .bind(&e.description)
    .bind(to_json(&e.event_types)?)
    .bind(i64::from(e.enabled))
    .bind(&e.disabled_reason)
    .bind(&e.secret_ct)
    .bind(&e.previous_secret_ct)
    .bind(opt_micros(e.previous_secret_until))
    .bind(micros(e.created_at))
    .bind(micros(e.updated_at))
    .execute(write)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn endpoints(read: &SqlitePool, tenant: TenantId) -> Result<Vec<WebhookEndpoint>> {
    sqlx::query(&format!(
        "select {ENDPOINT_COLS} from webhook_endpoints e
         where e.tenant_id = ? and e.deleted_at is null order by e.id"
    ))
    .bind(tenant.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(endpoint_from)
    .collect()
}

pub(crate) async fn endpoint(
    read: &SqlitePool,
    tenant: TenantId,
    id: WebhookEndpointId,
) -> Result<Option<WebhookEndpoint>> {
    sqlx::query(&format!(
        "select {ENDPOINT_COLS} from webhook_endpoints e
         where e.tenant_id = ? and e.id = ? and e.deleted_at is null"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| endpoint_from(&r))
    .transpose()
}

pub(crate) async fn update_endpoint(write: &SqlitePool, e: &WebhookEndpoint) -> Result<()> {
    let done = sqlx::query(
        "update webhook_endpoints set url = ?, description = ?, event_types = ?, enabled = ?,
             disabled_reason = ?, updated_at = ?
         where tenant_id = ? and id = ? and deleted_at is null",
    )
    .bind(&e.url)
    .bind(&e.description)
    .bind(to_json(&e.event_types)?)
    .bind(i64::from(e.enabled))
    .bind(&e.disabled_reason)
    .bind(micros(e.updated_at))
    .bind(e.tenant_id.to_string())
    .bind(e.id.to_string())
    .execute(write)
    .await
    .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub(crate) async fn delete_endpoint(
    write: &SqlitePool,
    tenant: TenantId,
    id: WebhookEndpointId,
    at: OffsetDateTime,
) -> Result<bool> {
    let mut tx = begin(write).await?;
    let done = sqlx::query(
        "update webhook_endpoints set deleted_at = ?, enabled = 0, updated_at = ?
         where tenant_id = ? and id = ? and deleted_at is null",
    )
    .bind(micros(at))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "update webhook_deliveries set status = 'failed', next_attempt_at = null, claim = null,
             locked_until = null, updated_at = ?
         where tenant_id = ? and endpoint_id = ? and status = 'pending'",
    )
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(done.rows_affected() == 1)
}

pub(crate) async fn rotate_secret(
    write: &SqlitePool,
    tenant: TenantId,
    id: WebhookEndpointId,
    secret_ct: &str,
    previous_until: OffsetDateTime,
    at: OffsetDateTime,
) -> Result<Option<WebhookEndpoint>> {
    sqlx::query(&format!(
        "update webhook_endpoints set previous_secret_ct = secret_ct, secret_ct = ?,
             previous_secret_until = ?, updated_at = ?
         where tenant_id = ? and id = ? and deleted_at is null
         returning {}",
        ENDPOINT_COLS.replace("e.", "")
    ))
    .bind(secret_ct)
    .bind(micros(previous_until))
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(write)
    .await
    .map_err(db)?
    .map(|r| endpoint_from(&r))
    .transpose()
}

pub(crate) async fn fan_out(
    write: &SqlitePool,
    read: &SqlitePool,
    now: OffsetDateTime,
    limit: u32,
) -> Result<usize> {
    // Most polls find nothing: ask a reader first, so they do not queue for the writer.
    let any: Option<String> =
        sqlx::query_scalar("select id from webhook_events where fanned_out_at is null limit 1")
            .fetch_optional(read)
            .await
            .map_err(db)?;
    if any.is_none() {
        return Ok(0);
    }
    let mut tx = begin(write).await?;
    let events = sqlx::query(
        "select id, tenant_id, event_type, created_at from webhook_events
         where fanned_out_at is null order by id limit ?",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    let mut deliveries = Vec::new();
    let mut fanned = Vec::with_capacity(events.len());
    // Each tenant's enabled endpoints, read once per round.
    let mut by_tenant: HashMap<TenantId, Vec<WebhookEndpoint>> = HashMap::new();
    for ev in &events {
        let id: WebhookEventId = ev.id("id")?;
        let tenant: TenantId = ev.id("tenant_id")?;
        let event_type = ev.text("event_type")?;
        let created_at = ev.time("created_at")?;
        if let Entry::Vacant(slot) = by_tenant.entry(tenant) {
            let endpoints = sqlx::query(&format!(
                "select {ENDPOINT_COLS} from webhook_endpoints e
                 where e.tenant_id = ? and e.enabled = 1 and e.deleted_at is null"
            ))
            .bind(tenant.to_string())
            .fetch_all(&mut *tx)
            .await
            .map_err(db)?
            .iter()
            .map(endpoint_from)
            .collect::<Result<Vec<_>>>()?;
            slot.insert(endpoints);
        }
        // Endpoints created after the event do not receive it.
        for e in by_tenant[&tenant]
            .iter()
            .filter(|e| e.created_at <= created_at && e.subscribes(&event_type))
        {
            deliveries.push(serde_json::json!({
                "id": WebhookDeliveryId::new(), "tenant_id": tenant, "endpoint_id": e.id,
                "event_id": id, "event_type": event_type, "at": micros(now),
            }));
        }
        fanned.push(id);
    }
    sqlx::query(
        "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, status,
             attempts, next_attempt_at, created_at, updated_at)
         select j.value ->> '$.id', j.value ->> '$.tenant_id', j.value ->> '$.endpoint_id',
             j.value ->> '$.event_id', j.value ->> '$.event_type', 'pending', 0,
             j.value ->> '$.at', j.value ->> '$.at', j.value ->> '$.at'
         from json_each(?) j",
    )
    .bind(to_json(&deliveries)?)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    sqlx::query(
        "update webhook_events set fanned_out_at = ? where id in (select value from json_each(?))",
    )
    .bind(micros(now))
    .bind(to_json(&fanned)?)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    Ok(fanned.len())
}

pub(crate) async fn claim(
    write: &SqlitePool,
    read: &SqlitePool,
    now: OffsetDateTime,
    limit: u32,
    lease: Duration,
) -> Result<Vec<ClaimedDelivery>> {
    // Most polls find nothing due: ask a reader first, so they do not queue for the writer.
    let due: Option<String> = sqlx::query_scalar(
        "select d.id from webhook_deliveries d
         join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
         where d.status = 'pending' and d.next_attempt_at <= ?1
             and (d.locked_until is null or d.locked_until <= ?1)
             and e.enabled = 1 and e.deleted_at is null
         limit 1",
    )
    .bind(micros(now))
    .fetch_optional(read)
    .await
    .map_err(db)?;
    if due.is_none() {
        return Ok(Vec::new());
    }
    let claim = Uuid::now_v7();
    let mut tx = begin(write).await?;
    sqlx::query(
        "update webhook_deliveries set claim = ?1, locked_until = ?2
         where id in (
             select d.id from webhook_deliveries d
             join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
             where d.status = 'pending' and d.next_attempt_at <= ?3
                 and (d.locked_until is null or d.locked_until <= ?3)
                 and e.enabled = 1 and e.deleted_at is null
             order by d.next_attempt_at, d.id limit ?4
         )",
    )
    .bind(claim.to_string())
    .bind(micros(now + lease))
    .bind(micros(now))
    .bind(i64::from(limit))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let rows = sqlx::query(&format!(
        "select {DELIVERY_COLS}, ev.body,
             e.id as e_id, e.tenant_id as e_tenant_id, e.url, e.description, e.event_types, e.enabled,
             e.disabled_reason, e.secret_ct, e.previous_secret_ct, e.previous_secret_until,
             e.created_at as e_created_at, e.updated_at as e_updated_at
         from webhook_deliveries d
         join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
         join webhook_events ev on ev.tenant_id = d.tenant_id and ev.id = d.event_id
         where d.claim = ? order by d.next_attempt_at, d.id"
    ))
    .bind(claim.to_string())
    .fetch_all(&mut *tx)
    .await
    .map_err(db)?;
    tx.commit().await.map_err(db)?;
    rows.iter()
        .map(|r| {
            Ok(ClaimedDelivery {
                delivery: delivery_from(r)?,
                endpoint: WebhookEndpoint {
                    id: r.id("e_id")?,
                    tenant_id: r.id("e_tenant_id")?,
                    url: r.text("url")?,
                    description: r.opt_text("description")?,
                    event_types: r.json("event_types")?,
                    enabled: r.flag("enabled")?,
                    disabled_reason: r.opt_text("disabled_reason")?,
                    secret_ct: r.text("secret_ct")?,
                    previous_secret_ct: r.opt_text("previous_secret_ct")?,
                    previous_secret_until: r.opt_time("previous_secret_until")?,
                    created_at: r.time("e_created_at")?,
                    updated_at: r.time("e_updated_at")?,
                },
                body: r.text("body")?,
                claim,
            })
        })
        .collect()
}

pub(crate) async fn record_attempt(
    write: &SqlitePool,
    claim: &ClaimedDelivery,
    attempt: &WebhookAttempt,
    after: AfterAttempt,
) -> Result<bool> {
    let (status, next) = match after {
        AfterAttempt::Succeeded => (DeliveryStatus::Succeeded, None),
        AfterAttempt::RetryAt(t) => (DeliveryStatus::Pending, Some(t)),
        AfterAttempt::GiveUp | AfterAttempt::DisableEndpoint => (DeliveryStatus::Failed, None),
    };
    let d = &claim.delivery;
    let mut tx = begin(write).await?;
    let n: Option<i64> = sqlx::query_scalar(
        "update webhook_deliveries set attempts = attempts + 1, status = ?, next_attempt_at = ?,
             claim = null, locked_until = null, updated_at = ?
         where tenant_id = ? and id = ? and claim = ? and status = 'pending'
         returning attempts",
    )
    .bind(status.as_str())
    .bind(opt_micros(next))
    .bind(micros(attempt.at))
    .bind(d.tenant_id.to_string())
    .bind(d.id.to_string())
    .bind(claim.claim.to_string())
    .fetch_optional(&mut *tx)
    .await
    .map_err(db)?;
    let Some(n) = n else {
        return Ok(false);
    };
    sqlx::query(
        "insert into webhook_attempts (tenant_id, delivery_id, n, at, duration_ms, response_status, error)
         values (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(d.tenant_id.to_string())
    .bind(d.id.to_string())
    .bind(n)
    .bind(micros(attempt.at))
    .bind(attempt.duration_ms)
    .bind(attempt.response_status)
    .bind(&attempt.error)
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    if after == AfterAttempt::DisableEndpoint {
        sqlx::query(
            "update webhook_endpoints set enabled = 0, disabled_reason = 'gone', updated_at = ?
             where tenant_id = ? and id = ?",
        )
        .bind(micros(attempt.at))
        .bind(d.tenant_id.to_string())
        .bind(d.endpoint_id.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    }
    tx.commit().await.map_err(db)?;
    Ok(true)
}

pub(crate) async fn deliveries(
    read: &SqlitePool,
    tenant: TenantId,
    endpoint: WebhookEndpointId,
    before: Option<WebhookDeliveryId>,
    limit: u32,
) -> Result<Vec<WebhookDelivery>> {
    // Every id sorts before "g", so the first page uses the same range scan as the next ones.
    let before = before.map_or_else(|| "g".to_owned(), |b| b.to_string());
    sqlx::query(&format!(
        "select {DELIVERY_COLS} from webhook_deliveries d
         where d.tenant_id = ? and d.endpoint_id = ? and d.id < ? order by d.id desc limit ?"
    ))
    .bind(tenant.to_string())
    .bind(endpoint.to_string())
    .bind(before)
    .bind(i64::from(limit))
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(delivery_from)
    .collect()
}

pub(crate) async fn delivery(
    read: &SqlitePool,
    tenant: TenantId,
    id: WebhookDeliveryId,
) -> Result<Option<WebhookDelivery>> {
    sqlx::query(&format!(
        "select {DELIVERY_COLS} from webhook_deliveries d where d.tenant_id = ? and d.id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| delivery_from(&r))
    .transpose()
}

pub(crate) async fn attempts(
    read: &SqlitePool,
    tenant: TenantId,
    delivery: WebhookDeliveryId,
) -> Result<Vec<WebhookAttempt>> {
    sqlx::query(
        "select delivery_id, n, at, duration_ms, response_status, error from webhook_attempts
         where tenant_id = ? and delivery_id = ? order by n",
    )
    .bind(tenant.to_string())
    .bind(delivery.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        Ok(WebhookAttempt {
            delivery_id: r.id("delivery_id")?,
            n: r.int("n")?,
            at: r.time("at")?,
            duration_ms: r.int("duration_ms")?,
            response_status: sqlx::Row::try_get(r, "response_status").map_err(db)?,
            error: r.opt_text("error")?,
        })
    })
    .collect()
}

pub(crate) async fn replay(
    write: &SqlitePool,
    tenant: TenantId,
    endpoint: WebhookEndpointId,
    delivery: WebhookDeliveryId,
    at: OffsetDateTime,
) -> Result<Option<WebhookDelivery>> {
    let id = WebhookDeliveryId::new();
    sqlx::query(&format!(
        "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, status,
             attempts, next_attempt_at, created_at, updated_at)
         select ?1, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, 'pending', 0, ?2, ?2, ?2
         from webhook_deliveries d
         join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
         where d.tenant_id = ?3 and d.endpoint_id = ?4 and d.id = ?5 and e.deleted_at is null
         returning {}",
        DELIVERY_COLS.replace("d.", "")
    ))
    .bind(id.to_string())
    .bind(micros(at))
    .bind(tenant.to_string())
    .bind(endpoint.to_string())
    .bind(delivery.to_string())
    .fetch_optional(write)
    .await
    .map_err(db)?
    .map(|r| delivery_from(&r))
    .transpose()
}

pub(crate) async fn events(
    read: &SqlitePool,
    tenant: TenantId,
    limit: u32,
) -> Result<Vec<WebhookEvent>> {
    sqlx::query(
        "select id, tenant_id, event_type, body, created_at from webhook_events
         where tenant_id = ? order by id limit ?",
    )
    .bind(tenant.to_string())
    .bind(i64::from(limit))
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        let t = r.text("event_type")?;
        let event_type = EVENT_TYPES
            .iter()
            .find(|k| **k == t)
            .ok_or_else(|| corrupt("event_type", format!("unknown event type `{t}`")))?;
        Ok(WebhookEvent {
            id: r.id("id")?,
            tenant_id: r.id("tenant_id")?,
            event_type,
            body: r.text("body")?,
            created_at: r.time("created_at")?,
        })
    })
    .collect()
}
