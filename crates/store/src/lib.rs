//! The storage interface of Accord: one trait per role, named after what it holds
//! ([`TenantStore`], [`CompanyStore`], [`ConnectionStore`], [`ConsentStore`], [`LedgerStore`]…),
//! and [`Store`], every role at once, which is what a backend implements and what the binary
//! holds. Handlers and workers ask for the roles they use. The backends (`store-sqlite`,
//! `store-postgres`) implement each role in their module of the same name, with their own
//! migrations, and all pass the same conformance suite ([`conformance`], feature
//! `conformance`), grouped by role as well.
//!
//! Every call that reads or changes a tenant's data takes the tenant id (owner-scoped calls):
//! another tenant's ids simply are not found. Writes that must be atomic (a consent with its
//! connection and OAuth state; a disconnect with its token destruction and revocation job; a
//! notice version with the re-consent it calls for) are single methods, so each backend commits
//! them in one transaction.
//!
//! Access log: every access through a connection is recorded before the caller is answered
//! ([`AccessLogStore`]), so the customer sees each one that a response reported.
//!
//! Webhook outbox: every write that changes what a tenant is told about (a consent given or
//! withdrawn, a connection created, linked, failed, deauthorized or disconnected, re-consent
//! required, an NDA, a support request) inserts its `WebhookEvent` rows (`accord_domain::outbox`)
//! in the same transaction as the change, inside the method; the worker fans them out to
//! endpoints.

pub(crate) use accord_domain::access::AccessRecord;
pub(crate) use accord_domain::brand::Logo;
pub(crate) use accord_domain::catalog::{Category, PlatformKey};
pub(crate) use accord_domain::connection::{Connection, Upstream};
pub(crate) use accord_domain::consent::Consent;
pub(crate) use accord_domain::crypto::TokenHash;
pub(crate) use accord_domain::flow::{
    BrowserSession, LinkSession, ManageLink, OAuthFlow, SessionKind,
};
pub(crate) use accord_domain::funnel::{FunnelCount, FunnelEvent};
pub(crate) use accord_domain::ids::{
    AccessId, ApiKeyId, BrowserSessionId, CompanyId, ConnectionId, ConsentId, JobId, LinkSessionId,
    NdaAcceptanceId, NoticeId, NoticeVersionId, SupportRequestId, TenantId, WebhookDeliveryId,
    WebhookEndpointId,
};
pub(crate) use accord_domain::ledger::{
    ChainedEvent, EventBody, Hash, SignedCheckpoint, StoredEvent,
};
pub(crate) use accord_domain::locale::Locale;
pub(crate) use accord_domain::nda::NdaAcceptance;
pub(crate) use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
pub(crate) use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
pub(crate) use accord_domain::settings::{LinkSettings, SettingsVersion};
pub(crate) use accord_domain::tenant::{
    ApiKeyRecord, Company, Job, SupportRequest, Tenant, TenantPlatform,
};
pub(crate) use time::{Duration, OffsetDateTime};

#[cfg(feature = "conformance")]
pub mod conformance;

mod access;
mod companies;
mod connections;
mod consents;
mod console;
mod flow;
mod funnel;
mod jobs;
mod ledger;
mod nda;
mod notices;
mod settings;
mod support;
mod tenants;
mod webhooks;

