//! [`TenantStore`] on PostgreSQL: tenants, their API keys and the platforms each has configured.
//! A tenant is created with its first API key in one transaction.

use crate::codec::RowExt;
use crate::error::db;
use crate::PgStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::tenant::{ApiKeyRecord, Tenant, TenantPlatform};
use accord_store::{Result, TenantStore};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::PgConnection;
use time::OffsetDateTime;

macro_rules! key_cols {
    () => {
        "id, tenant_id, name, key_id, secret_hash, created_at, last_used_at, revoked_at"
    };
}

fn key_from(r: &PgRow) -> Result<ApiKeyRecord> {
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

macro_rules! tenant_cols {
    () => {
        "id, name, settings, created_at"
    };
}

macro_rules! platform_cols {
    () => {
        "tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at"
    };
}

fn tenant_from(row: &PgRow) -> Result<Tenant> {
    Ok(Tenant {
        id: row.id("id")?,
        name: row.text("name")?,
        settings: row.json("settings")?,
        created_at: row.time("created_at")?,
    })
}

fn platform_from(row: &PgRow) -> Result<TenantPlatform> {
    Ok(TenantPlatform {
        tenant_id: row.id("tenant_id")?,
        platform_key: row.platform("platform_key")?,
        enabled: row.flag("enabled")?,
        client_id: row.opt_text("client_id")?,
        client_secret_ct: row.opt_text("client_secret_ct")?,
        updated_at: row.time("updated_at")?,
    })
}

/// One key, on a connection or inside the caller's transaction (a new tenant's first key).
async fn insert_key(conn: &mut PgConnection, key: &ApiKeyRecord) -> Result<()> {
    sqlx::query(
        "insert into api_keys (id, tenant_id, name, key_id, secret_hash, created_at,
             last_used_at, revoked_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(key.id.as_uuid())
    .bind(key.tenant_id.as_uuid())
    .bind(&key.name)
    .bind(&key.key_id)
    .bind(&key.secret_hash)
    .bind(key.created_at)
    .bind(key.last_used_at)
    .bind(key.revoked_at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

#[async_trait]
impl TenantStore for PgStore {
    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKeyRecord) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        sqlx::query("insert into tenants (id, name, settings, created_at) values ($1, $2, $3, $4)")
            .bind(tenant.id.as_uuid())
            .bind(&tenant.name)
            .bind(Json(&tenant.settings))
            .bind(tenant.created_at)
            .execute(&mut *tx)
            .await
            .map_err(db)?;
        insert_key(&mut tx, key).await?;
        tx.commit().await.map_err(db)
    }

    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        sqlx::query(concat!(
            "select ",
            tenant_cols!(),
            " from tenants where id = $1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| tenant_from(&r))
        .transpose()
    }

    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        sqlx::query(concat!(
            "select ",
            tenant_cols!(),
            " from tenants where name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| tenant_from(&r))
        .transpose()
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        sqlx::query(concat!(
            "select ",
            tenant_cols!(),
            " from tenants order by id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(tenant_from)
        .collect()
    }

    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let mut conn = self.pool.acquire().await.map_err(db)?;
        insert_key(&mut conn, key).await
    }

    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_cols!(),
            " from api_keys where key_id = $1"
        ))
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| key_from(&r))
        .transpose()
    }

    async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_cols!(),
            " from api_keys where tenant_id = $1 order by id"
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(key_from)
        .collect()
    }

    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update api_keys set revoked_at = $3
             where tenant_id = $1 and id = $2 and revoked_at is null",
        )
        .bind(tenant.as_uuid())
        .bind(id.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn touch_api_key(&self, id: ApiKeyId, now: OffsetDateTime) -> Result<()> {
        sqlx::query(
            "update api_keys set last_used_at = $2
             where id = $1 and (last_used_at is null or last_used_at < $2)",
        )
        .bind(id.as_uuid())
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }

    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>> {
        sqlx::query(concat!(
            "select ",
            platform_cols!(),
            " from tenant_platforms where tenant_id = $1 order by platform_key collate \"C\""
        ))
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(platform_from)
        .collect()
    }

    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>> {
        sqlx::query(concat!(
            "select ",
            platform_cols!(),
            " from tenant_platforms where tenant_id = $1 and platform_key = $2"
        ))
        .bind(tenant.as_uuid())
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(db)?
        .map(|r| platform_from(&r))
        .transpose()
    }

    async fn upsert_tenant_platform(&self, p: &TenantPlatform) -> Result<()> {
        sqlx::query(
            "insert into tenant_platforms (tenant_id, platform_key, enabled, client_id, client_secret_ct, updated_at)
             values ($1, $2, $3, $4, $5, $6)
             on conflict (tenant_id, platform_key) do update set
                 enabled = excluded.enabled,
                 client_id = excluded.client_id,
                 client_secret_ct = excluded.client_secret_ct,
                 updated_at = excluded.updated_at",
        )
        .bind(p.tenant_id.as_uuid())
        .bind(p.platform_key.as_str())
        .bind(p.enabled)
        .bind(&p.client_id)
        .bind(&p.client_secret_ct)
        .bind(p.updated_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(())
    }
}
