//! `accord backup` under load and `accord restore`: a backup taken from another process while
//! `accord demo` writes consents restores to a database whose ledger verifies and which holds
//! every consent acknowledged before the backup began; a restore is refused while a server has
//! the database open; PostgreSQL deployments are told to use the database's own tools.

use crate::crash::{consent_body, spawn_writers, start_demo};
use crate::startup::{accord, run, CHILD_TIMEOUT};
use accord_domain::ids::ConsentId;
use accord_store::ConsentStore;
use accord_store_sqlite::SqliteStore;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_load_restores_every_acknowledged_consent() {
    let live = tempfile::tempdir().unwrap();
    let (mut child, demo) = start_demo(live.path()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let body = consent_body(&http, &demo).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&http, &demo, &body, &acknowledged, &stop);
    tokio::time::timeout(CHILD_TIMEOUT, async {
        while acknowledged.lock().unwrap().len() < 100 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("consents are acknowledged in time");

    // The backup, from another process, while the writers go on.
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("accord-backup.db");
    let mut backup = accord();
    backup
        .args(["backup", "--to"])
        .arg(&file)
        .arg("--data-dir")
        .arg(live.path());
    let ran = run(backup).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("key file"), "{}", ran.stdout);

    // Not over a database a server has open.
    let mut refused = accord();
    refused
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(live.path());
    let ran = run(refused).await;
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("in use"), "{}", ran.stderr);

    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    child.start_kill().unwrap();
    let _ = tokio::time::timeout(CHILD_TIMEOUT, child.wait()).await;

    // Into a new data directory, with the key file copied beside it as an operator would.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(
        live.path().join("keys.toml"),
        restored.path().join("keys.toml"),
    )
    .unwrap();
    let mut restore = accord();
    restore
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data-dir")
        .arg(restored.path());
    let ran = run(restore).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("migrations applied"), "{}", ran.stdout);

    let mut verify = accord();
    verify
        .args(["ledger", "verify", "--data-dir"])
        .arg(restored.path());
    let ran = run(verify).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);

    let store = SqliteStore::open(&restored.path().join("accord.db"))
        .await
        .unwrap();
    for id in &before {
        let id: ConsentId = id.parse().unwrap();
        assert!(
            store.consent(demo.tenant, id).await.unwrap().is_some(),
            "consent {id}, acknowledged before the backup began, is in it"
        );
    }
    store.close().await;
}

#[tokio::test]
async fn a_damaged_backup_is_refused_and_nothing_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.db");
    std::fs::write(&bad, b"this is not a database").unwrap();
    let mut restore = accord();
    restore
        .args(["restore", "--from"])
        .arg(&bad)
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let ran = run(restore).await;
    assert_eq!(ran.code, Some(1), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("not a usable backup"), "{}", ran.stderr);
    assert!(!dir.path().join("data").join("accord.db").exists());
}

#[tokio::test]
async fn backup_on_postgres_points_to_the_database_s_own_tools() {
    let dir = tempfile::tempdir().unwrap();
    let mut backup = accord();
    backup
        .env(
            "ACCORD_DATABASE__URL",
            "postgres://accord@db.invalid:5432/accord",
        )
        .args(["backup", "--to"])
        .arg(dir.path().join("x.db"))
        .arg("--data-dir")
        .arg(dir.path());
    let ran = run(backup).await;
    assert_eq!(ran.code, Some(2), "{}\n{}", ran.stdout, ran.stderr);
    assert!(ran.stderr.contains("pg_dump"), "{}", ran.stderr);
    assert!(!dir.path().join("x.db").exists());
}
