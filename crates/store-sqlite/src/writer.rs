//! The group-commit writer: the one place where concurrent consent writes are batched.
//!
//! DESIGN.md wants every consent durable before it is acknowledged (WAL, `synchronous=FULL`) and
//! thousands of them per second. A commit costs one fsync, whatever it holds, so the writer takes
//! requests from a channel, drains whatever is queued (up to [`MAX_BATCH`]) into one
//! `begin immediate … commit`, and answers each caller only once that commit succeeded.
//!
//! The writer runs on a thread of its own, not among the tasks of the process: every consent of
//! the process waits for it in turn, so it must not wait in the runtime's queue behind those
//! callers each time it is woken. It writes through the one writer connection every other write
//! uses, which it takes from the pool for each batch (waiting for it is exactly the time in which
//! the next batch fills up), and runs the batch on that connection's SQLite handle directly and
//! synchronously (`batch.rs`): a batch is then SQLite's work and one fsync, with no hand-over
//! between threads per statement.
//!
//! If any request fails, that attempt is rolled back and the batch is replayed with each request
//! inside its own savepoint: the failing one (a duplicate id, a connection of someone else) is
//! rolled back alone and answered with its own error; the others commit. Either way each caller
//! gets the outcome it would have had alone.

use crate::batch::{Prepared, Statements};
use crate::error::{backend, db, sqlite};
use accord_domain::ledger::ChainedEvent;
use accord_store::{ConsentWrite, Result, StoreError};
use sqlx::SqlitePool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most requests one commit holds: large enough to amortise the fsync, small enough that the
/// first caller of a batch does not wait long for the last.
pub(crate) const MAX_BATCH: usize = 256;

/// Requests waiting beyond this make callers wait to enqueue (back-pressure, bounded memory).
const QUEUE: usize = 4096;

struct Request {
    /// The write with its rows, serialised by the caller's task (`batch::Prepared`).
    write: Prepared,
    reply: oneshot::Sender<Result<ChainedEvent>>,
}

/// What the writer has done since the store opened, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Commits that succeeded.
    pub batches: u64,
    /// Requests answered after a successful commit (including those whose own savepoint failed).
    pub requests: u64,
    /// The most requests one commit held.
    pub largest_batch: u64,
}

#[derive(Debug, Default)]
struct Counters {
    batches: AtomicU64,
    requests: AtomicU64,
    largest_batch: AtomicU64,
}

#[derive(Debug)]
pub(crate) struct GroupWriter {
    queue: mpsc::Sender<Request>,
    counters: Arc<Counters>,
}

impl GroupWriter {
    /// Starts the writer's thread; it ends when the store (the last sender) is dropped.
    pub(crate) fn spawn(write: SqlitePool) -> Result<Self> {
        let (queue, requests) = mpsc::channel(QUEUE);
        let counters = Arc::<Counters>::default();
        // Its own single-threaded runtime: the pool's waits and timers need one, and nothing
        // else runs on it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| backend(format!("cannot start the consent writer: {e}")))?;
        let task_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("accord-consent-writer".into())
            .spawn(move || runtime.block_on(run(write, requests, task_counters)))
            .map_err(|e| backend(format!("cannot start the consent writer: {e}")))?;
        Ok(Self { queue, counters })
    }

    /// Queues the write and waits for its commit. If the caller goes away meanwhile the write
    /// still commits (or not) as a whole; only the answer is lost.
    pub(crate) async fn record(&self, write: ConsentWrite) -> Result<ChainedEvent> {
        let (reply, answer) = oneshot::channel();
        let write = Prepared::new(write)?;
        self.queue
            .send(Request { write, reply })
            .await
            .map_err(|_| backend("the group-commit writer has stopped"))?;
        answer
            .await
            .map_err(|_| backend("the group-commit writer stopped before answering"))?
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Requests sent but not yet taken by the task.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue.max_capacity() - self.queue.capacity()
    }
}

async fn run(write: SqlitePool, mut requests: mpsc::Receiver<Request>, counters: Arc<Counters>) {
    while let Some(first) = requests.recv().await {
        // Wait for the writer connection first: whatever is sent meanwhile joins this batch.
        let conn = write.acquire().await.map_err(db);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match requests.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let outcomes = match conn {
            Ok(mut conn) => match conn.lock_handle().await {
                Ok(mut handle) => {
                    let raw = handle.as_raw_handle().as_ptr();
                    // SAFETY: `raw` is sqlx's open connection, locked away from its worker
                    // thread until `handle` is dropped. The rusqlite connection wrapping it,
                    // with every statement it prepared, is dropped at the end of this arm,
                    // before `handle`, and never closes it (`from_handle`, not `_owned`); it
                    // sets no hooks, so the connection goes back to sqlx as it came.
                    #[allow(unsafe_code)]
                    let wrapped = unsafe { rusqlite::Connection::from_handle(raw) };
                    match wrapped {
                        Ok(db) => write_batch(&db, &batch),
                        Err(e) => Err(sqlite(e)),
                    }
                }
                Err(e) => Err(db(e)),
            },
            Err(e) => Err(e),
        };
        match outcomes {
            Ok(outcomes) => answer(batch, outcomes, &counters),
            Err(cause) => fail_all(batch, &cause),
        }
    }
}

