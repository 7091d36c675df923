//! Notices and their immutable versions. A new version takes the next number of its
//! tenant × category × locale in the same transaction that bumps the notice; the bump is an
//! `insert … on conflict do update`, which PostgreSQL serialises on the notice's row, so numbers
//! are 1, 2, 3… without gaps or duplicates even across instances. The schema's triggers refuse
//! any change to a version.

use crate::codec::RowExt;
use crate::error::db;
use accord_domain::catalog::Category;
use accord_domain::ids::{NoticeId, NoticeVersionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_store::Result;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::PgPool;
use time::OffsetDateTime;

macro_rules! notice_cols {
    () => {
        "id, tenant_id, category, locale, current_version, created_at, updated_at"
    };
}

/// A version with its notice's category and locale.
macro_rules! version_select {
    () => {
        "select v.id, v.notice_id, v.tenant_id, n.category, n.locale, v.version, v.content, v.created_at
         from notice_versions v join notices n on n.tenant_id = v.tenant_id and n.id = v.notice_id "
    };
}

fn notice_from(row: &PgRow) -> Result<Notice> {
    Ok(Notice {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        category: row.parsed("category")?,
        locale: row.parsed("locale")?,
        current_version: row.int("current_version")?,
        created_at: row.time("created_at")?,
        updated_at: row.time("updated_at")?,
    })
}

fn version_from(row: &PgRow) -> Result<NoticeVersion> {
    Ok(NoticeVersion {
        id: row.id("id")?,
        notice_id: row.id("notice_id")?,
        tenant_id: row.id("tenant_id")?,
        category: row.parsed("category")?,
        locale: row.parsed("locale")?,
        version: row.int("version")?,
        content: row.json("content")?,
        created_at: row.time("created_at")?,
    })
}

pub(crate) async fn add_notice_version(
    pool: &PgPool,
    tenant: TenantId,
    category: Category,
    locale: Locale,
    content: &NoticeContent,
    at: OffsetDateTime,
) -> Result<NoticeVersion> {
    let mut tx = pool.begin().await.map_err(db)?;
    let row = sqlx::query(
        "insert into notices (id, tenant_id, category, locale, current_version, created_at, updated_at)
         values ($1, $2, $3, $4, 1, $5, $5)
         on conflict (tenant_id, category, locale) do update set
             current_version = notices.current_version + 1,
             updated_at = excluded.updated_at
         returning id, current_version",
    )
    .bind(NoticeId::new().as_uuid())
    .bind(tenant.as_uuid())
    .bind(category.as_str())
    .bind(locale.as_str())
    .bind(at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let notice_id: NoticeId = row.id("id")?;
    let version = row.int("current_version")?;
    let id = NoticeVersionId::new();
    let row = sqlx::query(
        "insert into notice_versions (id, tenant_id, notice_id, version, content, created_at)
         values ($1, $2, $3, $4, $5, $6)
         returning created_at, content",
    )
    .bind(id.as_uuid())
    .bind(tenant.as_uuid())
    .bind(notice_id.as_uuid())
    .bind(i32::try_from(version).map_err(|e| crate::error::corrupt("current_version", e))?)
    .bind(Json(content))
    .bind(at)
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let stored = NoticeVersion {
        id,
        notice_id,
        tenant_id: tenant,
        category,
        locale,
        version,
        // As stored (microseconds, jsonb), so the caller sees what a later read returns.
        content: row.json("content")?,
        created_at: row.time("created_at")?,
    };
    tx.commit().await.map_err(db)?;
    Ok(stored)
}

pub(crate) async fn notices(pool: &PgPool, tenant: TenantId) -> Result<Vec<Notice>> {
    sqlx::query(concat!(
        "select ",
        notice_cols!(),
        " from notices where tenant_id = $1 order by id"
    ))
    .bind(tenant.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(notice_from)
    .collect()
}

pub(crate) async fn notice(
    pool: &PgPool,
    tenant: TenantId,
    id: NoticeId,
) -> Result<Option<Notice>> {
    sqlx::query(concat!(
        "select ",
        notice_cols!(),
        " from notices where tenant_id = $1 and id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .map(|r| notice_from(&r))
    .transpose()
}

pub(crate) async fn notice_versions(
    pool: &PgPool,
    tenant: TenantId,
    notice: NoticeId,
) -> Result<Vec<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = $1 and v.notice_id = $2 order by v.version"
    ))
    .bind(tenant.as_uuid())
    .bind(notice.as_uuid())
    .fetch_all(pool)
    .await
    .map_err(db)?
    .iter()
    .map(version_from)
    .collect()
}

pub(crate) async fn notice_version(
    pool: &PgPool,
    tenant: TenantId,
    id: NoticeVersionId,
) -> Result<Option<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = $1 and v.id = $2"
    ))
    .bind(tenant.as_uuid())
    .bind(id.as_uuid())
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .map(|r| version_from(&r))
    .transpose()
}

pub(crate) async fn current_notice_version(
    pool: &PgPool,
    tenant: TenantId,
    category: Category,
    locale: Locale,
) -> Result<Option<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where n.tenant_id = $1 and n.category = $2 and n.locale = $3 and v.version = n.current_version"
    ))
    .bind(tenant.as_uuid())
    .bind(category.as_str())
    .bind(locale.as_str())
    .fetch_optional(pool)
    .await
    .map_err(db)?
    .map(|r| version_from(&r))
    .transpose()
}
