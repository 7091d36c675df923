//! Consent records: given with their connection, superseded, expired.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// Everything the consent action writes, committed together in one transaction: a consent is
/// never on record without its connection, its OAuth state and its ledger event, nor they
/// without it. The connection row is inserted, or updated when its id already exists
/// (a new consent for a connection still pending sign-in, or a re-consent). Consents still in
/// force on that connection are superseded: their `withdrawn_at` is set to the new consent's
/// time, and each gets a `superseded` event ([`EventBody::superseded`]: same instant, same
/// initiator as the new consent, naming it), chained just before the new consent's event.
/// A disconnected connection is never revived: a write naming one fails with `NotFound`.
#[derive(Debug, Clone)]
pub struct ConsentWrite {
    pub connection: Connection,
    pub consent: Consent,
    /// The OAuth authorization this consent starts, if any.
    pub oauth_flow: Option<OAuthFlow>,
    /// The ledger event (`given` or `reconsented`), appended to the tenant's chain in the same
    /// transaction.
    pub event: EventBody,
}

/// Consent records: given with their connection, superseded, expired.
#[async_trait]
pub trait ConsentStore: Send + Sync {
    /// One transaction: connection upsert, consent insert, OAuth flow insert, the consent's
    /// ledger event and its webhook outbox rows. Backends may batch concurrent calls into one
    /// commit (group commit); each call returns only after its commit, with the ledger event as
    /// chained (position, previous hash, hash): all a receipt needs, without reading it back.
    async fn record_consent(&self, write: &ConsentWrite) -> Result<ChainedEvent>;
    async fn consent(&self, tenant: TenantId, id: ConsentId) -> Result<Option<Consent>>;
    /// Every consent of `tenant` (those of deleted companies included), in id order, `limit`
    /// at a time after `after`: what `accord ledger verify` compares with the ledger.
    async fn tenant_consents(
        &self,
        tenant: TenantId,
        after: Option<ConsentId>,
        limit: u32,
    ) -> Result<Vec<Consent>>;
    async fn company_consents(&self, tenant: TenantId, company: CompanyId) -> Result<Vec<Consent>>;
    /// Expiry: consents in force given before `given_before` on linked connections of `tenant`
    /// end with an `expired` event each (method `validity_expired`), and their connections become
    /// `reconsent_required` — one transaction. Returns the events.
    async fn expire_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Vec<ChainedEvent>>;
    /// Expiry told ahead: consents in force on linked connections of `tenant`, given before
    /// `given_before` and not warned yet, are marked warned at `at`, each with a
    /// `consent.expiring` outbox row whose `valid_until` is its `given_at + valid_for` — one
    /// transaction. Each consent is warned once (a re-consent is a new consent, warned in its
    /// turn). Returns the consents warned, in id order.
    async fn warn_expiring_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        valid_for: Duration,
        at: OffsetDateTime,
    ) -> Result<Vec<Consent>>;
}
