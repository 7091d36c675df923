//! Tenants, their API keys and the platforms each has configured.

#[allow(clippy::wildcard_imports)]
use crate::*;
use accord_domain::crypto::WrappedDataKey;
use async_trait::async_trait;

/// Where a tenant's secret is stored, for `accord keys rotate`, which re-encrypts them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// `connections.tokens_ct` (AAD object: the connection).
    ConnectionTokens,
    /// `tenant_platforms.client_secret_ct` (the platform key).
    ClientSecret,
    /// `webhook_endpoints.secret_ct` (the endpoint).
    WebhookSecret,
    /// `webhook_endpoints.previous_secret_ct`, still signing after a secret rotation.
    WebhookPreviousSecret,
    /// `console_users.totp_secret` (the user).
    TotpSecret,
    /// The token set a pending `revoke_token` job holds (the connection it was taken from).
    RevokePayload,
}

impl SecretKind {
    pub const ALL: [SecretKind; 6] = [
        SecretKind::ConnectionTokens,
        SecretKind::ClientSecret,
        SecretKind::WebhookSecret,
        SecretKind::WebhookPreviousSecret,
        SecretKind::TotpSecret,
        SecretKind::RevokePayload,
    ];

    /// A short name for reports.
    pub fn name(self) -> &'static str {
        match self {
            SecretKind::ConnectionTokens => "platform tokens",
            SecretKind::ClientSecret => "client secrets",
            SecretKind::WebhookSecret => "webhook secrets",
            SecretKind::WebhookPreviousSecret => "previous webhook secrets",
            SecretKind::TotpSecret => "TOTP secrets",
            SecretKind::RevokePayload => "tokens awaiting revocation",
        }
    }
}

/// One stored secret of a live tenant, as `TenantStore::secrets_page` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSecret {
    pub kind: SecretKind,
    pub tenant_id: TenantId,
    /// The row holding it (its id, or the platform key), the page cursor.
    pub row: String,
    /// The object its AAD names (the row, but the connection for a revocation job).
    pub object: String,
    pub ciphertext: String,
}

/// What a store reports about changes to tenants' configuration (the tenant with its link
/// settings, its logo, its platforms, its notices), for the copies an instance keeps in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigChange {
    /// This tenant's configuration changed, through any instance.
    Tenant(TenantId),
    /// Changes are reported from now on; any made before may have gone unreported (the watch
    /// has just (re)connected), so every copy is to be read again.
    Watching,
    /// Changes may go unreported until the next `Watching` (the watch lost its connection):
    /// copies are not to be trusted meanwhile.
    Blind,
}

/// Receives [`ConfigChange`]s; returns `false` when it wants no more (its owner is gone).
pub type ConfigWatcher = std::sync::Arc<dyn Fn(ConfigChange) -> bool + Send + Sync>;

/// Tenants, their API keys and the platforms each has configured.
#[async_trait]
pub trait TenantStore: Send + Sync {
    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKeyRecord) -> Result<()>;
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>>;
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;
    /// Every tenant (for background jobs that run per tenant).
    async fn tenants(&self) -> Result<Vec<Tenant>>;
    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// Looks a key up by its public key id; the caller compares the secret hash in constant time.
    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>>;
    /// The tenant's API keys, revoked ones included, in creation order.
    async fn api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeyRecord>>;
    /// A page of the tenant's API keys, revoked ones included, in creation order.
    async fn api_keys_page(
        &self,
        tenant: TenantId,
        page: Page<ApiKeyId>,
    ) -> Result<Vec<ApiKeyRecord>>;
    /// Revokes the tenant's key (`revoked_at = now`): `true` if it was live, `false` if it was
    /// already revoked (its first `revoked_at` stays) or is not this tenant's key.
    async fn revoke_api_key(
        &self,
        tenant: TenantId,
        id: ApiKeyId,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Records a use of the key (`last_used_at = now`). The API calls it at most once a minute
    /// per key ([`ApiKeyRecord::use_is_worth_recording`]).
    async fn touch_api_key(&self, id: ApiKeyId, now: OffsetDateTime) -> Result<()>;
    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>>;
    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>>;
    async fn upsert_tenant_platform(&self, platform: &TenantPlatform) -> Result<()>;

    /// The tenant's data keys, wrapped (the one in use first, then any it replaced), none for
    /// an unknown or deleted tenant.
    async fn tenant_data_keys(&self, tenant: TenantId) -> Result<Vec<WrappedDataKey>>;
    /// Stores the tenant's first data key: `false` (nothing stored) if the tenant already has
    /// one in use (another caller made it first), is unknown, or is deleted.
    async fn add_tenant_data_key(&self, key: &WrappedDataKey) -> Result<bool>;
    /// Replaces a data key's wrapped form if it is still `from` (key rotation; a concurrent
    /// rotation's or deletion's change wins): `true` if replaced.
    async fn rewrap_tenant_data_key(
        &self,
        tenant: TenantId,
        key_id: &str,
        from: &str,
        to: &str,
    ) -> Result<bool>;
    /// Deletes the tenant, in one transaction: its data keys first (every `v2` ciphertext of
    /// the tenant is unreadable from then on), its secrets still sealed with the instance key
    /// (`v1`), its API keys (revoked), console users (disabled, sessions ended), platforms and
    /// webhook endpoints (disabled), pending jobs (ended) and OAuth states; the tenant is then
    /// found by no lookup. Consents, connections and ledger events stay for the ledger's
    /// integrity. `false` if the tenant is unknown or already deleted.
    async fn delete_tenant(&self, tenant: TenantId, now: OffsetDateTime) -> Result<bool>;
    /// A page of stored secrets of `kind` of live tenants whose ciphertext starts with
    /// `prefix` (e.g. `v1.`), ordered by tenant then row, strictly after `after`.
    async fn secrets_page(
        &self,
        kind: SecretKind,
        prefix: &str,
        after: Option<(TenantId, String)>,
        limit: u32,
    ) -> Result<Vec<StoredSecret>>;
    /// Replaces a stored secret's ciphertext if it is still `secret.ciphertext` (a refresh,
    /// rotation or deletion meanwhile wins): `true` if replaced.
    async fn replace_secret(&self, secret: &StoredSecret, to: &str) -> Result<bool>;
    /// Starts reporting configuration changes made by every instance sharing this store to
    /// `watcher`; until its first [`ConfigChange::Watching`], changes are not reported. `false`:
    /// this backend reports nothing, and only the changes made through this instance are known
    /// to it (one process per database, as with SQLite). Call it from inside the runtime.
    fn watch_config(&self, watcher: ConfigWatcher) -> bool {
        let _ = watcher;
        false
    }
}
