//! The writer thread: the one connection that writes, and the group commit of every durable write.
//!
//! Every write of the process is a message to one thread of its own, which owns the writer
//! connection: a closure that runs on the connection (the whole store call, however many
//! statements: one hand-over to the thread and one answer back on a `oneshot`), or a consent
//! write. The thread is not among the tasks of the process: every write waits for it in turn, so
//! it must not wait in the runtime's queue behind those callers each time it is woken.
//!
//! Every consent must be durable before it is acknowledged (WAL, `synchronous=FULL`), and there
//! are thousands of them per second; so must every access record, written on the data path
//! before the gateway answers, and every other store call that writes in a transaction
//! ([`Writer::transaction`]: a company, a link session, its use, the OAuth state consumed at the
//! callback, the connection linked with its tokens…). A commit costs one fsync, whatever it
//! holds, so when the thread takes any of these it drains whatever else of them is queued (up
//! to [`MAX_BATCH`] requests, of every kind together) into one `begin immediate … commit`, and
//! answers each caller only once that commit succeeded. Other writes found while draining run
//! after the batch, in the order they came. Whatever is sent while a batch commits joins the
//! next one. A hosted flow makes several such writes one after the other; under load each waits
//! for one shared fsync, not for a queue of them.
//!
//! Consents and access records are applied first, straight, inside one savepoint. If any of
//! them fails, that attempt is rolled back to the savepoint and they are replayed with each
//! request inside its own savepoint: the failing one (a duplicate id, a connection of someone
//! else) is rolled back alone and answered with its own error; the others commit. Transactions
//! come next, each in a savepoint of its own from the start (their closures run once, they are
//! not replayed): one that fails is rolled back to its savepoint alone. Either way each caller
//! gets the outcome it would have had alone.

use crate::consents::{Prepared, Statements};
use crate::error::{backend, failed, sqlite};
use accord_domain::ledger::ChainedEvent;
use accord_store::{ConsentWrite, Result, StoreError};
use rusqlite::CachedStatement;
use rusqlite::Connection;
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// The most requests one commit holds: large enough to amortise the fsync, small enough that the
/// first caller of a batch does not wait long for the last.
pub(crate) const MAX_BATCH: usize = 256;

/// Messages waiting beyond this make callers wait to enqueue (back-pressure, bounded memory).
const QUEUE: usize = 4096;

type Job = Box<dyn FnOnce(&mut Connection) + Send>;

enum Message {
    /// A store call's work, answering its caller itself.
    Run(Job),
    /// A consent or a call's access records, to commit with whatever others are queued
    /// (boxed: a queue slot is as large as its largest message).
    Grouped(Box<Request>),
    /// A store call's transaction, committed with the other transactions queued beside it.
    Tx(TxJob),
    /// Close the connection, then say so.
    Close(oneshot::Sender<()>),
}

/// A call's transaction work: runs on the writer connection (inside its savepoint) and says
/// whether it succeeded, with how to answer its caller once the batch's commit is known.
type TxJob = Box<dyn FnOnce(&Connection) -> (bool, TxAnswer) + Send>;
/// Answers a transaction's caller: with its own outcome, or the commit's failure.
type TxAnswer = Box<dyn FnOnce(Option<&StoreError>) + Send>;

/// A write committed in a group, with its column values made by the caller's task.
// A consent is much larger than a call's records (which are on the heap); boxing it would cost
// an allocation per consent on the hot path, where the message is boxed once already.
#[allow(clippy::large_enum_variant)]
enum Request {
    Consent {
        write: Prepared,
        reply: oneshot::Sender<Result<ChainedEvent>>,
    },
    Access {
        records: crate::access::Prepared,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// What a request of a batch wrote, until its caller is answered: a consent's chained event;
/// nothing for access records.
type Applied = Option<ChainedEvent>;

/// The statements of a batch, taken from the writer connection's cache for it.
struct BatchStatements<'db> {
    consents: Statements<'db>,
    access: CachedStatement<'db>,
}

impl<'db> BatchStatements<'db> {
    fn prepare(db: &'db Connection) -> Result<Self> {
        Ok(Self {
            consents: Statements::prepare(db)?,
            access: db.prepare_cached(crate::access::INSERT).map_err(sqlite)?,
        })
    }

