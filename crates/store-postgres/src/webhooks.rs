//! [`WebhookStore`] on PostgreSQL (`migrations/0010_webhooks.sql`): endpoints, the outbox written inside the
//! transactions of the changes it describes ([`insert_events`]; the consent action's events are
//! written by the batch statement, `batch.rs`, as one `webhook_outbox` row a batch, which the
//! fan-out turns into `webhook_events` rows first: migration 0019), fan-out into deliveries, and
//! claims for one attempt at a time. Several instances share the database: events to fan out
//! and deliveries due are taken with `for update skip locked`, so each is handled by one
//! instance, and a claim is a lease, so a delivery whose instance died is taken again once it
//! has passed.

use crate::codec::RowExt as _;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::ids::{TenantId, WebhookDeliveryId, WebhookEndpointId, WebhookEventId};
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, DeliveryStatus, WebhookAttempt, WebhookDelivery,
    WebhookEndpoint, WebhookEvent,
};
use accord_domain::webhook::EVENT_TYPES;
use accord_store::{Result, StoreError, WebhookStore};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

const ENDPOINT_COLS: &str = "id, tenant_id, url, description, event_types, enabled, \
    disabled_reason, secret_ct, previous_secret_ct, previous_secret_until, created_at, updated_at";
const DELIVERY_COLS: &str =
    "d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, d.status, \
    d.attempts, d.next_attempt_at, d.created_at, d.updated_at";

/// Inserts outbox events inside the caller's transaction: one statement whatever their number.
pub(crate) async fn insert_events(conn: &mut PgConnection, events: &[WebhookEvent]) -> Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = events.iter().map(|e| e.id.as_uuid()).collect();
    let tenants: Vec<Uuid> = events.iter().map(|e| e.tenant_id.as_uuid()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.event_type).collect();
    let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
    let times: Vec<OffsetDateTime> = events.iter().map(|e| e.created_at).collect();
    sqlx::query(
        "insert into webhook_events (id, tenant_id, event_type, body, created_at)
         select * from unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::timestamptz[])",
    )
    .bind(ids)
    .bind(tenants)
    .bind(types)
    .bind(bodies)
    .bind(times)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

fn endpoint_at(r: &PgRow, prefix: &str) -> Result<WebhookEndpoint> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(WebhookEndpoint {
        id: r.id(&c("id"))?,
        tenant_id: r.id(&c("tenant_id"))?,
        url: r.text("url")?,
        description: r.opt_text("description")?,
        event_types: r.try_get("event_types").map_err(db)?,
        enabled: r.flag("enabled")?,
        disabled_reason: r.opt_text("disabled_reason")?,
        secret_ct: r.text("secret_ct")?,
        previous_secret_ct: r.opt_text("previous_secret_ct")?,
        previous_secret_until: r.opt_time("previous_secret_until")?,
        created_at: r.time(&c("created_at"))?,
        updated_at: r.time(&c("updated_at"))?,
    })
}

fn endpoint_from(r: &PgRow) -> Result<WebhookEndpoint> {
    endpoint_at(r, "")
}

