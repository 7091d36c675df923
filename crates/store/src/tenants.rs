//! Tenants, their API keys and the platforms each has configured.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

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
}
