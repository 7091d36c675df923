//! Durable background jobs ([`JobStore`]) and the helpers other writes queue them with. A worker
//! claims due jobs under a lease (`locked_until`); a job whose worker died is claimable again
//! once the lease has passed. Claims run on the single writer, so one `update … returning` is
//! enough to hand each job to one worker only.

use crate::codec::{all, exec, micros, one, to_json, RowExt};
use crate::error::corrupt;
use crate::SqliteStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::flow::ManageLink;
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use accord_domain::tenant::{Job, JobKind};
use accord_store::{JobStore, Purged, QueueStats, RefreshSchedule, Result, StoreError};
use async_trait::async_trait;
use rusqlite::{params, Connection, Row};
use time::{Duration, OffsetDateTime};

macro_rules! job_cols {
    () => {
        "id, tenant_id, kind, payload, attempts, run_at, last_error, done_at, created_at"
    };
}

fn job_from(row: &Row<'_>) -> Result<Job> {
    let kind = row.text("kind")?;
    Ok(Job {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        kind: JobKind::parse(&kind)
            .ok_or_else(|| corrupt("kind", format!("unknown job kind `{kind}`")))?,
        payload: row.json("payload")?,
        attempts: row.int("attempts")?,
        run_at: row.time("run_at")?,
        last_error: row.opt_text("last_error")?,
        done_at: row.opt_time("done_at")?,
        created_at: row.time("created_at")?,
    })
}

fn job(db: &Connection, id: JobId) -> Result<Option<Job>> {
    one(
        db,
        concat!("select ", job_cols!(), " from jobs where id = ?1"),
        [id.to_string()],
        job_from,
    )
}

