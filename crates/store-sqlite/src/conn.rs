//! Opening the database: the pragmas every connection gets, the read-only connections reads
//! run on, and the checkpointer beside the writer (the writer itself is `writer.rs`).
//!
//! Reads run on a small pool of read-only connections, each call one closure on one connection
//! in tokio's blocking pool (`spawn_blocking`), after taking a permit from a semaphore as large as
//! the pool. That is one hand-over to a thread per call, as a dedicated reader thread would
//! cost, and the blocking pool keeps its idle threads warm the same way; but a caller that finds
//! every connection busy waits for a permit as a task, in the runtime, instead of as a parked
//! thread in front of a lock, and long reads (a page of the ledger) and short ones share the
//! same connections and statement caches without a dispatcher of their own. WAL lets the readers
//! read a committed snapshot while the writer writes; they are opened read-only so no code path
//! can write around the writer.
//!
//! Point reads — a row or a few by key, as every page of the flow makes several of (its browser
//! session, tenant, company, link session, logo) — run on the calling task's own thread instead
//! ([`Readers::run_point`]): such a read costs a few microseconds, less than waking a blocking
//! thread and being woken by it, which is what a hand-over costs twice per call. Reads of
//! unbounded size (lists, pages of the ledger) keep the hand-over, so a worker thread is never
//! held by them.
//!
//! A store opened to verify the database ([`Readers::open_verifying`]) has these readers and
//! nothing else: no writer, no checkpointer. They read the committed frames still in the WAL
//! like any reader (never `immutable=1` while a WAL may hold some), and SQLite writes nothing
//! of the database file through them (it is opened `O_RDONLY`); it may create the empty `-wal`
//! and the `-shm` index beside a WAL database that has none, as any reader does. Where it
//! cannot (a read-only directory or mount), see [`first_verifying`].

use crate::error::{backend, sqlite};
use accord_store::{Result, StoreError};
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::Semaphore;

/// How long a connection waits for a lock held by another process (a backup, `accord migrate`)
/// before failing with `SQLITE_BUSY`. Inside one process writes never wait on each other in
/// SQLite: they queue for the single writer connection instead.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// WAL frames after which the writer checkpoints by itself, after its commit (32 MB of WAL with
/// 4 KB pages). The checkpointer ([`Checkpointer`]) has by then copied all but the last few
/// commits' frames, so this checkpoint is short; and it is what keeps the WAL short under a
/// steady stream of commits. SQLite starts the WAL over only at a commit that finds every frame
/// already copied, which the checkpointer alone, always a few commits behind, never achieves:
/// with it alone the WAL grew past 300 MB in a 10 s run, and every page lookup in the WAL's
/// index grew slower with it.
const WRITER_AUTOCHECKPOINT_PAGES: u32 = 8192;

/// Pages of the writer's cache (16 MiB at 4 KB a page, `cache_size` in KiB when negative): the
/// pages a batch of consents touches (the last leaves of every table and index, and one leaf per
/// company in the per-company indexes) stay in memory instead of being read again each batch.
const WRITER_CACHE_KIB: i64 = -16384;

/// Prepared statements each connection keeps (`prepare_cached`): more than the store has
/// distinct statements for one connection, so none is ever prepared twice.
const STATEMENT_CACHE: usize = 256;

/// How often the checkpointer copies committed WAL frames into the database file.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// Opens one connection with the pragmas every connection gets: WAL with `synchronous=FULL`,
/// never loosened, so a commit is on disk before it is acknowledged; foreign keys on, since
/// SQLite defaults them off per connection; and the busy timeout.
fn open(path: impl AsRef<Path>, flags: OpenFlags) -> Result<Connection> {
    let db = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(sqlite)?;
    db.busy_timeout(BUSY_TIMEOUT).map_err(sqlite)?;
    db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    if !flags.contains(OpenFlags::SQLITE_OPEN_READ_ONLY) {
        // Persistent in the file: read-only connections find it set by the writer.
        let mode: String = db
            .query_row("pragma journal_mode = wal", [], |r| r.get(0))
            .map_err(sqlite)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(backend(format!(
                "the database refused WAL journaling (journal_mode is {mode})"
            )));
        }
    }
    db.execute_batch("pragma synchronous = full; pragma foreign_keys = on;")
        .map_err(sqlite)?;
    Ok(db)
}

