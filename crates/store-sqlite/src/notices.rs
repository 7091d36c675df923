//! Notices and their immutable versions. A new version takes the next number of its
//! tenant × category × locale in the same transaction that bumps the notice, so numbers are
//! 1, 2, 3… without gaps or duplicates; the schema's triggers refuse any change to a version.

use crate::codec::{micros, to_json, RowExt};
use crate::conn::begin;
use crate::error::db;
use accord_domain::catalog::Category;
use accord_domain::ids::{NoticeId, NoticeVersionId, TenantId};
use accord_domain::locale::Locale;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_store::Result;
use sqlx::sqlite::SqliteRow;
use sqlx::SqlitePool;
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

fn notice_from(row: &SqliteRow) -> Result<Notice> {
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

fn version_from(row: &SqliteRow) -> Result<NoticeVersion> {
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
    write: &SqlitePool,
    tenant: TenantId,
    category: Category,
    locale: Locale,
    content: &NoticeContent,
    at: OffsetDateTime,
) -> Result<NoticeVersion> {
    let mut tx = begin(write).await?;
    let row = sqlx::query(
        "insert into notices (id, tenant_id, category, locale, current_version, created_at, updated_at)
         values (?, ?, ?, ?, 1, ?, ?)
         on conflict (tenant_id, category, locale) do update set
             current_version = current_version + 1,
             updated_at = excluded.updated_at
         returning id, current_version",
    )
    .bind(NoticeId::new().to_string())
    .bind(tenant.to_string())
    .bind(category.as_str())
    .bind(locale.as_str())
    .bind(micros(at))
    .bind(micros(at))
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let notice_id: NoticeId = row.id("id")?;
    let version = row.int("current_version")?;
    let id = NoticeVersionId::new();
    sqlx::query("insert into notice_versions (id, tenant_id, notice_id, version, content, created_at) values (?, ?, ?, ?, ?, ?)")
        .bind(id.to_string())
        .bind(tenant.to_string())
        .bind(notice_id.to_string())
        .bind(version)
        .bind(to_json(content)?)
        .bind(micros(at))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let row = sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = ? and v.id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_one(&mut *tx)
    .await
    .map_err(db)?;
    let stored = version_from(&row)?;
    tx.commit().await.map_err(db)?;
    Ok(stored)
}

pub(crate) async fn notices(read: &SqlitePool, tenant: TenantId) -> Result<Vec<Notice>> {
    sqlx::query(concat!(
        "select ",
        notice_cols!(),
        " from notices where tenant_id = ? order by id"
    ))
    .bind(tenant.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(notice_from)
    .collect()
}

pub(crate) async fn notice(
    read: &SqlitePool,
    tenant: TenantId,
    id: NoticeId,
) -> Result<Option<Notice>> {
    sqlx::query(concat!(
        "select ",
        notice_cols!(),
        " from notices where tenant_id = ? and id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| notice_from(&r))
    .transpose()
}

pub(crate) async fn notice_versions(
    read: &SqlitePool,
    tenant: TenantId,
    notice: NoticeId,
) -> Result<Vec<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = ? and v.notice_id = ? order by v.version"
    ))
    .bind(tenant.to_string())
    .bind(notice.to_string())
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(version_from)
    .collect()
}

pub(crate) async fn notice_version(
    read: &SqlitePool,
    tenant: TenantId,
    id: NoticeVersionId,
) -> Result<Option<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where v.tenant_id = ? and v.id = ?"
    ))
    .bind(tenant.to_string())
    .bind(id.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| version_from(&r))
    .transpose()
}

pub(crate) async fn current_notice_version(
    read: &SqlitePool,
    tenant: TenantId,
    category: Category,
    locale: Locale,
) -> Result<Option<NoticeVersion>> {
    sqlx::query(concat!(
        version_select!(),
        "where n.tenant_id = ? and n.category = ? and n.locale = ? and v.version = n.current_version"
    ))
    .bind(tenant.to_string())
    .bind(category.as_str())
    .bind(locale.as_str())
    .fetch_optional(read)
    .await
    .map_err(db)?
    .map(|r| version_from(&r))
    .transpose()
}
