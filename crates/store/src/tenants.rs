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
    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>>;
    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>>;
    async fn upsert_tenant_platform(&self, platform: &TenantPlatform) -> Result<()>;
}
