//! [`AccessLogStore`] on PostgreSQL (`migrations/0020_data_access.sql`): the access log, every
//! access through a connection as the customer and the tenant see it afterwards.
//!
//! Each call's records must be durable before the data path answers, and a commit per call
//! would make every data call wait for a WAL flush of its own. So calls are grouped as consents
//! are: they wait in one queue, and a task writes everything queued as one multi-row insert
//! (`unnest` of one array per column) that commits on its own, then answers each caller. Up to
//! [`IN_FLIGHT`] inserts run at once; what arrives meanwhile waits for the next one, so batches
//! grow with the load and a light load adds no wait. If the server refuses an insert (a record
//! names a connection that does not exist for its tenant), nothing of it was written, and the
//! batch is replayed in one transaction with each call in its own savepoint: the failing call
//! alone is refused, all or nothing, and the others commit.

use crate::codec::RowExt as _;
use crate::error::{backend, corrupt, db, refused_by_server};
use crate::PgStore;
use accord_domain::access::AccessRecord;
use accord_domain::catalog::{DataType, Direction};
use accord_domain::ids::{AccessId, ConnectionId, TenantId};
use accord_store::{AccessLogStore, Result, StoreError};
use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{Acquire as _, PgExecutor, PgPool};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Inserts of access records running at once: one commits while the next is written, and the
/// pool keeps connections for the rest of the instance's work.
const IN_FLIGHT: usize = 2;

/// The most records one insert takes (more wait for the next): large enough to amortise the
/// commit, small enough to keep one statement's arrays modest.
const MAX_ROWS: usize = 2048;

/// Calls waiting beyond this make callers wait to enqueue (back-pressure, bounded memory).
const QUEUE: usize = 4096;

struct Request {
    records: Vec<AccessRecord>,
    reply: oneshot::Sender<Result<()>>,
}

/// The queue of access-log writes and the task that groups them.
#[derive(Debug)]
pub(crate) struct AccessWriter {
    queue: mpsc::Sender<Request>,
}

impl AccessWriter {
    /// Starts the task; it ends when the store (the last sender) is dropped.
    pub(crate) fn spawn(pool: &PgPool) -> Self {
        let (queue, requests) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool.clone(), requests));
        Self { queue }
    }

    /// Queues the records and waits for the commit that holds them. If the caller goes away
    /// meanwhile they still commit (or not) as a whole; only the answer is lost.
    async fn record(&self, records: Vec<AccessRecord>) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Request { records, reply })
            .await
            .map_err(|_| backend("the access-log writer has stopped"))?;
        answer
            .await
            .map_err(|_| backend("the access-log writer stopped before answering"))?
    }
}

async fn run(pool: PgPool, mut requests: mpsc::Receiver<Request>) {
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() >= IN_FLIGHT {
            in_flight.join_next().await;
        }
        let Some(first) = requests.recv().await else {
            break;
        };
        let mut rows = first.records.len();
        let mut batch = vec![first];
        while rows < MAX_ROWS {
            match requests.try_recv() {
                Ok(request) => {
                    rows += request.records.len();
                    batch.push(request);
                }
                Err(_) => break,
            }
        }
        in_flight.spawn(write_batch(pool.clone(), batch));
    }
    while in_flight.join_next().await.is_some() {}
}

/// Writes a batch and answers each caller after its commit.
async fn write_batch(pool: PgPool, batch: Vec<Request>) {
    let all: Vec<&AccessRecord> = batch.iter().flat_map(|r| &r.records).collect();
    let outcomes = match insert(&pool, &all).await {
        Ok(()) => batch.iter().map(|_| Ok(())).collect(),
        // Refused, so nothing of it was kept: find out whose records were at fault.
        Err(e) if batch.len() > 1 && refused_by_server(&e) => match replay(&pool, &batch).await {
            Ok(outcomes) => outcomes,
            Err(e) => batch.iter().map(|_| Err(shared(&e))).collect(),
        },
        Err(e) if batch.len() == 1 => vec![Err(e)],
        Err(e) => {
            tracing::error!(error = %e, calls = batch.len(), "access-log write failed; no call of the batch is known to be written");
            batch.iter().map(|_| Err(shared(&e))).collect()
        }
    };
    for (request, outcome) in batch.into_iter().zip(outcomes) {
        // A caller that went away no longer needs its answer.
        let _ = request.reply.send(outcome);
    }
}

