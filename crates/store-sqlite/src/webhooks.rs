//! Webhooks ([`WebhookStore`], `migrations/0010_webhooks.sql`): endpoints, the outbox written
//! inside the transactions of the changes it describes ([`insert_events`]), fan-out into
//! deliveries, and claims for one attempt at a time. Every write runs on the single writer
//! connection, so an `update … returning` is enough to hand a delivery to one worker only.

use crate::codec::{all, exec, micros, one, opt_micros, to_json, RowExt as _};
use crate::error::{corrupt, sqlite};
use crate::SqliteStore;
use accord_domain::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId};
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, DeliveryStatus, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint, WebhookEvent,
};
use accord_domain::webhook::EVENT_TYPES;
use accord_store::{Result, StoreError, WebhookStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row, TransactionBehavior};
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// An endpoint's columns, bare (for `returning`) and as `e.` of a join.
macro_rules! endpoint_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "tenant_id, ",
            $p,
            "url, ",
            $p,
            "description, ",
            $p,
            "event_types, ",
            $p,
            "enabled, ",
            $p,
            "disabled_reason, ",
            $p,
            "secret_ct, ",
            $p,
            "previous_secret_ct, ",
            $p,
            "previous_secret_until, ",
            $p,
            "created_at, ",
            $p,
            "updated_at"
        )
    };
}

/// A delivery's columns, bare (for `returning`) and as `d.` of a join.
macro_rules! delivery_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "tenant_id, ",
            $p,
            "endpoint_id, ",
            $p,
            "event_id, ",
            $p,
            "event_type, ",
            $p,
            "status, ",
            $p,
            "attempts, ",
            $p,
            "next_attempt_at, ",
            $p,
            "created_at, ",
            $p,
            "updated_at"
        )
    };
}

/// An outbox event's columns as text and integers, as the statements that insert it bind them
/// (here, and in the consent batch, `consents.rs`).
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

pub(crate) const INSERT_EVENT: &str =
    "insert into webhook_events (id, tenant_id, event_type, body, created_at)
     values (?1, ?2, ?3, ?4, ?5)";

/// Inserts one outbox row inside the caller's transaction.
pub(crate) fn insert_row(db: &Connection, row: &OutboxRow) -> Result<()> {
    exec(
        db,
        INSERT_EVENT,
        params![
            row.id,
            row.tenant_id,
            row.event_type,
            row.body,
            row.created_at
        ],
    )?;
    Ok(())
}

/// Inserts outbox events inside the caller's transaction.
pub(crate) fn insert_events(db: &Connection, events: Vec<WebhookEvent>) -> Result<()> {
    events
        .into_iter()
        .try_for_each(|e| insert_row(db, &OutboxRow::from(e)))
}

