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
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The pool of the one connection that writes. SQLite takes one writer at a time anyway; keeping
/// it to one connection in the process turns lock contention (and `SQLITE_BUSY` retries) into a
/// plain queue, and lets the group-commit writer batch what is waiting in that queue.
pub(crate) async fn write_pool(path: &Path) -> Result<SqlitePool> {
    SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .acquire_timeout(Duration::from_secs(30))
        .connect_with(options(path).create_if_missing(true))
        .await
        .map_err(db)
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