/// The one connection that writes. SQLite takes one writer at a time anyway; keeping it to one
/// connection in the process, owned by the writer thread, turns lock contention (and
/// `SQLITE_BUSY` retries) into a plain queue, and lets the group-commit writer batch what is
/// waiting in that queue.
///
/// Everything on this connection is on the path of every write of the process, so costs are
/// kept off it. Statement journals (a statement that may fail half-way, such as an insert with
/// constraints, journals the pages it changes so it can undo just itself) live in memory rather
/// than in temporary files; its page cache holds what every batch touches. And the WAL
/// checkpoint, which SQLite otherwise runs inside the commit that crosses 1,000 frames (copying
/// pages to the database file and syncing it), is mostly the checkpointer's job: the writer
/// copies only what is left at [`WRITER_AUTOCHECKPOINT_PAGES`]. None of this changes
/// durability: a commit is on disk once its WAL frames are synced (`synchronous=FULL`).
pub(crate) fn open_writer(path: &Path) -> Result<Connection> {
    let db = open(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE,
    )?;
    db.execute_batch(&format!(
        "pragma temp_store = memory; pragma cache_size = {WRITER_CACHE_KIB};
         pragma wal_autocheckpoint = {WRITER_AUTOCHECKPOINT_PAGES};"
    ))
    .map_err(sqlite)?;
    Ok(db)
}

/// How a store's read connections reach its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadMode {
    /// Beside the writer, as the server reads.
    Serving,
    /// A verification: also `query_only`, and no checkpoint when the last connection closes.
    Verifying,
    /// A verification of a WAL database with no WAL beside it, in a directory SQLite cannot
    /// create the WAL's index in ([`first_verifying`]): `immutable=1`, as there are no WAL
    /// frames to miss.
    Immutable,
}

fn open_reader(path: &Path, mode: ReadMode) -> Result<Connection> {
    let db = match mode {
        ReadMode::Serving => return open(path, OpenFlags::SQLITE_OPEN_READ_ONLY),
        ReadMode::Verifying => open(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?,
        ReadMode::Immutable => open(
            immutable_uri(path)?,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )?,
    };
    // A read-only connection cannot write the file anyway; a verification's say so to SQLite
    // as well: no statement that writes, no checkpoint when the last one closes.
    db.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .map_err(sqlite)?;
    db.execute_batch("pragma query_only = on").map_err(sqlite)?;
    Ok(db)
}

/// `path` as an SQLite URI opening it immutable (<https://sqlite.org/uri.html>). Written out
/// rather than with a URL library: SQLite decodes only `%HH`, and only `%`, `?` and `#` end or
/// change a URI's path, so those three are all there is to escape.
fn immutable_uri(path: &Path) -> Result<String> {
    let absolute = std::path::absolute(path)
        .map_err(|e| backend(format!("cannot resolve {}: {e}", path.display())))?;
    let text = absolute.to_str().ok_or_else(|| {
        backend(format!(
            "{} is not valid UTF-8, which an SQLite URI needs",
            absolute.display()
        ))
    })?;
    let escaped = text
        .replace('%', "%25")
        .replace('?', "%3F")
        .replace('#', "%23");
    // An empty authority (`file://` then the absolute path), so a path starting with `//` is
    // not taken for one.
    Ok(format!("file://{escaped}?immutable=1"))
}

/// The file SQLite keeps beside the database with this suffix (`-wal`, `-shm`).
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Why a verification cannot read a WAL database where it lies: its WAL holds commits, the
/// WAL's index (`-shm`) is missing, and SQLite cannot create one in that directory (read-only
/// media or mount, or no write permission). Opening it `immutable` would read it without those
/// commits, silently: a verification of something other than the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{wal} holds commits not yet in {db}, and SQLite cannot create the WAL's index ({shm}) \
     in that directory (read-only media, or no write permission): copy {db} with {wal} to a \
     writable directory and verify the copy there"
)]
pub struct WalUnreadable {
    db: String,
    wal: String,
    shm: String,
}

