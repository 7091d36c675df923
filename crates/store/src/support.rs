//! Support requests from the flow and the manage page.

#[allow(clippy::wildcard_imports)]
use crate::*;
use accord_domain::tenant::{SupportEntry, SupportResolution, SupportStatus};
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
    /// A page of the tenant's requests, oldest first, each with its resolution.
    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<SupportRequestId>,
    ) -> Result<Vec<SupportEntry>>;
    /// The tenant's inbox, newest first: requests with this status (any, with `None`), each
    /// with its resolution; with `before`, only requests older than that one (the next page).
    async fn support_inbox(
        &self,
        tenant: TenantId,
        status: Option<SupportStatus>,
        before: Option<SupportRequestId>,
        limit: u32,
    ) -> Result<Vec<SupportEntry>>;
    /// Resolves the tenant's request (`Some`) or reopens it (`None`), in one statement:
    /// `true` if that changed its status, `false` if it already had it (a resolved request
    /// keeps who resolved it first and when). `NotFound` for an unknown id or another
    /// tenant's.
    async fn set_support_resolution(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
        resolution: Option<SupportResolution>,
    ) -> Result<bool>;
}
