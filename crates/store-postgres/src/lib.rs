//! Accord's PostgreSQL store: the [`Store`] trait on one PostgreSQL database that several
//! stateless Accord instances share (scale-out; the embedded default is `store-sqlite`).
//!
//! One connection pool per instance, with limits ([`PgOptions`]). At start-up the server's
//! durability settings are checked ([`conn`]): a server that may acknowledge a commit it has not
//! made durable is refused unless explicitly allowed. Migrations (`migrations/`) run under
//! PostgreSQL's advisory lock, so instances starting together apply them once.
//!
//! What makes several instances safe is in the SQL of each area: single-use flow artifacts are
//! consumed by one conditional `update … returning` / `delete … returning` ([`flow`]); jobs are
//! claimed with `for update skip locked` ([`jobs`]); a disconnect locks its connection row
//! ([`connections`]); notice numbers come from an `on conflict do update` ([`notices`]).
//! Consent writes go through the group-commit writer ([`writer`]), which batches concurrent
//! callers into multi-row statements and one commit each.

mod batch;
mod codec;
mod companies;
mod conn;
mod connections;
mod error;
mod flow;
mod funnel;
mod jobs;
mod ledger;
mod nda;
mod notices;
mod settings;
mod tenants;
mod webhooks;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use conn::{Durability, PgOptions};
pub use writer::GroupCommitStats;

use accord_domain::brand::Logo;
use accord_domain::catalog::{Category, PlatformKey};
use accord_domain::connection::Connection;
use accord_domain::consent::Consent;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, OAuthFlow, SessionKind};
use accord_domain::funnel::{FunnelCount, FunnelEvent};
use accord_domain::ids::NdaAcceptanceId;
use accord_domain::ids::{
    BrowserSessionId, CompanyId, ConnectionId, ConsentId, JobId, LinkSessionId, NoticeId,
    NoticeVersionId, SupportRequestId, TenantId, WebhookDeliveryId, WebhookEndpointId,
};
use accord_domain::ledger::{ChainedEvent, EventBody, SignedCheckpoint, StoredEvent};
use accord_domain::locale::Locale;
use accord_domain::nda::NdaAcceptance;
use accord_domain::notice::{Notice, NoticeContent, NoticeVersion};
use accord_domain::outbox::{
    AfterAttempt, ClaimedDelivery, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookEvent,
};
use accord_domain::settings::{LinkSettings, SettingsVersion};
use accord_domain::tenant::{ApiKeyRecord, Company, Job, SupportRequest, Tenant, TenantPlatform};
use accord_store::{
    ConsentWrite, Disconnected, Page, Purged, RefreshSchedule, RefreshStored, RefreshedTokens,
    Result, Store, StoreError, UnsealedChain,
};
use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use time::{Duration, OffsetDateTime};

/// The migrations of this crate, compiled in. Migrations the database has but this binary does
/// not know are accepted: during a rolling upgrade the previous release keeps running (and may
/// restart) on a schema the new release has already expanded (docs/deployment.md).
fn migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("./migrations");
    migrator.set_ignore_missing(true);
    migrator
}

/// Whether a database URL names a PostgreSQL database (the schemes libpq accepts).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    writer: writer::GroupWriter,
    durability: Durability,
}

impl PgStore {
    /// Connects, checks the server's durability settings, applies the migrations not yet
    /// applied, and starts the consent writers.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let pool = conn::pool(url, &options).await?;
        let durability = conn::check_durability(&pool, options.allow_unsafe_durability).await?;
        migrate(&pool).await?;
        let writer = writer::GroupWriter::spawn(&pool, options.consent_writers);
        Ok(Self {
            pool,
            writer,
            durability,
        })
    }

    /// Applies the migrations not yet applied; a no-op on an up-to-date database. Returns the
    /// versions now applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate(&self.pool).await?;
        let versions: Vec<i64> = sqlx::query_scalar(
            "select version from _sqlx_migrations where success order by version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(error::db)?;
        Ok(versions)
    }

    /// The durability settings the server reported at start-up.
    pub fn durability(&self) -> &Durability {
        &self.durability
    }

    /// What the group-commit writers have done so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.writer.stats()
    }

    /// Closes every connection, waiting for the ones in use (graceful shutdown). Calls made
    /// afterwards fail with `Backend`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

