//! Support requests from the flow and the manage page.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// Support requests from the flow and the manage page.
#[async_trait]
pub trait SupportStore: Send + Sync {
    /// Stores the request and, when `email_job` is given, a `send_support_email` job with that
    /// id (payload `{support_request_id}`, due at the request's time) in the same transaction:
    /// the e-mail is sent from a durable queue, never lost between the two.
    async fn create_support_request(
        &self,
        request: &SupportRequest,
        email_job: Option<JobId>,
    ) -> Result<()>;
    /// One support request of the tenant; another tenant's id is not found.
    async fn support_request(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
    ) -> Result<Option<SupportRequest>>;
    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<SupportRequestId>,
    ) -> Result<Vec<SupportRequest>>;
}