fn delivery_from(r: &PgRow) -> Result<WebhookDelivery> {
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

/// Turns the oldest consent batches' outbox rows into `webhook_events` rows, inside the
/// fan-out's transaction, until they hold `limit` events or none is left (rows another instance
/// is turning are skipped).
async fn unpack_batches(conn: &mut PgConnection, limit: u32) -> Result<()> {
    let batches: Vec<(Uuid, i32)> = sqlx::query_as(
        "select id, cardinality(event_ids) from webhook_outbox order by id limit $1
         for update skip locked",
    )
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    let (mut taken, mut events) = (Vec::new(), 0_i64);
    for (id, n) in batches {
        if events >= i64::from(limit) {
            break;
        }
        taken.push(id);
        events += i64::from(n);
    }
    if taken.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "with taken as (delete from webhook_outbox where id = any($1) returning *)
         insert into webhook_events (id, tenant_id, event_type, body, created_at)
         select e.id, e.tenant_id, e.event_type, e.body, e.created_at
         from taken t,
             unnest(t.event_ids, t.tenant_ids, t.event_types, t.bodies, t.created_ats)
                 as e (id, tenant_id, event_type, body, created_at)",
    )
    .bind(&taken)
    .execute(&mut *conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// A tenant's enabled endpoints, inside the fan-out's transaction.
async fn enabled_endpoints(
    conn: &mut PgConnection,
    tenant: TenantId,
) -> Result<Vec<WebhookEndpoint>> {
    sqlx::query(&format!(
        "select {ENDPOINT_COLS} from webhook_endpoints
         where tenant_id = $1 and enabled and deleted_at is null"
    ))
    .bind(tenant.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(endpoint_from)
    .collect()
}

/// Column arrays of the deliveries one fan-out makes, inserted in one statement.
#[derive(Default)]
struct Deliveries {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    endpoint_id: Vec<Uuid>,
    event_id: Vec<Uuid>,
    event_type: Vec<String>,
}

impl Deliveries {
    fn push(
        &mut self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        event: WebhookEventId,
        event_type: &str,
    ) {
        self.id.push(WebhookDeliveryId::new().as_uuid());
        self.tenant_id.push(tenant.as_uuid());
        self.endpoint_id.push(endpoint.as_uuid());
        self.event_id.push(event.as_uuid());
        self.event_type.push(event_type.to_owned());
    }

    /// Each a pending delivery, due at `now`.
    async fn insert(self, conn: &mut PgConnection, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, status,
                 attempts, next_attempt_at, created_at, updated_at)
             select d.id, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, 'pending', 0, $6, $6, $6
             from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[])
                 as d (id, tenant_id, endpoint_id, event_id, event_type)",
        )
        .bind(self.id)
        .bind(self.tenant_id)
        .bind(self.endpoint_id)
        .bind(self.event_id)
        .bind(self.event_type)
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(db)?;
        Ok(())
    }
}