/// A new job due at `at`, inside the caller's transaction (the write that needs it).
pub(crate) fn insert(
    db: &Connection,
    id: JobId,
    tenant: TenantId,
    kind: JobKind,
    payload: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<()> {
    exec(
        db,
        "insert into jobs (id, tenant_id, kind, payload, attempts, run_at, created_at)
         values (?1, ?2, ?3, ?4, 0, ?5, ?5)",
        params![
            id.to_string(),
            tenant.to_string(),
            kind.as_str(),
            to_json(payload)?,
            micros(at)
        ],
    )?;
    Ok(())
}

/// Queues the revocation at the platform (RFC 7009) of a token set nothing holds any more, inside
/// the caller's transaction: the `revoke_token` job carries its ciphertext until it runs.
pub(crate) fn queue_revocation(
    db: &Connection,
    tenant: TenantId,
    connection: ConnectionId,
    platform_key: &PlatformKey,
    tokens_ct: &str,
    at: OffsetDateTime,
) -> Result<JobId> {
    let job = JobId::new();
    let payload = serde_json::json!({
        "connection_id": connection,
        "platform_key": platform_key,
        "tokens_ct": tokens_ct,
    });
    insert(db, job, tenant, JobKind::RevokeToken, &payload, at)?;
    Ok(job)
}

/// The connection's next `refresh_token` job, inside the caller's transaction (which changed
/// the connection's row first): the refresh still pending for the connection, if any, ends, then
/// `next` is queued, so one refresh at most is pending per connection.
pub(crate) fn schedule_refresh(
    db: &Connection,
    tenant: TenantId,
    connection: ConnectionId,
    platform_key: &PlatformKey,
    next: RefreshSchedule,
    at: OffsetDateTime,
) -> Result<()> {
    end_refreshes(db, tenant, connection, at)?;
    let payload = serde_json::json!({
        "connection_id": connection,
        "platform_key": platform_key,
    });
    exec(
        db,
        "insert into jobs (id, tenant_id, kind, payload, attempts, run_at, created_at, connection_id)
         values (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
        params![
            next.job.to_string(),
            tenant.to_string(),
            JobKind::RefreshToken.as_str(),
            to_json(&payload)?,
            micros(next.run_at),
            micros(at),
            connection.to_string(),
        ],
    )?;
    Ok(())
}

/// Ends the connection's pending refresh jobs (the connection was linked anew, disconnected or
/// deauthorized): done, with nothing left to do. A worker running one meanwhile finds its job
/// done when it stores the result, and stores nothing.
pub(crate) fn end_refreshes(
    db: &Connection,
    tenant: TenantId,
    connection: ConnectionId,
    at: OffsetDateTime,
) -> Result<()> {
    exec(
        db,
        "update jobs set done_at = ?1, payload = 'null', locked_until = null
         where tenant_id = ?2 and connection_id = ?3 and kind = 'refresh_token'
             and done_at is null",
        params![micros(at), tenant.to_string(), connection.to_string()],
    )?;
    Ok(())
}

/// Completes `job` (done, payload and the ciphertext it may hold cleared, no error left to
/// show); `false` if it was done already.
pub(crate) fn complete(db: &Connection, job: JobId, at: OffsetDateTime) -> Result<bool> {
    let done = exec(
        db,
        "update jobs set done_at = ?1, payload = 'null', last_error = null, locked_until = null
         where id = ?2 and done_at is null",
        params![micros(at), job.to_string()],
    )?;
    Ok(done == 1)
}

/// After a change of a job that matched no row: `NotFound` unless the job exists (it ended
/// before, and keeps its first ending).
fn exists_or_not_found(db: &Connection, id: JobId) -> Result<()> {
    match job(db, id)? {
        Some(_) => Ok(()),
        None => Err(StoreError::NotFound),
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn claim_jobs(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Job>> {
        let mut jobs = self
            .write
            .run(move |db| {
                all(
                    db,
                    concat!(
                        "update jobs set attempts = attempts + 1, locked_until = ?1
                         where id in (
                             select id from jobs
                             where done_at is null and run_at <= ?2
                                 and (locked_until is null or locked_until <= ?2)
                             order by run_at, id limit ?3
                         )
                         returning ",
                        job_cols!()
                    ),
                    params![micros(now + lease), micros(now), limit],
                    job_from,
                )
            })
            .await?;
        // `returning` follows no particular order; hand them out oldest due first.
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    async fn complete_job(&self, id: JobId, at: OffsetDateTime) -> Result<()> {
        self.write
            .run(move |db| {
                if complete(db, id, at)? {
                    return Ok(());
                }
                exists_or_not_found(db, id)
            })
            .await
    }

    async fn fail_job(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<()> {
        let error = error.to_owned();
        self.write
            .run(move |db| {
                let changed = match retry_at {
                    Some(retry_at) => exec(
                        db,
                        "update jobs set last_error = ?1, run_at = ?2, locked_until = null
                         where id = ?3 and done_at is null",
                        params![error, micros(retry_at), id.to_string()],
                    )?,
                    // Given up: ended with the last error kept, the payload cleared like on
                    // success.
                    None => exec(
                        db,
                        "update jobs set last_error = ?1, done_at = ?2, payload = 'null',
                             locked_until = null
                         where id = ?3 and done_at is null",
                        params![error, micros(at), id.to_string()],
                    )?,
                };
                if changed == 1 {
                    return Ok(());
                }
                exists_or_not_found(db, id)
            })
            .await
    }

    async fn queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats> {
        self.read
            .run(move |db| {
                let stats = one(
                    db,
                    "select count(*) as pending,
                         count(*) filter (where run_at <= ?1) as due,
                         min(run_at) filter (where run_at <= ?1) as oldest_due
                     from jobs where done_at is null",
                    [micros(now)],
                    |row| {
                        Ok(QueueStats {
                            pending: u64::try_from(row.int("pending")?).unwrap_or_default(),
                            due: u64::try_from(row.int("due")?).unwrap_or_default(),
                            oldest_due: row.opt_time("oldest_due")?,
                        })
                    },
                )?;
                Ok(stats.unwrap_or_default())
            })
            .await
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        self.read.run(move |db| job(db, id)).await
    }

    async fn queue_link_email(&self, job: &Job, manage_link: Option<&ManageLink>) -> Result<()> {
        let (j, link) = (job.clone(), manage_link.cloned());
        self.write
            .transaction(move |tx| {
                if let Some(l) = &link {
                    crate::flow::insert_manage_link(tx, l)?;
                }
                insert(tx, j.id, j.tenant_id, j.kind, &j.payload, j.run_at)
            })
            .await
    }

    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        jobs_ended_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Purged> {
        self.write
            .transaction(move |tx| {
                let oauth_flows = exec(
                    tx,
                    "delete from oauth_flows where state_hash in
                         (select state_hash from oauth_flows where expires_at <= ?1 limit ?2)",
                    params![micros(now), limit],
                )?;
                let jobs = exec(
                    tx,
                    "delete from jobs where id in
                         (select id from jobs where done_at is not null and done_at < ?1 limit ?2)",
                    params![micros(jobs_ended_before), limit],
                )?;
                Ok(Purged {
                    oauth_flows: oauth_flows as u64,
                    jobs: jobs as u64,
                })
            })
            .await
    }
}
