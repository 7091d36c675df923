//! The group-commit writer: the one place where concurrent consent writes are batched.
//!
//! Every consent must be durable before it is acknowledged (it is the tenant's proof), and
//! thousands of them must fit in a second. PostgreSQL already shares one WAL flush among transactions that commit together, but
//! a consent alone would still cost a transaction of its own: several statements and round
//! trips, the lock on its tenant's ledger chain, a commit record. So consents are gathered into
//! batches, each written by one statement that commits on its own (`batch.rs`): one round trip
//! and one commit per batch, whatever its size.
//!
//! Requests wait in lanes, [`PgOptions::consent_writers`](crate::PgOptions) of them, one task
//! each; a tenant's consents always take the same lane. A task takes the first waiting request
//! and everything queued behind it (up to [`MAX_BATCH`]) and writes them; what arrives meanwhile
//! forms its next batch. Each caller is answered only after the commit that holds its write
//! succeeded. Why lanes by tenant: two batches of one tenant take turns on its ledger chain,
//! which a batch takes after writing its rows and holds to its commit (`batch.rs`). So a lane
//! keeps up to [`IN_FLIGHT`] batches in flight: the next one writes its rows while the one
//! before chains its events and commits, and then takes the chain. It is sent only once
//! [`PIPELINE_FROM`] requests wait, so a light load still makes one batch at a time, as large as
//! the load allows (every batch pays a fixed cost). Batches of different tenants, in different
//! lanes, commit side by side (and PostgreSQL flushes their commits together).
//!
//! A write whose connection id belongs to someone else (or was disconnected) is left out by the
//! statement itself and answered `NotFound`; the rest of its batch commits. If the statement
//! fails (a duplicate consent id, a foreign key to another tenant's row, a deadlock), the server
//! has rolled it back and the batch is replayed in one transaction with each request inside its
//! own savepoint: the failing one is rolled back alone and answered with its own error; the
//! others commit, their ledger events chained in order. A batch that would end a consent in
//! force (a re-consent, a second consent on a connection pending sign-in) is refused by the
//! statement and replayed the same way: each request then ends those consents with their
//! `superseded` events before its own (`consents::supersede_in`). Either way each caller gets the outcome
//! it would have had alone. A batch naming one connection twice (two consents for one
//! connection at the same instant) goes straight to the replay, which applies them in order.
//!
//! Several Accord instances each run their own writers on the same database; their batches are
//! ordinary transactions that lock in one order — connection rows by id, then ledger heads by
//! tenant id (`ledger.rs`) — so they never deadlock on each other.

use crate::batch::{apply, Prepared};
use crate::consents::{consistent, supersede_in};
use crate::error::{backend, db, failed, is_transient, refused_by_server};
use accord_domain::ids::TenantId;
use accord_domain::ledger::ChainedEvent;
use accord_store::{ConsentWrite, Result, StoreError};
use sqlx::{Acquire as _, PgConnection, PgPool, Postgres, Transaction};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most requests one commit holds: large enough to amortise the commit, small enough that
/// the first caller of a batch does not wait long for the last.
pub(crate) const MAX_BATCH: usize = 256;

/// Requests waiting beyond this make callers wait to enqueue (back-pressure, bounded memory).
const QUEUE: usize = 4096;

struct Request {
    write: Prepared,
    reply: oneshot::Sender<Result<ChainedEvent>>,
}

/// What the writers have done since the store opened, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Commits that succeeded.
    pub batches: u64,
    /// Requests answered after a successful commit (including those whose own savepoint failed).
    pub requests: u64,
    /// The most requests one commit held.
    pub largest_batch: u64,
    /// Batches that had to be replayed request by request.
    pub replays: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest_batch: AtomicU64,
    replays: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct GroupWriter {
    /// One queue per lane; a tenant's consents always take the same lane.
    lanes: Vec<mpsc::Sender<Request>>,
    counters: Arc<Counters>,
}