#[async_trait]
impl WebhookStore for PgStore {
    async fn create_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        sqlx::query(&format!(
            "insert into webhook_endpoints ({ENDPOINT_COLS})
             values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
        ))
        .bind(e.id.as_uuid())
        .bind(e.tenant_id.as_uuid())
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.event_types)
        .bind(e.enabled)
        .bind(&e.disabled_reason)
        .bind(&e.secret_ct)
        .bind(&e.previous_secret_ct)
        .bind(e.previous_secret_until)
        .bind(e.created_at)
        .bind(e.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn webhook_endpoints(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>> {
        sqlx::query(&format!(
            "select {ENDPOINT_COLS} from webhook_endpoints
             where tenant_id = $1 and deleted_at is null order by id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(endpoint_from)
        .collect()
    }

    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        sqlx::query(&format!(
            "select {ENDPOINT_COLS} from webhook_endpoints
             where tenant_id = $1 and id = $2 and deleted_at is null"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| endpoint_from(&r))
        .transpose()
    }

    async fn update_webhook_endpoint(&self, e: &WebhookEndpoint) -> Result<()> {
        let done = sqlx::query(
            "update webhook_endpoints set url = $1, description = $2, event_types = $3, enabled = $4,
                 disabled_reason = $5, updated_at = $6
             where tenant_id = $7 and id = $8 and deleted_at is null",
        )
        .bind(&e.url)
        .bind(&e.description)
        .bind(&e.event_types)
        .bind(e.enabled)
        .bind(&e.disabled_reason)
        .bind(e.updated_at)
        .bind(e.tenant_id.as_uuid())
        .bind(e.id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let done = sqlx::query(
            "update webhook_endpoints set deleted_at = $1, enabled = false, updated_at = $1
             where tenant_id = $2 and id = $3 and deleted_at is null",
        )
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        sqlx::query(
            "update webhook_deliveries set status = 'failed', next_attempt_at = null, claim = null,
                 locked_until = null, updated_at = $1
             where tenant_id = $2 and endpoint_id = $3 and status = 'pending'",
        )
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        secret_ct: &str,
        previous_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookEndpoint>> {
        sqlx::query(&format!(
            "update webhook_endpoints set previous_secret_ct = secret_ct, secret_ct = $1,
                 previous_secret_until = $2, updated_at = $3
             where tenant_id = $4 and id = $5 and deleted_at is null
             returning {ENDPOINT_COLS}"
        ))
        .bind(secret_ct)
        .bind(previous_until)
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| endpoint_from(&r))
        .transpose()
    }

    async fn fan_out_webhook_events(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        unpack_batches(&mut tx, limit).await?;
        // Another instance fanning out at the same moment skips the rows held here.
        let events = sqlx::query(
            "select id, tenant_id, event_type, created_at from webhook_events
             where fanned_out_at is null order by id limit $1 for update skip locked",
        )
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(db)?;
        if events.is_empty() {
            return Ok(0);
        }
        let mut deliveries = Deliveries::default();
        let mut fanned = Vec::with_capacity(events.len());
        // Each tenant's enabled endpoints, read once per round.
        let mut by_tenant: HashMap<TenantId, Vec<WebhookEndpoint>> = HashMap::new();
        for ev in &events {
            let id: WebhookEventId = ev.id("id")?;
            let tenant: TenantId = ev.id("tenant_id")?;
            let event_type = ev.text("event_type")?;
            let created_at = ev.time("created_at")?;
            if let Entry::Vacant(slot) = by_tenant.entry(tenant) {
                slot.insert(enabled_endpoints(&mut tx, tenant).await?);
            }
            // Endpoints created after the event do not receive it.
            for e in by_tenant[&tenant]
                .iter()
                .filter(|e| e.created_at <= created_at && e.subscribes(&event_type))
            {
                deliveries.push(tenant, e.id, id, &event_type);
            }
            fanned.push(id.as_uuid());
        }
        deliveries.insert(&mut tx, now).await?;
        sqlx::query("update webhook_events set fanned_out_at = $1 where id = any($2)")
            .bind(now)
            .bind(&fanned)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(fanned.len())
    }

    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        let claim = Uuid::now_v7();
        // One statement, its own transaction: the due rows another instance is claiming at the
        // same moment are skipped, not waited for, and each row gets one claim.
        let claimed: Vec<Uuid> = sqlx::query_scalar(
            "with due as (
                 select d.id from webhook_deliveries d
                 join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
                 where d.status = 'pending' and d.next_attempt_at <= $2
                     and (d.locked_until is null or d.locked_until <= $2)
                     and e.enabled and e.deleted_at is null
                 order by d.next_attempt_at, d.id
                 limit $3
                 for update of d skip locked
             )
             update webhook_deliveries set claim = $4, locked_until = $1
             from due where webhook_deliveries.id = due.id
             returning webhook_deliveries.id",
        )
        .bind(now + lease)
        .bind(now)
        .bind(i64::from(limit))
        .bind(claim)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "select {DELIVERY_COLS}, ev.body,
                 e.id as e_id, e.tenant_id as e_tenant_id, e.url, e.description, e.event_types, e.enabled,
                 e.disabled_reason, e.secret_ct, e.previous_secret_ct, e.previous_secret_until,
                 e.created_at as e_created_at, e.updated_at as e_updated_at
             from webhook_deliveries d
             join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
             join webhook_events ev on ev.tenant_id = d.tenant_id and ev.id = d.event_id
             where d.id = any($1) and d.claim = $2 order by d.next_attempt_at, d.id"
        ))
        .bind(&claimed)
        .bind(claim)
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        rows.iter()
            .map(|r| {
                Ok(ClaimedDelivery {
                    delivery: delivery_from(r)?,
                    endpoint: endpoint_at(r, "e_")?,
                    body: r.text("body")?,
                    claim,
                })
            })
            .collect()
    }

    async fn record_webhook_attempt(
        &self,
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
        let mut tx = self.pool.begin().await.map_err(db)?;
        let n: Option<i32> = sqlx::query_scalar(
            "update webhook_deliveries set attempts = attempts + 1, status = $1, next_attempt_at = $2,
                 claim = null, locked_until = null, updated_at = $3
             where tenant_id = $4 and id = $5 and claim = $6 and status = 'pending'
             returning attempts",
        )
        .bind(status.as_str())
        .bind(next)
        .bind(attempt.at)
        .bind(d.tenant_id.as_uuid())
        .bind(d.id.as_uuid())
        .bind(claim.claim)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db)?;
        let Some(n) = n else {
            return Ok(false);
        };
        sqlx::query(
            "insert into webhook_attempts (tenant_id, delivery_id, n, at, duration_ms, response_status, error)
             values ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(d.tenant_id.as_uuid())
        .bind(d.id.as_uuid())
        .bind(n)
        .bind(attempt.at)
        .bind(attempt.duration_ms)
        .bind(
            attempt
                .response_status
                .and_then(|s| i32::try_from(s).ok()),
        )
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if after == AfterAttempt::DisableEndpoint {
            sqlx::query(
                "update webhook_endpoints set enabled = false, disabled_reason = 'gone', updated_at = $1
                 where tenant_id = $2 and id = $3",
            )
            .bind(attempt.at)
            .bind(d.tenant_id.as_uuid())
            .bind(d.endpoint_id.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }

    async fn webhook_deliveries(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        before: Option<WebhookDeliveryId>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        sqlx::query(&format!(
            "select {DELIVERY_COLS} from webhook_deliveries d
             where d.tenant_id = $1 and d.endpoint_id = $2 and ($3::uuid is null or d.id < $3)
             order by d.id desc limit $4"
        ))
        .bind(tenant.as_uuid())
        .bind(endpoint.as_uuid())
        .bind(before.map(|b| b.as_uuid()))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(delivery_from)
        .collect()
    }

    async fn webhook_delivery(
        &self,
        tenant: TenantId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>> {
        sqlx::query(&format!(
            "select {DELIVERY_COLS} from webhook_deliveries d where d.tenant_id = $1 and d.id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| delivery_from(&r))
        .transpose()
    }

    async fn webhook_attempts(
        &self,
        tenant: TenantId,
        delivery: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>> {
        sqlx::query(
            "select delivery_id, n, at, duration_ms, response_status, error from webhook_attempts
             where tenant_id = $1 and delivery_id = $2 order by n",
        )
        .bind(tenant.as_uuid())
        .bind(delivery.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(|r| {
            Ok(WebhookAttempt {
                delivery_id: r.id("delivery_id")?,
                n: r.int("n")?,
                at: r.time("at")?,
                duration_ms: r.try_get("duration_ms").map_err(db)?,
                response_status: r
                    .try_get::<Option<i32>, _>("response_status")
                    .map_err(db)?
                    .map(i64::from),
                error: r.opt_text("error")?,
            })
        })
        .collect()
    }

    async fn replay_webhook_delivery(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivery: WebhookDeliveryId,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookDelivery>> {
        sqlx::query(
            "insert into webhook_deliveries (id, tenant_id, endpoint_id, event_id, event_type, status,
                 attempts, next_attempt_at, created_at, updated_at)
             select $1, d.tenant_id, d.endpoint_id, d.event_id, d.event_type, 'pending', 0, $2, $2, $2
             from webhook_deliveries d
             join webhook_endpoints e on e.tenant_id = d.tenant_id and e.id = d.endpoint_id
             where d.tenant_id = $3 and d.endpoint_id = $4 and d.id = $5 and e.deleted_at is null
             returning id, tenant_id, endpoint_id, event_id, event_type, status, attempts,
                 next_attempt_at, created_at, updated_at",
        )
        .bind(WebhookDeliveryId::new().as_uuid())
        .bind(at)
        .bind(tenant.as_uuid())
        .bind(endpoint.as_uuid())
        .bind(delivery.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| delivery_from(&r))
        .transpose()
    }

    async fn webhook_events(&self, tenant: TenantId, limit: u32) -> Result<Vec<WebhookEvent>> {
        sqlx::query(
            "select id, tenant_id, event_type, body, created_at from webhook_events
             where tenant_id = $1
             union all
             -- the consent batches' events the fan-out has not turned into rows yet
             select e.id, e.tenant_id, e.event_type, e.body, e.created_at
             from webhook_outbox o,
                 unnest(o.event_ids, o.tenant_ids, o.event_types, o.bodies, o.created_ats)
                     as e (id, tenant_id, event_type, body, created_at)
             where e.tenant_id = $1
             order by id limit $2",
        )
        .bind(tenant.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
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
}
