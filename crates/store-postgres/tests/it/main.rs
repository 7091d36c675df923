//! The PostgreSQL store's integration tests: the shared conformance suite on a fresh database
//! per test, then what only PostgreSQL has (durability check, triggers, the group-commit
//! writers, several stores on one database).
//!
//! They need a server: `ACCORD_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres`.
//! Without it each test prints a note and returns (`accord_store_postgres::testing`), so
//! `cargo test` passes with no services; `.ci/run` sets it.

mod access;
mod batch;
mod notices;
mod postgres;
mod read_only;

use accord_store::Store;
use accord_store_postgres::testing::TestDatabase;
use accord_store_postgres::PgStore;
use std::sync::Arc;

/// A fresh store on a new database (kept until the guard drops), or `None` when the
/// PostgreSQL tests are not enabled.
pub async fn fresh_store() -> Option<(Arc<PgStore>, TestDatabase)> {
    let db = TestDatabase::create().await?;
    let store = db.store().await;
    Some((Arc::new(store), db))
}

/// The same, as the trait object the rest of Accord sees.
async fn fresh_dyn_store() -> Option<(Arc<dyn Store>, TestDatabase)> {
    let (store, db) = fresh_store().await?;
    Some((store, db))
}

mod conformance {
    accord_store::conformance_tests!(optional: super::fresh_dyn_store);
}