/// Whether SQLite failed to open a file (`SQLITE_CANTOPEN`).
fn cannot_open(e: &StoreError) -> bool {
    let StoreError::Backend(e) = e else {
        return false;
    };
    e.downcast_ref::<rusqlite::Error>()
        .and_then(rusqlite::Error::sqlite_error_code)
        == Some(ErrorCode::CannotOpen)
}

/// The first reader of a verification, once it has read the schema (opening is lazy: a WAL
/// database's `-wal` and `-shm` are opened at the first read), and how it reached the file.
///
/// A WAL database that has neither `-wal` nor `-shm` (Accord stopped cleanly, or a copy of the
/// file alone) in a directory SQLite cannot create them in fails to open (`SQLITE_CANTOPEN`,
/// <https://sqlite.org/walformat.html>). With no WAL, or an empty one, every commit is in the
/// file, so it is opened `immutable=1` instead: nothing is missed, and no process can be
/// writing it meanwhile, since a writer needs those files too. A WAL with content and no
/// `-shm` cannot be read there ([`WalUnreadable`]).
fn first_verifying(path: &Path) -> Result<(Connection, ReadMode)> {
    let probe = |mode: ReadMode| -> Result<(Connection, ReadMode)> {
        let db = open_reader(path, mode)?;
        db.query_row("select count(*) from sqlite_schema", [], |r| {
            r.get::<_, i64>(0)
        })
        .map_err(sqlite)?;
        Ok((db, mode))
    };
    match probe(ReadMode::Verifying) {
        Err(e) if cannot_open(&e) && path.is_file() && !beside(path, "-shm").exists() => {
            let wal = beside(path, "-wal");
            let no_frames = match std::fs::metadata(&wal) {
                Ok(m) => m.len() == 0,
                Err(missing) => missing.kind() == std::io::ErrorKind::NotFound,
            };
            if no_frames {
                probe(ReadMode::Immutable)
            } else {
                Err(StoreError::Backend(Box::new(WalUnreadable {
                    db: path.display().to_string(),
                    wal: wal.display().to_string(),
                    shm: beside(path, "-shm").display().to_string(),
                })))
            }
        }
        opened => opened,
    }
}

/// The read-only connections and the permits that hand them out (see the module's comment).
///
/// Connections are opened when a read finds none idle, up to the pool's size, not all at start:
/// an idle instance holds only the connections its reads have needed at once (one, for the
/// flow's sequential point reads at low load), each with its parsed schema, prepared statements
/// and page cache, and starts sooner. A connection once opened stays in the pool.
#[derive(Debug)]
pub(crate) struct Readers {
    path: PathBuf,
    mode: ReadMode,
    idle: Mutex<Vec<Connection>>,
    permits: Arc<Semaphore>,
    size: usize,
}

impl Readers {
    /// The pool with one connection (after the writer has made the file a WAL database): a
    /// database that cannot be read fails at start, not on the first request.
    pub(crate) fn open(path: &Path) -> Result<Self> {
        let first = open_reader(path, ReadMode::Serving)?;
        Ok(Self::with_first(path, first, ReadMode::Serving))
    }

    /// The pool of a store opened to verify the database, with its first connection (see
    /// [`first_verifying`]); the file is never written through it.
    pub(crate) fn open_verifying(path: &Path) -> Result<Self> {
        let (first, mode) = first_verifying(path)?;
        Ok(Self::with_first(path, first, mode))
    }

