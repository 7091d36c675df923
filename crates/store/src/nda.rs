//! Mutual NDAs, immutable once recorded.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// Mutual NDAs, immutable once recorded.
#[async_trait]
pub trait NdaStore: Send + Sync {
    /// One transaction: the acceptance row and its `nda_accepted` ledger event (`event`,
    /// appended to `nda.tenant_id`'s chain). The row's `ledger_seq` is the event's position
    /// (whatever `nda.ledger_seq` says); returns the chained event. `Conflict` if the id exists.
    async fn record_nda(&self, nda: &NdaAcceptance, event: EventBody) -> Result<ChainedEvent>;
    /// A tenant's signed NDAs, oldest first.
    async fn ndas(&self, tenant: TenantId) -> Result<Vec<NdaAcceptance>>;
    /// One signed NDA of a tenant; another tenant's id is not found.
    async fn nda(&self, tenant: TenantId, id: NdaAcceptanceId) -> Result<Option<NdaAcceptance>>;
    /// The NDAs a company of the tenant signed, oldest first.
    async fn company_ndas(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<NdaAcceptance>>;
}