    fn apply(&mut self, request: &Request) -> Result<Applied> {
        match request {
            Request::Consent { write, .. } => self.consents.apply(write).map(Some),
            Request::Access { records, .. } => records.apply(&mut self.access).map(|()| None),
        }
    }
}

impl Request {
    /// Answers the caller with `outcome`; a caller that went away no longer needs it.
    fn answer(self, outcome: Result<Applied>) {
        match self {
            Self::Consent { reply, .. } => {
                let _ = reply.send(outcome.and_then(|applied| {
                    applied.ok_or_else(|| backend("a consent was answered without its event"))
                }));
            }
            Self::Access { reply, .. } => {
                let _ = reply.send(outcome.map(|_| ()));
            }
        }
    }
}

/// What the group commit has done since the store opened, for metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupCommitStats {
    /// Commits that succeeded.
    pub batches: u64,
    /// Requests (consents, access records, transactions) taken into a batch that committed,
    /// including those whose own savepoint failed.
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

/// The handle of the writer thread; the thread ends when the store (the last sender) is
/// dropped, or at [`Writer::close`]. A store opened read-only has no thread
/// ([`Writer::read_only`]).
#[derive(Debug)]
pub(crate) struct Writer {
    /// `None`: the store was opened read-only and refuses every write with [`ReadOnly`].
    queue: Option<mpsc::Sender<Message>>,
    counters: Arc<Counters>,
}

/// Why a store opened read-only ([`crate::SqliteStore::open_read_only`]) refused a write: it
/// has no writer connection at all, so the refusal is certain, not a hope that every path
/// checked a flag. The caller finds it as the source of `StoreError::Backend`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the database was opened read-only (to verify it): this store refuses every write")]
pub struct ReadOnly;

fn stopped() -> StoreError {
    backend("the store is closed: its writer has stopped")
}

impl Writer {
    /// Starts the thread that owns `db`.
    pub(crate) fn spawn(db: Connection) -> Result<Self> {
        let (queue, messages) = mpsc::channel(QUEUE);
        let counters = Arc::<Counters>::default();
        let thread_counters = Arc::clone(&counters);
        std::thread::Builder::new()
            .name("accord-writer".into())
            .spawn(move || run(db, messages, &thread_counters))
            .map_err(|e| backend(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            queue: Some(queue),
            counters,
        })
    }

    /// A writer without a thread or a connection, for a store opened read-only: every write
    /// fails with [`ReadOnly`] before anything is prepared.
    pub(crate) fn read_only() -> Self {
        Self {
            queue: None,
            counters: Arc::default(),
        }
    }

    /// The thread's queue, or the refusal of a read-only store.
    fn queue(&self) -> Result<&mpsc::Sender<Message>> {
        self.queue
            .as_ref()
            .ok_or_else(|| StoreError::Backend(Box::new(ReadOnly)))
    }