    fn with_first(path: &Path, first: Connection, mode: ReadMode) -> Self {
        let size = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(4, 16));
        Self {
            path: path.to_owned(),
            mode,
            idle: Mutex::new(vec![first]),
            permits: Arc::new(Semaphore::new(size)),
            size,
        }
    }

    /// Connections open (idle plus those reads hold now), idle, and the pool's size. A read
    /// holds a permit a moment before its connection, so `open` can count one ahead.
    pub(crate) fn status(&self) -> (u32, u32, u32) {
        let idle = self.idle().len();
        let busy = self.size.saturating_sub(self.permits.available_permits());
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        (count(idle + busy), count(idle), count(self.size))
    }

    /// The idle connections. None is ever left half-changed, so a panic elsewhere while the
    /// lock was held leaves the list usable.
    fn idle(&self) -> MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `read` on an idle connection, on a blocking thread: one hand-over for the whole call,
    /// whatever it reads.
    pub(crate) async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| backend("the store is closed"))?;
        let readers = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            // With a permit in hand, no idle connection means fewer are open than the pool's
            // size (not yet needed, or one lost to a panic): this read opens one.
            let taken = readers.idle().pop();
            let db = match taken {
                Some(db) => db,
                None => open_reader(&readers.path, readers.mode)?,
            };
            let out = read(&db);
            if !readers.permits.is_closed() {
                readers.idle().push(db);
            }
            drop(permit);
            out
        })
        .await
        .map_err(|e| backend(format!("a read stopped: {e}")))?
    }

    /// Runs a point read (a few rows, by key) on an idle connection on the caller's own thread:
    /// no hand-over, for reads shorter than one (see the module's comment).
    pub(crate) async fn run_point<R>(
        self: &Arc<Self>,
        read: impl FnOnce(&Connection) -> Result<R>,
    ) -> Result<R> {
        let permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| backend("the store is closed"))?;
        // With a permit in hand, no idle connection means fewer are open than the pool's size.
        let taken = self.idle().pop();
        let db = match taken {
            Some(db) => db,
            None => open_reader(&self.path, self.mode)?,
        };
        let out = read(&db);
        if !self.permits.is_closed() {
            self.idle().push(db);
        }
        drop(permit);
        out
    }

    /// Refuses new reads and closes the idle connections; a read in flight closes its own.
    pub(crate) fn close(&self) {
        self.permits.close();
        self.idle().clear();
    }
}