impl GroupWriter {
    /// Starts one task per lane; they end when the store (the last sender) is dropped.
    pub(crate) fn spawn(pool: &PgPool, lanes: usize) -> Self {
        let counters = Arc::<Counters>::default();
        let lanes = (0..lanes.max(1))
            .map(|_| {
                let (queue, requests) = mpsc::channel(QUEUE);
                tokio::spawn(run(pool.clone(), requests, Arc::clone(&counters)));
                queue
            })
            .collect();
        Self { lanes, counters }
    }

    /// Queues the write and waits for its commit. If the caller goes away meanwhile the write
    /// still commits (or not) as a whole; only the answer is lost.
    pub(crate) async fn record(&self, write: ConsentWrite) -> Result<ChainedEvent> {
        let write = Prepared::new(write)?;
        let (reply, answer) = oneshot::channel();
        self.lane(write.write.consent.tenant_id)
            .send(Request { write, reply })
            .await
            .map_err(|_| backend("the group-commit writer has stopped"))?;
        answer
            .await
            .map_err(|_| backend("the group-commit writer stopped before answering"))?
    }

    /// The lane of a tenant: its id's last bits (`UUIDv7` ids end in random bits).
    fn lane(&self, tenant: TenantId) -> &mpsc::Sender<Request> {
        let bits = tenant.as_uuid().as_u128();
        // The remainder is below the number of lanes, which is a `usize`.
        let n = usize::try_from(bits % self.lanes.len() as u128).expect("a lane index");
        &self.lanes[n]
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
            replays: self.counters.replays.load(Ordering::Relaxed),
        }
    }
}

/// Batches of one lane in flight at once. The second is sent while the first runs and commits:
/// its rows are written while the first holds the tenant's chain, and it takes the chain as soon
/// as the first commits (`batch.rs` locks the chain last).
const IN_FLIGHT: usize = 2;

/// A batch is sent beside one already in flight only once this many requests wait: below it, they
/// wait for the batch in flight to commit and go in the next, larger batch.
const PIPELINE_FROM: usize = 32;

async fn run(pool: PgPool, mut requests: mpsc::Receiver<Request>, counters: Arc<Counters>) {
    let mut in_flight = tokio::task::JoinSet::new();
    let mut waiting: Vec<Request> = Vec::new();
    let mut open = true;
    loop {
        tokio::select! {
            Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            request = requests.recv(), if open && waiting.len() < MAX_BATCH => match request {
                Some(request) => waiting.push(request),
                None => open = false,
            },
            else => break,
        }
        while waiting.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => waiting.push(request),
                Err(_) => break,
            }
        }
        let send = !waiting.is_empty()
            && (in_flight.is_empty()
                || (in_flight.len() < IN_FLIGHT && waiting.len() >= PIPELINE_FROM));
        if send {
            let batch = std::mem::take(&mut waiting);
            let (pool, counters) = (pool.clone(), Arc::clone(&counters));
            in_flight.spawn(async move {
                let started = std::time::Instant::now();
                let written = write_batch(&pool, &batch, &counters).await;
                accord_metrics::db_commit("postgres", started.elapsed().as_secs_f64());
                match written {
                    Ok(outcomes) => answer(batch, outcomes, &counters),
                    Err(cause) => fail_all(batch, &cause),
                }
            });
        }
    }
}

async fn write_batch(
    pool: &PgPool,
    batch: &[Request],
    counters: &Counters,
) -> Result<Vec<Result<ChainedEvent>>> {
    let writes: Vec<&Prepared> = batch.iter().map(|r| &r.write).collect();
    if fast_path_allowed(&writes) {
        // One statement outside an explicit transaction: its own commit, one round trip.
        match apply(pool, &writes).await {
            Ok(written) => {
                return Ok(written
                    .into_iter()
                    .map(|event| event.ok_or(StoreError::NotFound))
                    .collect())
            }
            // The server refused the statement, so nothing of it was kept: find out who failed.
            Err(e) if refused_by_server(&e) => {}
            // The connection failed mid-way: whether the commit happened is unknown, so nobody
            // may be told it did, and nothing is replayed (a replay could write a consent twice).
            Err(e) => return Err(e),
        }
    }
    replay(pool, &writes, counters).await
}

