//! [`JobStore`] on PostgreSQL: durable background jobs and housekeeping, and the job rows other
//! modules queue inside their own transactions (revocations, refreshes). A worker claims due jobs under a lease (`locked_until`); a job whose
//! worker died is claimable again once the lease has passed. Workers of several instances claim
//! at once: `for update skip locked` hands each due row to one of them and lets the others skip
//! it instead of waiting, and a row another claim just leased no longer matches once re-checked.

use crate::codec::RowExt;
use crate::error::{corrupt, db};
use crate::PgStore;
use accord_domain::catalog::PlatformKey;
use accord_domain::flow::ManageLink;
use accord_domain::ids::{ConnectionId, JobId, TenantId};
use accord_domain::tenant::{Job, JobKind};
use accord_store::{JobStore, Purged, QueueStats, RefreshSchedule, Result, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};

macro_rules! job_cols {
    () => {
        "id, tenant_id, kind, payload, attempts, run_at, last_error, done_at, created_at"
    };
}

fn job_from(row: &PgRow) -> Result<Job> {
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

/// A new job due at `at`, inside the caller's transaction (the disconnect that needs it).
pub(crate) async fn insert(
    conn: &mut PgConnection,
    id: JobId,
    tenant: TenantId,
    kind: JobKind,
    payload: &serde_json::Value,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "insert into jobs (id, tenant_id, kind, payload, attempts, run_at, created_at)
         values ($1, $2, $3, $4, 0, $5, $5)",
    )
    .bind(id.as_uuid())
    .bind(tenant.as_uuid())
    .bind(kind.as_str())
    .bind(Json(payload))
    .bind(at)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Queues the revocation at the platform (RFC 7009) of a token set nothing holds any more, inside
/// the caller's transaction: the `revoke_token` job carries its ciphertext until it runs.
pub(crate) async fn queue_revocation(
    conn: &mut PgConnection,
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
    insert(conn, job, tenant, JobKind::RevokeToken, &payload, at).await?;
    Ok(job)
}

/// The connection's next `refresh_token` job, inside the caller's transaction (which locked
/// the connection's row first, so two writers of one connection queue here): the refresh still
/// pending for the connection, if any, ends, then `next` is queued, so one refresh at most is
/// pending per connection.
pub(crate) async fn schedule_refresh(
    conn: &mut PgConnection,
    tenant: TenantId,
    connection: ConnectionId,
    platform_key: &PlatformKey,
    next: RefreshSchedule,
    at: OffsetDateTime,
) -> Result<()> {
    end_refreshes(conn, tenant, connection, at).await?;
    let payload = serde_json::json!({
        "connection_id": connection,
        "platform_key": platform_key,
    });
    sqlx::query(
        "insert into jobs (id, tenant_id, kind, payload, attempts, run_at, created_at, connection_id)
         values ($1, $2, $3, $4, 0, $5, $6, $7)",
    )
    .bind(next.job.as_uuid())
    .bind(tenant.as_uuid())
    .bind(JobKind::RefreshToken.as_str())
    .bind(Json(&payload))
    .bind(next.run_at)
    .bind(at)
    .bind(connection.as_uuid())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Ends the connection's pending refresh jobs (the connection was linked anew, disconnected or
/// deauthorized): done, with nothing left to do. A worker running one meanwhile finds its job
/// done when it stores the result, and stores nothing.
pub(crate) async fn end_refreshes(
    conn: &mut PgConnection,
    tenant: TenantId,
    connection: ConnectionId,
    at: OffsetDateTime,
) -> Result<()> {
    sqlx::query(
        "update jobs set done_at = $1, payload = 'null'::jsonb, locked_until = null
         where tenant_id = $2 and connection_id = $3 and kind = 'refresh_token' and done_at is null",
    )
    .bind(at)
    .bind(tenant.as_uuid())
    .bind(connection.as_uuid())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

/// Completes `job` inside the caller's transaction; `false` if it was done already.
pub(crate) async fn complete_in(
    conn: &mut PgConnection,
    job: JobId,
    at: OffsetDateTime,
) -> Result<bool> {
    let done = sqlx::query(
        "update jobs set done_at = $1, payload = 'null'::jsonb, last_error = null, locked_until = null
         where id = $2 and done_at is null",
    )
    .bind(at)
    .bind(job.as_uuid())
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(done.rows_affected() == 1)
}

#[async_trait]
impl JobStore for PgStore {
    async fn claim_jobs(
        &self,
        now: OffsetDateTime,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Job>> {
        let rows = sqlx::query(concat!(
            "with due as (
                 select id from jobs
                 where done_at is null and run_at <= $2 and (locked_until is null or locked_until <= $2)
                 order by run_at, id
                 limit $3
                 for update skip locked
             )
             update jobs set attempts = attempts + 1, locked_until = $1
             from due where jobs.id = due.id
             returning ",
            "jobs.id, jobs.tenant_id, jobs.kind, jobs.payload, jobs.attempts, jobs.run_at, jobs.last_error, \
             jobs.done_at, jobs.created_at"
        ))
        .bind(now + lease)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?;
        let mut jobs = rows.iter().map(job_from).collect::<Result<Vec<_>>>()?;
        // `returning` follows no particular order; hand them out oldest due first.
        jobs.sort_by_key(|j| (j.run_at, j.id));
        Ok(jobs)
    }

    /// Success: done, payload (and the ciphertext it may hold) cleared, no error left to show.
    async fn complete_job(&self, id: JobId, at: OffsetDateTime) -> Result<()> {
        let done = sqlx::query(
            "update jobs set done_at = $1, payload = 'null'::jsonb, last_error = null, locked_until = null
             where id = $2 and done_at is null",
        )
        .bind(at)
        .bind(id.as_uuid())
        .execute(&self.pool)
        .await
        .map_err(db)?;
        // Completing twice keeps the first completion.
        if done.rows_affected() == 0 && self.job(id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    /// Failure: retried at `retry_at`, or given up (`done_at` set with the last error kept, the
    /// payload cleared like on success).
    async fn fail_job(
        &self,
        id: JobId,
        error: &str,
        retry_at: Option<OffsetDateTime>,
        at: OffsetDateTime,
    ) -> Result<()> {
        let done = match retry_at {
            Some(retry_at) => sqlx::query(
                "update jobs set last_error = $1, run_at = $2, locked_until = null where id = $3 and done_at is null",
            )
            .bind(error)
            .bind(retry_at)
            .bind(id.as_uuid()),
            None => sqlx::query(
                "update jobs set last_error = $1, done_at = $2, payload = 'null'::jsonb, locked_until = null
                 where id = $3 and done_at is null",
            )
            .bind(error)
            .bind(at)
            .bind(id.as_uuid()),
        }
        .execute(&self.pool)
        .await
        .map_err(db)?;
        if done.rows_affected() == 0 && self.job(id).await?.is_none() {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn queue_stats(&self, now: OffsetDateTime) -> Result<QueueStats> {
        let row = sqlx::query(
            "select count(*) as pending,
                 count(*) filter (where run_at <= $1) as due,
                 min(run_at) filter (where run_at <= $1) as oldest_due
             from jobs where done_at is null",
        )
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(QueueStats {
            pending: u64::try_from(sqlx::Row::try_get::<i64, _>(&row, "pending").map_err(db)?)
                .unwrap_or_default(),
            due: u64::try_from(sqlx::Row::try_get::<i64, _>(&row, "due").map_err(db)?)
                .unwrap_or_default(),
            oldest_due: row.opt_time("oldest_due")?,
        })
    }

    async fn job(&self, id: JobId) -> Result<Option<Job>> {
        sqlx::query(concat!("select ", job_cols!(), " from jobs where id = $1"))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(db)?
            .map(|r| job_from(&r))
            .transpose()
    }

    async fn queue_link_email(&self, job: &Job, manage_link: Option<&ManageLink>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(db)?;
        if let Some(l) = manage_link {
            crate::flow::insert_manage_link(&mut tx, l).await?;
        }
        insert(
            &mut tx,
            job.id,
            job.tenant_id,
            job.kind,
            &job.payload,
            job.run_at,
        )
        .await?;
        tx.commit().await.map_err(db)?;
        Ok(())
    }

    /// Deletes expired OAuth flows and jobs that ended before `jobs_ended_before`, at most `limit`
    /// of each, in one statement.
    async fn purge_expired(
        &self,
        now: OffsetDateTime,
        jobs_ended_before: OffsetDateTime,
        limit: u32,
    ) -> Result<Purged> {
        let (oauth_flows, jobs): (i64, i64) = sqlx::query_as(
            "with flows as (
                 delete from oauth_flows where state_hash in
                     (select state_hash from oauth_flows where expires_at <= $1 limit $3)
                 returning 1
             ),
             ended as (
                 delete from jobs where id in
                     (select id from jobs where done_at is not null and done_at < $2 limit $3)
                 returning 1
             )
             select (select count(*) from flows), (select count(*) from ended)",
        )
        .bind(now)
        .bind(jobs_ended_before)
        .bind(i64::from(limit))
        .fetch_one(&self.pool)
        .await
        .map_err(db)?;
        Ok(Purged {
            oauth_flows: u64::try_from(oauth_flows).unwrap_or(0),
            jobs: u64::try_from(jobs).unwrap_or(0),
        })
    }
}
