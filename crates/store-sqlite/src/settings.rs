//! Link settings versions (the audit of who changed what), the tenant's logo, and the live
//! count behind the `{connectedCompanies}` placeholder.

use crate::codec::{micros, to_json, RowExt};
use crate::conn::begin;
use crate::error::{corrupt, db};
use accord_domain::brand::{Logo, LogoFormat};
use accord_domain::ids::TenantId;
use accord_domain::settings::{LinkSettings, SettingsVersion, LOGO_FIELD};
use accord_store::{Result, StoreError};
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use time::OffsetDateTime;

pub(crate) async fn save_link_settings(
    write: &SqlitePool,
    tenant: TenantId,
    settings: &LinkSettings,
    changed_by: &str,
    at: OffsetDateTime,
) -> Result<SettingsVersion> {
    // `begin immediate`: the read of the settings in force and the next number happen under
    // the write lock, so concurrent saves are numbered one after the other.
    let mut tx = begin(write).await?;
    let previous = settings_in_force(&mut tx, tenant).await?;
    let changed_fields = previous.changed_fields(settings);
    sqlx::query("update tenants set settings = ? where id = ?")
        .bind(to_json(settings)?)
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let version = add_version(&mut tx, tenant, settings, changed_fields, changed_by, at).await?;
    tx.commit().await.map_err(db)?;
    Ok(version)
}

/// The tenant's settings in force, read inside the writing transaction.
async fn settings_in_force(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: TenantId,
) -> Result<LinkSettings> {
    sqlx::query("select settings from tenants where id = ?")
        .bind(tenant.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?
        .json("settings")
}

/// Appends the next version of the tenant's settings (numbered under the write lock).
async fn add_version(
    tx: &mut Transaction<'static, Sqlite>,
    tenant: TenantId,
    settings: &LinkSettings,
    changed_fields: Vec<String>,
    changed_by: &str,
    at: OffsetDateTime,
) -> Result<SettingsVersion> {
    let number: i64 = sqlx::query(
        "select coalesce(max(number), 0) + 1 as n from link_settings_versions where tenant_id = ?",
    )
    .bind(tenant.to_string())
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?
    .int("n")?;
    sqlx::query(
        "insert into link_settings_versions (tenant_id, number, settings, changed_fields, changed_by, created_at)
         values (?, ?, ?, ?, ?, ?)",
    )
    .bind(tenant.to_string())
    .bind(number)
    .bind(to_json(settings)?)
    .bind(to_json(&changed_fields)?)
    .bind(changed_by)
    .bind(micros(at))
    .execute(&mut **tx)
    .await
    .map_err(db)?;
    Ok(SettingsVersion {
        tenant_id: tenant,
        number,
        settings: serde_json::to_value(settings)
            .map_err(|e| crate::error::backend(e.to_string()))?,
        changed_fields,
        changed_by: changed_by.to_owned(),
        created_at: at,
    })
}

fn version_from(r: &SqliteRow) -> Result<SettingsVersion> {
    Ok(SettingsVersion {
        tenant_id: r.id("tenant_id")?,
        number: r.int("number")?,
        settings: r.json("settings")?,
        changed_fields: r.json("changed_fields")?,
        changed_by: r.text("changed_by")?,
        created_at: r.time("created_at")?,
    })
}

pub(crate) async fn versions(
    read: &SqlitePool,
    tenant: TenantId,
    before: Option<i64>,
    limit: u32,
) -> Result<Vec<SettingsVersion>> {
    sqlx::query(
        "select tenant_id, number, settings, changed_fields, changed_by, created_at
         from link_settings_versions where tenant_id = ? and number < ?
         order by number desc limit ?",
    )
    .bind(tenant.to_string())
    .bind(before.unwrap_or(i64::MAX))
    .bind(i64::from(limit))
    .fetch_all(read)
    .await
    .map_err(db)?
    .iter()
    .map(version_from)
    .collect()
}

/// Stores (or replaces) the logo and records the change as a version of the settings (the
/// document in force, `changed_fields: ["logo"]`), in one transaction.
pub(crate) async fn put_logo(
    write: &SqlitePool,
    logo: &Logo,
    changed_by: &str,
) -> Result<SettingsVersion> {
    let mut tx = begin(write).await?;
    let settings = settings_in_force(&mut tx, logo.tenant_id).await?;
    sqlx::query(
        "insert into tenant_logos (tenant_id, content_type, bytes, sha256, updated_at)
         values (?, ?, ?, ?, ?)
         on conflict (tenant_id) do update set
             content_type = excluded.content_type,
             bytes = excluded.bytes,
             sha256 = excluded.sha256,
             updated_at = excluded.updated_at",
    )
    .bind(logo.tenant_id.to_string())
    .bind(logo.format.content_type())
    .bind(&logo.bytes)
    .bind(&logo.sha256)
    .bind(micros(logo.updated_at))
    .execute(&mut *tx)
    .await
    .map_err(db)?;
    let version = add_version(
        &mut tx,
        logo.tenant_id,
        &settings,
        vec![LOGO_FIELD.to_owned()],
        changed_by,
        logo.updated_at,
    )
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(version)
}

pub(crate) async fn logo(read: &SqlitePool, tenant: TenantId) -> Result<Option<Logo>> {
    let row = sqlx::query(
        "select tenant_id, content_type, bytes, sha256, updated_at from tenant_logos where tenant_id = ?",
    )
    .bind(tenant.to_string())
    .fetch_optional(read)
    .await
    .map_err(db)?;
    row.map(|r| {
        let ct = r.text("content_type")?;
        Ok(Logo {
            tenant_id: r.id("tenant_id")?,
            format: LogoFormat::from_content_type(&ct)
                .ok_or_else(|| corrupt("content_type", format!("unknown type `{ct}`")))?,
            bytes: r.try_get("bytes").map_err(db)?,
            sha256: r.text("sha256")?,
            updated_at: r.time("updated_at")?,
        })
    })
    .transpose()
}

pub(crate) async fn logo_sha256(read: &SqlitePool, tenant: TenantId) -> Result<Option<String>> {
    sqlx::query("select sha256 from tenant_logos where tenant_id = ?")
        .bind(tenant.to_string())
        .fetch_optional(read)
        .await
        .map_err(db)?
        .map(|r| r.text("sha256"))
        .transpose()
}

/// Removes the logo and records the change as a version, in one transaction; `None` (and no
/// version) when the tenant had no logo.
pub(crate) async fn delete_logo(
    write: &SqlitePool,
    tenant: TenantId,
    changed_by: &str,
    at: OffsetDateTime,
) -> Result<Option<SettingsVersion>> {
    let mut tx = begin(write).await?;
    let done = sqlx::query("delete from tenant_logos where tenant_id = ?")
        .bind(tenant.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    if done.rows_affected() == 0 {
        return Ok(None);
    }
    let settings = settings_in_force(&mut tx, tenant).await?;
    let version = add_version(
        &mut tx,
        tenant,
        &settings,
        vec![LOGO_FIELD.to_owned()],
        changed_by,
        at,
    )
    .await?;
    tx.commit().await.map_err(db)?;
    Ok(Some(version))
}

pub(crate) async fn connected_company_count(read: &SqlitePool, tenant: TenantId) -> Result<i64> {
    sqlx::query(
        "select count(distinct company_id) as n from connections
         where tenant_id = ? and status = 'linked'",
    )
    .bind(tenant.to_string())
    .fetch_one(read)
    .await
    .map_err(db)?
    .int("n")
}