/// An endpoint from its bare columns.
fn endpoint_from(r: &Row<'_>) -> Result<WebhookEndpoint> {
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

fn delivery_from(r: &Row<'_>) -> Result<WebhookDelivery> {
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

/// Fans out up to `limit` events in the caller's transaction; how many.
fn fan_out(db: &Connection, now: OffsetDateTime, limit: u32) -> Result<usize> {
    let events = all(
        db,
        "select id, tenant_id, event_type, created_at from webhook_events
         where fanned_out_at is null order by id limit ?1",
        [limit],
        |r| {
            Ok((
                r.id::<WebhookEventId>("id")?,
                r.id::<TenantId>("tenant_id")?,
                r.text("event_type")?,
                r.time("created_at")?,
            ))
        },
    )?;
    // Each tenant's enabled endpoints, read once per round.
    let mut by_tenant: HashMap<TenantId, Vec<WebhookEndpoint>> = HashMap::new();
    for (id, tenant, event_type, created_at) in &events {
        if !by_tenant.contains_key(tenant) {
            let endpoints = all(
                db,
                concat!(
                    "select ",
                    endpoint_cols!(""),
                    " from webhook_endpoints
                     where tenant_id = ?1 and enabled = 1 and deleted_at is null"
                ),
                [tenant.to_string()],
                endpoint_from,
            )?;
            by_tenant.insert(*tenant, endpoints);
        }
        // Endpoints created after the event do not receive it.
        for e in by_tenant[tenant]
            .iter()
            .filter(|e| e.created_at <= *created_at && e.subscribes(event_type))
        {
            exec(
                db,
                "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type,
                     status, attempts, next_attempt_at, created_at, updated_at)
                 values (?1, ?2, ?3, ?4, ?5, 'pending', 0, ?6, ?6, ?6)",
                params![
                    WebhookDeliveryId::new().to_string(),
                    tenant.to_string(),
                    e.id.to_string(),
                    id.to_string(),
                    event_type,
                    micros(now),
                ],
            )?;
        }
        exec(
            db,
            "update webhook_events set fanned_out_at = ?1 where id = ?2",
            params![micros(now), id.to_string()],
        )?;
    }
    Ok(events.len())
}

/// Pending deliveries due at `?1` whose endpoint is enabled (the claim's condition).
macro_rules! due {
    () => {
        "from webhook_deliveries d
         join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
         where d.status = 'pending' and d.next_attempt_at <= ?1
             and (d.locked_until is null or d.locked_until <= ?1)
             and e.enabled = 1 and e.deleted_at is null"
    };
}

/// Claims up to `limit` due deliveries for `claim` in the caller's transaction, and reads them
/// back with their endpoint and body.
fn claim(
    db: &Connection,
    claim: Uuid,
    now: OffsetDateTime,
    limit: u32,
    lease: Duration,
) -> Result<Vec<ClaimedDelivery>> {
    exec(
        db,
        concat!(
            "update webhook_deliveries set claim = ?2, locked_until = ?3
             where id in (select d.id ",
            due!(),
            " order by d.next_attempt_at, d.id limit ?4)"
        ),
        params![micros(now), claim.to_string(), micros(now + lease), limit],
    )?;
    all(
        db,
        concat!(
            "select ",
            delivery_cols!("d."),
            ", ev.body, e.id as e_id, e.tenant_id as e_tenant_id, e.url, e.description,
                 e.event_types, e.enabled, e.disabled_reason, e.secret_ct, e.previous_secret_ct,
                 e.previous_secret_until, e.created_at as e_created_at,
                 e.updated_at as e_updated_at
             from webhook_deliveries d
             join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
             join webhook_events ev on ev.tenant_id = d.tenant_id and ev.id = d.event_id
             where d.claim = ?1 order by d.next_attempt_at, d.id"
        ),
        [claim.to_string()],
        |r| {
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
        },
    )
}

/// Records a claimed delivery's attempt and what follows, in the caller's transaction; `false`
/// when the claim no longer holds the delivery.
fn record_attempt(
    db: &Connection,
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
    let n = one(
        db,
        "update webhook_deliveries set attempts = attempts + 1, status = ?1,
             next_attempt_at = ?2, claim = null, locked_until = null, updated_at = ?3
         where tenant_id = ?4 and id = ?5 and claim = ?6 and status = 'pending'
         returning attempts",
        params![
            status.as_str(),
            opt_micros(next),
            micros(attempt.at),
            d.tenant_id.to_string(),
            d.id.to_string(),
            claim.claim.to_string(),
        ],
        |r| r.int("attempts"),
    )?;
    let Some(n) = n else {
        return Ok(false);
    };
    exec(
        db,
        "insert into webhook_attempts (tenant_id, delivery_id, n, at, duration_ms,
             response_status, error)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            d.tenant_id.to_string(),
            d.id.to_string(),
            n,
            micros(attempt.at),
            attempt.duration_ms,
            attempt.response_status,
            attempt.error,
        ],
    )?;
    if after == AfterAttempt::DisableEndpoint {
        exec(
            db,
            "update webhook_endpoints set enabled = 0, disabled_reason = 'gone', updated_at = ?1
             where tenant_id = ?2 and id = ?3",
            params![
                micros(attempt.at),
                d.tenant_id.to_string(),
                d.endpoint_id.to_string()
            ],
        )?;
    }
    Ok(true)
}

fn event_from(r: &Row<'_>) -> Result<WebhookEvent> {
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
}