/// The batch again, in one transaction, each call in its own savepoint: a refused call is
/// rolled back alone and answered with its own error. The outer `Err` means the transaction
/// failed and nothing was written.
async fn replay(pool: &PgPool, batch: &[Request]) -> Result<Vec<Result<()>>> {
    let mut tx = pool.begin().await.map_err(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        let mut savepoint = tx.begin().await.map_err(db)?;
        let records: Vec<&AccessRecord> = request.records.iter().collect();
        match insert(&mut *savepoint, &records).await {
            Ok(()) => {
                savepoint.commit().await.map_err(db)?;
                outcomes.push(Ok(()));
            }
            Err(own) => {
                savepoint.rollback().await.map_err(db)?;
                outcomes.push(Err(own));
            }
        }
    }
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

/// One batch's failure, for each of its callers (a `StoreError` is not `Clone`).
fn shared(e: &StoreError) -> StoreError {
    match e {
        StoreError::NotFound => StoreError::NotFound,
        StoreError::Conflict(rule) => StoreError::Conflict(rule.clone()),
        StoreError::Backend(_) => backend(format!("access-log write failed: {e}")),
        StoreError::Unavailable(_) => crate::error::failed("access-log write failed", e),
    }
}

/// Saturates instead of failing: a count beyond `i64::MAX` is not a real one.
fn count(n: Option<u64>) -> Option<i64> {
    n.map(|n| i64::try_from(n).unwrap_or(i64::MAX))
}

/// Column arrays of access records, for one multi-row insert (`unnest`).
#[derive(Default)]
struct Columns<'a> {
    id: Vec<Uuid>,
    tenant_id: Vec<Uuid>,
    company_id: Vec<Uuid>,
    connection_id: Vec<Uuid>,
    at: Vec<OffsetDateTime>,
    kind: Vec<&'static str>,
    data_type: Vec<Option<&'static str>>,
    direction: Vec<Option<&'static str>>,
    outcome: Vec<&'static str>,
    platform_status: Vec<Option<i32>>,
    records: Vec<Option<i64>>,
    bytes: Vec<Option<i64>>,
    api_key_id: Vec<Option<&'a str>>,
}

impl<'a> Columns<'a> {
    fn of(records: &[&'a AccessRecord]) -> Self {
        let mut c = Self::default();
        for r in records {
            c.id.push(r.id.as_uuid());
            c.tenant_id.push(r.tenant_id.as_uuid());
            c.company_id.push(r.company_id.as_uuid());
            c.connection_id.push(r.connection_id.as_uuid());
            c.at.push(r.at);
            c.kind.push(r.kind.as_str());
            c.data_type.push(r.data_type.map(DataType::as_str));
            c.direction.push(r.direction.map(Direction::as_str));
            c.outcome.push(r.outcome.as_str());
            c.platform_status.push(r.platform_status.map(i32::from));
            c.records.push(count(r.records));
            c.bytes.push(count(r.bytes));
            c.api_key_id.push(r.api_key_id.as_deref());
        }
        c
    }
}

/// Inserts the records in one statement (the reference check of migration 0020 runs once for
/// it, and refuses it whole with `NotFound` if one names a connection its tenant does not have).
async fn insert<'c>(conn: impl PgExecutor<'c>, records: &[&AccessRecord]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let c = Columns::of(records);
    sqlx::query(
        "insert into access_log (id, tenant_id, company_id, connection_id, at, kind, data_type,
             direction, outcome, platform_status, records, bytes, api_key_id)
         select * from unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::timestamptz[],
             $6::text[], $7::text[], $8::text[], $9::text[], $10::int4[], $11::int8[], $12::int8[],
             $13::text[])",
    )
    .bind(c.id)
    .bind(c.tenant_id)
    .bind(c.company_id)
    .bind(c.connection_id)
    .bind(c.at)
    .bind(c.kind)
    .bind(c.data_type)
    .bind(c.direction)
    .bind(c.outcome)
    .bind(c.platform_status)
    .bind(c.records)
    .bind(c.bytes)
    .bind(c.api_key_id)
    .execute(conn)
    .await
    .map_err(db)?;
    Ok(())
}