    /// Runs `work` on the writer connection and returns what it returned. If the caller goes
    /// away meanwhile the work still runs (or not) as a whole; only the answer is lost.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let queue = self.queue()?;
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |db| {
            // A caller that went away no longer needs its answer.
            let _ = reply.send(work(db));
        });
        queue.send(Message::Run(job)).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| backend("the writer stopped before answering"))?
    }

    /// Runs `work` in a write transaction: `begin immediate` takes the write lock at once, so a
    /// transaction that reads before writing cannot fail half-way on a lock upgrade. What `work`
    /// wrote is kept when it returns `Ok` and rolled back when it returns `Err`; the transaction
    /// is shared with the other calls queued beside it (each in a savepoint of its own) and
    /// the answer comes only after its commit.
    pub(crate) async fn transaction<R: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let queue = self.queue()?;
        let (reply, answer) = oneshot::channel();
        let job: TxJob = Box::new(move |db| {
            let out = work(db);
            let ok = out.is_ok();
            let answer: TxAnswer = Box::new(move |commit_failed| {
                let outcome = match (commit_failed, out) {
                    (Some(e), Ok(_)) => Err(failed("the commit failed", e)),
                    (_, out) => out,
                };
                // A caller that went away no longer needs its answer.
                let _ = reply.send(outcome);
            });
            (ok, answer)
        });
        queue.send(Message::Tx(job)).await.map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| backend("the writer stopped before answering"))?
    }

    /// Queues a consent write for the next group commit and waits for that commit.
    pub(crate) async fn record(&self, write: ConsentWrite) -> Result<ChainedEvent> {
        self.queue()?;
        let (reply, answer) = oneshot::channel();
        let write = Prepared::new(write)?;
        self.grouped(Request::Consent { write, reply }, answer)
            .await
    }

    /// Queues a call's access records for the next group commit and waits for that commit.
    pub(crate) async fn record_access(&self, records: crate::access::Prepared) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        self.grouped(Request::Access { records, reply }, answer)
            .await
    }

    async fn grouped<R>(
        &self,
        request: Request,
        answer: oneshot::Receiver<Result<R>>,
    ) -> Result<R> {
        self.queue()?
            .send(Message::Grouped(Box::new(request)))
            .await
            .map_err(|_| stopped())?;
        answer
            .await
            .map_err(|_| backend("the writer stopped before answering"))?
    }

    /// Closes the writer connection once what is queued before has run; calls made afterwards
    /// fail with `Backend`. A read-only store's writer has nothing to close.
    pub(crate) async fn close(&self) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (ack, closed) = oneshot::channel();
        if queue.send(Message::Close(ack)).await.is_ok() {
            let _ = closed.await;
        }
    }

    pub(crate) fn stats(&self) -> GroupCommitStats {
        GroupCommitStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            requests: self.counters.requests.load(Ordering::Relaxed),
            largest_batch: self.counters.largest_batch.load(Ordering::Relaxed),
        }
    }

    /// Messages sent but not yet taken by the thread.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queue
            .as_ref()
            .map_or(0, |queue| queue.max_capacity() - queue.capacity())
    }
}

/// The thread's loop: one message at a time, every durable write in a group commit.
fn run(mut db: Connection, mut queue: mpsc::Receiver<Message>, counters: &Counters) {
    let mut later = VecDeque::new();
    while let Some(message) = later.pop_front().or_else(|| queue.blocking_recv()) {
        match message {
            Message::Run(job) => run_job(&mut db, job),
            Message::Close(ack) => {
                drop(db);
                let _ = ack.send(());
                return;
            }
            write => {
                let (grouped, transactions) = drain(write, &mut queue, &mut later);
                let started = std::time::Instant::now();
                commit_writes(&db, grouped, transactions, counters);
                accord_metrics::db_commit("sqlite", started.elapsed().as_secs_f64());
            }
        }
    }
}

/// The batch `first` starts: every grouped write and every transaction already queued, up to
/// [`MAX_BATCH`] in all; other messages met on the way are kept, in order, for after the batch.
fn drain(
    first: Message,
    queue: &mut mpsc::Receiver<Message>,
    later: &mut VecDeque<Message>,
) -> (Vec<Request>, Vec<TxJob>) {
    let mut grouped = Vec::new();
    let mut transactions = Vec::new();
    let mut next = Some(first);
    while let Some(message) = next.take() {
        match message {
            Message::Grouped(request) => grouped.push(*request),
            Message::Tx(job) => transactions.push(job),
            other => later.push_back(other),
        }
        if grouped.len() + transactions.len() < MAX_BATCH && later.len() < MAX_BATCH {
            next = queue.try_recv().ok();
        }
    }
    (grouped, transactions)
}

