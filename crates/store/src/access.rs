//! The access log: every read, write and credential issued through a connection, kept for the
//! customer to see on the manage page and for the tenant through the API.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// The access log: every access through a connection, as the customer sees it afterwards.
#[async_trait]
pub trait AccessLogStore: Send + Sync {
    /// Appends `records`, all or nothing, durable before it returns: the gateway answers a call
    /// only after its record is committed, so a crash never loses an access that a response
    /// reported. Backends may group concurrent calls into one commit, as they do consents,
    /// since an access is written on the data path. A record naming a connection that does not
    /// exist for its tenant is `NotFound`, and nothing of the call is written. An empty slice
    /// writes nothing.
    async fn record_access(&self, records: &[AccessRecord]) -> Result<()>;
    /// A connection's access records, newest first (by id, which is time-ordered), strictly
    /// before `before` when given, at most `limit`. Owner-scoped: another tenant's connection
    /// has none.
    async fn access_log(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        before: Option<AccessId>,
        limit: u32,
    ) -> Result<Vec<AccessRecord>>;
    /// Retention: deletes at most `limit` records of every tenant made before `older_than`,
    /// oldest first, and says how many.
    async fn purge_access_log(&self, older_than: OffsetDateTime, limit: u32) -> Result<u64>;
}
