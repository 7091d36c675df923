//! Webhook endpoints, the outbox and deliveries.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// Webhook endpoints, the outbox and deliveries.
#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    /// A tenant's endpoints (deleted ones excluded), oldest first.
    async fn webhook_endpoints(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>>;
    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Replaces url, description, event types, `enabled` and `disabled_reason` (secrets are
    /// changed by [`WebhookStore::rotate_webhook_secret`] only). `NotFound` if absent or deleted.
    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    /// Deletes the endpoint: it disappears from the API and its pending deliveries fail.
    /// Attempts already made are kept. `Ok(false)` if it did not exist.
    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> Result<bool>;
    /// Atomically: the current secret becomes the previous one (signing until
    /// `previous_until`), `secret_ct` the current one. Returns the endpoint after the change.
    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        secret_ct: &str,
        previous_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Fans out up to `limit` outbox events not yet fanned out: one pending delivery, due at
    /// `now`, per enabled endpoint of the event's tenant subscribed to its type (endpoints
    /// created after the event are not included). Each event is fanned out once, even with
    /// several workers. Returns how many events were processed.
    async fn fan_out_webhook_events(&self, now: OffsetDateTime, limit: u32) -> Result<usize>;
    /// Claims up to `limit` pending deliveries due at `now` whose endpoint is enabled, each
    /// for one attempt under a lease of `lease`: no other claim gets it until the attempt is
    /// recorded or the lease runs out (a worker that died).
    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>>;
    /// Records an attempt of a claimed delivery and what follows (one transaction: attempt
    /// row, delivery status and next time, endpoint disabled on `DisableEndpoint`). `Ok(false)`
    /// and nothing written when `claim` no longer holds the delivery.
    async fn record_webhook_attempt(
        &self,
        claim: &ClaimedDelivery,
        attempt: &WebhookAttempt,
        after: AfterAttempt,
    ) -> Result<bool>;
    /// An endpoint's deliveries, newest first, at most `limit`, before `before` if given.
    async fn webhook_deliveries(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        before: Option<WebhookDeliveryId>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>>;
    async fn webhook_delivery(
        &self,
        tenant: TenantId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>>;
    /// A delivery's attempts, first first.
    async fn webhook_attempts(
        &self,
        tenant: TenantId,
        delivery: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>>;
    /// A new pending delivery of the same event to the same endpoint, due at `at` (the same
    /// `webhook-id`). `None` if the delivery is not the endpoint's, for this tenant.
    async fn replay_webhook_delivery(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivery: WebhookDeliveryId,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookDelivery>>;
    /// A tenant's outbox events, oldest first, at most `limit` (for audits and tests).
    async fn webhook_events(&self, tenant: TenantId, limit: u32) -> Result<Vec<WebhookEvent>>;
}
