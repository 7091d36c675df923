//! [`SettingsStore`] on PostgreSQL: a tenant's link settings, their versions (the audit of who
//! changed what), its logo, and the live count behind the `{connectedCompanies}` placeholder.
//! Every change that makes a version locks the tenant's row first, so concurrent changes are
//! numbered one after the other.

use crate::codec::RowExt;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::brand::{Logo, LogoFormat};
use accord_domain::ids::TenantId;
use accord_domain::settings::{LinkSettings, SettingsVersion, LOGO_FIELD};
use accord_store::{Result, SettingsStore, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Postgres, Row, Transaction};
use time::OffsetDateTime;

/// The tenant's settings in force, read inside the writing transaction. The tenant row is
/// locked (`for update`) first, so concurrent changes (settings or logo) are numbered one
/// after the other.
async fn settings_in_force(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
) -> Result<LinkSettings> {
    sqlx::query("select settings from tenants where id = $1 for update")
        .bind(tenant.as_uuid())
        .fetch_optional(&mut **tx)
        .await
        .map_err(db)?
        .ok_or(StoreError::NotFound)?
        .json("settings")
}

/// Appends the next version of the tenant's settings (under the tenant row's lock).
async fn add_version(
    tx: &mut Transaction<'static, Postgres>,
    tenant: TenantId,
    settings: &LinkSettings,
    changed_fields: Vec<String>,
    changed_by: &str,
    at: OffsetDateTime,
) -> Result<SettingsVersion> {
    let number: i64 = sqlx::query(
        "select coalesce(max(number), 0) + 1 as n from link_settings_versions where tenant_id = $1",
    )
    .bind(tenant.as_uuid())
    .fetch_one(&mut **tx)
    .await
    .map_err(db)?
    .try_get("n")
    .map_err(db)?;
    sqlx::query(
        "insert into link_settings_versions (tenant_id, number, settings, changed_fields, changed_by, created_at)
         values ($1, $2, $3, $4, $5, $6)",
    )
    .bind(tenant.as_uuid())
    .bind(number)
    .bind(Json(settings))
    .bind(Json(&changed_fields))
    .bind(changed_by)
    .bind(at)
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

fn version_from(r: &PgRow) -> Result<SettingsVersion> {
    Ok(SettingsVersion {
        tenant_id: r.id("tenant_id")?,
        number: r.try_get("number").map_err(db)?,
        settings: r.json("settings")?,
        changed_fields: r.json("changed_fields")?,
        changed_by: r.text("changed_by")?,
        created_at: r.time("created_at")?,
    })
}

fn logo_from(r: &PgRow) -> Result<Logo> {
    let ct = r.text("content_type")?;
    Ok(Logo {
        tenant_id: r.id("tenant_id")?,
        format: LogoFormat::from_content_type(&ct)
            .ok_or_else(|| corrupt("content_type", format!("unknown type `{ct}`")))?,
        bytes: r.try_get("bytes").map_err(db)?,
        sha256: r.text("sha256")?,
        updated_at: r.time("updated_at")?,
    })
}

#[async_trait]
impl SettingsStore for PgStore {
    async fn update_link_settings(&self, tenant: TenantId, settings: &LinkSettings) -> Result<()> {
        let done = sqlx::query("update tenants set settings = $1 where id = $2")
            .bind(Json(settings))
            .bind(tenant.as_uuid())
            .execute(&self.pool)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn save_link_settings(
        &self,
        tenant: TenantId,
        settings: &LinkSettings,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<SettingsVersion> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let previous = settings_in_force(&mut tx, tenant).await?;
        let changed_fields = previous.changed_fields(settings);
        sqlx::query("update tenants set settings = $1 where id = $2")
            .bind(Json(settings))
            .bind(tenant.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        let version =
            add_version(&mut tx, tenant, settings, changed_fields, changed_by, at).await?;
        tx.commit().await.map_err(db)?;
        Ok(version)
    }

    async fn link_settings_versions(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsVersion>> {
        sqlx::query(
            "select tenant_id, number, settings, changed_fields, changed_by, created_at
             from link_settings_versions where tenant_id = $1 and number < $2
             order by number desc limit $3",
        )
        .bind(tenant.as_uuid())
        .bind(before.unwrap_or(i64::MAX))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(version_from)
        .collect()
    }

    /// The logo and its version of the settings (the document in force, `changed_fields:
    /// ["logo"]`), in one transaction.
    async fn put_logo(&self, logo: &Logo, changed_by: &str) -> Result<SettingsVersion> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let settings = settings_in_force(&mut tx, logo.tenant_id).await?;
        sqlx::query(
            "insert into tenant_logos (tenant_id, content_type, bytes, sha256, updated_at)
             values ($1, $2, $3, $4, $5)
             on conflict (tenant_id) do update set
                 content_type = excluded.content_type,
                 bytes = excluded.bytes,
                 sha256 = excluded.sha256,
                 updated_at = excluded.updated_at",
        )
        .bind(logo.tenant_id.as_uuid())
        .bind(logo.format.content_type())
        .bind(&logo.bytes)
        .bind(&logo.sha256)
        .bind(logo.updated_at)
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

    async fn logo(&self, tenant: TenantId) -> Result<Option<Logo>> {
        sqlx::query(
            "select tenant_id, content_type, bytes, sha256, updated_at from tenant_logos where tenant_id = $1",
        )
        .bind(tenant.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| logo_from(&r))
        .transpose()
    }

    async fn logo_sha256(&self, tenant: TenantId) -> Result<Option<String>> {
        sqlx::query("select sha256 from tenant_logos where tenant_id = $1")
            .bind(tenant.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| r.text("sha256"))
            .transpose()
    }

    /// Removes the logo and records the change as a version, in one transaction; `None` (and
    /// no version) when the tenant had no logo.
    async fn delete_logo(
        &self,
        tenant: TenantId,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<SettingsVersion>> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        let settings = match settings_in_force(&mut tx, tenant).await {
            Err(StoreError::NotFound) => return Ok(None),
            other => other?,
        };
        let done = sqlx::query("delete from tenant_logos where tenant_id = $1")
            .bind(tenant.as_uuid())
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let logo = vec![LOGO_FIELD.to_owned()];
        let version = add_version(&mut tx, tenant, &settings, logo, changed_by, at).await?;
        tx.commit().await.map_err(db)?;
        Ok(Some(version))
    }

    async fn connected_company_count(&self, tenant: TenantId) -> Result<i64> {
        sqlx::query(
            "select count(distinct company_id) as n from connections
             where tenant_id = $1 and status = 'linked'",
        )
        .bind(tenant.as_uuid())
        .fetch_one(&self.pool)
        .await
        .map_err(db)?
        .try_get("n")
        .map_err(db)
    }
}
