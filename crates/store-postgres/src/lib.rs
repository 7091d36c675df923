//! Accord's PostgreSQL store: the [`Store`] roles on one PostgreSQL database that several
//! stateless Accord instances share (scale-out; the embedded default is `store-sqlite`).
//!
//! Each role trait of `accord_store` is implemented for [`PgStore`] by the module of the same
//! name, with its SQL in place: [`tenants`], [`settings`], [`companies`], [`notices`], [`flow`],
//! [`connections`], [`consents`], [`ledger`], [`support`], [`funnel`], [`jobs`], [`nda`],
//! [`webhooks`], [`access`]. This file holds only the store itself: connecting, migrating,
//! closing, `ping`.
//!
//! [`PgStore::connect_read_only`] connects to verify the database (`accord ledger verify`):
//! every transaction read-only, no migration, the schema checked instead ([`migrate`]).
//!
//! One connection pool per instance, with limits ([`PgOptions`]). At start-up the server's
//! durability settings are checked ([`conn`]): a server that may acknowledge a commit it has not
//! made durable is refused unless explicitly allowed. Migrations (`migrations/`) run under
//! PostgreSQL's advisory lock, so instances starting together apply them once.
//!
//! What makes several instances safe is in the SQL of each area: single-use flow artifacts are
//! consumed by one conditional `update … returning` / `delete … returning` ([`flow`]); jobs are
//! claimed with `for update skip locked` ([`jobs`]); a disconnect locks its connection row
//! ([`connections`]); notice numbers come from an `on conflict do update` ([`notices`]).
//! Consent writes go through the group-commit writer ([`writer`]), which batches concurrent
//! callers into one statement ([`batch`]) and one commit each; access-log writes are grouped
//! the same way ([`access`]). A connection's refresh lease is one conditional update of its
//! row ([`connections`]), so one instance at a time refreshes its tokens.

mod access;
mod batch;
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
mod notify;
mod settings;
mod support;
mod tenants;
mod webhooks;
mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use conn::{Durability, PgOptions};
pub use migrate::SchemaMismatch;
pub use writer::GroupCommitStats;

use accord_store::{Result, Store};
use async_trait::async_trait;
use sqlx::PgPool;

/// Whether a database URL names a PostgreSQL database (the schemes libpq accepts).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The PostgreSQL implementation of [`Store`].
#[derive(Debug)]
pub struct PgStore {
    pool: PgPool,
    writer: writer::GroupWriter,
    /// Groups concurrent access-log writes into shared commits (`access.rs`).
    access: access::AccessWriter,
    durability: Durability,
}

impl PgStore {
    /// Connects, checks the server's durability settings, applies the migrations not yet
    /// applied, and starts the consent writers.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self> {
        let pool = conn::pool(url, &options).await?;
        let durability = conn::check_durability(&pool, options.allow_unsafe_durability).await?;
        migrate::run(&pool).await?;
        Ok(Self::on(pool, &options, durability))
    }

    /// Connects to read the database and nothing else, as a verification must: every session
    /// starts with `default_transaction_read_only = on`, so the server refuses any write
    /// (SQLSTATE 25006) whatever code path tried it; no migration runs (an older database
    /// would be upgraded by it: changed evidence), and a database whose schema is not exactly
    /// this version's is refused with a [`SchemaMismatch`] naming both versions. The server's
    /// durability settings are read but not held against it: nothing is committed here.
    pub async fn connect_read_only(url: &str, options: PgOptions) -> Result<Self> {
        let connect = conn::connect_options(url, &options)?
            .options([("default_transaction_read_only", "on")]);
        let pool = conn::pool_with(connect, &options).await?;
        migrate::check_current(&pool).await?;
        let durability = conn::durability(&pool).await?;
        Ok(Self::on(pool, &options, durability))
    }

    /// The store on an open pool, its writers started (idle until a write comes).
    fn on(pool: PgPool, options: &PgOptions, durability: Durability) -> Self {
        let writer = writer::GroupWriter::spawn(&pool, options.consent_writers);
        let access = access::AccessWriter::spawn(&pool);
        Self {
            pool,
            writer,
            access,
            durability,
        }
    }

    /// Applies the migrations not yet applied; a no-op on an up-to-date database. Returns the
    /// versions now applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        migrate::run(&self.pool).await?;
        let versions: Vec<i64> = sqlx::query_scalar(
            "select version from _sqlx_migrations where success order by version",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(error::db)?;
        Ok(versions)
    }

    /// The durability settings the server reported at start-up.
    pub fn durability(&self) -> &Durability {
        &self.durability
    }

    /// What the group-commit writers have done so far.
    pub fn group_commit_stats(&self) -> GroupCommitStats {
        self.writer.stats()
    }

    /// Closes every connection, waiting for the ones in use (graceful shutdown). Calls made
    /// afterwards fail with `Backend`.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for PgStore {
    async fn ping(&self) -> Result<()> {
        sqlx::query("select 1")
            .execute(&self.pool)
            .await
            .map_err(error::db)?;
        Ok(())
    }

    fn pool_status(&self) -> accord_store::PoolStatus {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        accord_store::PoolStatus {
            backend: "postgres",
            open: self.pool.size(),
            idle,
            max: self.pool.options().get_max_connections(),
        }
    }
}
