//! Opening the database: the pragmas every connection gets, the read pool, the single writer
//! connection, and the `begin immediate` transactions writes run in.

use crate::error::db;
use accord_store::Result;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::time::Duration;

/// How long a connection waits for a lock held by another process (a backup, `accord migrate`)
/// before failing with `SQLITE_BUSY`. Inside one process writes never wait on each other in
/// SQLite: they queue for the single writer connection instead.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The options of every connection (DESIGN.md: WAL with `synchronous=FULL`, never loosened;
/// foreign keys on, since SQLite defaults them off per connection).
fn options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
}

/// WAL frames after which the writer checkpoints by itself, after its commit (32 MB of WAL with
/// 4 KB pages). The checkpointer ([`checkpoint_pool`]) has by then copied all but the last few
/// commits' frames, so this checkpoint is short; and it is what keeps the WAL short under a
/// steady stream of commits. SQLite starts the WAL over only at a commit that finds every frame
/// already copied, which the checkpointer alone, always a few commits behind, never achieves:
/// with it alone the WAL grew past 300 MB in a 10 s run, and every page lookup in the WAL's
/// index grew slower with it.
const WRITER_AUTOCHECKPOINT_PAGES: &str = "8192";

/// Pages of the writer's cache (16 MiB at 4 KB a page, `cache_size` in KiB when negative): the
/// pages a batch of consents touches (the last leaves of every table and index, and one leaf per
/// company in the per-company indexes) stay in memory instead of being read again each batch.
const WRITER_CACHE_KIB: &str = "-16384";

/// How often the checkpointer copies committed WAL frames into the database file.
pub(crate) const CHECKPOINT_EVERY: Duration = Duration::from_millis(50);

/// The pool of the one connection that writes. SQLite takes one writer at a time anyway; keeping
/// it to one connection in the process turns lock contention (and `SQLITE_BUSY` retries) into a
/// plain queue, and lets the group-commit writer batch what is waiting in that queue.
///
/// Everything on this connection is on the path of every write of the process, so costs are
/// kept off it. Statement journals (a statement that may fail half-way, such as an insert with
/// constraints, journals the pages it changes so it can undo just itself) live in memory rather
/// than in temporary files; its page cache holds what every batch touches. And the WAL
/// checkpoint, which SQLite otherwise runs inside the commit that crosses 1,000 frames (copying
/// pages to the database file and syncing it), is mostly the checkpointer's job: the writer
/// copies only what is left at [`WRITER_AUTOCHECKPOINT_PAGES`]. None of this changes
/// durability: a commit is on disk once its WAL frames are synced (`synchronous=FULL`).
pub(crate) async fn write_pool(path: &Path) -> Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(
            options(path)
                .create_if_missing(true)
                .pragma("temp_store", "memory")
                .pragma("cache_size", WRITER_CACHE_KIB)
                .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES),
        )
        .await
        .map_err(db)
}

/// The connection that checkpoints the WAL, beside the writer rather than inside its commits.
/// It writes only the database file, never rows.
pub(crate) async fn checkpoint_pool(path: &Path) -> Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options(path).pragma("wal_autocheckpoint", "0"))
        .await
        .map_err(db)
}

/// Checkpoints every [`CHECKPOINT_EVERY`] until the pool is closed or `stop` is dropped (the
/// store closed or dropped). A passive checkpoint never waits for the writer or the readers: it
/// copies what no reader still needs and leaves the rest for the next round.
pub(crate) async fn run_checkpoints(
    pool: SqlitePool,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut every = tokio::time::interval(CHECKPOINT_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = &mut stop => {
                pool.close().await;
                return;
            }
        }
        if pool.is_closed() {
            return;
        }
        if let Err(e) = sqlx::query("pragma wal_checkpoint(passive)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed; the writer checkpoints if it falls behind");
        }
    }
}

/// The pool readers share. WAL lets them read a committed snapshot while the writer writes;
/// they are opened read-only so no code path can write around the writer.
pub(crate) async fn read_pool(path: &Path) -> Result<SqlitePool> {
    let size = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(4, 16));
    SqlitePoolOptions::new()
        .max_connections(u32::try_from(size).unwrap_or(4))
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options(path).read_only(true))
        .await
        .map_err(db)
}

/// A write transaction on the writer connection. `immediate` takes the write lock at `begin`,
/// so a transaction that reads before writing cannot fail half-way on a lock upgrade. Dropped
/// without `commit` (an error, a cancelled request), it rolls back.
pub(crate) async fn begin(write: &SqlitePool) -> Result<Transaction<'static, Sqlite>> {
    write.begin_with("begin immediate").await.map_err(db)
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

pub(crate) async fn pragmas(conn: &mut SqliteConnection) -> Result<ConnectionPragmas> {
    let journal_mode: String = sqlx::query_scalar("pragma journal_mode")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let synchronous: i64 = sqlx::query_scalar("pragma synchronous")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let foreign_keys: i64 = sqlx::query_scalar("pragma foreign_keys")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    let busy_timeout_ms: i64 = sqlx::query_scalar("pragma busy_timeout")
        .fetch_one(&mut *conn)
        .await
        .map_err(db)?;
    Ok(ConnectionPragmas {
        journal_mode,
        synchronous,
        foreign_keys: foreign_keys == 1,
        busy_timeout_ms,
    })
}
