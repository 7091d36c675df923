//! The storage interface of Accord. `web` and `worker` talk to a `dyn Store`; the backends
//! (`store-sqlite`, later `store-postgres`) implement it, each with its own migrations, and all
//! pass the same conformance suite ([`conformance`], feature `conformance`).
//!
//! Every call that reads or changes a tenant's data takes the tenant id (owner-scoped calls):
//! another tenant's ids simply are not found. Writes that the rules of DESIGN.md want atomic
//! (a consent with its connection and OAuth state; a disconnect with its token destruction and
//! revocation job) are single methods, so each backend commits them in one transaction.
//!
//! Webhook outbox: every write that changes what a tenant is told about (a consent given or
//! withdrawn, a connection created, linked, failed, deauthorized or disconnected, re-consent
//! required, an NDA, a support request) inserts its `WebhookEvent` rows (`accord_domain::outbox`) in the
//! same transaction as the change, inside the method; the worker fans them out to endpoints.

use accord_domain::brand::Logo;
use accord_domain::catalog::{Category, PlatformKey};
use accord_domain::connection::Connection;
use accord_domain::consent::Consent;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, OAuthFlow, SessionKind};
use accord_domain::funnel::{FunnelCount, FunnelEvent};
use accord_domain::ids::NdaAcceptanceId;
use accord_domain::ids::{
    BrowserSessionId, CompanyId, ConnectionId, ConsentId, JobId, NoticeId, NoticeVersionId,
    TenantId,
};
use accord_domain::ids::{WebhookDeliveryId, WebhookEndpointId};
use accord_domain::ledger::{ChainedEvent, EventBody, SignedCheckpoint, StoredEvent};
use accord_domain::locale::Locale;
use accord_domain::nda::NdaAcceptance;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint,
};
use accord_domain::settings::{LinkSettings, SettingsVersion};
use accord_domain::tenant::{ApiKeyRecord, Company, Job, SupportRequest, Tenant, TenantPlatform};
use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

#[cfg(feature = "conformance")]
pub mod conformance;

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
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A page of a list, ordered by id (ids are time-ordered, so this is creation order).
#[derive(Debug, Clone, Copy)]
pub struct Page<Id> {
    /// Return items strictly after this id.
    pub after: Option<Id>,
    pub limit: u32,
}

/// Everything the consent action writes, committed together (DESIGN.md: "Consent write = one
/// transaction"). The connection row is inserted, or updated when its id already exists
/// (a new consent for a connection still pending sign-in, or a re-consent). Consents still in
/// force on that connection are superseded: their `withdrawn_at` is set to the new consent's
/// time (the new event records the change; no `withdrawn` event is written for them).
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

/// The outcome of a disconnect.
#[derive(Debug, Clone)]
pub struct Disconnected {
    pub connection: Connection,
    /// The durable revocation job created with the disconnect, when tokens existed and a job was asked for.
    pub revoke_job: Option<JobId>,
}

/// What one housekeeping pass deleted (`Store::purge_expired`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub oauth_flows: u64,
    pub jobs: u64,
}

/// A connection's next token refresh: the `refresh_token` job to create (payload
/// `{connection_id, platform_key}`) and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSchedule {
    pub job: JobId,
    pub run_at: OffsetDateTime,
}

/// What a `refresh_token` job got from the platform, to store with
/// [`Store::store_refreshed_tokens`].
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    /// The job that refreshed; it is completed in the same transaction.
    pub job: JobId,
    /// The token ciphertext the refresh started from: the new tokens replace it only if the
    /// connection still holds exactly it (compare-and-swap), so a refresh never overwrites the
    /// tokens of a connection disconnected, deauthorized or linked anew meanwhile.
    pub previous_tokens_ct: String,
    /// The new token set, encrypted (AAD = tenant + connection, as when linked).
    pub tokens_ct: String,
    /// The scope the platform reported, when it reported one.
    pub granted_scope: Option<String>,
    /// The refresh after this one (`None` when the new tokens cannot or need not be refreshed).
    pub next: Option<RefreshSchedule>,
    /// When the connection moved on meanwhile, the new tokens are live at the platform and
    /// nothing holds them: queue a `revoke_token` job with them (the platform can revoke).
    pub revoke_if_stale: bool,
}

