//! Connections and their encrypted platform tokens.

#[allow(clippy::wildcard_imports)]
use crate::*;
use accord_domain::access::ConsentTerms;
use accord_domain::connection::ConnectionStatus;
use async_trait::async_trait;

/// The outcome of a disconnect.
#[derive(Debug, Clone)]
pub struct Disconnected {
    pub connection: Connection,
    /// The durable revocation job created with the disconnect, when tokens existed and a job was asked for.
    pub revoke_job: Option<JobId>,
}

/// A connection's next token refresh: the `refresh_token` job to create (payload
/// `{connection_id, platform_key}`) and when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSchedule {
    pub job: JobId,
    pub run_at: OffsetDateTime,
}

/// What a sign-in got from the platform, to store with [`ConnectionStore::link_connection`].
#[derive(Debug, Clone)]
pub struct LinkWrite {
    /// The token set, encrypted (AAD = tenant + connection).
    pub tokens_ct: String,
    /// The scope the platform reported, when it reported one.
    pub granted_scope: Option<String>,
    /// The connection's first `refresh_token` job, when its tokens can be refreshed.
    pub refresh: Option<RefreshSchedule>,
    /// Who was connected at the platform, when its identity endpoint said. It replaces what the
    /// connection knew before (`None` included: an identity not read is not known), and tells
    /// whether this sign-in replaces an earlier connection.
    pub upstream: Option<Upstream>,
    /// The company's personal manage link (stored by hash), created in the link's transaction
    /// so the sign-in and the link the customer is shown commit together. Its tenant and
    /// company must be the connection's ([`StoreError::Conflict`] otherwise, nothing written).
    pub manage_link: Option<ManageLink>,
}

/// The outcome of [`ConnectionStore::link_connection`].
#[derive(Debug, Clone)]
pub struct Linked {
    /// The connection as linked.
    pub connection: Connection,
    /// The revocation jobs queued in the link's transaction: the grant this connection held
    /// before, if the sign-in replaced one, then each replaced connection's grant.
    pub revoke_jobs: Vec<JobId>,
    /// The earlier connections of the same company to the same upstream organisation at the
    /// same platform, disconnected by this link (as they are after it).
    pub replaced: Vec<Connection>,
}

/// What a refresh got from the platform, to store with
/// [`ConnectionStore::store_refreshed_tokens`].
#[derive(Debug, Clone)]
pub struct RefreshedTokens {
    /// The `refresh_token` job that refreshed, completed in the same transaction; `None` for a
    /// refresh made on demand (the data gateway found the access token expired), which ends
    /// whatever refresh job is pending for the connection instead, since `next` replaces it.
    pub job: Option<JobId>,
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

/// The outcome of [`ConnectionStore::store_refreshed_tokens`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshStored {
    /// The connection holds the new tokens; the next refresh is scheduled.
    Stored,
    /// The connection no longer holds the tokens the refresh started from (or its job was
    /// ended meanwhile): nothing about it changed. The revocation job of the new tokens, if one
    /// was asked for.
    Stale { revoke_job: Option<JobId> },
}

/// What a data call reads before it moves data, in one read: the connection, its encrypted
/// token set and the terms of the consent in force on it. One snapshot, so the check and the
/// tokens describe the same moment (a disconnect, which destroys the tokens and flips the
/// status in one transaction, is either wholly in it or not at all).
#[derive(Debug, Clone, PartialEq)]
pub struct AccessView {
    pub connection: Connection,
    /// `None` once the connection was disconnected or deauthorized, or before it linked.
    pub tokens_ct: Option<String>,
    /// The consent named by the connection's `consent_id`, when it names one.
    pub consent: Option<ConsentTerms>,
}

/// What the data gateway's fences read again once a call has opened: the connection's status,
/// the consent it names and when that consent ended, if it has. The rest of a consent's terms
/// (when it was given, its data uses) never change once given, so a fence that finds the same
/// consent id keeps the terms read when the call opened, and one that finds another id reads
/// the whole [`AccessView`] again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessFence {
    pub status: ConnectionStatus,
    pub consent_id: Option<ConsentId>,
    /// The named consent's `withdrawn_at`; `None` while it is in force (or names none).
    pub consent_withdrawn_at: Option<OffsetDateTime>,
}

