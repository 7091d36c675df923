//! The job worker, run beside the server in the same binary. It claims due jobs from the store
//! under a lease (so several Accord instances never run one job twice at once), runs them, and
//! records success or a retry on the schedule of `accord_domain::tenant::job_retry_delay`.
//!
//! Jobs today: `revoke_token` — RFC 7009 revocation at the platform after a disconnect. The
//! disconnect itself already destroyed the connection's tokens; the job holds the only
//! remaining (encrypted) copy and clears it when done or abandoned.

use accord_domain::connection::TokenSet;
use accord_domain::ids::ConnectionId;
use accord_domain::tenant::{job_retry_delay, Job, JobKind};
use accord_platform::{tokens_aad, PlatformClient};
use serde::Deserialize;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// How long a claimed job is reserved for this worker.
const LEASE: time::Duration = time::Duration::minutes(2);
const BATCH: u32 = 16;

pub struct Worker {
    platforms: PlatformClient,
    wake: Arc<Notify>,
    poll_every: Duration,
}

#[derive(Deserialize)]
struct RevokePayload {
    connection_id: ConnectionId,
    platform_key: String,
    tokens_ct: String,
}

impl Worker {
    pub fn new(platforms: PlatformClient, wake: Arc<Notify>, poll_every: Duration) -> Self {
        Self { platforms, wake, poll_every }
    }

    /// Runs until `shutdown` resolves; a batch in progress is finished first.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
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
        let jobs = store.claim_jobs(self.platforms.clock.now(), BATCH, LEASE).await?;
        let n = jobs.len();
        for job in jobs {
            let outcome = self.run_job(&job).await;
            let now = self.platforms.clock.now();
            match outcome {
                Ok(()) => store.complete_job(job.id, now).await?,
                Err(reason) => {
                    let retry_at = job_retry_delay(job.attempts).map(|d| now + d);
                    if retry_at.is_none() {
                        tracing::error!(job = %job.id, kind = job.kind.as_str(), %reason, "job abandoned after its last attempt");
                    } else {
                        tracing::warn!(job = %job.id, kind = job.kind.as_str(), attempts = job.attempts, %reason, "job failed; will retry");
                    }
                    store.fail_job(job.id, &reason, retry_at, now).await?;
                }
            }
        }
        Ok(n)
    }

    async fn run_job(&self, job: &Job) -> Result<(), String> {
        match job.kind {
            JobKind::RevokeToken => self.revoke(job).await,
        }
    }

    async fn revoke(&self, job: &Job) -> Result<(), String> {
        let p: RevokePayload = serde_json::from_value(job.payload.clone()).map_err(|e| format!("bad payload: {e}"))?;
        let Some(platform) = self.platforms.catalog.find(&p.platform_key) else {
            // The operator removed the platform from the catalog: nothing left to call.
            tracing::warn!(platform = %p.platform_key, "platform no longer in the catalog; revocation skipped");
            return Ok(());
        };
        let plain = self
            .platforms
            .keyring
            .decrypt(&p.tokens_ct, &tokens_aad(job.tenant_id, p.connection_id))
            .map_err(|e| format!("token ciphertext unreadable: {e}"))?;
        let tokens: TokenSet = serde_json::from_slice(&plain).map_err(|e| format!("token set unreadable: {e}"))?;
        accord_platform::revoke(&self.platforms, job.tenant_id, platform, &tokens)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!(connection = %p.connection_id, platform = %p.platform_key, "token revoked at the platform");
        Ok(())
    }
}