/// The batch again, in one transaction, each request in its own savepoint.
async fn replay(
    pool: &PgPool,
    writes: &[&Prepared],
    counters: &Counters,
) -> Result<Vec<Result<ChainedEvent>>> {
    counters.replays.fetch_add(1, Ordering::Relaxed);
    let tx = pool.begin().await.map_err(db)?;
    isolated(tx, writes).await
}

/// Whether the batch can be written whole: every write agrees with itself on its owner, and no
/// connection is named twice.
fn fast_path_allowed(writes: &[&Prepared]) -> bool {
    let mut seen = HashSet::with_capacity(writes.len());
    writes
        .iter()
        .all(|p| consistent(&p.write) && seen.insert(p.write.connection.id))
}

/// Each request inside its own savepoint, in order: one that fails is rolled back alone and
/// answered with its own error. The outer `Err` means the batch itself failed and nothing was
/// written.
async fn isolated(
    mut tx: Transaction<'static, Postgres>,
    writes: &[&Prepared],
) -> Result<Vec<Result<ChainedEvent>>> {
    let mut outcomes = Vec::with_capacity(writes.len());
    for write in writes {
        outcomes.push(apply_one(&mut tx, write).await?);
    }
    tx.commit().await.map_err(db)?;
    Ok(outcomes)
}

/// One request in its own savepoint. The outer `Err` means the savepoint could not be opened,
/// released or rolled back: the batch's transaction can no longer be trusted.
async fn apply_one(tx: &mut PgConnection, write: &Prepared) -> Result<Result<ChainedEvent>> {
    if !consistent(&write.write) {
        return Ok(Err(backend(
            "inconsistent consent write: consent, connection and OAuth flow disagree on their owner",
        )));
    }
    // A deadlock with a transaction outside the writer (a disconnect of the same connection)
    // is not this request's fault: PostgreSQL aborted one side, so try once more.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut savepoint = tx.begin().await.map_err(db)?;
        // The consents this one replaces end first, with their `superseded` events, which the
        // batch statement cannot make (it then finds nothing to supersede).
        let outcome = match supersede_in(&mut savepoint, &write.write).await {
            Ok(()) => match apply(&mut *savepoint, &[write]).await {
                Ok(mut written) => written.pop().flatten().ok_or(StoreError::NotFound),
                Err(e) => Err(e),
            },
            Err(e) => Err(e),
        };
        match outcome {
            Ok(event) => {
                savepoint.commit().await.map_err(db)?;
                return Ok(Ok(event));
            }
            Err(own) => {
                savepoint.rollback().await.map_err(db)?;
                if attempts < 2 && is_transient(&own) {
                    continue;
                }
                return Ok(Err(own));
            }
        }
    }
}

fn answer(batch: Vec<Request>, outcomes: Vec<Result<ChainedEvent>>, counters: &Counters) {
    let n = batch.len() as u64;
    counters.batches.fetch_add(1, Ordering::Relaxed);
    counters.requests.fetch_add(n, Ordering::Relaxed);
    counters.largest_batch.fetch_max(n, Ordering::Relaxed);
    for (request, outcome) in batch.into_iter().zip(outcomes) {
        // A caller that went away no longer needs its answer.
        let _ = request.reply.send(outcome);
    }
}

fn fail_all(batch: Vec<Request>, cause: &StoreError) {
    tracing::error!(error = %cause, requests = batch.len(), "group commit failed; no request of the batch is known to be written");
    for request in batch {
        let _ = request
            .reply
            .send(Err(failed("group commit failed", cause)));
    }
}
