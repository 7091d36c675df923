//! [`SupportStore`] on PostgreSQL: support requests from the flow and the manage page. A request
//! is stored with its `send_support_email` job and its outbox row in one transaction, so the
//! e-mail goes out from a durable queue and the tenant hears of it.

use crate::codec::{after, RowExt};
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::ids::{JobId, SupportRequestId, TenantId};
use accord_domain::outbox::WebhookEvent;
use accord_domain::tenant::{
    JobKind, SupportEntry, SupportRequest, SupportResolution, SupportStatus, SupportTopic,
};
use accord_store::{Page, Result, StoreError, SupportStore};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use time::OffsetDateTime;
use uuid::Uuid;

macro_rules! support_cols {
    () => {
        "id, tenant_id, company_id, reference, topic, message, reply_to, diagnostics, created_at"
    };
}

fn support_entry_from(r: &PgRow) -> Result<SupportEntry> {
    let resolved = match r.opt_time("resolved_at")? {
        Some(at) => Some(SupportResolution {
            by: r.opt_text("resolved_by")?.unwrap_or_default(),
            at,
        }),
        None => None,
    };
    Ok(SupportEntry {
        request: support_request_from(r)?,
        resolved,
    })
}

fn support_request_from(r: &PgRow) -> Result<SupportRequest> {
    let topic = r.text("topic")?;
    Ok(SupportRequest {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        company_id: r.opt_id("company_id")?,
        reference: r.text("reference")?,
        topic: SupportTopic::parse(&topic)
            .ok_or_else(|| corrupt("topic", format!("unknown topic `{topic}`")))?,
        message: r.text("message")?,
        reply_to: r.text("reply_to")?,
        diagnostics: r.json("diagnostics")?,
        created_at: r.time("created_at")?,
    })
}

#[async_trait]
impl SupportStore for PgStore {
    async fn create_support_request(
        &self,
        r: &SupportRequest,
        email_job: Option<JobId>,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query(concat!(
            "insert into support_requests (",
            support_cols!(),
            ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(r.id.as_uuid())
        .bind(r.tenant_id.as_uuid())
        .bind(r.company_id.map(|c| c.as_uuid()))
        .bind(&r.reference)
        .bind(r.topic.as_str())
        .bind(&r.message)
        .bind(&r.reply_to)
        .bind(Json(&r.diagnostics))
        .bind(r.created_at)
        .execute(&mut *tx)
        .await
        .map_err(db)?;
        if let Some(job) = email_job {
            let payload = serde_json::json!({ "support_request_id": r.id.to_string() });
            crate::jobs::insert(
                &mut tx,
                job,
                r.tenant_id,
                JobKind::SendSupportEmail,
                &payload,
                r.created_at,
            )
            .await?;
        }
        crate::webhooks::insert_events(&mut tx, &[WebhookEvent::support_request(r)]).await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    async fn support_request(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
    ) -> Result<Option<SupportRequest>> {
        sqlx::query(concat!(
            "select ",
            support_cols!(),
            " from support_requests where tenant_id = $1 and id = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| support_request_from(&r))
        .transpose()
    }

    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<SupportRequestId>,
    ) -> Result<Vec<SupportEntry>> {
        sqlx::query(concat!(
            "select ",
            support_cols!(),
            ", resolved_at, resolved_by from support_requests
             where tenant_id = $1 and id > $2 order by id limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after(page.after.map(|a| a.as_uuid())))
        .bind(i64::from(page.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(support_entry_from)
        .collect()
    }

    async fn support_inbox(
        &self,
        tenant: TenantId,
        status: Option<SupportStatus>,
        before: Option<SupportRequestId>,
        limit: u32,
    ) -> Result<Vec<SupportEntry>> {
        // The first page starts above every id; each status has its partial index.
        let before = before.map_or(Uuid::max(), |b| b.as_uuid());
        let sql = match status {
            None => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = $1 and id < $2 order by id desc limit $3"
            ),
            Some(SupportStatus::Open) => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = $1 and id < $2 and resolved_at is null
                 order by id desc limit $3"
            ),
            Some(SupportStatus::Resolved) => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = $1 and id < $2 and resolved_at is not null
                 order by id desc limit $3"
            ),
        };
        sqlx::query(sql)
            .bind(tenant.as_uuid())
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(support_entry_from)
            .collect()
    }

    async fn set_support_resolution(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
        resolution: Option<SupportResolution>,
    ) -> Result<bool> {
        // A row comes back only for the tenant's request, with whether its status changed.
        let (at, by): (Option<OffsetDateTime>, Option<String>) =
            resolution.map_or((None, None), |r| (Some(r.at), Some(r.by)));
        let row: Option<(bool,)> = sqlx::query_as(
            "with changed as (
                 update support_requests set resolved_at = $3, resolved_by = $4
                 where tenant_id = $1 and id = $2
                   and (resolved_at is null) = ($3::timestamptz is not null)
                 returning id
             )
             select exists (select 1 from changed) from support_requests
             where tenant_id = $1 and id = $2",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(at)
        .bind(by)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?;
        row.map(|(changed,)| changed).ok_or(StoreError::NotFound)
    }
}