#[async_trait]
impl WebhookStore for SqliteStore {
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        let e = endpoint.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    concat!(
                        "insert into webhook_endpoints (",
                        endpoint_cols!(""),
                        ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
                    ),
                    params![
                        e.id.to_string(),
                        e.tenant_id.to_string(),
                        e.url,
                        e.description,
                        to_json(&e.event_types)?,
                        e.enabled,
                        e.disabled_reason,
                        e.secret_ct,
                        e.previous_secret_ct,
                        opt_micros(e.previous_secret_until),
                        micros(e.created_at),
                        micros(e.updated_at),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn webhook_endpoints(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        endpoint_cols!(""),
                        " from webhook_endpoints
                         where tenant_id = ?1 and deleted_at is null order by id"
                    ),
                    [tenant.to_string()],
                    endpoint_from,
                )
            })
            .await
    }

    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        endpoint_cols!(""),
                        " from webhook_endpoints
                         where tenant_id = ?1 and id = ?2 and deleted_at is null"
                    ),
                    [tenant.to_string(), id.to_string()],
                    endpoint_from,
                )
            })
            .await
    }

    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        let e = endpoint.clone();
        self.write
            .run(move |db| {
                let changed = exec(
                    db,
                    "update webhook_endpoints set url = ?1, description = ?2, event_types = ?3,
                         enabled = ?4, disabled_reason = ?5, updated_at = ?6
                     where tenant_id = ?7 and id = ?8 and deleted_at is null",
                    params![
                        e.url,
                        e.description,
                        to_json(&e.event_types)?,
                        e.enabled,
                        e.disabled_reason,
                        micros(e.updated_at),
                        e.tenant_id.to_string(),
                        e.id.to_string(),
                    ],
                )?;
                if changed == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            })
            .await
    }

    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        self.write
            .transaction(move |tx| {
                let deleted = exec(
                    tx,
                    "update webhook_endpoints set deleted_at = ?1, enabled = 0, updated_at = ?1
                     where tenant_id = ?2 and id = ?3 and deleted_at is null",
                    params![micros(at), tenant.to_string(), id.to_string()],
                )?;
                exec(
                    tx,
                    "update webhook_deliveries set status = 'failed', next_attempt_at = null,
                         claim = null, locked_until = null, updated_at = ?1
                     where tenant_id = ?2 and endpoint_id = ?3 and status = 'pending'",
                    params![micros(at), tenant.to_string(), id.to_string()],
                )?;
                Ok(deleted == 1)
            })
            .await
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        secret_ct: &str,
        previous_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookEndpoint>> {
        let secret_ct = secret_ct.to_owned();
        self.write
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "update webhook_endpoints set previous_secret_ct = secret_ct,
                             secret_ct = ?1, previous_secret_until = ?2, updated_at = ?3
                         where tenant_id = ?4 and id = ?5 and deleted_at is null
                         returning ",
                        endpoint_cols!("")
                    ),
                    params![
                        secret_ct,
                        micros(previous_until),
                        micros(at),
                        tenant.to_string(),
                        id.to_string()
                    ],
                    endpoint_from,
                )
            })
            .await
    }

    async fn fan_out_webhook_events(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        self.write
            .run(move |db| {
                // Most polls find nothing: answered without a write transaction.
                let any = one(
                    db,
                    "select 1 from webhook_events where fanned_out_at is null limit 1",
                    [],
                    |_| Ok(()),
                )?;
                if any.is_none() {
                    return Ok(0);
                }
                let tx = db
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sqlite)?;
                let n = fan_out(&tx, now, limit)?;
                tx.commit().map_err(sqlite)?;
                Ok(n)
            })
            .await
    }

    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        self.write
            .run(move |db| {
                // Most polls find nothing due: answered without a write transaction.
                let due = one(
                    db,
                    concat!("select d.id ", due!(), " limit 1"),
                    params![micros(now)],
                    |_| Ok(()),
                )?;
                if due.is_none() {
                    return Ok(Vec::new());
                }
                let tx = db
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sqlite)?;
                let claimed = claim(&tx, Uuid::now_v7(), now, limit, lease)?;
                tx.commit().map_err(sqlite)?;
                Ok(claimed)
            })
            .await
    }

    async fn record_webhook_attempt(
        &self,
        claim: &ClaimedDelivery,
        attempt: &WebhookAttempt,
        after: AfterAttempt,
    ) -> Result<bool> {
        let (claim, attempt) = (claim.clone(), attempt.clone());
        self.write
            .transaction(move |tx| record_attempt(tx, &claim, &attempt, after))
            .await
    }

    async fn webhook_deliveries(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        before: Option<WebhookDeliveryId>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        // Every id sorts before "g", so the first page uses the same range scan as the next ones.
        let before = before.map_or_else(|| "g".to_owned(), |b| b.to_string());
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        delivery_cols!(""),
                        " from webhook_deliveries
                         where tenant_id = ?1 and endpoint_id = ?2 and id < ?3
                         order by id desc limit ?4"
                    ),
                    params![tenant.to_string(), endpoint.to_string(), before, limit],
                    delivery_from,
                )
            })
            .await
    }

    async fn webhook_delivery(
        &self,
        tenant: TenantId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        delivery_cols!(""),
                        " from webhook_deliveries where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    delivery_from,
                )
            })
            .await
    }

    async fn webhook_attempts(
        &self,
        tenant: TenantId,
        delivery: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select delivery_id, n, at, duration_ms, response_status, error
                     from webhook_attempts where tenant_id = ?1 and delivery_id = ?2 order by n",
                    [tenant.to_string(), delivery.to_string()],
                    |r| {
                        Ok(WebhookAttempt {
                            delivery_id: r.id("delivery_id")?,
                            n: r.int("n")?,
                            at: r.time("at")?,
                            duration_ms: r.int("duration_ms")?,
                            response_status: r.value("response_status")?,
                            error: r.opt_text("error")?,
                        })
                    },
                )
            })
            .await
    }

    async fn replay_webhook_delivery(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivery: WebhookDeliveryId,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookDelivery>> {
        self.write
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id,
                             event_type, status, attempts, next_attempt_at, created_at, updated_at)
                         select ?1, d.tenant_id, d.endpoint_id, d.event_id, d.event_type,
                             'pending', 0, ?2, ?2, ?2
                         from webhook_deliveries d
                         join webhook_endpoints e on e.tenant_id = d.tenant_id
                             and e.id = d.endpoint_id
                         where d.tenant_id = ?3 and d.endpoint_id = ?4 and d.id = ?5
                             and e.deleted_at is null
                         returning ",
                        delivery_cols!("")
                    ),
                    params![
                        WebhookDeliveryId::new().to_string(),
                        micros(at),
                        tenant.to_string(),
                        endpoint.to_string(),
                        delivery.to_string()
                    ],
                    delivery_from,
                )
            })
            .await
    }

    async fn webhook_events(&self, tenant: TenantId, limit: u32) -> Result<Vec<WebhookEvent>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select id, tenant_id, event_type, body, created_at from webhook_events
                     where tenant_id = ?1 order by id limit ?2",
                    params![tenant.to_string(), limit],
                    event_from,
                )
            })
            .await
    }
}