async fn migrate(pool: &PgPool) -> Result<()> {
    migrator()
        .run(pool)
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(error::db)?;
        Ok(())
    }

    async fn create_tenant(&self, tenant: &Tenant, key: &ApiKeyRecord) -> Result<()> {
        tenants::create_tenant(&self.pool, tenant, key).await
    }
    async fn tenant(&self, id: TenantId) -> Result<Option<Tenant>> {
        tenants::tenant(&self.pool, id).await
    }
    async fn tenant_by_name(&self, name: &str) -> Result<Option<Tenant>> {
        tenants::tenant_by_name(&self.pool, name).await
    }
    async fn add_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        tenants::add_api_key(&self.pool, key).await
    }
    async fn api_key(&self, key_id: &str) -> Result<Option<ApiKeyRecord>> {
        tenants::api_key(&self.pool, key_id).await
    }
    async fn update_link_settings(&self, tenant: TenantId, settings: &LinkSettings) -> Result<()> {
        tenants::update_link_settings(&self.pool, tenant, settings).await
    }
    async fn save_link_settings(
        &self,
        tenant: TenantId,
        settings: &LinkSettings,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<SettingsVersion> {
        settings::save_link_settings(&self.pool, tenant, settings, changed_by, at).await
    }
    async fn link_settings_versions(
        &self,
        tenant: TenantId,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SettingsVersion>> {
        settings::versions(&self.pool, tenant, before, limit).await
    }
    async fn put_logo(&self, logo: &Logo, changed_by: &str) -> Result<SettingsVersion> {
        settings::put_logo(&self.pool, logo, changed_by).await
    }
    async fn logo(&self, tenant: TenantId) -> Result<Option<Logo>> {
        settings::logo(&self.pool, tenant).await
    }
    async fn logo_sha256(&self, tenant: TenantId) -> Result<Option<String>> {
        settings::logo_sha256(&self.pool, tenant).await
    }
    async fn delete_logo(
        &self,
        tenant: TenantId,
        changed_by: &str,
        at: OffsetDateTime,
    ) -> Result<Option<SettingsVersion>> {
        settings::delete_logo(&self.pool, tenant, changed_by, at).await
    }
    async fn connected_company_count(&self, tenant: TenantId) -> Result<i64> {
        settings::connected_company_count(&self.pool, tenant).await
    }

    async fn create_company(&self, company: &Company) -> Result<()> {
        companies::create_company(&self.pool, company).await
    }
    async fn company(&self, tenant: TenantId, id: CompanyId) -> Result<Option<Company>> {
        companies::company(&self.pool, tenant, id).await
    }
    async fn list_companies(
        &self,
        tenant: TenantId,
        page: Page<CompanyId>,
    ) -> Result<Vec<Company>> {
        companies::list_companies(&self.pool, tenant, page).await
    }
    async fn delete_company(
        &self,
        tenant: TenantId,
        id: CompanyId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        companies::delete_company(&self.pool, tenant, id, at).await
    }

    async fn tenant_platforms(&self, tenant: TenantId) -> Result<Vec<TenantPlatform>> {
        tenants::tenant_platforms(&self.pool, tenant).await
    }
    async fn tenant_platform(
        &self,
        tenant: TenantId,
        key: &PlatformKey,
    ) -> Result<Option<TenantPlatform>> {
        tenants::tenant_platform(&self.pool, tenant, key).await
    }
    async fn upsert_tenant_platform(&self, platform: &TenantPlatform) -> Result<()> {
        tenants::upsert_tenant_platform(&self.pool, platform).await
    }

    async fn add_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
        content: &NoticeContent,
        at: OffsetDateTime,
    ) -> Result<NoticeVersion> {
        notices::add_notice_version(&self.pool, tenant, category, locale, content, at).await
    }
    async fn notices(&self, tenant: TenantId) -> Result<Vec<Notice>> {
        notices::notices(&self.pool, tenant).await
    }
    async fn notice(&self, tenant: TenantId, id: NoticeId) -> Result<Option<Notice>> {
        notices::notice(&self.pool, tenant, id).await
    }
    async fn notice_versions(
        &self,
        tenant: TenantId,
        notice: NoticeId,
    ) -> Result<Vec<NoticeVersion>> {
        notices::notice_versions(&self.pool, tenant, notice).await
    }
    async fn notice_version(
        &self,
        tenant: TenantId,
        id: NoticeVersionId,
    ) -> Result<Option<NoticeVersion>> {
        notices::notice_version(&self.pool, tenant, id).await
    }
    async fn current_notice_version(
        &self,
        tenant: TenantId,
        category: Category,
        locale: Locale,
    ) -> Result<Option<NoticeVersion>> {
        notices::current_notice_version(&self.pool, tenant, category, locale).await
    }

    async fn create_link_session(&self, session: &LinkSession) -> Result<()> {
        flow::create_link_session(&self.pool, session).await
    }
    async fn consume_link_session(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
        browser: &BrowserSession,
    ) -> Result<Option<LinkSession>> {
        flow::consume_link_session(&self.pool, token_hash, now, browser).await
    }
    async fn link_session(
        &self,
        tenant: TenantId,
        id: LinkSessionId,
    ) -> Result<Option<LinkSession>> {
        flow::link_session(&self.pool, tenant, id).await
    }
    async fn create_browser_session(&self, session: &BrowserSession) -> Result<()> {
        flow::create_browser_session(&self.pool, session).await
    }
    async fn browser_session(
        &self,
        token_hash: &TokenHash,
        kind: SessionKind,
        now: OffsetDateTime,
    ) -> Result<Option<BrowserSession>> {
        flow::browser_session(&self.pool, token_hash, kind, now).await
    }

    async fn record_consent(&self, write: &ConsentWrite) -> Result<ChainedEvent> {
        self.writer.record(write.clone()).await
    }
    async fn create_oauth_flow(&self, flow: &OAuthFlow) -> Result<()> {
        flow::create_oauth_flow(&self.pool, flow).await
    }
    async fn consume_oauth_flow(
        &self,
        state_hash: &TokenHash,
        session: BrowserSessionId,
        now: OffsetDateTime,
    ) -> Result<Option<OAuthFlow>> {
        flow::consume_oauth_flow(&self.pool, state_hash, session, now).await
    }
    async fn link_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        tokens_ct: &str,
        granted_scope: Option<&str>,
        refresh: Option<RefreshSchedule>,
        at: OffsetDateTime,
    ) -> Result<Option<JobId>> {
        connections::link_connection(
            &self.pool,
            tenant,
            id,
            tokens_ct,
            granted_scope,
            refresh,
            at,
        )
        .await
    }
    async fn store_refreshed_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        refreshed: &RefreshedTokens,
        at: OffsetDateTime,
    ) -> Result<RefreshStored> {
        connections::store_refreshed_tokens(&self.pool, tenant, id, refreshed, at).await
    }
    async fn refresh_failing(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        connections::refresh_failing(&self.pool, tenant, id, error_code, at).await
    }
    async fn deauthorize_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        previous_tokens_ct: &str,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Connection>> {
        connections::deauthorize_connection(
            &self.pool,
            tenant,
            id,
            previous_tokens_ct,
            error_code,
            at,
        )
        .await
    }
    async fn fail_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        error_code: &str,
        at: OffsetDateTime,
    ) -> Result<()> {
        connections::fail_connection(&self.pool, tenant, id, error_code, at).await
    }
    async fn connection(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<Connection>> {
        connections::connection(&self.pool, tenant, id).await
    }
    async fn company_connections(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<Connection>> {
        connections::company_connections(&self.pool, tenant, company).await
    }
    async fn connection_tokens(
        &self,
        tenant: TenantId,
        id: ConnectionId,
    ) -> Result<Option<String>> {
        connections::connection_tokens(&self.pool, tenant, id).await
    }
    async fn disconnect(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        revoke: bool,
        method: &str,
        at: OffsetDateTime,
    ) -> Result<Option<Disconnected>> {
        connections::disconnect(&self.pool, tenant, id, revoke, method, at).await
    }
    async fn consent(&self, tenant: TenantId, id: ConsentId) -> Result<Option<Consent>> {
        connections::consent(&self.pool, tenant, id).await
    }
    async fn company_consents(&self, tenant: TenantId, company: CompanyId) -> Result<Vec<Consent>> {
        connections::company_consents(&self.pool, tenant, company).await
    }

    async fn create_support_request(
        &self,
        request: &SupportRequest,
        email_job: Option<JobId>,
    ) -> Result<()> {
        tenants::create_support_request(&self.pool, request, email_job).await
    }
    async fn support_request(
        &self,
        tenant: TenantId,
        id: SupportRequestId,
    ) -> Result<Option<SupportRequest>> {
        tenants::support_request(&self.pool, tenant, id).await
    }

    async fn record_funnel(&self, events: &[FunnelEvent]) -> Result<usize> {
        funnel::record(&self.pool, events).await
    }
    async fn funnel_counts(
        &self,
        tenant: TenantId,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<Vec<FunnelCount>> {
        funnel::counts(&self.pool, tenant, from, to).await
    }
    async fn support_requests(
        &self,
        tenant: TenantId,
        page: Page<SupportRequestId>,
    ) -> Result<Vec<SupportRequest>> {
        tenants::support_requests(&self.pool, tenant, page).await
    }

    async fn claim_jobs(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Job>> {
        jobs::claim_jobs(&self.pool, now, limit, lease).await
    }
    async fn complete_job(&self, id: JobId, at: OffsetDateTime) -> Result<()> {
        jobs::complete_job(&self.pool, id, at).await
    }
    async fn fail_job(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<()> {
        jobs::fail_job(&self.pool, id, error, retry_at, at).await
    }
    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        jobs::job(&self.pool, id).await
    }
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        jobs_ended_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Purged> {
        jobs::purge_expired(&self.pool, now, jobs_ended_before, limit).await
    }

    async fn record_nda(&self, nda: &NdaAcceptance, event: EventBody) -> Result<ChainedEvent> {
        nda::record(&self.pool, nda, event).await
    }

    async fn ndas(&self, tenant: TenantId) -> Result<Vec<NdaAcceptance>> {
        nda::list(&self.pool, tenant, None).await
    }

    async fn nda(&self, tenant: TenantId, id: NdaAcceptanceId) -> Result<Option<NdaAcceptance>> {
        nda::get(&self.pool, tenant, id).await
    }

    async fn company_ndas(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<NdaAcceptance>> {
        nda::list(&self.pool, tenant, Some(company)).await
    }

    async fn append_events(
        &self,
        tenant: TenantId,
        bodies: Vec<EventBody>,
    ) -> Result<Vec<ChainedEvent>> {
        let mut tx = self.pool.begin().await.map_err(error::db)?;
        let events =
            ledger::append_in(&mut tx, bodies.into_iter().map(|b| (tenant, b)).collect()).await?;
        tx.commit().await.map_err(error::db)?;
        Ok(events)
    }

    async fn ledger_events(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<ChainedEvent>> {
        ledger::events(&self.pool, tenant, after_seq, limit).await
    }

    async fn consent_events(
        &self,
        tenant: TenantId,
        consent: ConsentId,
    ) -> Result<Vec<ChainedEvent>> {
        ledger::consent_events(&self.pool, tenant, consent).await
    }

    async fn ledger_tenants(&self) -> Result<Vec<TenantId>> {
        ledger::tenants_with_events(&self.pool).await
    }
    async fn ledger_rows(
        &self,
        tenant: TenantId,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        ledger::rows(&self.pool, tenant, after_seq, limit).await
    }
    async fn ledger_checkpoints(&self, tenant: TenantId) -> Result<Vec<SignedCheckpoint>> {
        ledger::checkpoints(&self.pool, tenant).await
    }
    async fn add_ledger_checkpoint(&self, checkpoint: &SignedCheckpoint) -> Result<bool> {
        ledger::add_checkpoint(&self.pool, checkpoint).await
    }
    async fn unsealed_chains(&self, limit: u32) -> Result<Vec<UnsealedChain>> {
        ledger::unsealed(&self.pool, limit).await
    }

    async fn require_reconsent(
        &self,
        tenant: TenantId,
        notice: NoticeId,
        at: OffsetDateTime,
    ) -> Result<Vec<Connection>> {
        connections::require_reconsent(&self.pool, tenant, notice, at).await
    }

    async fn expire_consents(
        &self,
        tenant: TenantId,
        given_before: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Vec<ChainedEvent>> {
        connections::expire_consents(&self.pool, tenant, given_before, at).await
    }

    async fn tenants(&self) -> Result<Vec<Tenant>> {
        tenants::all(&self.pool).await
    }
    async fn create_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        webhooks::create_endpoint(&self.pool, endpoint).await
    }
    async fn webhook_endpoints(&self, tenant: TenantId) -> Result<Vec<WebhookEndpoint>> {
        webhooks::endpoints(&self.pool, tenant).await
    }
    async fn webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
    ) -> Result<Option<WebhookEndpoint>> {
        webhooks::endpoint(&self.pool, tenant, id).await
    }
    async fn update_webhook_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<()> {
        webhooks::update_endpoint(&self.pool, endpoint).await
    }
    async fn delete_webhook_endpoint(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        at: OffsetDateTime,
    ) -> Result<bool> {
        webhooks::delete_endpoint(&self.pool, tenant, id, at).await
    }
    async fn rotate_webhook_secret(
        &self,
        tenant: TenantId,
        id: WebhookEndpointId,
        secret_ct: &str,
        previous_until: OffsetDateTime,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookEndpoint>> {
        webhooks::rotate_secret(&self.pool, tenant, id, secret_ct, previous_until, at).await
    }
    async fn fan_out_webhook_events(&self, now: OffsetDateTime, limit: u32) -> Result<usize> {
        webhooks::fan_out(&self.pool, now, limit).await
    }
    async fn claim_webhook_deliveries(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<ClaimedDelivery>> {
        webhooks::claim(&self.pool, now, limit, lease).await
    }
    async fn record_webhook_attempt(
        &self,
        claim: &ClaimedDelivery,
        attempt: &WebhookAttempt,
        after: AfterAttempt,
    ) -> Result<bool> {
        webhooks::record_attempt(&self.pool, claim, attempt, after).await
    }
    async fn webhook_deliveries(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        before: Option<WebhookDeliveryId>,
        limit: u32,
    ) -> Result<Vec<WebhookDelivery>> {
        webhooks::deliveries(&self.pool, tenant, endpoint, before, limit).await
    }
    async fn webhook_delivery(
        &self,
        tenant: TenantId,
        id: WebhookDeliveryId,
    ) -> Result<Option<WebhookDelivery>> {
        webhooks::delivery(&self.pool, tenant, id).await
    }
    async fn webhook_attempts(
        &self,
        tenant: TenantId,
        delivery: WebhookDeliveryId,
    ) -> Result<Vec<WebhookAttempt>> {
        webhooks::attempts(&self.pool, tenant, delivery).await
    }
    async fn replay_webhook_delivery(
        &self,
        tenant: TenantId,
        endpoint: WebhookEndpointId,
        delivery: WebhookDeliveryId,
        at: OffsetDateTime,
    ) -> Result<Option<WebhookDelivery>> {
        webhooks::replay(&self.pool, tenant, endpoint, delivery, at).await
    }
    async fn webhook_events(&self, tenant: TenantId, limit: u32) -> Result<Vec<WebhookEvent>> {
        webhooks::events(&self.pool, tenant, limit).await
    }
}