/// The connection that checkpoints the WAL, on a thread of its own beside the writer rather
/// than inside its commits. It writes only the database file, never rows.
#[derive(Debug)]
pub(crate) struct Checkpointer {
    stop: Mutex<Option<Sender<()>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Checkpointer {
    /// No checkpointer, for a store opened read-only: it must not copy the WAL into the file.
    pub(crate) fn none() -> Self {
        Self {
            stop: Mutex::new(None),
            thread: Mutex::new(None),
        }
    }

    /// Checkpoints every [`CHECKPOINT_EVERY`] until stopped or dropped (the store closed or
    /// dropped). A passive checkpoint never waits for the writer or the readers: it copies what
    /// no reader still needs and leaves the rest for the next round.
    pub(crate) fn spawn(path: &Path) -> Result<Self> {
        let db = open(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        db.execute_batch("pragma wal_autocheckpoint = 0")
            .map_err(sqlite)?;
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("accord-checkpointer".into())
            .spawn(move || loop {
                match stopped.recv_timeout(CHECKPOINT_EVERY) {
                    Err(RecvTimeoutError::Timeout) => {}
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => return,
                }
                if let Err(e) = db.execute_batch("pragma wal_checkpoint(passive)") {
                    tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints if it falls behind");
                }
            })
            .map_err(|e| backend(format!("cannot start the checkpointer: {e}")))?;
        Ok(Self {
            stop: Mutex::new(Some(stop)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Stops the thread and waits for it to close its connection.
    pub(crate) async fn close(&self) {
        drop(
            self.stop
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take(),
        );
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }
}

/// The pragmas in effect on one connection, as SQLite reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionPragmas {
    /// `wal` on every connection.
    pub journal_mode: String,
    /// 2 = `FULL`: each commit is on disk before it is acknowledged.
    pub synchronous: i64,
    pub foreign_keys: bool,
    pub busy_timeout_ms: i64,
}

pub(crate) fn pragmas(db: &Connection) -> Result<ConnectionPragmas> {
    let int = |pragma: &str| {
        db.query_row(&format!("pragma {pragma}"), [], |r| r.get::<_, i64>(0))
            .map_err(sqlite)
    };
    Ok(ConnectionPragmas {
        journal_mode: db
            .query_row("pragma journal_mode", [], |r| r.get(0))
            .map_err(sqlite)?,
        synchronous: int("synchronous")?,
        foreign_keys: int("foreign_keys")? == 1,
        busy_timeout_ms: int("busy_timeout")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Barrier;

    fn tables(db: &Connection) -> Result<i64> {
        db.query_row("select count(*) from sqlite_schema", [], |r| r.get(0))
            .map_err(sqlite)
    }

    /// `n` reads that each wait inside their connection for all the others: they finish only
    /// if the pool has a connection for each at once. Returns what each read.
    async fn overlapping(readers: &Arc<Readers>, n: usize) -> Vec<i64> {
        let all_in = Arc::new(Barrier::new(n));
        let reads = (0..n).map(|_| {
            let (readers, all_in) = (Arc::clone(readers), Arc::clone(&all_in));
            tokio::spawn(async move {
                readers
                    .run(move |db| {
                        all_in.wait();
                        tables(db)
                    })
                    .await
            })
        });
        let done = tokio::time::timeout(Duration::from_secs(30), futures::future::join_all(reads))
            .await
            .expect("every overlapping read had a connection");
        done.into_iter().map(|r| r.unwrap().unwrap()).collect()
    }

    /// The pool starts with one connection and opens more only when reads overlap, up to its
    /// size and no further; after a pause each connection reads what was committed meanwhile.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn connections_open_as_reads_overlap_and_serve_after_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("accord.db");
        let writer = open_writer(&path).unwrap();
        writer.execute_batch("create table t (x integer)").unwrap();
        let readers = Arc::new(Readers::open(&path).unwrap());
        let size = readers.permits.available_permits();
        assert_eq!(readers.idle().len(), 1, "one connection at start");

        // Sequential reads, on a blocking thread or inline, reuse that one.
        for _ in 0..10 {
            assert_eq!(readers.run_point(tables).await.unwrap(), 1);
            assert_eq!(readers.run(tables).await.unwrap(), 1);
        }
        assert_eq!(readers.idle().len(), 1);

        assert_eq!(overlapping(&readers, size).await, vec![1; size]);
        assert_eq!(
            readers.idle().len(),
            size,
            "one connection per overlapping read"
        );

        // More reads than connections queue for permits and open nothing more.
        let reads: Vec<_> = (0..size * 4)
            .map(|n| {
                let readers = Arc::clone(&readers);
                tokio::spawn(async move {
                    if n % 2 == 0 {
                        readers.run(tables).await
                    } else {
                        readers.run_point(tables).await
                    }
                })
            })
            .collect();
        for read in reads {
            assert_eq!(read.await.unwrap().unwrap(), 1);
        }
        assert_eq!(readers.idle().len(), size);

        // Idle a while, then a write none of them saw: every connection reads it.
        tokio::time::sleep(Duration::from_millis(200)).await;
        writer.execute_batch("create table u (y integer)").unwrap();
        assert_eq!(overlapping(&readers, size).await, vec![2; size]);
        assert_eq!(readers.run_point(tables).await.unwrap(), 2);
        assert_eq!(readers.idle().len(), size);

        readers.close();
        assert!(readers.run(tables).await.is_err(), "closed");
    }
}
