//! Funnel analytics: hourly counts per step, no personal data.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// Funnel analytics: hourly counts per step, no personal data.
#[async_trait]
pub trait FunnelStore: Send + Sync {
    /// Counts each event in its tenant's hourly bucket (an upsert increment), in one
    /// transaction. An event with `once_per` is counted only the first time its session reaches
    /// that step (same platform, same page): the store remembers the session's counted steps
    /// beside the session (removed with it), never in the counts. Returns how many events were
    /// counted.
    async fn record_funnel(&self, events: &[FunnelEvent]) -> Result<usize>;
    /// The tenant's counts in the hourly buckets starting in `[from, to)`, summed per step,
    /// platform and exit page, in that order.
    async fn funnel_counts(
        &self,
        tenant: TenantId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<FunnelCount>>;
}