fn direction(row: &PgRow) -> Result<Option<Direction>> {
    match row.opt_text("direction")?.as_deref() {
        None => Ok(None),
        Some("read") => Ok(Some(Direction::Read)),
        Some("write") => Ok(Some(Direction::Write)),
        Some(other) => Err(corrupt("direction", format!("unknown direction `{other}`"))),
    }
}

/// A count column, back to the domain's unsigned number.
fn unsigned<T: TryFrom<i64>>(row: &PgRow, col: &str) -> Result<Option<T>>
where
    T::Error: std::fmt::Display,
{
    let value: Option<i64> = sqlx::Row::try_get(row, col).map_err(db)?;
    value
        .map(|v| T::try_from(v).map_err(|e| corrupt(col, e)))
        .transpose()
}

fn record_from(row: &PgRow) -> Result<AccessRecord> {
    let status: Option<i32> = sqlx::Row::try_get(row, "platform_status").map_err(db)?;
    Ok(AccessRecord {
        id: row.id("id")?,
        tenant_id: row.id("tenant_id")?,
        company_id: row.id("company_id")?,
        connection_id: row.id("connection_id")?,
        at: row.time("at")?,
        kind: row.parsed("kind")?,
        data_type: row.opt_parsed("data_type")?,
        direction: direction(row)?,
        outcome: row.parsed("outcome")?,
        platform_status: status
            .map(|s| u16::try_from(s).map_err(|e| corrupt("platform_status", e)))
            .transpose()?,
        records: unsigned(row, "records")?,
        bytes: unsigned(row, "bytes")?,
        api_key_id: row.opt_text("api_key_id")?,
    })
}

#[async_trait]
impl AccessLogStore for PgStore {
    /// Queued to the access-log writer, which answers after the commit holding the records.
    async fn record_access(&self, records: &[AccessRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.access.record(records.to_vec()).await
    }

    /// Through `access_log_connection`, newest first; the tenant is checked on the rows found.
    async fn access_log(
        &self,
        tenant: TenantId,
        connection: ConnectionId,
        before: Option<AccessId>,
        limit: u32,
    ) -> Result<Vec<AccessRecord>> {
        // The first page uses the same index range as the next ones: every id sorts below it.
        let before = before.map_or(Uuid::max(), |id| id.as_uuid());
        sqlx::query(
            "select id, tenant_id, company_id, connection_id, at, kind, data_type, direction,
                 outcome, platform_status, records, bytes, api_key_id
             from access_log
             where connection_id = $1 and id < $2 and tenant_id = $3
             order by id desc limit $4",
        )
        .bind(connection.as_uuid())
        .bind(before)
        .bind(tenant.as_uuid())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db)?
        .iter()
        .map(record_from)
        .collect()
    }

    /// Oldest first, through `access_log_at`.
    async fn purge_access_log(&self, older_than: OffsetDateTime, limit: u32) -> Result<u64> {
        let done = sqlx::query(
            "delete from access_log where id in
                 (select id from access_log where at < $1 order by at limit $2)",
        )
        .bind(older_than)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await
        .map_err(db)?;
        Ok(done.rows_affected())
    }
}
