//! The SQLite store's integration tests: the shared conformance suite on a fresh database file
//! per test, then what only SQLite has (pragmas, triggers, the group-commit writer, reopening,
//! migrations).

mod migrations;
mod read_only;
mod sqlite;

use accord_store::Store;
use accord_store_sqlite::SqliteStore;
use std::sync::Arc;
use tempfile::TempDir;

/// A fresh store on a new file in its own temporary directory (kept alive by the caller).
pub async fn fresh_store() -> (Arc<SqliteStore>, TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = SqliteStore::open(&dir.path().join("accord.db"))
        .await
        .expect("open store");
    (Arc::new(store), dir)
}

/// The same, as the trait object the rest of Accord sees.
async fn fresh_dyn_store() -> (Arc<dyn Store>, TempDir) {
    let (store, dir) = fresh_store().await;
    (store, dir)
}

mod conformance {
    accord_store::conformance_tests!(super::fresh_dyn_store);
}
