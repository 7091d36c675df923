//! The job worker, run beside the server in the same binary. It claims due jobs from the store
//! under a lease (so several Accord instances never run one job twice at once), runs them, and
//! records success or a retry on its kind's schedule (`JobKind::retry_delay`).
//!
//! Jobs today: `revoke_token` — RFC 7009 revocation at the platform after a disconnect. The
//! disconnect itself already destroyed the connection's tokens; the job holds the only
//! remaining (encrypted) copy and clears it when done or abandoned. `send_support_email` — a
//! customer's support request e-mailed to the tenant's support inbox over SMTP ([`mail`]).
//! `send_link_email` — a capability link (a customer's manage link, a console invitation)
//! e-mailed to its reader, the message sealed in the payload ([`accord_domain::link_mail`]).
//! `refresh_token` — a linked connection's access token refreshed before it expires
//! ([`refresh`]); the refresh that succeeds stores the new tokens and queues the next one, and
//! one the platform refuses with `invalid_grant` ends the connection as `deauthorized`.
//!
//! Beside the jobs, a periodic check ends consents past their tenant's validity period
//! (`consent_validity_days`) and deletes expired OAuth flows and long-ended jobs
//! ([`Worker::run_housekeeping`]): on start, then at most once per minute of the injected clock.
//! The same pass deletes access records older than the access log's retention period.

pub mod mail;
pub mod refresh;
mod seal;
pub mod webhooks;

pub use seal::{read_checkpoint_file, Sealer};

use accord_domain::connection::TokenSet;
use accord_domain::ids::{ConnectionId, SupportRequestId};
use accord_domain::tenant::{Job, JobKind};
use accord_platform::{tokens_aad, PlatformClient};
use accord_store::Purged;
use serde::Deserialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;

/// How long a claimed job is reserved for this worker.
const LEASE: time::Duration = time::Duration::minutes(2);
/// The longest one job may take (the platform client's timeouts are 15 s). A claimed job is
/// started only while at least this much of its lease is left: jobs of a batch run one after
/// the other, and one started after its lease ran out could run beside another worker's claim
/// of it — for a refresh, presenting one refresh token twice, which the platform punishes by
/// revoking the grant (RFC 9700 §4.14.2).
const JOB_BUDGET: time::Duration = time::Duration::seconds(30);
const BATCH: u32 = 16;
/// How often (on the injected clock) consents are checked for expiry, and expired rows deleted.
const EXPIRY_EVERY: time::Duration = time::Duration::minutes(1);
/// How long an ended job's row is kept (its attempts and last error, for an operator looking
/// into a failure); its payload was cleared when it ended.
const ENDED_JOB_RETENTION: time::Duration = time::Duration::days(30);
/// How long before a consent's validity ends the tenant is told (`consent.expiring`): long
/// enough for a lender to reach its customer and have them agree again before data stops.
pub const CONSENT_EXPIRY_WARNING: time::Duration = time::Duration::days(30);
/// The most rows of each kind one housekeeping pass deletes (the next pass, a minute later,
/// takes the rest): a bounded write, whatever the backlog.
const PURGE_LIMIT: u32 = 10_000;
/// How long access records are kept unless configured otherwise: 13 months (396 days), so a
/// customer can look back over a whole year of access, its anniversary month included.
pub const ACCESS_LOG_RETENTION: time::Duration = time::Duration::days(396);

/// Whether a job claimed at `claimed_at` may still start at `now` (see [`JOB_BUDGET`]).
fn lease_left(claimed_at: OffsetDateTime, now: OffsetDateTime) -> bool {
    now < claimed_at + LEASE - JOB_BUDGET
}

/// Whether the expiry check is due at `now`, having last run at `last`: on start, a minute
/// after the last run, or when the clock went back.
fn expiry_due(last: Option<OffsetDateTime>, now: OffsetDateTime) -> bool {
    last.is_none_or(|t| now - t >= EXPIRY_EVERY || now < t)
}