/// The outcome of [`Store::store_refreshed_tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStored {
    /// The connection holds the new tokens; the next refresh is scheduled.
    Stored,
    /// The connection no longer holds the tokens the refresh started from (or its job was
    /// ended meanwhile): nothing about it changed. The revocation job of the new tokens, if one
    /// was asked for.
    Stale { revoke_job: Option<JobId> },
}

/// A chain with events its last checkpoint does not seal yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsealedChain {
    pub tenant_id: TenantId,
    /// The last checkpoint's position and hash, `None` if the chain has none.
    pub sealed: Option<(i64, String)>,
    /// The chain's last position.
    pub head_seq: i64,
}

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug + 'static {
    /// Cheap liveness check of the backend, for `/readyz`.
    async fn ping(&self) -> Result<()>;

    // ---- tenants and API keys ----
    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKeyRecord) -> Result<()>;
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>>;
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>>;
    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<()>;
    /// Looks a key up by its public key id; the caller compares the secret hash in constant time.
    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>>;
    async fn update_link_settings(&self, tenant: TenantId, settings: &LinkSettings) -> Result<()>;
    /// Replaces the link settings and records them as the tenant's next version (the previous
    /// number + 1, from 1), with the top-level fields that changed from the settings in force
    /// and who changed them, in one transaction. `NotFound` for an unknown tenant.
    async fn save_link_settings(
        &self,
        tenant: TenantId,
        settings: &LinkSettings,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<SettingsVersion>;
    /// The tenant's settings versions, newest first; with `before`, only numbers below it.
    async fn link_settings_versions(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsVersion>>;
    /// Stores (or replaces) the tenant's logo and, in the same transaction, records the change
    /// as the tenant's next settings version: the settings in force, `changed_fields`
    /// `["logo"]` ([`accord_domain::settings::LOGO_FIELD`]), `changed_by` and the logo's
    /// `updated_at`. `NotFound` for an unknown tenant.
    async fn put_logo(&self, logo: &Logo, changed_by: &str) -> Result<SettingsVersion>;
    async fn logo(&self, tenant: TenantId) -> Result<Option<Logo>>;
    /// The SHA-256 of the tenant's logo, if it has one (what a page needs for its URL,
    /// without the bytes).
    async fn logo_sha256(&self, tenant: TenantId) -> Result<Option<String>>;
    /// Removes the logo and records the change as a version like [`Store::put_logo`], in one
    /// transaction. `Ok(None)` (and no version) when there was none.
    async fn delete_logo(
        &self,
        tenant: TenantId,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<SettingsVersion>>;
    /// How many of the tenant's companies have at least one linked connection (the live
    /// `{connectedCompanies}` placeholder of trust statistics).
    async fn connected_company_count(&self, tenant: TenantId) -> Result<i64>;

    // ---- companies ----
    /// `Conflict` when the tenant already has a company with this `external_id`.
    async fn create_company(&self, company: &Company) -> Result<()>;
    async fn company(&self, tenant: TenantId, id: CompanyId) -> Result<Option<Company>>;
    async fn list_companies(&self, tenant: TenantId, page: Page<CompanyId>)
        -> Result<Vec<Company>>;
    /// Deletes the company: its active connections are disconnected (tokens destroyed, a
    /// revocation job each, as [`Store::disconnect`]) and the company no longer answers.
    /// Consent records are kept: they are the tenant's proof. `Ok(false)` if it did not exist.
    async fn delete_company(
        &self,
        tenant: TenantId,
        id: CompanyId,
        at: OffsetDateTime,
    ) -> Result<bool>;

    // ---- platforms as configured by the tenant ----
    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>>;
    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>>;
    async fn upsert_tenant_platform(&self, platform: &TenantPlatform) -> Result<()>;

    // ---- notices: versions are immutable ----
    /// Appends a version (creating the notice on first use); the version number is the next
    /// one for this tenant × category × locale, assigned atomically.
    async fn add_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
        content: &NoticeContent,
        at: OffsetDateTime,
    ) -> Result<NoticeVersion>;
    async fn notices(&self, tenant: TenantId) -> Result<Vec<Notice>>;
    async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>>;
    async fn notice_versions(
        &self,
        tenant: TenantId,
        notice: NoticeId,
    ) -> Result<Vec<NoticeVersion>>;
    async fn notice_version(
        &self,
        tenant: TenantId,
        id: NoticeVersionId,
    ) -> Result<Option<NoticeVersion>>;
    async fn current_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
    ) -> Result<Option<NoticeVersion>>;

    // ---- link sessions and browser sessions ----
    async fn create_link_session(&self, session: &LinkSession) -> Result<()>;
    /// Atomically marks the link session whose token hashes to `token_hash` used (only if unused,
    /// unexpired at `now` and of the same kind as `browser`) and creates `browser` bound to it
    /// (the store sets `browser.tenant_id`/`company_id`/`link_session_id` from the link session).
    /// `None` if it was not usable; then nothing is written.
    async fn consume_link_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
        browser: &BrowserSession,
    ) -> Result<Option<LinkSession>>;
    async fn link_session(
        &self,
        tenant: TenantId,
        id: accord_domain::ids::LinkSessionId,
    ) -> Result<Option<LinkSession>>;
    async fn create_browser_session(&self, session: &BrowserSession) -> Result<()>;
    /// The unexpired session of this kind whose cookie token hashes to `token_hash`.
    async fn browser_session(
        &self,
        token_hash: &TokenHash,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>>;

    // ---- consents, connections, OAuth state ----
    /// One transaction: connection upsert, consent insert, OAuth flow insert, the consent's
    /// ledger event and its webhook outbox rows. Backends may batch concurrent calls into one
    /// commit (group commit); each call returns only after its commit, with the ledger event as
    /// chained (position, previous hash, hash): all a receipt needs, without reading it back.
    async fn record_consent(&self, write: &ConsentWrite) -> Result<ChainedEvent>;
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<()>;
    /// Atomically consumes the flow with this state hash if it is unexpired at `now` and bound to
    /// `session`. Consumed means gone: a replay finds nothing.
    async fn consume_oauth_flow(
        &self,
        state_hash: &TokenHash,
        session: BrowserSessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthFlow>>;
    /// Marks a connection linked and stores its encrypted token set; with `refresh`, its
    /// `refresh_token` job is created in the same transaction, ending any refresh still pending
    /// for the connection (at most one is pending per connection). A disconnected connection
    /// is never revived: `Conflict`, nothing written.
    ///
    /// If the connection still held other tokens (a second callback, or the customer signing in
    /// again after a re-consent), that grant is no longer held by anyone: its revocation at the
    /// platform is queued in the same transaction, and the job's id returned, so no grant Accord
    /// obtained stays alive at a platform unseen.
    async fn link_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        tokens_ct: &str,
        granted_scope: Option<&str>,
        refresh: Option<RefreshSchedule>,
        at: OffsetDateTime,
    ) -> Result<Option<JobId>>;
    /// Stores a refresh's tokens, in one transaction, only if the connection still holds tokens
    /// (`linked` or `reconsent_required`), exactly `previous_tokens_ct`, and `job` is not done:
    /// the new ciphertext (and scope, when reported) replaces the old one, `job` is completed
    /// and `next` is scheduled. Otherwise nothing about the connection changes
    /// ([`RefreshStored::Stale`]) and, with `revoke_if_stale`, a `revoke_token` job holding the
    /// new ciphertext is created. `NotFound` if the connection does not exist for this tenant.
    async fn store_refreshed_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        refreshed: &RefreshedTokens,
        at: OffsetDateTime,
    ) -> Result<RefreshStored>;
    /// The platform ended Accord's access (a refresh answered `invalid_grant`). One
    /// transaction, only if the connection still holds tokens and exactly
    /// `previous_tokens_ct`: status `deauthorized`, token ciphertext removed, `last_error` set
    /// to `error_code`, the connection's pending refresh jobs ended, and a
    /// `connection.deauthorized` outbox row. The consent is not withdrawn (the customer did not
    /// withdraw it through Accord; a reconnect supersedes it). Returns the connection after the
    /// change; `None`, and nothing written, when it moved on meanwhile. `NotFound` if the
    /// connection does not exist for this tenant.
    async fn deauthorize_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        previous_tokens_ct: &str,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>>;
    /// A linked connection's token refresh has failed through the whole ordinary retry
    /// schedule (it goes on every 6 hours): `last_error` set to `error_code` and a
    /// `connection.refresh_failing` outbox row, one transaction, only while the connection is
    /// linked, so the tenant hears of it while the tokens may still be saved. A refresh that
    /// succeeds later clears `last_error`. Returns the connection after the change; `None`, and
    /// nothing written, when it is not linked. `NotFound` if it does not exist for this tenant.
    async fn refresh_failing(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>>;
    /// Records a failure code on a connection still pending sign-in.
    async fn fail_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<()>;
    async fn connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<Connection>>;
    async fn company_connections(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<Connection>>;
    /// The encrypted token set of a linked connection.
    async fn connection_tokens(&self, tenant: TenantId, id: ConnectionId)
        -> Result<Option<String>>;
    /// One transaction: status `disconnected`, token ciphertext removed from the connection, the
    /// current consent marked withdrawn, the connection's pending refresh jobs ended, and — if
    /// `revoke` and tokens existed — a `revoke_token` job created holding the ciphertext
    /// (payload `{connection_id, platform_key, tokens_ct}`).
    /// `None` if the connection does not exist for this tenant; already disconnected connections
    /// are returned unchanged.
    ///
    /// Each consent withdrawn appends a `withdrawn` ledger event (purpose from its notice
    /// version) collected by `method` (`manage_page`, `tenant_api`…), in the same transaction.
    async fn disconnect(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        revoke: bool,
        method: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Disconnected>>;
    async fn consent(&self, tenant: TenantId, id: ConsentId) -> Result<Option<Consent>>;
    async fn company_consents(&self, tenant: TenantId, company: CompanyId) -> Result<Vec<Consent>>;

    // ---- support requests ----
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
        id: accord_domain::ids::SupportRequestId,
    ) -> Result<Option<SupportRequest>>;
    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<accord_domain::ids::SupportRequestId>,
    ) -> Result<Vec<SupportRequest>>;

    // ---- funnel analytics (no personal data) ----
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

    // ---- durable jobs ----
    /// Claims up to `limit` jobs due at `now`, leasing each for `lease` so no other worker takes
    /// it meanwhile; increments `attempts`.
    async fn claim_jobs(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Job>>;
    /// Marks a job done and clears its payload (the token it held is gone for good).
    async fn complete_job(&self, id: JobId, at: OffsetDateTime) -> Result<()>;
    /// Records a failure; `retry_at = None` gives up (payload cleared too).
    async fn fail_job(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<()>;
    async fn job(&self, id: JobId) -> Result<Option<Job>>;
    /// Storage limitation (GDPR Art. 5(1)(e)): deletes what can never be used again, at most
    /// `limit` rows of each kind — OAuth flows expired at `now` (no callback can consume them any
    /// more; each holds an encrypted PKCE verifier), and jobs that ended before `jobs_ended_before`
    /// (their payloads were cleared when they ended). Pending jobs and live flows are never
    /// touched.
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        jobs_ended_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Purged>;

    // ---- the consent ledger (append-only, per-tenant hash chain) ----
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
    /// Re-consent after a material notice change: linked connections whose consent in force was
    /// given to an older version of `notice` become `reconsent_required`; returns them.
    async fn require_reconsent(
        &self,
        tenant: TenantId,
        notice: NoticeId,
        at: OffsetDateTime,
    ) -> Result<Vec<Connection>>;
    /// Expiry: consents in force given before `given_before` on linked connections of `tenant`
    /// end with an `expired` event each (method `validity_expired`), and their connections become
    /// `reconsent_required` — one transaction. Returns the events.
    async fn expire_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Vec<ChainedEvent>>;
    /// Every tenant (for background jobs that run per tenant).
    async fn tenants(&self) -> Result<Vec<Tenant>>;

    // ---- mutual NDAs (immutable once recorded) ----
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
    // ---- webhooks: endpoints, the outbox, deliveries ----
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()>;
    /// A tenant's endpoints (deleted ones excluded), oldest first.
    async fn webhook_endpoints(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>>;
    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>>;
    /// Replaces url, description, event types, `enabled` and `disabled_reason` (secrets are
    /// changed by [`Store::rotate_webhook_secret`] only). `NotFound` if absent or deleted.
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
    async fn webhook_events(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<accord_domain::outbox::WebhookEvent>>;
}