/// Connections and their encrypted platform tokens.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// Marks a connection linked and stores its encrypted token set; with `refresh`, its
    /// `refresh_token` job is created in the same transaction, ending any refresh still pending
    /// for the connection (at most one is pending per connection). A disconnected connection
    /// is never revived: `Conflict`, nothing written.
    ///
    /// If the connection still held other tokens (a second callback, or the customer signing in
    /// again after a re-consent), that grant is no longer held by anyone: its revocation at the
    /// platform is queued in the same transaction, so no grant Accord obtained stays alive at a
    /// platform unseen.
    ///
    /// Signing in again to the same upstream organisation replaces the earlier connection: every
    /// other connection of the same tenant, company and platform with the same `upstream.id`
    /// that is not disconnected is disconnected in the same transaction, exactly as a
    /// disconnect with revocation does (tokens destroyed, revocation queued, refresh ended, its
    /// consents in force withdrawn with a `withdrawn` ledger event whose method is `replaced`,
    /// `connection.disconnected` and `consent.withdrawn` outbox rows), and returned in
    /// [`Linked::replaced`]: two live connections never hold grants to one organisation, and
    /// the customer's record says why the earlier consent ended. Another upstream id leaves
    /// other connections alone (a second organisation, told apart).
    async fn link_connection(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        link: &LinkWrite,
        at: OffsetDateTime,
    ) -> Result<Linked>;
    /// Takes the connection's refresh lease until `until`, so that one refresh at a time runs
    /// per connection across every instance (the worker's job and the data gateway's refresh on
    /// demand alike: platforms that rotate refresh tokens revoke the whole grant when a spent
    /// one is presented again). Atomic: `true` only if the connection holds tokens (`linked` or
    /// `reconsent_required`) and no lease unexpired at `now` is held, for exactly one of any
    /// number of concurrent callers. The lease ends at `until`, or earlier when the refresh is
    /// stored ([`RefreshStored::Stored`]), the connection is deauthorized or disconnected.
    /// `NotFound` if the connection does not exist for this tenant.
    async fn lease_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool>;
    /// Gives back a refresh lease that ended without storing tokens (the platform was
    /// unreachable, or answered an error other than `invalid_grant`), so the next attempt — the
    /// job's retry or a data call — need not wait for it to expire. Only the lease taken with
    /// this `until` is released: a lease that expired and was taken by another refresh stays.
    async fn release_token_refresh(
        &self,
        tenant: TenantId,
        id: ConnectionId,
        until: OffsetDateTime,
    ) -> Result<()>;
    /// Stores a refresh's tokens, in one transaction, only if the connection still holds tokens
    /// (`linked` or `reconsent_required`), exactly `previous_tokens_ct`, and `job`, when given,
    /// is not done: the new ciphertext (and scope, when reported) replaces the old one, `job` is
    /// completed (without a job: any refresh job pending for the connection is ended), `next` is
    /// scheduled and the refresh lease is cleared. Otherwise nothing about the connection changes
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
    /// to `error_code`, the connection's pending refresh jobs and refresh lease ended, and a
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
    /// Every connection of `tenant` (deleted companies' included), in id order, `limit` at a
    /// time after `after`: what `accord ledger verify` compares with the ledger's consent events.
    async fn tenant_connections(
        &self,
        tenant: TenantId,
        after: Option<ConnectionId>,
        limit: u32,
    ) -> Result<Vec<Connection>>;
    async fn company_connections(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<Connection>>;
    /// The connection, its token ciphertext and the terms of its consent in force, read
    /// together from one snapshot ([`AccessView`]); `None` if the connection does not exist for
    /// this tenant. What the data gateway reads on every call, so it is one point read.
    async fn access_view(&self, tenant: TenantId, id: ConnectionId) -> Result<Option<AccessView>>;
    /// The connection's status, its consent id and that consent's end, read together from one
    /// snapshot ([`AccessFence`]); `None` if the connection does not exist for this tenant. What
    /// the data gateway reads again before and after a call's record, so it is one small point
    /// read.
    async fn access_fence(&self, tenant: TenantId, id: ConnectionId)
        -> Result<Option<AccessFence>>;
    /// The encrypted token set of a linked connection.
    async fn connection_tokens(&self, tenant: TenantId, id: ConnectionId)
        -> Result<Option<String>>;
    /// One transaction: status `disconnected`, token ciphertext removed from the connection, the
    /// current consent marked withdrawn, the connection's pending refresh jobs and refresh lease
    /// ended, and — if
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
}