/// One `begin immediate … commit` for the whole batch, so it costs one fsync whatever it holds:
/// first the consents and access records (see [`write_grouped`]), then each transaction in a
/// savepoint of its own (see [`run_transactions`]). Every caller is answered after the commit,
/// with its own outcome or the commit's failure.
///
/// The grouped writes go first because the consents carry each tenant's ledger head from one
/// request to the next in memory; a transaction that appends to a ledger after them reads the
/// head they left in the table.
fn commit_writes(
    db: &Connection,
    grouped: Vec<Request>,
    transactions: Vec<TxJob>,
    counters: &Counters,
) {
    let held = (grouped.len() + transactions.len()) as u64;
    let mut answers: Vec<TxAnswer> = Vec::with_capacity(grouped.len() + transactions.len());
    let mut open = false;
    if !grouped.is_empty() {
        let written = control(db, "begin immediate").and_then(|()| write_grouped(db, &grouped));
        match written {
            Ok(outcomes) => {
                open = true;
                answers.extend(grouped.into_iter().zip(outcomes).map(grouped_answer));
            }
            Err(cause) => {
                if !db.is_autocommit() {
                    // Leave the connection outside any transaction for the transactions.
                    let _ = db.execute_batch("rollback");
                }
                fail_all(grouped, &cause);
            }
        }
    }
    run_transactions(db, transactions, &mut answers, &mut open);
    if open {
        let committed = control(db, "commit");
        if !db.is_autocommit() {
            let _ = db.execute_batch("rollback");
        }
        let failed = committed.err();
        if failed.is_none() {
            counters.batches.fetch_add(1, Ordering::Relaxed);
            counters.requests.fetch_add(held, Ordering::Relaxed);
            counters.largest_batch.fetch_max(held, Ordering::Relaxed);
        }
        for answer in answers {
            answer(failed.as_ref());
        }
    }
}

/// How a grouped request is answered once the batch's commit is known: its own outcome, or the
/// commit's failure.
fn grouped_answer((request, outcome): (Request, Result<Applied>)) -> TxAnswer {
    Box::new(move |commit_failed| match commit_failed {
        Some(cause) if outcome.is_ok() => {
            request.answer(Err(failed("group commit failed", cause)));
        }
        _ => request.answer(outcome),
    })
}

/// The transactions, each in a savepoint of the open transaction (begun here if none is):
/// one that fails (or panics) is rolled back alone; the others are answered after the commit,
/// through `answers`. Should the transaction itself break (a savepoint that cannot be rolled
/// back, SQLite ending the transaction), the calls it held — grouped writes included — are
/// answered with that failure and the rest go on in a new one.
fn run_transactions(
    db: &Connection,
    batch: Vec<TxJob>,
    answers: &mut Vec<TxAnswer>,
    open: &mut bool,
) {
    for job in batch {
        if !*open {
            if let Err(e) = control(db, "begin immediate") {
                // The call is answered by dropping it: "the writer stopped before answering".
                tracing::error!(error = %e, "cannot begin a write transaction");
                continue;
            }
            *open = true;
        }
        if let Err(e) = control(db, "savepoint call") {
            end_broken(db, answers, &e);
            *open = false;
            continue;
        }
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job(db)));
        let kept = match ran {
            Ok((true, answer)) => Some(answer),
            Ok((false, answer)) => {
                answer(None);
                None
            }
            Err(_) => {
                tracing::error!("a write panicked; its caller gets an error");
                None
            }
        };
        let broken = if db.is_autocommit() {
            Some(backend("SQLite ended the transaction"))
        } else if kept.is_some() {
            control(db, "release call").err()
        } else {
            db.execute_batch("rollback to call; release call")
                .map_err(sqlite)
                .err()
        };
        match broken {
            Some(e) => {
                end_broken(db, answers, &e);
                if let Some(answer) = kept {
                    answer(Some(&e));
                }
                *open = false;
            }
            None => answers.extend(kept),
        }
    }
}

