//! The consent ledger: each tenant's append-only hash chain and its signed checkpoints.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// A chain with events its last checkpoint does not seal yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedChain {
    pub tenant_id: TenantId,
    /// The last checkpoint's position and hash, `None` if the chain has none.
    pub sealed: Option<(i64, String)>,
    /// The chain's last position.
    pub head_seq: i64,
}

/// The consent ledger: each tenant's append-only hash chain and its signed checkpoints.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    /// Appends events (e.g. `nda_accepted`) to the tenant's chain in one transaction.
    async fn append_events(
        &self,
        tenant: TenantId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<ChainedEvent>>;
    /// A tenant's events after position `after_seq`, at most `limit`, in chain order.
    async fn ledger_events(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>>;
    /// Every event about one consent, in chain order.
    async fn consent_events(
        &self,
        tenant: TenantId,
        consent: ConsentId,
    ) -> Result<Vec<ChainedEvent>>;
    /// Tenants with at least one ledger event, for `accord ledger verify`.
    async fn ledger_tenants(&self) -> Result<Vec<TenantId>>;
    /// A tenant's events after position `after_seq` as stored (columns and the exact text
    /// hashed), at most `limit`, in chain order: what verification reads, without parsing.
    async fn ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>>;
    /// The signed checkpoints of a tenant's chain, in position order.
    async fn ledger_checkpoints(&self, tenant: TenantId) -> Result<Vec<SignedCheckpoint>>;
    /// Stores a signed checkpoint; `false` (and nothing written) if the chain already has one at
    /// that position, sealed by another instance.
    async fn add_ledger_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<bool>;
    /// Chains with events after their last checkpoint (at most `limit`), for the sealer.
    async fn unsealed_chains(&self, limit: u32) -> Result<Vec<UnsealedChain>>;
}
