//! Test support (feature `testing`), for this crate's tests and for other crates' tests that
//! run Accord on PostgreSQL: a fresh, empty database per test, dropped afterwards.
//!
//! The tests are gated on [`URL_VAR`]: unset, [`TestDatabase::create`] answers `None` after a
//! note on stderr and the test returns early, so a plain `cargo test` needs no PostgreSQL.
//! Set, it must name a reachable server's maintenance database, e.g.
//! `ACCORD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres`; a test then fails
//! loudly if the server is down rather than passing without having run.

use crate::{PgOptions, PgStore};
use accord_domain::ids::JobId;
use sqlx::{Connection as _, PgConnection};

/// The environment variable naming the maintenance database of the test server.
pub const URL_VAR: &str = "ACCORD_TEST_POSTGRES_URL";

/// The maintenance database URL, if the PostgreSQL tests are enabled.
pub fn admin_url() -> Option<String> {
    std::env::var(URL_VAR).ok().filter(|v| !v.trim().is_empty())
}

/// A database `accord_test_<random>` created for one test and dropped (with its connections)
/// when this value is dropped, even when the test panics.
#[derive(Debug)]
pub struct TestDatabase {
    name: String,
    url: String,
    admin_url: String,
}

impl TestDatabase {
    /// Creates the database, or answers `None` (with a note) when [`URL_VAR`] is unset.
    /// Panics when the variable is set but the server cannot create it.
    pub async fn create() -> Option<Self> {
        let Some(admin_url) = admin_url() else {
            eprintln!(
                "note: {URL_VAR} is not set; this PostgreSQL test did nothing \
                 (set it to e.g. postgres://postgres@127.0.0.1:5432/postgres to run it)"
            );
            return None;
        };
        let name = format!("accord_test_{:016x}", rand::random::<u64>());
        let mut url =
            url::Url::parse(&admin_url).unwrap_or_else(|e| panic!("{URL_VAR} is not a URL: {e}"));
        url.set_path(&name);
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {URL_VAR}'s server: {e}"));
        // The name is ours (hex digits), not input: quoting it is enough.
        sqlx::query(&format!("create database \"{name}\""))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        Some(Self {
            name,
            url: url.into(),
            admin_url,
        })
    }

    /// The URL of this database (the maintenance URL with the database name replaced).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// A store on this database with the options tests use: a small pool (many test databases
    /// live at once on one server).
    pub async fn store(&self) -> PgStore {
        PgStore::connect(&self.url, test_options())
            .await
            .unwrap_or_else(|e| panic!("cannot open the store on {}: {e}", self.name))
    }

    /// A raw connection to this database, as an operator with `psql` would have.
    pub async fn raw(&self) -> PgConnection {
        PgConnection::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.name))
    }

    /// Every job of this database, oldest first. No API lists jobs, and a finished job's
    /// payload no longer names its connection, so tests count jobs here.
    pub async fn job_ids(&self) -> Vec<JobId> {
        let mut conn = self.raw().await;
        let ids: Vec<uuid::Uuid> = sqlx::query_scalar("select id from jobs order by id")
            .fetch_all(&mut conn)
            .await
            .expect("list jobs");
        let _ = conn.close().await;
        ids.into_iter().map(JobId::from).collect()
    }
}

/// The pool options of test stores.
pub fn test_options() -> PgOptions {
    PgOptions {
        max_connections: 6,
        // Two lanes, so the suite's multi-tenant cases also run batches side by side.
        consent_writers: 2,
        ..PgOptions::default()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, where blocking on a future is not allowed: use a
        // thread with a runtime of its own. `with (force)` ends the store's pooled connections.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect(&admin_url)
                    .await
                    .map_err(|e| e.to_string())?;
                sqlx::query(&format!("drop database if exists \"{name}\" with (force)"))
                    .execute(&mut admin)
                    .await
                    .map_err(|e| e.to_string())?;
                let _ = admin.close().await;
                Ok::<_, String>(())
            })
        })
        .join();
        match dropped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!(
                "warning: could not drop the test database {}: {e}",
                self.name
            ),
            Err(_) => eprintln!("warning: dropping the test database {} panicked", self.name),
        }
    }
}