pub use access::AccessLogStore;
pub use companies::CompanyStore;
pub use connections::{
    AccessFence, AccessView, ConnectionStore, Disconnected, LinkWrite, Linked, RefreshSchedule,
    RefreshStored, RefreshedTokens,
};
pub use consents::{ConsentStore, ConsentWrite};
pub use console::{ConsoleStore, LedgerPosition};
pub use flow::FlowStore;
pub use funnel::FunnelStore;
pub use jobs::{JobStore, Purged, QueueStats};
pub use ledger::{
    Closed, InclusionEvidence, LeafProof, LedgerStore, MerkleHead, Pages, Spent, UnsealedChain,
};
pub use ledger::{ConnectionRecord, ConsentRecord};
pub use nda::NdaStore;
pub use notices::{NoticeStore, PublishedNotice};
pub use settings::SettingsStore;
pub use support::SupportStore;
pub use tenants::{ConfigChange, ConfigWatcher, SecretKind, StoredSecret, TenantStore};
pub use webhooks::WebhookStore;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. a company's `external_id` already used by this tenant).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row to change does not exist for this tenant.
    #[error("not found")]
    NotFound,
    /// The backend failed (I/O, corruption, pool closed…). Logged, never shown.
    #[error("storage backend: {0}")]
    Backend(#[from] Box<dyn std::error::Error + Send + Sync>),
    /// The database cannot take the call for now: the server is unreachable or shutting down,
    /// or the disk is full. Nothing is acknowledged that was not committed, and the same call
    /// may succeed once the database is back (an HTTP 503, not a 500). Logged with its cause,
    /// never shown.
    #[error("storage unavailable: {0}")]
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A stored value that cannot be read back as what its column holds (a text where a number
/// belongs, an id that is not one): the row is not one Accord wrote. Carried inside
/// [`StoreError::Backend`], so the API still answers a 500 and logs it; `accord ledger verify`
/// tells it apart from a failure of the storage itself ([`StoreError::is_corrupt_value`]): an
/// event whose row cannot be read is a finding about the ledger, a disk that cannot be read is
/// not.
#[derive(Debug, thiserror::Error)]
#[error("corrupt value in column `{column}`: {why}")]
pub struct CorruptValue {
    pub column: String,
    pub why: String,
}

impl StoreError {
    /// A [`CorruptValue`] in `column`.
    pub fn corrupt(column: &str, why: impl std::fmt::Display) -> StoreError {
        StoreError::Backend(Box::new(CorruptValue {
            column: column.to_owned(),
            why: why.to_string(),
        }))
    }

    /// The [`CorruptValue`] this is, if it is one: the data, not the storage, at fault.
    pub fn corrupt_value(&self) -> Option<&CorruptValue> {
        match self {
            StoreError::Backend(e) => e.downcast_ref(),
            _ => None,
        }
    }

    /// Whether the data, not the storage, is at fault: a [`CorruptValue`].
    pub fn is_corrupt_value(&self) -> bool {
        self.corrupt_value().is_some()
    }
}

/// A page of a list, ordered by id (ids are time-ordered, so this is creation order).
#[derive(Debug, Clone, Copy)]
pub struct Page<Id> {
    /// Return items strictly after this id.
    pub after: Option<Id>,
    pub limit: u32,
}

/// Every role at once: what a backend implements and what the binary holds (`Arc<dyn Store>`).
/// A part of Accord that needs fewer roles takes those (`&dyn LedgerStore`, or a generic bound),
/// and an `Arc<dyn Store>` coerces to any of them.
#[async_trait]
pub trait Store:
    TenantStore
    + SettingsStore
    + CompanyStore
    + NoticeStore
    + FlowStore
    + ConnectionStore
    + ConsentStore
    + ConsoleStore
    + LedgerStore
    + SupportStore
    + FunnelStore
    + JobStore
    + NdaStore
    + WebhookStore
    + AccessLogStore
    + std::fmt::Debug
    + 'static
{
    /// Cheap liveness check of the backend, for `/readyz`.
    async fn ping(&self) -> Result<()>;

    /// The backend's connection pool at this moment, for `/metrics` (no I/O).
    fn pool_status(&self) -> PoolStatus;
}

/// How many database connections an instance holds, as [`Store::pool_status`] reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStatus {
    /// `sqlite` or `postgres`, the metric's label.
    pub backend: &'static str,
    /// Connections held: in use or idle.
    pub open: u32,
    /// Of those, waiting for a request.
    pub idle: u32,
    /// The most the pool opens; a request finding `open == max` and none idle waits.
    pub max: u32,
}
