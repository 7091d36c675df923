//! Durable background jobs (revocation, token refresh, e-mail) and housekeeping.

#[allow(clippy::wildcard_imports)]
use crate::*;
use async_trait::async_trait;

/// What one housekeeping pass deleted (`JobStore::purge_expired`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub oauth_flows: u64,
    pub jobs: u64,
}

/// The job queue at one instant (`JobStore::queue_stats`), for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Jobs not yet done, due or scheduled later.
    pub pending: u64,
    /// Jobs not yet done whose time has come.
    pub due: u64,
    /// When the oldest due job was due; `None` when none is.
    pub oldest_due: Option<OffsetDateTime>,
}

/// Durable background jobs (revocation, token refresh, e-mail) and housekeeping.
#[async_trait]
pub trait JobStore: Send + Sync {
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
    /// Queues `job` (a `send_link_email`, its message sealed in the payload) and, when given,
    /// stores the `manage_link` the message carries, in one transaction: a link is never
    /// handed out by e-mail without being stored, and never stored for an e-mail that was not
    /// queued. `Conflict` (nothing stored) when either row breaks a uniqueness rule.
    async fn queue_link_email(&self, job: &Job, manage_link: Option<&ManageLink>) -> Result<()>;
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
    /// How many jobs wait, and since when the oldest due one has, at `now`: read at each
    /// metrics scrape, so one indexed query (the due-jobs index), no write.
    async fn queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats>;
}