/// The batch in one transaction: every request applied straight (the common case, where nothing
/// fails, costs no savepoint), or, when one fails, replayed with a savepoint each. The outer
/// `Err` means the batch itself failed and nothing was written.
fn write_batch(db: &rusqlite::Connection, batch: &[Request]) -> Result<Vec<Result<ChainedEvent>>> {
    let result = fast_path(db, batch)
        .transpose()
        .unwrap_or_else(|| isolated(db, batch));
    if result.is_err() && !db.is_autocommit() {
        // Leave the connection as sqlx expects it: outside any transaction.
        let _ = db.execute_batch("rollback");
    }
    result
}

/// Every request applied in the batch's transaction, then one commit. `Ok(None)` as soon as one
/// request fails: the attempt is rolled back and the batch goes through [`isolated`].
fn fast_path(
    db: &rusqlite::Connection,
    batch: &[Request],
) -> Result<Option<Vec<Result<ChainedEvent>>>> {
    db.execute_batch("begin immediate").map_err(sqlite)?;
    let mut statements = Statements::prepare(db)?;
    let mut events = Vec::with_capacity(batch.len());
    for request in batch {
        let Ok(event) = crate::batch::apply(&mut statements, &request.write) else {
            db.execute_batch("rollback").map_err(sqlite)?;
            return Ok(None);
        };
        events.push(Ok(event));
    }
    // A failed commit is a failure of the batch, not of a request; SQLite has then rolled the
    // transaction back, or `write_batch` does.
    db.execute_batch("commit").map_err(sqlite)?;
    Ok(Some(events))
}

/// Each request inside its own savepoint: one that fails is rolled back alone and answered with
/// its own error. The outer `Err` means the savepoint could not be opened, released or rolled
/// back: the transaction can no longer be trusted, and nothing is kept.
fn isolated(db: &rusqlite::Connection, batch: &[Request]) -> Result<Vec<Result<ChainedEvent>>> {
    db.execute_batch("begin immediate").map_err(sqlite)?;
    let mut statements = Statements::prepare(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        db.execute_batch("savepoint request").map_err(sqlite)?;
        match crate::batch::apply(&mut statements, &request.write) {
            Ok(event) => {
                db.execute_batch("release request").map_err(sqlite)?;
                outcomes.push(Ok(event));
            }
            Err(own) => {
                db.execute_batch("rollback to request; release request")
                    .map_err(sqlite)?;
                outcomes.push(Err(own));
            }
        }
    }
    db.execute_batch("commit").map_err(sqlite)?;
    Ok(outcomes)
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
    tracing::error!(error = %cause, requests = batch.len(), "group commit failed; no request of the batch was written");
    for request in batch {
        let _ = request
            .reply
            .send(Err(backend(format!("group commit failed: {cause}"))));
    }
}

#[cfg(test)]
mod tests {
    use crate::SqliteStore;
    use accord_store::conformance::fixtures::{self, at, World};
    use accord_store::{Store, StoreError};
    use std::sync::Arc;
    use std::time::Duration;

    /// Holds the writer connection so the requests pile up, then lets go: they must land in one
    /// commit, the broken one failing alone and every caller hearing its own outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn queued_requests_share_one_commit_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("accord.db"))
                .await
                .unwrap(),
        );
        let w = World::new(&*store, "Lender A").await;
        let mut writes: Vec<_> = (0..50)
            .map(|n| fixtures::consent_write(&w.company, &w.nv, at(n)))
            .collect();
        // Request 7 reuses the consent id of request 3, which commits before it in the batch.
        writes[7].consent.id = writes[3].consent.id;
        writes[7].connection.consent_id = Some(writes[3].consent.id);
        let before = store.group_commit_stats();

        let held = store.write.acquire().await.unwrap();
        let calls: Vec<_> = writes
            .iter()
            .cloned()
            .map(|write| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.record_consent(&write).await })
            })
            .collect();
        // The task took the first request and waits for the connection; the rest are queued.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.writer.queued() < writes.len() - 1 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "requests never queued"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        drop(held);

        let mut outcomes = Vec::new();
        for call in calls {
            outcomes.push(call.await.unwrap());
        }
        // Requests 3 and 7 share a consent id: whichever the writer took second fails alone
        // (the tasks send in whatever order the scheduler runs them).
        let failed: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| o.is_err())
            .map(|(n, _)| n)
            .collect();
        assert!(
            failed == [3] || failed == [7],
            "exactly one of 3 and 7 fails: {outcomes:?}"
        );
        assert!(
            matches!(outcomes[failed[0]], Err(StoreError::Conflict(_))),
            "{outcomes:?}"
        );
        let after = store.group_commit_stats();
        assert_eq!(after.batches - before.batches, 1, "one commit for all");
        assert_eq!(after.largest_batch, 50);
        let connections = store
            .company_connections(w.tenant.id, w.company.id)
            .await
            .unwrap();
        assert_eq!(connections.len(), 49);
        assert!(
            connections
                .iter()
                .all(|c| c.id != writes[failed[0]].connection.id),
            "the failed request left nothing"
        );
    }
}
