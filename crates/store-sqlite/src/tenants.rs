//! Tenants, their API keys and the platforms each has configured ([`TenantStore`]).

use crate::codec::{after, all, exec, micros, one, opt_micros, to_json, RowExt};
use crate::error::sqlite;
use crate::SqliteStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::crypto::WrappedDataKey;
use accord_domain::ids::{ApiKeyId, TenantId};
use accord_domain::tenant::{ApiKeyRecord, Tenant, TenantPlatform};
use accord_store::{Page, Result, SecretKind, StoredSecret, TenantStore};
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

fn data_key_from(r: &Row<'_>) -> Result<WrappedDataKey> {
    Ok(WrappedDataKey {
        tenant_id: r.id("tenant_id")?,
        key_id: r.text("key_id")?,
        wrapped: r.text("wrapped")?,
        created_at: r.time("created_at")?,
    })
}

/// What deleting a tenant does after its data keys are gone (`?1` the tenant, `?2` now): every
/// secret still sealed with the instance key (`v1`, or anything not `v2`) is destroyed, since
/// no key deletion could make it unreadable; `v2` ciphertexts stay, unreadable. (OAuth states,
/// held grants among them, are deleted beside the keys.)
const DELETE_TENANT: &[&str] = &[
    "update api_keys set revoked_at = ?2 where tenant_id = ?1 and revoked_at is null",
    "update console_users set disabled_at = coalesce(disabled_at, ?2), password_hash = null,
         totp_secret = case when totp_secret like 'v2.%' then totp_secret end
     where tenant_id = ?1",
    "update console_sessions set ended_at = ?2 where tenant_id = ?1 and ended_at is null",
    "update console_set_password_tokens set used_at = ?2 where tenant_id = ?1 and used_at is null",
    "update tenant_platforms set enabled = 0, updated_at = ?2,
         client_secret_ct = case when client_secret_ct like 'v2.%' then client_secret_ct end
     where tenant_id = ?1",
    "update webhook_endpoints set enabled = 0, disabled_reason = 'tenant deleted',
         deleted_at = coalesce(deleted_at, ?2), updated_at = ?2,
         secret_ct = case when secret_ct like 'v2.%' then secret_ct else '' end,
         previous_secret_ct = case when previous_secret_ct like 'v2.%' then previous_secret_ct end
     where tenant_id = ?1",
    "update jobs set done_at = ?2, locked_until = null, last_error = 'tenant deleted',
         payload = 'null'
     where tenant_id = ?1 and done_at is null",
    "update tenants set deleted_at = ?2 where id = ?1",
];

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
                    "select id, name, settings, created_at from tenants
                     where id = ?1 and deleted_at is null",
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
                    "select id, name, settings, created_at from tenants
                     where name = ?1 and deleted_at is null",
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
                    "select id, name, settings, created_at from tenants
                     where deleted_at is null order by id",
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

    async fn api_keys_page(
        &self,
        tenant: TenantId,
        page: Page<ApiKeyId>,
    ) -> Result<Vec<ApiKeyRecord>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    &format!(
                        "select {KEY_COLS} from api_keys where tenant_id = ?1 and id > ?2
                         order by id limit ?3"
                    ),
                    params![tenant.to_string(), after(page.after), page.limit],
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

    async fn tenant_data_keys(&self, tenant: TenantId) -> Result<Vec<WrappedDataKey>> {
        self.read
            .run_point(move |db| {
                all(
                    db,
                    "select k.tenant_id, k.key_id, k.wrapped, k.created_at
                     from tenant_data_keys k join tenants t on t.id = k.tenant_id
                     where k.tenant_id = ?1 and t.deleted_at is null
                     order by k.retired_at is not null, k.created_at desc",
                    [tenant.to_string()],
                    data_key_from,
                )
            })
            .await
    }

    async fn add_tenant_data_key(&self, key: &WrappedDataKey) -> Result<bool> {
        let key = key.clone();
        self.write
            .transaction(move |tx| {
                // `or ignore`: the partial unique index keeps a second key in use out.
                let added = exec(
                    tx,
                    "insert or ignore into tenant_data_keys (tenant_id, key_id, wrapped, created_at)
                     select id, ?2, ?3, ?4 from tenants where id = ?1 and deleted_at is null",
                    params![
                        key.tenant_id.to_string(),
                        key.key_id,
                        key.wrapped,
                        micros(key.created_at)
                    ],
                )?;
                Ok(added == 1)
            })
            .await
    }

    async fn rewrap_tenant_data_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool> {
        let (key_id, from, to) = (key_id.to_owned(), from.to_owned(), to.to_owned());
        self.write
            .transaction(move |tx| {
                let changed = exec(
                    tx,
                    "update tenant_data_keys set wrapped = ?4
                     where tenant_id = ?1 and key_id = ?2 and wrapped = ?3",
                    params![tenant.to_string(), key_id, from, to],
                )?;
                Ok(changed == 1)
            })
            .await
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
            object,
            ct,
            only,
            ..
        } = place(kind);
        let sql = format!(
            "select tenant_id, {row} as row_key, {object} as object, {ct} as ct from {table}
             where {ct} like ?1 {only}
               and tenant_id in (select id from tenants where deleted_at is null)
               and (tenant_id, {row}) > (?2, ?3)
             order by tenant_id, {row} limit ?4"
        );
        let like = format!("{prefix}%");
        let (tenant, row_key) =
            after.map_or((String::new(), String::new()), |(t, r)| (t.to_string(), r));
        self.read
            .run(move |db| {
                all(db, &sql, params![like, tenant, row_key, limit], |r| {
                    Ok(StoredSecret {
                        kind,
                        tenant_id: r.id("tenant_id")?,
                        row: r.text("row_key")?,
                        object: r.text("object")?,
                        ciphertext: r.text("ct")?,
                    })
                })
            })
            .await
    }

    async fn replace_secret(&self, secret: &StoredSecret, to: &str) -> Result<bool> {
        let Place {
            table,
            row,
            ct,
            only,
            set,
            ..
        } = place(secret.kind);
        let sql = format!(
            "update {table} set {set} where tenant_id = ?1 and {row} = ?2 and {ct} = ?3 {only}"
        );
        let (s, to) = (secret.clone(), to.to_owned());
        self.write
            .transaction(move |tx| {
                let changed = exec(
                    tx,
                    &sql,
                    params![s.tenant_id.to_string(), s.row, s.ciphertext, to],
                )?;
                Ok(changed == 1)
            })
            .await
    }

    async fn delete_tenant(&self, tenant: TenantId, now: OffsetDateTime) -> Result<bool> {
        self.write
            .run(move |db| {
                // secure_delete: the pages that held the wrapped keys are written over with
                // zeros, so the key does not linger in the file's free pages.
                db.pragma_update(None, "secure_delete", true)
                    .map_err(sqlite)?;
                let deleted = delete_tenant(db, tenant, now);
                db.pragma_update(None, "secure_delete", false)
                    .map_err(sqlite)?;
                deleted
            })
            .await
    }
}

