//! Connecting: the pool and its limits, and the start-up check that the server really makes a
//! commit durable before it is acknowledged. A consent is proof: nothing is acknowledged before
//! its commit, and a commit that `fsync = off` acknowledges can vanish in a crash.

use crate::error::{backend, db};
use accord_store::Result;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection as _, PgConnection, PgPool};
use std::str::FromStr;
use std::time::Duration;

/// How Accord connects to PostgreSQL. `Default` suits one instance of a small installation; each
/// instance of a scaled-out deployment holds up to `max_connections` server connections, so the
/// sum over instances must stay below the server's `max_connections` (docs/deployment.md).
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// The most connections this instance opens (reads, writes and the consent writers share them).
    pub max_connections: u32,
    /// Connections kept open when idle.
    pub min_connections: u32,
    /// How long a call waits for a connection before failing with `Unavailable` (a 503): while
    /// the server is down, every call waits this long, so it stays short; the pool keeps trying
    /// to connect meanwhile and recovers on its own once the server is back.
    pub acquire_timeout: Duration,
    /// Start even if the server may acknowledge commits it has not made durable (`fsync`,
    /// `synchronous_commit` or `full_page_writes` off). For throwaway test servers only.
    pub allow_unsafe_durability: bool,
    /// Lanes of the group-commit writer (see `writer.rs`): batches of consents this instance
    /// may have in flight at once, a tenant's consents always in the same lane. One measured
    /// best on the machines of docs/benchmarks.md: a tenant's batches take turns on its ledger
    /// chain anyway, and more lanes only split the load into smaller batches and more commits.
    /// More can pay on a server with many cores and slow commits (network storage).
    pub consent_writers: usize,
    /// Shown in `pg_stat_activity`, so an operator can tell Accord's sessions apart.
    pub application_name: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 0,
            acquire_timeout: Duration::from_secs(5),
            allow_unsafe_durability: false,
            consent_writers: 1,
            application_name: "accord".into(),
        }
    }
}

/// Opens the pool. The URL is `postgres://` or `postgresql://` with libpq's parameters; it may
/// hold a password, so it is never logged and never part of an error.
///
/// One connection is opened first, on its own: a wrong host, password or database name then
/// fails at once with the server's reason, instead of the pool retrying until its acquire
/// timeout and reporting only that it timed out.
pub(crate) async fn pool(url: &str, options: &PgOptions) -> Result<PgPool> {
    pool_with(connect_options(url, options)?, options).await
}

/// The options every connection of Accord's is made with: the URL's, Accord's name, and the
/// session settings below. A caller may add settings of its own (a read-only verification).
pub(crate) fn connect_options(url: &str, options: &PgOptions) -> Result<PgConnectOptions> {
    let connect = PgConnectOptions::from_str(url)
        .map_err(|e| {
            backend(format!(
                "database.url is not a valid PostgreSQL URL: {}",
                redact(&e)
            ))
        })?
        .application_name(&options.application_name)
        .options([
            // The server's NOTICEs ("relation … already exists, skipping" at each migration
            // check) are not news to an operator; warnings and errors still come through.
            ("client_min_messages", "warning"),
            // Every query of Accord is meant to be an index lookup (migrations/0001_initial.sql).
            // PostgreSQL caches the plan of a prepared statement (and of each foreign-key check)
            // made while a table was still small, until autovacuum next analyzes it; a new
            // deployment under load would meanwhile scan whole tables from such plans (measured:
            // the consent batch's supersede step scanning every consent, 12 ms a batch after a
            // few seconds). Making scans the last resort keeps those plans on the indexes.
            ("enable_seqscan", "off"),
        ]);
    Ok(connect)
}

/// The pool on `connect`, after one connection on its own (see [`pool`]).
pub(crate) async fn pool_with(connect: PgConnectOptions, options: &PgOptions) -> Result<PgPool> {
    let probe = PgConnection::connect_with(&connect).await.map_err(db)?;
    let _ = probe.close().await;
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .min_connections(options.min_connections.min(options.max_connections))
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(db)
}

/// sqlx's URL errors quote the URL; keep only their kind.
fn redact(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Configuration(_) => "malformed URL or unknown parameter",
        _ => "unreadable URL",
    }
}

/// The server settings that decide whether a commit survives a crash, as the server reports
/// them to Accord's own sessions (a role or database may override the server's defaults).
/// `None`: the server does not report the setting (some PostgreSQL-compatible services).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Durability {
    pub fsync: Option<String>,
    pub synchronous_commit: Option<String>,
    pub full_page_writes: Option<String>,
}

impl Durability {
    /// The settings that make acknowledged commits losable in a crash:
    /// `fsync = off` (nothing is flushed), `synchronous_commit = off` (acknowledged before the
    /// WAL flush), `full_page_writes = off` (a torn page cannot be repaired from WAL).
    pub fn unsafe_settings(&self) -> Vec<String> {
        [
            ("fsync", &self.fsync),
            ("synchronous_commit", &self.synchronous_commit),
            ("full_page_writes", &self.full_page_writes),
        ]
        .into_iter()
        .filter(|(_, v)| v.as_deref() == Some("off"))
        .map(|(k, _)| format!("{k} = off"))
        .collect()
    }
}

pub(crate) async fn durability(pool: &PgPool) -> Result<Durability> {
    // `current_setting(name, true)` answers null instead of failing for an unknown setting.
    let (fsync, synchronous_commit, full_page_writes) = sqlx::query_as(
        "select current_setting('fsync', true), current_setting('synchronous_commit', true),
             current_setting('full_page_writes', true)",
    )
    .fetch_one(pool)
    .await
    .map_err(db)?;
    Ok(Durability {
        fsync,
        synchronous_commit,
        full_page_writes,
    })
}

/// Refuses to start on a server that may lose acknowledged commits, unless the operator said
/// so explicitly; a setting the server does not report is accepted with a warning.
pub(crate) async fn check_durability(pool: &PgPool, allow_unsafe: bool) -> Result<Durability> {
    let d = durability(pool).await?;
    let unsafe_settings = d.unsafe_settings();
    if !unsafe_settings.is_empty() {
        let list = unsafe_settings.join(", ");
        if !allow_unsafe {
            return Err(backend(format!(
                "the PostgreSQL server may lose acknowledged commits ({list}); turn these settings \
                 on, or set database.allow_unsafe_durability = true for a throwaway test server"
            )));
        }
        tracing::warn!(settings = %list, "PostgreSQL durability is off by configuration (database.allow_unsafe_durability); acknowledged consents can be lost in a crash");
    }
    for (name, value) in [
        ("fsync", &d.fsync),
        ("synchronous_commit", &d.synchronous_commit),
        ("full_page_writes", &d.full_page_writes),
    ] {
        if value.is_none() {
            tracing::warn!(setting = name, "the PostgreSQL server does not report this durability setting; assuming the service manages it");
        }
    }
    Ok(d)
}