/// Runs one transaction-control statement (`begin`, `commit`, a savepoint and its release) as
/// a statement prepared once per connection: `execute_batch` parses its SQL again on every
/// call, and these run several times for every group commit (a twentieth of a proxied read's
/// instructions went to parsing them). The rare paths (rollbacks after a failure) still use
/// `execute_batch`.
fn control(db: &Connection, sql: &str) -> Result<()> {
    db.prepare_cached(sql)
        .and_then(|mut statement| statement.execute([]))
        .map(|_| ())
        .map_err(sqlite)
}

/// The open transaction can no longer be trusted: rolled back, and every call it held told so.
fn end_broken(db: &Connection, answers: &mut Vec<TxAnswer>, cause: &StoreError) {
    tracing::error!(error = %cause, calls = answers.len(), "a grouped write transaction failed; none of its calls was written");
    if !db.is_autocommit() {
        let _ = db.execute_batch("rollback");
    }
    for answer in answers.drain(..) {
        answer(Some(cause));
    }
}

/// Runs a closure; a panic in it (a broken invariant) costs its caller its answer, not the
/// writer thread, and leaves the connection outside any transaction.
fn run_job(db: &mut Connection, job: Job) {
    if std::panic::catch_unwind(AssertUnwindSafe(|| job(db))).is_err() {
        tracing::error!("a write panicked; its caller gets an error");
    }
    if !db.is_autocommit() {
        let _ = db.execute_batch("rollback");
    }
}

