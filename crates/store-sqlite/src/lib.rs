//! Accord's embedded store: every role of [`Store`] on one SQLite file, through one driver
//! (rusqlite).
//!
//! WAL journal, `synchronous=FULL`, foreign keys on and a busy timeout on every connection
//! ([`conn`]). All writes run on one writer thread that owns the one writer connection
//! ([`writer`]), each store call a single message to it; concurrent durable writes (consents,
//! access records, store transactions) are batched there into one commit (group commit). Reads run on a small pool of read-only connections,
//! each call a single hand-over to a blocking thread. A checkpointer beside the writer keeps
//! the WAL short. Each role trait is implemented by the module of the same name, with its SQL;
//! the schema and its conventions are in `migrations/`, applied by [`migrate`].
//!
//! [`SqliteStore::open_read_only`] opens the file to verify it (`accord ledger verify`): the
//! read connections alone, no migration, no tree building, no checkpointer, and no writer
//! (every write refused with [`ReadOnly`]).

mod access;
mod codec;
mod companies;
mod conn;
mod connections;
mod consents;
mod console;
mod error;
mod flow;
mod funnel;
mod jobs;
mod ledger;
mod migrate;
mod nda;
mod notices;
mod settings;
mod support;
mod tenants;
mod tree_cache;
mod webhooks;
mod writer;

pub use conn::{ConnectionPragmas, WalUnreadable};
pub use migrate::SchemaMismatch;
pub use writer::{GroupCommitStats, ReadOnly};

use accord_store::{Result, Store};
use async_trait::async_trait;
use std::path::Path;
use std::sync::Arc;

/// The SQLite implementation of [`Store`].
#[derive(Debug)]
pub struct SqliteStore {
    /// The read-only connections (`conn::Readers`).
    read: Arc<conn::Readers>,
    /// The writer thread and its connection: every write of the process queues for it (none
    /// in a store opened read-only).
    write: writer::Writer,
    /// Copies the WAL into the database file beside the writer; stops with the store (none in
    /// a store opened read-only).
    checkpointer: conn::Checkpointer,
    /// The upper nodes and asked-for roots of the ledgers' Merkle trees (`tree_cache`).
    tree_cache: tree_cache::TreeCache,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file, applies pragmas, runs migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let (db, read, checkpointer) = tokio::task::spawn_blocking(move || {
            let mut db = conn::open_writer(&path)?;
            migrate::run(&mut db)?;
            ledger::build_missing_trees(&mut db)?;
            let read = conn::Readers::open(&path)?;
            let checkpointer = conn::Checkpointer::spawn(&path)?;
            Ok::<_, accord_store::StoreError>((db, read, checkpointer))
        })
        .await
        .map_err(|e| error::backend(format!("opening the database stopped: {e}")))??;
        Ok(Self {
            read: Arc::new(read),
            write: writer::Writer::spawn(db)?,
            checkpointer,
            tree_cache: tree_cache::TreeCache::default(),
        })
    }

    /// Opens an existing database to read it and nothing else, as a verification must: the
    /// bytes of the file are left as they were, a read-only copy (mode 0444, a read-only mount)
    /// can be read, and what is read includes the commits still in the WAL.
    ///
    /// No migration runs (an older database would be upgraded by it: changed evidence), no
    /// missing Merkle tree is built, no checkpointer starts, and there is no writer: every
    /// write fails with `Backend` whose source is [`ReadOnly`]. A database whose schema is not
    /// exactly this version's is refused with a [`SchemaMismatch`] naming both versions; one
    /// that cannot be read where it lies, with a [`WalUnreadable`] (see `conn.rs`).
    pub async fn open_read_only(path: &Path) -> Result<Self> {
        let path = path.to_owned();
        let read = tokio::task::spawn_blocking(move || conn::Readers::open_verifying(&path))
            .await
            .map_err(|e| error::backend(format!("opening the database stopped: {e}")))??;
        let read = Arc::new(read);
        read.run(migrate::check_current).await?;
        Ok(Self {
            read,
            write: writer::Writer::read_only(),
            checkpointer: conn::Checkpointer::none(),
            tree_cache: tree_cache::TreeCache::default(),
        })
    }

    /// Applies the migrations not yet applied; a no-op on an up-to-date database.
    pub async fn migrate(&self) -> Result<()> {
        self.write.run(migrate::run).await
    }

    /// The pragmas in effect on a read connection and on the writer connection, in that order
    /// (for `/readyz`-style diagnostics and the tests that hold the store to its durability).
    pub async fn pragmas(&self) -> Result<[ConnectionPragmas; 2]> {
        let reader = self.read.run(conn::pragmas).await?;
        let writer = self.write.run(|db| conn::pragmas(db)).await?;
        Ok([reader, writer])
    }

    /// What the group commit has done so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.write.stats()
    }

    /// Closes every connection, after the writes already queued (graceful shutdown). Calls made
    /// afterwards fail with `Backend`.
    pub async fn close(&self) {
        self.write.close().await;
        self.read.close();
        self.checkpointer.close().await;
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<()> {
        self.read
            .run(|db| {
                db.query_row("select 1", [], |_| Ok(()))
                    .map_err(error::sqlite)
            })
            .await
    }

    fn pool_status(&self) -> accord_store::PoolStatus {
        let (open, idle, max) = self.read.status();
        accord_store::PoolStatus {
            backend: "sqlite",
            open,
            idle,
            max,
        }
    }
}
