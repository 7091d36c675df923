//! A tenant's link settings, their versions (the audit of who changed what) and its logo, and
//! the live count behind the `{connectedCompanies}` placeholder ([`SettingsStore`]).

use crate::codec::{all, exec, micros, one, to_json, RowExt};
use crate::error::{backend, corrupt};
use crate::SqliteStore;
use accord_domain::brand::{Logo, LogoFormat};
use accord_domain::ids::TenantId;
use accord_domain::settings::{LinkSettings, SettingsVersion, LOGO_FIELD};
use accord_store::{Result, SettingsStore, StoreError};
use async_trait::async_trait;
use rusqlite::{params, Connection};
use time::OffsetDateTime;

/// The tenant's settings in force, read inside the writing transaction.
fn settings_in_force(db: &Connection, tenant: TenantId) -> Result<LinkSettings> {
    one(
        db,
        "select settings from tenants where id = ?1",
        [tenant.to_string()],
        |r| r.json("settings"),
    )?
    .ok_or(StoreError::NotFound)
}

/// Appends the next version of the tenant's settings, numbered inside the caller's `begin
/// immediate` transaction, so concurrent saves are numbered one after the other.
fn add_version(
    db: &Connection,
    tenant: TenantId,
    settings: &LinkSettings,
    changed_fields: Vec<String>,
    changed_by: &str,
    at: OffsetDateTime,
) -> Result<SettingsVersion> {
    let number: i64 = one(
        db,
        "select coalesce(max(number), 0) + 1 as n from link_settings_versions where tenant_id = ?1",
        [tenant.to_string()],
        |r| r.int("n"),
    )?
    .unwrap_or(1);
    exec(
        db,
        "insert into link_settings_versions (tenant_id, number, settings, changed_fields,
             changed_by, created_at)
         values (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            tenant.to_string(),
            number,
            to_json(settings)?,
            to_json(&changed_fields)?,
            changed_by,
            micros(at),
        ],
    )?;
    Ok(SettingsVersion {
        tenant_id: tenant,
        number,
        settings: serde_json::to_value(settings).map_err(|e| backend(e.to_string()))?,
        changed_fields,
        changed_by: changed_by.to_owned(),
        created_at: at,
    })
}

/// Replaces the tenant's settings document; `NotFound` for an unknown tenant.
fn replace_settings(db: &Connection, tenant: TenantId, settings: &LinkSettings) -> Result<()> {
    let changed = exec(
        db,
        "update tenants set settings = ?1 where id = ?2",
        params![to_json(settings)?, tenant.to_string()],
    )?;
    if changed == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

#[async_trait]
impl SettingsStore for SqliteStore {
    async fn update_link_settings(&self, tenant: TenantId, settings: &LinkSettings) -> Result<()> {
        let settings = settings.clone();
        self.write
            .run(move |db| replace_settings(db, tenant, &settings))
            .await
    }

    async fn save_link_settings(
        &self,
        tenant: TenantId,
        settings: &LinkSettings,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<SettingsVersion> {
        let (settings, changed_by) = (settings.clone(), changed_by.to_owned());
        self.write
            .transaction(move |tx| {
                let changed_fields = settings_in_force(tx, tenant)?.changed_fields(&settings);
                replace_settings(tx, tenant, &settings)?;
                add_version(tx, tenant, &settings, changed_fields, &changed_by, at)
            })
            .await
    }

    async fn link_settings_versions(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsVersion>> {
        self.read
            .run(move |db| {
                all(
                    db,
                    "select tenant_id, number, settings, changed_fields, changed_by, created_at
                     from link_settings_versions where tenant_id = ?1 and number < ?2
                     order by number desc limit ?3",
                    params![tenant.to_string(), before.unwrap_or(i64::MAX), limit],
                    |r| {
                        Ok(SettingsVersion {
                            tenant_id: r.id("tenant_id")?,
                            number: r.int("number")?,
                            settings: r.json("settings")?,
                            changed_fields: r.json("changed_fields")?,
                            changed_by: r.text("changed_by")?,
                            created_at: r.time("created_at")?,
                        })
                    },
                )
            })
            .await
    }

    async fn put_logo(&self, logo: &Logo, changed_by: &str) -> Result<SettingsVersion> {
        let (logo, changed_by) = (logo.clone(), changed_by.to_owned());
        self.write
            .transaction(move |tx| {
                let settings = settings_in_force(tx, logo.tenant_id)?;
                exec(
                    tx,
                    "insert into tenant_logos (tenant_id, content_type, bytes, sha256, updated_at)
                     values (?1, ?2, ?3, ?4, ?5)
                     on conflict (tenant_id) do update set
                         content_type = excluded.content_type,
                         bytes = excluded.bytes,
                         sha256 = excluded.sha256,
                         updated_at = excluded.updated_at",
                    params![
                        logo.tenant_id.to_string(),
                        logo.format.content_type(),
                        logo.bytes,
                        logo.sha256,
                        micros(logo.updated_at),
                    ],
                )?;
                let logo_field = vec![LOGO_FIELD.to_owned()];
                add_version(
                    tx,
                    logo.tenant_id,
                    &settings,
                    logo_field,
                    &changed_by,
                    logo.updated_at,
                )
            })
            .await
    }

    async fn logo(&self, tenant: TenantId) -> Result<Option<Logo>> {
        self.read
            .run(move |db| {
                one(
                    db,
                    "select tenant_id, content_type, bytes, sha256, updated_at
                     from tenant_logos where tenant_id = ?1",
                    [tenant.to_string()],
                    |r| {
                        let ct = r.text("content_type")?;
                        Ok(Logo {
                            tenant_id: r.id("tenant_id")?,
                            format: LogoFormat::from_content_type(&ct).ok_or_else(|| {
                                corrupt("content_type", format!("unknown type `{ct}`"))
                            })?,
                            bytes: r.value("bytes")?,
                            sha256: r.text("sha256")?,
                            updated_at: r.time("updated_at")?,
                        })
                    },
                )
            })
            .await
    }

    async fn logo_sha256(&self, tenant: TenantId) -> Result<Option<String>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    "select sha256 from tenant_logos where tenant_id = ?1",
                    [tenant.to_string()],
                    |r| r.text("sha256"),
                )
            })
            .await
    }

    async fn delete_logo(
        &self,
        tenant: TenantId,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<SettingsVersion>> {
        let changed_by = changed_by.to_owned();
        self.write
            .transaction(move |tx| {
                let deleted = exec(
                    tx,
                    "delete from tenant_logos where tenant_id = ?1",
                    [tenant.to_string()],
                )?;
                if deleted == 0 {
                    return Ok(None);
                }
                let settings = settings_in_force(tx, tenant)?;
                let logo_field = vec![LOGO_FIELD.to_owned()];
                add_version(tx, tenant, &settings, logo_field, &changed_by, at).map(Some)
            })
            .await
    }

    async fn connected_company_count(&self, tenant: TenantId) -> Result<i64> {
        self.read
            .run(move |db| {
                one(
                    db,
                    "select count(distinct company_id) as n from connections
                     where tenant_id = ?1 and status = 'linked'",
                    [tenant.to_string()],
                    |r| r.int("n"),
                )
                .map(Option::unwrap_or_default)
            })
            .await
    }
}
