//! [`ConsentStore`] on PostgreSQL: consent records, given with their connection (through the
//! group-commit writer, `writer.rs`, which writes a whole batch in one statement, `batch.rs`),
//! superseded by a newer consent, withdrawn with a disconnect, warned of their expiry, expired.
//! Consents are never deleted: they are the tenant's proof; the schema's triggers let a consent
//! be withdrawn once and marked warned once, and refuse any other change.

use crate::codec::RowExt;
use crate::connections::{connection_cols, connection_from};
use crate::error::db;
use crate::PgStore;
use accord_domain::consent::Consent;
use accord_domain::ids::{CompanyId, ConsentId, TenantId};
use accord_domain::ledger::{ChainedEvent, EventBody, EventKind};
use accord_domain::outbox::WebhookEvent;
use accord_store::{ConsentStore, ConsentWrite, Result};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row as _};
use time::{Duration, OffsetDateTime};

macro_rules! consent_cols {
    () => {
        "id, tenant_id, company_id, connection_id, platform_key, category, notice_version_id, notice_version, \
         locale, data_uses, notice_text, notice_sha256, evidence, given_at, withdrawn_at"
    };
}

pub(crate) fn consent_from(row: &PgRow) -> Result<Consent> {
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

/// Ends the consents in force on `write`'s connection that its consent replaces (older ids:
/// ids are time-ordered), each with a `superseded` event, in the caller's transaction, before
/// the batch statement writes the new consent and its own event (`writer.rs`). Lock order as
/// everywhere (`ledger.rs`): the connection row, then the consents, then the chain. A write
/// whose connection is new, someone else's or disconnected ends nothing here (the statement
/// then answers it).
pub(crate) async fn supersede_in(conn: &mut PgConnection, write: &ConsentWrite) -> Result<()> {
    let (c, k) = (&write.connection, &write.consent);
    let locked: Option<uuid::Uuid> = sqlx::query_scalar(
        "select id from connections where tenant_id = $1 and id = $2 and company_id = $3
             and platform_key = $4 and status <> 'disconnected'
         for update",
    )
    .bind(c.tenant_id.as_uuid())
    .bind(c.id.as_uuid())
    .bind(c.company_id.as_uuid())
    .bind(c.platform_key.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db)?;
    if locked.is_none() {
        return Ok(());
    }
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "update consents set withdrawn_at = $1
         where tenant_id = $2 and connection_id = $3 and withdrawn_at is null and id < $4
         returning id",
    )
    .bind(k.given_at)
    .bind(k.tenant_id.as_uuid())
    .bind(c.id.as_uuid())
    .bind(k.id.as_uuid())
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    if ids.is_empty() {
        return Ok(());
    }
    let bodies = ended_consents(conn, k.tenant_id, ids)
        .await?
        .iter()
        .map(|(old, purpose)| {
            (
                k.tenant_id,
                EventBody::superseded(old, purpose, &write.event),
            )
        })
        .collect();
    crate::ledger::append_in(conn, bodies).await?;
    Ok(())
}

/// The consents just ended (`ids`), with the purpose of their notice version, in id order.
pub(crate) async fn ended_consents(
    conn: &mut PgConnection,
    tenant: TenantId,
    mut ids: Vec<uuid::Uuid>,
) -> Result<Vec<(Consent, String)>> {
    ids.sort_unstable();
    let rows = sqlx::query(concat!(
        "select ",
        consent_cols!(),
        ", (select nv.content ->> 'purpose' from notice_versions nv
             where nv.tenant_id = consents.tenant_id and nv.id = consents.notice_version_id) as purpose
         from consents where tenant_id = $1 and id = any($2) order by id"
    ))
    .bind(tenant.as_uuid())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    rows.iter()
        .map(|r| {
            let purpose: Option<String> = r.try_get("purpose").map_err(db)?;
            Ok((consent_from(r)?, purpose.unwrap_or_default()))
        })
        .collect()
}

/// The linked connections whose consent in force was given before `given_before` (with
/// `unwarned`, only those whose consent was not warned of its expiry yet), locked
/// (`for update`) in id order, the order every multi-row writer locks connections in.
async fn lock_expiring(
    conn: &mut PgConnection,
    tenant: TenantId,
    given_before: OffsetDateTime,
    unwarned: bool,
) -> Result<Vec<uuid::Uuid>> {
    sqlx::query_scalar(
        "select c.id from connections c where c.tenant_id = $1 and c.status = 'linked'
             and c.consent_id in (select k.id from consents k where k.tenant_id = $1
                 and k.withdrawn_at is null and k.given_at < $2
                 and (not $3 or k.expiry_warned_at is null))
         order by c.id for update",
    )
    .bind(tenant.as_uuid())
    .bind(given_before)
    .bind(unwarned)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)
}

/// Ends the expiring consents in force on the `linked` connections (locked by
/// [`lock_expiring`]); returns them with their purposes, in id order.
async fn end_expiring(
    conn: &mut PgConnection,
    tenant: TenantId,
    given_before: OffsetDateTime,
    linked: &[uuid::Uuid],
    at: OffsetDateTime,
) -> Result<Vec<(Consent, String)>> {
    let ids: Vec<uuid::Uuid> = sqlx::query_scalar(
        "update consents k set withdrawn_at = $1 where k.tenant_id = $2 and k.withdrawn_at is null and k.given_at < $3
             and k.id in (select c.consent_id from connections c
                 where c.tenant_id = $2 and c.id = any($4) and c.status = 'linked')
         returning k.id",
    )
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(given_before)
    .bind(linked)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?;
    ended_consents(conn, tenant, ids).await
}

