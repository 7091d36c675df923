//! [`TenantStore`] on PostgreSQL: tenants, their API keys and the platforms each has configured.
//! A tenant is created with its first API key in one transaction.

use crate::codec::{after, RowExt};
use crate::error::db;
use crate::PgStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::crypto::WrappedDataKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::tenant::{ApiKeyRecord, Tenant, TenantPlatform};
use accord_store::{Page, Result, SecretKind, StoredSecret, TenantStore};
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

fn data_key_from(r: &PgRow) -> Result<WrappedDataKey> {
    Ok(WrappedDataKey {
        tenant_id: r.id("tenant_id")?,
        key_id: r.text("key_id")?,
        wrapped: r.text("wrapped")?,
        created_at: r.time("created_at")?,
    })
}

/// What deleting a tenant does after its data keys are gone (`$1` the tenant, `$2` now): every
/// secret still sealed with the instance key (`v1`, or anything not `v2`) is destroyed, since
/// no key deletion could make it unreadable; `v2` ciphertexts stay, unreadable. (OAuth states,
/// held grants among them, are deleted beside the keys.)
const DELETE_TENANT: &[&str] = &[
    "update api_keys set revoked_at = $2 where tenant_id = $1 and revoked_at is null",
    "update console_users set disabled_at = coalesce(disabled_at, $2), password_hash = null,
         totp_secret = case when totp_secret like 'v2.%' then totp_secret end
     where tenant_id = $1",
    "update console_sessions set ended_at = $2 where tenant_id = $1 and ended_at is null",
    "update console_set_password_tokens set used_at = $2 where tenant_id = $1 and used_at is null",
    "update tenant_platforms set enabled = false, updated_at = $2,
         client_secret_ct = case when client_secret_ct like 'v2.%' then client_secret_ct end
     where tenant_id = $1",
    "update webhook_endpoints set enabled = false, disabled_reason = 'tenant deleted',
         deleted_at = coalesce(deleted_at, $2), updated_at = $2,
         secret_ct = case when secret_ct like 'v2.%' then secret_ct else '' end,
         previous_secret_ct = case when previous_secret_ct like 'v2.%' then previous_secret_ct end
     where tenant_id = $1",
    "update jobs set done_at = $2, locked_until = null, last_error = 'tenant deleted',
         payload = 'null'::jsonb
     where tenant_id = $1 and done_at is null",
    "update tenants set deleted_at = $2 where id = $1",
];

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
            " from tenants where id = $1 and deleted_at is null"
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
            " from tenants where name = $1 and deleted_at is null"
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
            " from tenants where deleted_at is null order by id"
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

    async fn api_keys_page(
        &self,
        tenant: TenantId,
        page: Page<ApiKeyId>,
    ) -> Result<Vec<ApiKeyRecord>> {
        sqlx::query(concat!(
            "select ",
            key_cols!(),
            " from api_keys where tenant_id = $1 and id > $2 order by id limit $3"
        ))
        .bind(tenant.as_uuid())
        .bind(after(page.after.map(|a| a.as_uuid())))
        .bind(i64::from(page.limit))
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

    async fn tenant_data_keys(&self, tenant: TenantId) -> Result<Vec<WrappedDataKey>> {
        sqlx::query(
            "select k.tenant_id, k.key_id, k.wrapped, k.created_at
             from tenant_data_keys k join tenants t on t.id = k.tenant_id
             where k.tenant_id = $1 and t.deleted_at is null
             order by k.retired_at is not null, k.created_at desc",
        )
        .bind(tenant.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(data_key_from)
        .collect()
    }

    async fn add_tenant_data_key(&self, key: &WrappedDataKey) -> Result<bool> {
        // `on conflict do nothing`: the partial unique index keeps a second key in use out.
        let done = sqlx::query(
            "insert into tenant_data_keys (tenant_id, key_id, wrapped, created_at)
             select id, $2, $3, $4 from tenants where id = $1 and deleted_at is null
             on conflict do nothing",
        )
        .bind(key.tenant_id.as_uuid())
        .bind(&key.key_id)
        .bind(&key.wrapped)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn rewrap_tenant_data_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let done = sqlx::query(
            "update tenant_data_keys set wrapped = $4
             where tenant_id = $1 and key_id = $2 and wrapped = $3",
        )
        .bind(tenant.as_uuid())
        .bind(key_id)
        .bind(from)
        .bind(to)
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    async fn secrets_page(
        &self,
        kind: SecretKind,
        prefix: &str,
        after: Option<(TenantId, String)>,
        limit: u32,
    ) -> Result<Vec<StoredSecret>> {
        let Place {
            table,
            row,
            row_type,
            object,
            ct,
            only,
            ..
        } = place(kind);
        let sql = format!(
            "select tenant_id, {row}::text as row_key, {object} as object, {ct} as ct
             from {table}
             where {ct} like $1 {only}
               and tenant_id in (select id from tenants where deleted_at is null)
               and ($2::uuid is null or (tenant_id, {row}) > ($2::uuid, $3::{row_type}))
             order by tenant_id, {row} limit $4"
        );
        let (tenant, row_key) = after.map_or((None, None), |(t, r)| (Some(t.as_uuid()), Some(r)));
        sqlx::query(&sql)
            .bind(format!("{prefix}%"))
            .bind(tenant)
            .bind(row_key)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(db)?
            .iter()
            .map(|r| {
                Ok(StoredSecret {
                    kind,
                    tenant_id: r.id("tenant_id")?,
                    row: r.text("row_key")?,
                    object: r.text("object")?,
                    ciphertext: r.text("ct")?,
                })
            })
            .collect()
    }

    async fn replace_secret(&self, secret: &StoredSecret, to: &str) -> Result<bool> {
        let Place {
            table,
            row,
            row_type,
            ct,
            only,
            set,
            ..
        } = place(secret.kind);
        let sql = format!(
            "update {table} set {set}
             where tenant_id = $1 and {row} = $2::{row_type} and {ct} = $3 {only}"
        );
        let done = sqlx::query(&sql)
            .bind(secret.tenant_id.as_uuid())
            .bind(&secret.row)
            .bind(&secret.ciphertext)
            .bind(to)
            .execute(&self.pool)
            .await
            .map_err(db)?;
        Ok(done.rows_affected() == 1)
    }

    fn watch_config(&self, watcher: accord_store::ConfigWatcher) -> bool {
        crate::notify::watch(&self.pool, watcher);
        true
    }

    async fn delete_tenant(&self, tenant: TenantId, now: OffsetDateTime) -> Result<bool> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        // `for update`: a concurrent deletion waits, then finds the tenant deleted.
        let live =
            sqlx::query("select id from tenants where id = $1 and deleted_at is null for update")
                .bind(tenant.as_uuid())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db)?;
        if live.is_none() {
            return Ok(false);
        }
        for sql in [
            "delete from tenant_data_keys where tenant_id = $1",
            "delete from oauth_flows where tenant_id = $1",
            "update connections set tokens_ct = null
             where tenant_id = $1 and tokens_ct not like 'v2.%'",
        ] {
            sqlx::query(sql)
                .bind(tenant.as_uuid())
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        for sql in DELETE_TENANT {
            sqlx::query(sql)
                .bind(tenant.as_uuid())
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(db)?;
        }
        tx.commit().await.map_err(db)?;
        Ok(true)
    }
}

/// Where a kind of secret is stored: its table, row key (and its type), AAD object and
/// ciphertext (SQL expressions), which rows count, and how a new ciphertext (`$4`) is set.
struct Place {
    table: &'static str,
    row: &'static str,
    row_type: &'static str,
    object: &'static str,
    ct: &'static str,
    only: &'static str,
    set: &'static str,
}

fn place(kind: SecretKind) -> Place {
    let column = |table, row, row_type, ct, set| Place {
        table,
        row,
        row_type,
        object: if row_type == "uuid" { "id::text" } else { row },
        ct,
        only: "",
        set,
    };
    match kind {
        SecretKind::ConnectionTokens => {
            column("connections", "id", "uuid", "tokens_ct", "tokens_ct = $4")
        }
        SecretKind::ClientSecret => column(
            "tenant_platforms",
            "platform_key",
            "text",
            "client_secret_ct",
            "client_secret_ct = $4",
        ),
        SecretKind::WebhookSecret => column(
            "webhook_endpoints",
            "id",
            "uuid",
            "secret_ct",
            "secret_ct = $4",
        ),
        SecretKind::WebhookPreviousSecret => column(
            "webhook_endpoints",
            "id",
            "uuid",
            "previous_secret_ct",
            "previous_secret_ct = $4",
        ),
        SecretKind::TotpSecret => column(
            "console_users",
            "id",
            "uuid",
            "totp_secret",
            "totp_secret = $4",
        ),
        SecretKind::RevokePayload => Place {
            table: "jobs",
            row: "id",
            row_type: "uuid",
            object: "payload->>'connection_id'",
            ct: "payload->>'tokens_ct'",
            only: "and kind = 'revoke_token' and done_at is null",
            set: "payload = jsonb_set(payload, '{tokens_ct}', to_jsonb($4::text))",
        },
    }
}
