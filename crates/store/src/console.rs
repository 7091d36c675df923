//! The tenant console's people, their set-password links and sessions, and the audit trail.

#[allow(clippy::wildcard_imports)]
use crate::*;
use accord_domain::console::{
    AuditEntry, AuditId, ConsoleSession, ConsoleUser, SetPasswordToken, UserId,
};
use accord_domain::ledger::EventKind;
use async_trait::async_trait;

/// Where one event about a consent sits in the tenant's ledger: its position in the chain
/// (1-based; the Merkle tree's leaf `seq - 1`), what happened and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerPosition {
    pub consent_id: ConsentId,
    pub seq: i64,
    pub kind: EventKind,
    pub at: OffsetDateTime,
}

/// The tenant console's people, their set-password links and sessions, and the audit trail.
///
/// Users, links and sessions are found by their own id or hash across tenants (a sign-in knows
/// only an e-mail, a cookie only its secret); each row carries its `tenant_id`, which the caller
/// then holds to. Lists are per tenant or per user.
///
/// Hashes are [`TokenHash`]es: the SHA-256 hex of the link's or cookie's random secret.
#[async_trait]
pub trait ConsoleStore: Send + Sync {
    /// Adds a user. `Conflict` when the (lower-cased) e-mail already has an account on this
    /// Accord instance, in any tenant; `NotFound` for an unknown tenant.
    async fn create_user(&self, user: &ConsoleUser) -> Result<()>;
    async fn user(&self, id: UserId) -> Result<Option<ConsoleUser>>;
    /// The user with this e-mail; the caller lower-cases it
    /// ([`accord_domain::console::console_email`]).
    async fn user_by_email(&self, email: &str) -> Result<Option<ConsoleUser>>;
    /// The tenant's users, disabled ones included, in creation order.
    async fn users(&self, tenant: TenantId) -> Result<Vec<ConsoleUser>>;
    /// Replaces the user's name, role, password hash, TOTP secret, lockout counters and
    /// `disabled_at` (the id, tenant, e-mail and creation time never change). `NotFound` for an
    /// unknown user.
    async fn update_user(&self, user: &ConsoleUser) -> Result<()>;

    async fn add_set_password_token(&self, token: &SetPasswordToken) -> Result<()>;
    /// Spends a set-password link: marks it used at `now` and returns it, atomically, so two
    /// concurrent uses cannot both succeed. `None` when the hash is unknown, the link was
    /// already used, or it expired (`expires_at <= now`); nothing changes then.
    async fn use_set_password_token(
        &self,
        token_hash: &TokenHash,
        now: OffsetDateTime,
    ) -> Result<Option<SetPasswordToken>>;

    /// `Conflict` if a session with this hash exists.
    async fn create_session(&self, session: &ConsoleSession) -> Result<()>;
    /// The session with this hash, ended or expired ones included (the caller checks
    /// [`ConsoleSession::is_live`]).
    async fn session(&self, id_hash: &TokenHash) -> Result<Option<ConsoleSession>>;
    /// Records activity: `last_seen_at = now` on a session not yet ended.
    async fn touch_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()>;
    /// Ends one session (sign-out); a session already ended keeps its first `ended_at`.
    async fn end_session(&self, id_hash: &TokenHash, now: OffsetDateTime) -> Result<()>;
    /// Ends every session of the user not yet ended (password changed, user removed); returns
    /// how many it ended.
    async fn end_user_sessions(&self, user: UserId, now: OffsetDateTime) -> Result<u64>;
    /// The user's sessions that are neither ended nor expired at `now`, newest first.
    async fn user_sessions(&self, user: UserId, now: OffsetDateTime)
        -> Result<Vec<ConsoleSession>>;

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()>;
    /// The tenant's audit trail, newest first; with `after`, only entries older than that one
    /// (the next page).
    async fn audit(
        &self,
        tenant: TenantId,
        after: Option<AuditId>,
        limit: u32,
    ) -> Result<Vec<AuditEntry>>;

    /// Counts one failed sign-in of the user in a single statement, so every instance sharing
    /// the database counts into the same row: the `max_failures`-th failure in a row locks the
    /// account until `now + lockout` and starts the count again. Returns the user's
    /// `locked_until` afterwards. `NotFound` for an unknown user.
    async fn record_sign_in_failure(
        &self,
        user: UserId,
        now: OffsetDateTime,
        max_failures: u32,
        lockout: Duration,
    ) -> Result<Option<OffsetDateTime>>;
    /// A successful sign-in: the failure count back to zero and no lock.
    async fn clear_sign_in_failures(&self, user: UserId) -> Result<()>;
    /// Accepts a TOTP code's time step (RFC 6238 `T`) for the user only if it is later than
    /// the last one accepted, atomically: `true` if accepted (and now the last), `false` if a
    /// code of this step or a later one was already used — a replay. `NotFound` for an
    /// unknown user.
    async fn accept_totp_step(&self, user: UserId, step: i64) -> Result<bool>;

    /// The ledger positions of every event about the company's consents (given, withdrawn,
    /// superseded…), in chain order, in one read: the company's page in the console shows each
    /// consent with its events' positions.
    async fn company_ledger_positions(
        &self,
        tenant: TenantId,
        company: CompanyId,
    ) -> Result<Vec<LedgerPosition>>;
}