/// Where a kind of secret is stored: its table, row key, AAD object and ciphertext (SQL
/// expressions), which rows count, and how a new ciphertext (`?4`) is set.
struct Place {
    table: &'static str,
    row: &'static str,
    object: &'static str,
    ct: &'static str,
    only: &'static str,
    set: &'static str,
}

fn place(kind: SecretKind) -> Place {
    let column = |table, row, ct, set| Place {
        table,
        row,
        object: row,
        ct,
        only: "",
        set,
    };
    match kind {
        SecretKind::ConnectionTokens => column("connections", "id", "tokens_ct", "tokens_ct = ?4"),
        SecretKind::ClientSecret => column(
            "tenant_platforms",
            "platform_key",
            "client_secret_ct",
            "client_secret_ct = ?4",
        ),
        SecretKind::WebhookSecret => {
            column("webhook_endpoints", "id", "secret_ct", "secret_ct = ?4")
        }
        SecretKind::WebhookPreviousSecret => column(
            "webhook_endpoints",
            "id",
            "previous_secret_ct",
            "previous_secret_ct = ?4",
        ),
        SecretKind::TotpSecret => column("console_users", "id", "totp_secret", "totp_secret = ?4"),
        SecretKind::RevokePayload => Place {
            table: "jobs",
            row: "id",
            object: "json_extract(payload, '$.connection_id')",
            ct: "json_extract(payload, '$.tokens_ct')",
            only: "and kind = 'revoke_token' and done_at is null",
            set: "payload = json_set(payload, '$.tokens_ct', ?4)",
        },
    }
}

fn delete_tenant(db: &mut Connection, tenant: TenantId, now: OffsetDateTime) -> Result<bool> {
    let tx = db
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(sqlite)?;
    let id = tenant.to_string();
    let live = one(
        &tx,
        "select id from tenants where id = ?1 and deleted_at is null",
        [&id],
        |r| r.text("id"),
    )?;
    if live.is_none() {
        return Ok(false);
    }
    exec(
        &tx,
        "delete from tenant_data_keys where tenant_id = ?1",
        [&id],
    )?;
    exec(&tx, "delete from oauth_flows where tenant_id = ?1", [&id])?;
    exec(
        &tx,
        "update connections set tokens_ct = null where tenant_id = ?1 and tokens_ct not like 'v2.%'",
        [&id],
    )?;
    for sql in DELETE_TENANT {
        exec(&tx, sql, params![id, micros(now)])?;
    }
    tx.commit().map_err(sqlite)?;
    Ok(true)
}