pub struct Worker {
    platforms: PlatformClient,
    wake: Arc<Notify>,
    poll_every: Duration,
    /// When the expiry check last ran (injected clock); `None` before the first run.
    expiry_ran_at: Mutex<Option<OffsetDateTime>>,
    /// The SMTP relay for support e-mails; `None` when not configured.
    mailer: Option<mail::Mailer>,
    /// How long an access record is kept before housekeeping deletes it.
    access_log_retention: time::Duration,
}

#[derive(Deserialize)]
struct SupportEmailPayload {
    support_request_id: SupportRequestId,
}

#[derive(Deserialize)]
struct RevokePayload {
    connection_id: ConnectionId,
    platform_key: String,
    tokens_ct: String,
}

impl Worker {
    pub fn new(platforms: PlatformClient, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self {
            platforms,
            wake,
            poll_every,
            expiry_ran_at: Mutex::new(None),
            mailer: None,
            access_log_retention: ACCESS_LOG_RETENTION,
        }
    }

    /// Keeps access records for `retention` (default [`ACCESS_LOG_RETENTION`]).
    #[must_use]
    pub fn with_access_log_retention(mut self, retention: time::Duration) -> Self {
        self.access_log_retention = retention;
        self
    }

    /// Sends support e-mails through `mailer`.
    #[must_use]
    pub fn with_mailer(mut self, mailer: Option<mail::Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// Runs until `shutdown` resolves; a batch in progress is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.expiry_if_due().await;
            tokio::select! {
                () = &mut shutdown => break,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.poll_every) => {}
            }
            // Drain what is due, batch by batch.
            loop {
                match self.run_due().await {
                    Ok(n) if n == BATCH as usize => {}
                    Ok(_) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "job worker could not claim jobs");
                        break;
                    }
                }
            }
        }
        tracing::info!("job worker stopped");
    }

    /// Claims and runs the jobs due now; returns how many were claimed.
    pub async fn run_due(&self) -> Result<usize, accord_store::StoreError> {
        let store = &self.platforms.store;
        let claimed_at = self.platforms.clock.now();
        let jobs = store.claim_jobs(claimed_at, BATCH, LEASE).await?;
        let n = jobs.len();
        for job in jobs {
            if !lease_left(claimed_at, self.platforms.clock.now()) {
                // Left to the next claim once the lease has passed (here or elsewhere).
                tracing::debug!(job = %job.id, kind = job.kind.as_str(), "lease nearly over; job left for the next claim");
                continue;
            }
            let outcome = self.run_job(&job).await;
            let now = self.platforms.clock.now();
            match outcome {
                Ok(()) => store.complete_job(job.id, now).await?,
                Err(reason) => {
                    let retry_at = job.kind.retry_delay(job.attempts).map(|d| now + d);
                    if retry_at.is_none() {
                        tracing::error!(job = %job.id, kind = job.kind.as_str(), %reason, "job abandoned after its last attempt");
                    } else {
                        tracing::warn!(job = %job.id, kind = job.kind.as_str(), attempts = job.attempts, %reason, "job failed; will retry");
                    }
                    store.fail_job(job.id, &reason, retry_at, now).await?;
                    if job.kind == JobKind::RefreshToken {
                        refresh::after_failure(&self.platforms, &job, &reason).await;
                    }
                }
            }
        }
        Ok(n)
    }

    /// Runs [`Worker::run_expiry`] unless it ran less than a minute ago (injected clock).
    async fn expiry_if_due(&self) {
        let now = self.platforms.clock.now();
        let due = match self.expiry_ran_at.lock() {
            Ok(last) => expiry_due(*last, now),
            Err(_) => true,
        };
        if due {
            if let Err(e) = self.run_expiry_warnings().await {
                tracing::error!(error = %e, "consent expiry warnings failed; will retry");
            }
            if let Err(e) = self.run_expiry().await {
                tracing::error!(error = %e, "consent expiry check failed; will retry");
            }
            if let Err(e) = self.run_housekeeping().await {
                tracing::error!(error = %e, "housekeeping failed; will retry");
            }
        }
    }

    /// Storage limitation: deletes the OAuth flows that expired (no callback can use them; each
    /// holds an encrypted PKCE verifier) and the jobs that ended more than
    /// [`ENDED_JOB_RETENTION`] ago, and the access records older than the access log's
    /// retention, [`PURGE_LIMIT`] of each at most. Logs counts only.
    pub async fn run_housekeeping(&self) -> Result<Purged, accord_store::StoreError> {
        let now = self.platforms.clock.now();
        let store = &self.platforms.store;
        let purged = store
            .purge_expired(now, now - ENDED_JOB_RETENTION, PURGE_LIMIT)
            .await?;
        if purged != Purged::default() {
            tracing::info!(
                oauth_flows = purged.oauth_flows,
                jobs = purged.jobs,
                "expired rows deleted"
            );
        }
        // Bounded like the rest: a backlog (a shortened retention, a long outage) is worked off
        // a pass at a time rather than in one long write beside the data path's records.
        let access = store
            .purge_access_log(now - self.access_log_retention, PURGE_LIMIT)
            .await?;
        if access > 0 {
            tracing::info!(
                access_records = access,
                "access records past retention deleted"
            );
        }
        Ok(purged)
    }

    /// Tells each tenant once, [`CONSENT_EXPIRY_WARNING`] ahead (at most half the validity
    /// period), of every consent about to reach the end of its validity (`consent.expiring`),
    /// so the customer can be asked to agree again before data stops. Returns how many
    /// consents were warned.
    pub async fn run_expiry_warnings(&self) -> Result<usize, accord_store::StoreError> {
        let store = &self.platforms.store;
        let now = self.platforms.clock.now();
        let mut total = 0;
        for tenant in store.tenants().await? {
            let Some(days) = tenant.settings.consent_validity_days else {
                continue;
            };
            let valid_for = time::Duration::days(i64::from(days));
            // A short validity is warned of halfway, not the moment it is given.
            let ahead = CONSENT_EXPIRY_WARNING.min(valid_for / 2_i32);
            let given_before = now + ahead - valid_for;
            let warned = store
                .warn_expiring_consents(tenant.id, given_before, valid_for, now)
                .await?;
            total += warned.len();
        }
        Ok(total)
    }

    /// Ends the consents past their tenant's validity period: for each tenant with
    /// `consent_validity_days = Some(d)`, consents in force given more than `d` days ago end
    /// with an `expired` ledger event and their connections become `reconsent_required`.
    /// Returns how many consents expired. Logs counts only (no personal data).
    pub async fn run_expiry(&self) -> Result<usize, accord_store::StoreError> {
        let store = &self.platforms.store;
        let now = self.platforms.clock.now();
        if let Ok(mut last) = self.expiry_ran_at.lock() {
            *last = Some(now);
        }
        let mut total = 0;
        let mut first_error = None;
        for tenant in store.tenants().await? {
            let Some(days) = tenant.settings.consent_validity_days else {
                continue;
            };
            let given_before = now - time::Duration::days(i64::from(days));
            // One tenant's failure does not hold the others back; it is retried next round.
            match store.expire_consents(tenant.id, given_before, now).await {
                Ok(events) => {
                    if !events.is_empty() {
                        tracing::info!(tenant = %tenant.id, expired = events.len(), validity_days = days, "consents expired");
                    }
                    total += events.len();
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant.id, error = %e, "could not expire consents");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }

    async fn run_job(&self, job: &Job) -> Result<(), String> {
        match job.kind {
            JobKind::RevokeToken => self.revoke(job).await,
            JobKind::SendSupportEmail => self.send_support_email(job).await,
            JobKind::RefreshToken => refresh::run(&self.platforms, job).await,
            JobKind::SendLinkEmail => self.send_link_email(job).await,
        }
    }

    /// Opens the sealed message of a `send_link_email` job and sends it. Neither the link nor
    /// the address is logged.
    async fn send_link_email(&self, job: &Job) -> Result<(), String> {
        let Some(mailer) = &self.mailer else {
            // Queued while SMTP was configured; retried in case it comes back.
            return Err("SMTP is not configured (smtp.url)".to_owned());
        };
        let (purpose, mail) = accord_domain::link_mail::open(&self.platforms.keyring, job)
            .map_err(|e| e.to_string())?;
        mailer.send_link_mail(&mail).await?;
        tracing::info!(job = %job.id, purpose = purpose.as_str(), "link e-mailed");
        Ok(())
    }

    async fn send_support_email(&self, job: &Job) -> Result<(), String> {
        let p: SupportEmailPayload =
            serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad payload: {e}"))?;
        let store = &self.platforms.store;
        let Some(mailer) = &self.mailer else {
            // Queued while SMTP was configured; retried in case it comes back.
            return Err("SMTP is not configured (smtp.url)".to_owned());
        };
        let Some(request) = store
            .support_request(job.tenant_id, p.support_request_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            tracing::warn!(support_request = %p.support_request_id, "support request gone; e-mail skipped");
            return Ok(());
        };
        let Some(tenant) = store
            .tenant(job.tenant_id)
            .await
            .map_err(|e| e.to_string())?
        else {
            return Ok(());
        };
        let Some(inbox) = tenant.settings.support.inbox().map(str::to_owned) else {
            tracing::warn!(support_request = %request.id, "the tenant has no support inbox any more; e-mail skipped");
            return Ok(());
        };
        let company = match request.company_id {
            Some(id) => store
                .company(job.tenant_id, id)
                .await
                .map_err(|e| e.to_string())?,
            None => None,
        };
        mailer
            .send_support_request(&inbox, &tenant, company.as_ref(), &request)
            .await?;
        tracing::info!(support_request = %request.id, reference = %request.reference, "support request e-mailed");
        Ok(())
    }

    async fn revoke(&self, job: &Job) -> Result<(), String> {
        let p: RevokePayload =
            serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad payload: {e}"))?;
        let Some(platform) = self.platforms.catalog.find(&p.platform_key) else {
            // The operator removed the platform from the catalog: nothing left to call.
            tracing::warn!(platform = %p.platform_key, "platform no longer in the catalog; revocation skipped");
            return Ok(());
        };
        let plain = self
            .platforms
            .secrets
            .open(
                job.tenant_id,
                &p.tokens_ct,
                &tokens_aad(job.tenant_id, p.connection_id),
            )
            .await
            .map_err(|e| format!("token ciphertext unreadable: {e}"))?;
        let tokens: TokenSet =
            serde_json::from_slice(&plain).map_err(|e| format!("token set unreadable: {e}"))?;
        accord_platform::revoke(&self.platforms, job.tenant_id, platform, &tokens)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(connection = %p.connection_id, platform = %p.platform_key, "token revoked at the platform");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_job_starts_only_with_its_budget_left_on_the_lease() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(lease_left(t, t));
        assert!(lease_left(t, t + time::Duration::seconds(89)));
        assert!(!lease_left(t, t + time::Duration::seconds(90)));
        assert!(!lease_left(t, t + time::Duration::hours(1)));
    }

    #[test]
    fn expiry_runs_on_start_then_at_most_once_a_minute() {
        let t = OffsetDateTime::UNIX_EPOCH;
        assert!(expiry_due(None, t));
        assert!(!expiry_due(Some(t), t + time::Duration::seconds(59)));
        assert!(expiry_due(Some(t), t + time::Duration::minutes(1)));
        assert!(expiry_due(Some(t), t - time::Duration::seconds(1)));
    }
}