/// Marks warned the consents in force, given before `given_before` and not warned yet, on the
/// `linked` connections (locked by [`lock_expiring`]); returns them in id order.
async fn mark_warned(
    conn: &mut PgConnection,
    tenant: TenantId,
    given_before: OffsetDateTime,
    linked: &[uuid::Uuid],
    at: OffsetDateTime,
) -> Result<Vec<Consent>> {
    let mut warned = sqlx::query(concat!(
        "update consents k set expiry_warned_at = $1
         where k.tenant_id = $2 and k.withdrawn_at is null and k.expiry_warned_at is null
             and k.given_at < $3
             and k.id in (select c.consent_id from connections c
                 where c.tenant_id = $2 and c.id = any($4) and c.status = 'linked')
         returning ",
        consent_cols!()
    ))
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(given_before)
    .bind(linked)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(consent_from)
    .collect::<Result<Vec<_>>>()?;
    warned.sort_by_key(|k| k.id);
    Ok(warned)
}

/// The connections of the `ended` consents become `reconsent_required`, each with its
/// `consent.reconsent_required` outbox row.
async fn reconsent_after_expiry(
    conn: &mut PgConnection,
    tenant: TenantId,
    ended: &[(Consent, String)],
    at: OffsetDateTime,
) -> Result<()> {
    let ids: Vec<uuid::Uuid> = ended
        .iter()
        .map(|(k, _)| k.connection_id.as_uuid())
        .collect();
    let outbox: Vec<WebhookEvent> = sqlx::query(concat!(
        "update connections set status = 'reconsent_required', updated_at = $1
         where tenant_id = $2 and id = any($3) and status = 'linked' returning ",
        connection_cols!()
    ))
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(db)?
    .iter()
    .map(|r| {
        connection_from(r).map(|c| WebhookEvent::reconsent_required(&c, "consent_expired", at))
    })
    .collect::<Result<_>>()?;
    crate::webhooks::insert_events(conn, &outbox).await
}

#[async_trait]
impl ConsentStore for PgStore {
    /// Queued to the group-commit writer, which answers after the commit holding the write.
    async fn record_consent(&self, write: &ConsentWrite) -> Result<ChainedEvent> {
        let event = self.writer.record(write.clone()).await?;
        accord_metrics::consent_written();
        Ok(event)
    }

    async fn consent(&self, tenant: TenantId, id: ConsentId) -> Result<Option<Consent>> {
        sqlx::query(concat!(
            "select ",
            consent_cols!(),
            " from consents where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| consent_from(&r))
        .transpose()
    }

    async fn tenant_consents(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<Consent>> {
        // The nil UUID sorts before every id: one range of the primary key serves each page.
        sqlx::query(concat!(
            "select ",
            consent_cols!(),
            " from consents where tenant_id = $1
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
        .map(consent_from)
        .collect()
    }

    async fn company_consents(&self, tenant: TenantId, company: CompanyId) -> Result<Vec<Consent>> {
        sqlx::query(concat!(
            "select ",
            consent_cols!(),
            // Through the company's connections (`connections_company`, `consents_connection`):
            // consents have no per-company index, which every consent write would pay for.
            " from consents where tenant_id = $1 and connection_id in
                 (select id from connections where tenant_id = $1 and company_id = $2)
             order by id"
        ))
        .bind(tenant.as_uuid())
        .bind(company.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(consent_from)
        .collect()
    }

    /// Consent validity: consents in force on linked connections, given before `given_before`,
    /// end with an `expired` event; their connections need the customer's agreement again.
    async fn expire_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Vec<ChainedEvent>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // Lock order: connections, then consents, then the tenant's ledger chain, which the
        // append at the end locks (see `ledger.rs`).
        let linked = lock_expiring(&mut tx, tenant, given_before, false).await?;
        if linked.is_empty() {
            return Ok(Vec::new());
        }
        let ended = end_expiring(&mut tx, tenant, given_before, &linked, at).await?;
        reconsent_after_expiry(&mut tx, tenant, &ended, at).await?;
        let bodies = ended
            .iter()
            .map(|(k, purpose)| {
                (
                    tenant,
                    EventBody::for_consent(EventKind::Expired, k, purpose, "validity_expired", at),
                )
            })
            .collect();
        let events = crate::ledger::append_in(&mut tx, bodies).await?;
        tx.commit().await.map_err(db)?;
        Ok(events)
    }

    /// Expiry told ahead, once per consent: the mark and the `consent.expiring` outbox rows
    /// commit together. Lock order as for expiry (connections, then consents); no ledger event,
    /// so the chain is not taken.
    async fn warn_expiring_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        valid_for: Duration,
        at: OffsetDateTime,
    ) -> Result<Vec<Consent>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let linked = lock_expiring(&mut tx, tenant, given_before, true).await?;
        if linked.is_empty() {
            return Ok(Vec::new());
        }
        let warned = mark_warned(&mut tx, tenant, given_before, &linked, at).await?;
        let outbox: Vec<WebhookEvent> = warned
            .iter()
            .map(|k| WebhookEvent::consent_expiring(k, k.given_at + valid_for, at))
            .collect();
        crate::webhooks::insert_events(&mut tx, &outbox).await?;
        tx.commit().await.map_err(db)?;
        Ok(warned)
    }
}
