//! Tenants, their API keys and the platforms each has configured ([`TenantStore`]).

use crate::codec::{all, exec, micros, one, opt_micros, to_json, RowExt};
use crate::SqliteStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::tenant::{ApiKeyRecord, Tenant, TenantPlatform};
use accord_store::{Result, TenantStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use time::OffsetDateTime;

const KEY_COLS: &str =
    "id, tenant_id, name, key_id, secret_hash, created_at, last_used_at, revoked_at";

fn key_from(r: &Row<'_>) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: r.id("id")?,
        tenant_id: r.id("tenant_id")?,
        name: r.text("name")?,
        key_id: r.text("key_id")?,
        secret_hash: r.text("secret_hash")?,
        created_at: r.time("created_at")?,
        last_used_at: r.opt_time("last_used_at")?,
        revoked_at: r.opt_time("revoked_at")?,
    })
}

fn tenant_from(row: &Row<'_>) -> Result<Tenant> {
    Ok(Tenant {
        id: row.id("id")?,
        name: row.text("name")?,
        settings: row.json("settings")?,
        created_at: row.time("created_at")?,
    })
}

fn insert_key(db: &Connection, key: &ApiKeyRecord) -> Result<()> {
    exec(
        db,
        "insert into api_keys (id, tenant_id, name, key_id, secret_hash, created_at,
             last_used_at, revoked_at)
         values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            key.id.to_string(),
            key.tenant_id.to_string(),
            key.name,
            key.key_id,
            key.secret_hash,
            micros(key.created_at),
            opt_micros(key.last_used_at),
            opt_micros(key.revoked_at),
        ],
    )?;
    Ok(())
}

fn platform_from(row: &Row<'_>) -> Result<TenantPlatform> {
    Ok(TenantPlatform {
        tenant_id: row.id("tenant_id")?,
        platform_key: row.platform("platform_key")?,
        enabled: row.flag("enabled")?,
        client_id: row.opt_text("client_id")?,
        client_secret_ct: row.opt_text("client_secret_ct")?,
        updated_at: row.time("updated_at")?,
    })
}

#[async_trait]
impl TenantStore for SqliteStore {
    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKeyRecord) -> Result<()> {
        let settings = to_json(&tenant.settings)?;
        let (tenant, key) = (tenant.clone(), key.clone());
        self.write
            .transaction(move |tx| {
                exec(
                    tx,
                    "insert into tenants (id, name, settings, created_at) values (?1, ?2, ?3, ?4)",
                    params![
                        tenant.id.to_string(),
                        tenant.name,
                        settings,
                        micros(tenant.created_at)
                    ],
                )?;
                insert_key(tx, &key)
            })
            .await
    }

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        self.read
            .run_point(move |db| {
                one(
                    db,
                    "select id, name, settings, created_at from tenants where id = ?1",
                    [id.to_string()],
                    tenant_from,
                )
            })
            .await
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        let name = name.to_owned();
        self.read
            .run(move |db| {
                one(
                    db,
                    "select id, name, settings, created_at from tenants where name = ?1",
                    [name],
                    tenant_from,
                )
            })
            .await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        self.read
            .run(|db| {
                all(
                    db,
                    "select id, name, settings, created_at from tenants order by id",
                    [],
                    tenant_from,
                )
            })
            .await
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let key = key.clone();
        self.write.run(move |db| insert_key(db, &key)).await
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>> {
        let key_id = key_id.to_owned();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    &format!("select {KEY_COLS} from api_keys where key_id = ?1"),
                    [key_id],
                    key_from,
                )
            })
            .await
    }

    async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    &format!("select {KEY_COLS} from api_keys where tenant_id = ?1 order by id"),
                    [tenant.to_string()],
                    key_from,
                )
            })
            .await
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> Result<bool> {
        self.write
            .run(move |db| {
                let changed = exec(
                    db,
                    "update api_keys set revoked_at = ?3
                     where tenant_id = ?1 and id = ?2 and revoked_at is null",
                    params![tenant.to_string(), id.to_string(), micros(now)],
                )?;
                Ok(changed == 1)
            })
            .await
    }

    async fn touch_api_key(&self, id: ApiKeyId, now: OffsetDateTime) -> Result<()> {
        self.write
            .run(move |db| {
                exec(
                    db,
                    "update api_keys set last_used_at = ?2
                     where id = ?1 and (last_used_at is null or last_used_at < ?2)",
                    params![id.to_string(), micros(now)],
                )?;
                Ok(())
            })
            .await
    }

    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    "select tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at
                     from tenant_platforms where tenant_id = ?1 order by platform_key",
                    [tenant.to_string()],
                    platform_from,
                )
            })
            .await
    }

    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>> {
        let key = key.clone();
        self.read
            .run_point(move |db| {
                one(
                    db,
                    "select tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at
                     from tenant_platforms where tenant_id = ?1 and platform_key = ?2",
                    params![tenant.to_string(), key.as_str()],
                    platform_from,
                )
            })
            .await
    }

    async fn upsert_tenant_platform(&self, platform: &TenantPlatform) -> Result<()> {
        let p = platform.clone();
        self.write
            .run(move |db| {
                exec(
                    db,
                    "insert into tenant_platforms (tenant_id, platform_key, enabled, client_id,
                         client_secret_ct, updated_at)
                     values (?1, ?2, ?3, ?4, ?5, ?6)
                     on conflict (tenant_id, platform_key) do update set
                         enabled = excluded.enabled,
                         client_id = excluded.client_id,
                         client_secret_ct = excluded.client_secret_ct,
                         updated_at = excluded.updated_at",
                    params![
                        p.tenant_id.to_string(),
                        p.platform_key.as_str(),
                        p.enabled,
                        p.client_id,
                        p.client_secret_ct,
                        micros(p.updated_at),
                    ],
                )?;
                Ok(())
            })
            .await
    }
}
