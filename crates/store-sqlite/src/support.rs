//! Support requests from the flow and the manage page ([`SupportStore`]), each stored with its
//! e-mail job and its outbox event in one transaction.

use crate::codec::{after, all, exec, micros, one, to_json, RowExt};
use crate::error::corrupt;
use crate::SqliteStore;
use accord_domain::ids::{JobId, SupportRequestId, TenantId};
use accord_domain::outbox::WebhookEvent;
use accord_domain::tenant::{
    JobKind, SupportEntry, SupportRequest, SupportResolution, SupportStatus, SupportTopic,
};
use accord_store::{Page, Result, StoreError, SupportStore};
use async_trait::async_trait;
use rusqlite::{params, Row};

macro_rules! support_cols {
    () => {
        "id, tenant_id, company_id, reference, topic, message, reply_to, diagnostics, created_at"
    };
}

fn support_entry_from(r: &Row<'_>) -> Result<SupportEntry> {
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

fn support_request_from(r: &Row<'_>) -> Result<SupportRequest> {
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
impl SupportStore for SqliteStore {
    async fn create_support_request(
        &self,
        request: &SupportRequest,
        email_job: Option<JobId>,
    ) -> Result<()> {
        let r = request.clone();
        let diagnostics = to_json(&r.diagnostics)?;
        self.write
            .transaction(move |tx| {
                exec(
                    tx,
                    concat!(
                        "insert into support_requests (",
                        support_cols!(),
                        ") values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
                    ),
                    params![
                        r.id.to_string(),
                        r.tenant_id.to_string(),
                        r.company_id.map(|c| c.to_string()),
                        r.reference,
                        r.topic.as_str(),
                        r.message,
                        r.reply_to,
                        diagnostics,
                        micros(r.created_at),
                    ],
                )?;
                if let Some(job) = email_job {
                    let payload = serde_json::json!({ "support_request_id": r.id.to_string() });
                    let kind = JobKind::SendSupportEmail;
                    crate::jobs::insert(tx, job, r.tenant_id, kind, &payload, r.created_at)?;
                }
                crate::webhooks::insert_events(tx, vec![WebhookEvent::support_request(&r)])
            })
            .await
    }

    async fn support_request(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
    ) -> Result<Option<SupportRequest>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    concat!(
                        "select ",
                        support_cols!(),
                        " from support_requests where tenant_id = ?1 and id = ?2"
                    ),
                    [tenant.to_string(), id.to_string()],
                    support_request_from,
                )
            })
            .await
    }

    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<SupportRequestId>,
    ) -> Result<Vec<SupportEntry>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "select ",
                        support_cols!(),
                        ", resolved_at, resolved_by from support_requests
                         where tenant_id = ?1 and id > ?2 order by id limit ?3"
                    ),
                    params![tenant.to_string(), after(page.after), page.limit],
                    support_entry_from,
                )
            })
            .await
    }

    async fn support_inbox(
        &self,
        tenant: TenantId,
        status: Option<SupportStatus>,
        before: Option<SupportRequestId>,
        limit: u32,
    ) -> Result<Vec<SupportEntry>> {
        // Ids are time-ordered UUIDs in hyphenated text, which sorts like the ids; the first
        // page starts above every id. Each status has its partial index.
        let before = before.map_or_else(|| "~".to_owned(), |b| b.to_string());
        let sql = match status {
            None => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = ?1 and id < ?2 order by id desc limit ?3"
            ),
            Some(SupportStatus::Open) => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = ?1 and id < ?2 and resolved_at is null
                 order by id desc limit ?3"
            ),
            Some(SupportStatus::Resolved) => concat!(
                "select ",
                support_cols!(),
                ", resolved_at, resolved_by from support_requests
                 where tenant_id = ?1 and id < ?2 and resolved_at is not null
                 order by id desc limit ?3"
            ),
        };
        self.read
            .run(move |db| {
                all(
                    db,
                    sql,
                    params![tenant.to_string(), before, limit],
                    support_entry_from,
                )
            })
            .await
    }

    async fn set_support_resolution(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
        resolution: Option<SupportResolution>,
    ) -> Result<bool> {
        self.write
            .run(move |db| {
                let changed = match &resolution {
                    Some(r) => exec(
                        db,
                        "update support_requests set resolved_at = ?3, resolved_by = ?4
                         where tenant_id = ?1 and id = ?2 and resolved_at is null",
                        params![tenant.to_string(), id.to_string(), micros(r.at), r.by],
                    )?,
                    None => exec(
                        db,
                        "update support_requests set resolved_at = null, resolved_by = null
                         where tenant_id = ?1 and id = ?2 and resolved_at is not null",
                        params![tenant.to_string(), id.to_string()],
                    )?,
                };
                if changed == 1 {
                    return Ok(true);
                }
                let known: Option<i64> = one(
                    db,
                    "select 1 as n from support_requests where tenant_id = ?1 and id = ?2",
                    params![tenant.to_string(), id.to_string()],
                    |r| r.value("n"),
                )?;
                known.map(|_| false).ok_or(StoreError::NotFound)
            })
            .await
    }
}
