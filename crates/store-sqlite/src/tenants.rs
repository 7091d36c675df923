//! Tenants, their API keys, link settings, configured platforms and support requests.

use crate::codec::{micros, opt_micros, to_json, RowExt};
use crate::conn::begin;
use crate::error::{corrupt, db};
use accord_domain::catalog::PlatformKey;
use accord_domain::ids::JobId;
use accord_domain::ids::{SupportRequestId, TenantId};
use accord_domain::settings::LinkSettings;
use accord_domain::tenant::{
    ApiKeyRecord, JobKind, SupportRequest, SupportTopic, Tenant, TenantPlatform,
};
use accord_store::{Page, Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{SqliteConnection, SqlitePool};

macro_rules! tenant_cols {
    () => {
        "id, name, settings, created_at"
    };
}

fn tenant_from(row: &SqliteRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.id("id")?,
        name: row.text("name")?,
        settings: row.json("settings")?,
        created_at: row.time("created_at")?,
    })
}

async fn insert_key(conn: &mut SqliteConnection, key: &ApiKeyRecord) -> Result<()> {
    sqlx::query(
        "insert into api_keys (id, tenant_id, key_id, secret_hash, created_at, revoked_at) values (?, ?, ?, ?, ?, ?)",
    )
    .bind(key.id.to_string())
    .bind(key.tenant_id.to_string())
    .bind(&key.key_id)
    .bind(&key.secret_hash)
    .bind(micros(key.created_at))
    .bind(opt_micros(key.revoked_at))
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

pub(crate) async fn create_tenant(
    write: &SqlitePool,
    tenant: &Tenant,
    key: &ApiKeyRecord,
) -> Result<()> {
    let mut tx = begin(write).await?;
    sqlx::query("insert into tenants (id, name, settings, created_at) values (?, ?, ?, ?)")
        .bind(tenant.id.to_string())
        .bind(&tenant.name)
        .bind(to_json(&tenant.settings)?)
        .bind(micros(tenant.created_at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    insert_key(&mut tx, key).await?;
    tx.commit().await.map_err(db)
}

pub(crate) async fn tenant(read: &SqlitePool, id: TenantId) -> Result<Option<Tenant>> {
    sqlx::query(concat!(
        "select ",
        tenant_cols!(),
        " from tenants where id = ?"
    ))
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| tenant_from(&r))
    .transpose()
}

pub(crate) async fn all(read: &SqlitePool) -> Result<Vec<Tenant>> {
    sqlx::query(concat!(
        "select ",
        tenant_cols!(),
        " from tenants order by id"
    ))
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(tenant_from)
    .collect()
}

pub(crate) async fn tenant_by_name(read: &SqlitePool, name: &str) -> Result<Option<Tenant>> {
    sqlx::query(concat!(
        "select ",
        tenant_cols!(),
        " from tenants where name = ?"
    ))
    .bind(name)
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| tenant_from(&r))
    .transpose()
}

pub(crate) async fn add_api_key(write: &SqlitePool, key: &ApiKeyRecord) -> Result<()> {
    let mut conn = write.acquire().await.map_err(db)?;
    insert_key(&mut conn, key).await
}

pub(crate) async fn api_key(read: &SqlitePool, key_id: &str) -> Result<Option<ApiKeyRecord>> {
    let row = sqlx::query("select id, tenant_id, key_id, secret_hash, created_at, revoked_at from api_keys where key_id = ?")
        .bind(key_id)
        .fetch_optional(read)
        .await
        .map_err(db)?;
    row.map(|r| {
        Ok(ApiKeyRecord {
            id: r.id("id")?,
            tenant_id: r.id("tenant_id")?,
            key_id: r.text("key_id")?,
            secret_hash: r.text("secret_hash")?,
            created_at: r.time("created_at")?,
            revoked_at: r.opt_time("revoked_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn update_link_settings(
    write: &SqlitePool,
    tenant: TenantId,
    settings: &LinkSettings,
) -> Result<()> {
    let done = sqlx::query("update tenants set settings = ? where id = ?")
        .bind(to_json(settings)?)
        .bind(tenant.to_string())
        .execute(write)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

macro_rules! platform_cols {
    () => {
        "tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at"
    };
}

fn platform_from(row: &SqliteRow) -> Result<TenantPlatform> {
    Ok(TenantPlatform {
        tenant_id: row.id("tenant_id")?,
        platform_key: row.platform("platform_key")?,
        enabled: row.flag("enabled")?,
        client_id: row.opt_text("client_id")?,
        client_secret_ct: row.opt_text("client_secret_ct")?,
        updated_at: row.time("updated_at")?,
    })
}

pub(crate) async fn tenant_platforms(
    read: &SqlitePool,
    tenant: TenantId,
) -> Result<Vec<TenantPlatform>> {
    sqlx::query(concat!(
        "select ",
        platform_cols!(),
        " from tenant_platforms where tenant_id = ? order by platform_key"
    ))
    .bind(tenant.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(platform_from)
    .collect()
}

pub(crate) async fn tenant_platform(
    read: &SqlitePool,
    tenant: TenantId,
    key: &PlatformKey,
) -> Result<Option<TenantPlatform>> {
    sqlx::query(concat!(
        "select ",
        platform_cols!(),
        " from tenant_platforms where tenant_id = ? and platform_key = ?"
    ))
    .bind(tenant.to_string())
    .bind(key.as_str())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| platform_from(&r))
    .transpose()
}

pub(crate) async fn upsert_tenant_platform(write: &SqlitePool, p: &TenantPlatform) -> Result<()> {
    sqlx::query(
        "insert into tenant_platforms (tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at)
         values (?, ?, ?, ?, ?, ?)
         on conflict (tenant_id, platform_key) do update set
             enabled = excluded.enabled,
             client_id = excluded.client_id,
             client_secret_ct = excluded.client_secret_ct,
             updated_at = excluded.updated_at",
    )
    .bind(p.tenant_id.to_string())
    .bind(p.platform_key.as_str())
    .bind(i64::from(p.enabled))
    .bind(&p.client_id)
    .bind(&p.client_secret_ct)
    .bind(micros(p.updated_at))
    .execute(write)
    .await
    .map_err(db)?;
    Ok(())
}

/// The request and, when asked, its `send_support_email` job, in one transaction.
pub(crate) async fn create_support_request(
    write: &SqlitePool,
    r: &SupportRequest,
    email_job: Option<JobId>,
) -> Result<()> {
    let mut tx = begin(write).await?;
    sqlx::query(
        "insert into support_requests (id, tenant_id, company_id, reference, topic, message, reply_to, diagnostics, created_at)
         values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(r.id.to_string())
    .bind(r.tenant_id.to_string())
    .bind(r.company_id.map(|c| c.to_string()))
    .bind(&r.reference)
    .bind(r.topic.as_str())
    .bind(&r.message)
    .bind(&r.reply_to)
    .bind(to_json(&r.diagnostics)?)
    .bind(micros(r.created_at))
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
    crate::webhooks::insert_events(
        &mut tx,
        &[accord_domain::outbox::WebhookEvent::support_request(r)],
    )
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(())
}

const SUPPORT_COLS: &str =
    "id, tenant_id, company_id, reference, topic, message, reply_to, diagnostics, created_at";

fn support_request_from(r: &SqliteRow) -> Result<SupportRequest> {
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

pub(crate) async fn support_request(
    read: &SqlitePool,
    tenant: TenantId,
    id: SupportRequestId,
) -> Result<Option<SupportRequest>> {
    sqlx::query(&format!(
        "select {SUPPORT_COLS} from support_requests where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| support_request_from(&r))
    .transpose()
}

pub(crate) async fn support_requests(
    read: &SqlitePool,
    tenant: TenantId,
    page: Page<SupportRequestId>,
) -> Result<Vec<SupportRequest>> {
    let rows = sqlx::query(
        "select id, tenant_id, company_id, reference, topic, message, reply_to, diagnostics, created_at
         from support_requests where tenant_id = ? and id > ? order by id limit ?",
    )
    .bind(tenant.to_string())
    .bind(crate::codec::after(page.after))
    .bind(i64::from(page.limit))
    .fetch_all(read)
    .await
    .map_err(db)?;
    rows.iter().map(support_request_from).collect()
}