/// The consents and access records of a batch, in the open transaction: every request applied
/// straight (the common case, where nothing fails, costs one savepoint for all), or, when one
/// fails, that attempt rolled back and the requests replayed with a savepoint each, so the
/// failing one (a duplicate id, a connection of someone else) is rolled back alone and answered
/// with its own error. The outer `Err` means a savepoint could not be opened, released or
/// rolled back: the transaction can no longer be trusted, and none of them is kept.
fn write_grouped(db: &Connection, batch: &[Request]) -> Result<Vec<Result<Applied>>> {
    control(db, "savepoint grouped")?;
    let mut statements = BatchStatements::prepare(db)?;
    let mut events = Vec::with_capacity(batch.len());
    for request in batch {
        match statements.apply(request) {
            Ok(event) => events.push(Ok(event)),
            Err(_) => break,
        }
    }
    drop(statements);
    if events.len() == batch.len() {
        control(db, "release grouped")?;
        return Ok(events);
    }
    // The statements carry each tenant's ledger head from one request to the next: they are
    // prepared afresh for the replay, which reads the heads again from the rolled-back tables.
    db.execute_batch("rollback to grouped").map_err(sqlite)?;
    let mut statements = BatchStatements::prepare(db)?;
    let mut outcomes = Vec::with_capacity(batch.len());
    for request in batch {
        db.execute_batch("savepoint request").map_err(sqlite)?;
        match statements.apply(request) {
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
    drop(statements);
    db.execute_batch("release grouped").map_err(sqlite)?;
    Ok(outcomes)
}

fn fail_all(batch: Vec<Request>, cause: &StoreError) {
    tracing::error!(error = %cause, requests = batch.len(), "group commit failed; no request of the batch was written");
    for request in batch {
        request.answer(Err(failed("group commit failed", cause)));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::SqliteStore;
    use accord_store::conformance::fixtures::{self, at, World};
    use accord_store::{ConnectionStore, ConsentStore, StoreError};
    use std::sync::Arc;
    use std::time::Duration;

    /// Keeps the writer thread busy until the sender is used (or dropped); returns once the
    /// thread is in it, so whatever is sent next waits in the queue.
    pub(crate) async fn hold_writer(
        store: &Arc<SqliteStore>,
    ) -> (
        std::sync::mpsc::Sender<()>,
        tokio::task::JoinHandle<accord_store::Result<()>>,
    ) {
        let (release, held) = std::sync::mpsc::channel::<()>();
        let (busy, started) = tokio::sync::oneshot::channel();
        let holder = {
            let store = Arc::clone(store);
            tokio::spawn(async move {
                store
                    .write
                    .run(move |_| {
                        let _ = busy.send(());
                        let _ = held.recv();
                        Ok(())
                    })
                    .await
            })
        };
        started.await.expect("the writer runs the holder");
        (release, holder)
    }

    /// Keeps the writer thread busy so the requests pile up, then lets go: they must land in one
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

        let (release, holder) = hold_writer(&store).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let calls: Vec<_> = writes
            .iter()
            .cloned()
            .map(|write| {
                let store = Arc::clone(&store);
                tokio::spawn(async move { store.record_consent(&write).await })
            })
            .collect();
        while store.write.queued() < writes.len() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "requests never queued"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();

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

    /// Other writes queued among consents wait for the batch, in order, and do not split it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn other_writes_among_consents_run_after_the_batch() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("accord.db"))
                .await
                .unwrap(),
        );
        let w = World::new(&*store, "Lender A").await;
        let before = store.group_commit_stats();
        let (release, holder) = hold_writer(&store).await;
        let mut calls = Vec::new();
        let mut others = Vec::new();
        for n in 0..20 {
            let write = fixtures::consent_write(&w.company, &w.nv, at(n));
            let s = Arc::clone(&store);
            calls.push(tokio::spawn(async move { s.record_consent(&write).await }));
            let s = Arc::clone(&store);
            others.push(tokio::spawn(async move {
                s.write.run(move |db| crate::conn::pragmas(db)).await
            }));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.write.queued() < 40 {
            assert!(tokio::time::Instant::now() < deadline, "never queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        for other in others {
            other.await.unwrap().unwrap();
        }
        let after = store.group_commit_stats();
        assert_eq!(after.batches - before.batches, 1, "one commit for all");
    }

    /// Transactions queued among consents join the consents' commit (one fsync for every kind
    /// of durable write); a transaction that fails is rolled back alone, and every caller hears
    /// its own outcome.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn transactions_and_consents_share_one_commit() {
        use accord_domain::ids::CompanyId;
        use accord_domain::tenant::Company;
        use accord_store::CompanyStore;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(
            SqliteStore::open(&dir.path().join("accord.db"))
                .await
                .unwrap(),
        );
        let w = World::new(&*store, "Lender A").await;
        let before = store.group_commit_stats();
        let (release, holder) = hold_writer(&store).await;
        let mut consents = Vec::new();
        let mut companies = Vec::new();
        for n in 0..10 {
            let write = fixtures::consent_write(&w.company, &w.nv, at(n));
            let s = Arc::clone(&store);
            consents.push(tokio::spawn(async move { s.record_consent(&write).await }));
            // The last company reuses the first one's id: it must fail alone.
            let company = Company {
                id: if n == 9 {
                    companies
                        .first()
                        .map_or_else(CompanyId::new, |(c, _): &(Company, _)| c.id)
                } else {
                    CompanyId::new()
                },
                tenant_id: w.tenant.id,
                name: format!("Company {n}"),
                external_id: None,
                created_at: at(n),
            };
            let (s, c) = (Arc::clone(&store), company.clone());
            companies.push((
                company,
                tokio::spawn(async move { s.create_company(&c).await }),
            ));
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while store.write.queued() < 20 {
            assert!(tokio::time::Instant::now() < deadline, "never queued");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for call in consents {
            call.await.unwrap().unwrap();
        }
        let mut failed = 0;
        for (company, call) in companies {
            match call.await.unwrap() {
                Ok(()) => {
                    let stored = store.company(w.tenant.id, company.id).await.unwrap();
                    assert_eq!(stored.map(|c| c.name), Some(company.name));
                }
                Err(StoreError::Conflict(_)) => failed += 1,
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(failed, 1, "only the duplicate company fails");
        let after = store.group_commit_stats();
        assert_eq!(after.batches - before.batches, 1, "one commit for all");
        assert_eq!(after.largest_batch, 20);
        assert_eq!(
            store
                .company_connections(w.tenant.id, w.company.id)
                .await
                .unwrap()
                .len(),
            10
        );
    }
}
