//! A tenant's companies.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// A tenant's companies.
#[async_trait]
pub trait CompanyStore: Send + Sync {
    /// `Conflict` when the tenant already has a company with this `external_id`.
    async fn create_company(&self, company: &Company) -> Result<()>;
    async fn company(&self, tenant: TenantId, id: CompanyId) -> Result<Option<Company>>;
    async fn list_companies(&self, tenant: TenantId, page: Page<CompanyId>)
        -> Result<Vec<Company>>;
    /// Deletes the company: its active connections are disconnected (tokens destroyed, a
    /// revocation job each, as [`ConnectionStore::disconnect`](crate::ConnectionStore::disconnect)) and the company no longer answers.
    /// Consent records are kept: they are the tenant's proof. `Ok(false)` if it did not exist.
    async fn delete_company(
        &self,
        tenant: TenantId,
        id: CompanyId,
        at: OffsetDateTime,
    ) -> Result<bool>;
}
