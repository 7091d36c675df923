//! The store opened read-only, as `accord ledger verify` opens it: it reads what was committed,
//! the commits still in the WAL included, and changes nothing of the file (its bytes, its
//! schema, its WAL); it builds no Merkle tree, migrates nothing, refuses every write, and
//! refuses a database at another schema version, naming both.

use crate::migrations::{files, migrate_like_sqlx, recorded};
use crate::sqlite::raw;
use accord_store::conformance::fixtures::{self, at, World};
use accord_store::{CompanyStore, ConsentStore, LedgerStore, StoreError, TenantStore};
use accord_store_sqlite::{ReadOnly, SchemaMismatch, SqliteStore};
use rusqlite::config::DbConfig;
use sha2::{Digest as _, Sha256};
use std::path::{Path, PathBuf};

/// The SHA-256 of a file, `None` when it does not exist.
fn sha256(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok().map(|b| Sha256::digest(b).to_vec())
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// What a verification must leave as it found it: the file's and the WAL's bytes, the file's
/// modification time, and the schema (every table, index and trigger, with its SQL).
#[derive(Debug, PartialEq)]
struct Evidence {
    db: Option<Vec<u8>>,
    wal: Option<Vec<u8>>,
    modified: std::time::SystemTime,
    schema: Vec<(String, String, Option<String>)>,
}

fn evidence(db: &Path) -> Evidence {
    // The schema is read through a read-only connection of its own: a read-write one would
    // checkpoint the WAL into the file when it closes.
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let schema = conn
        .prepare("select type, name, sql from sqlite_schema order by type, name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    drop(conn);
    Evidence {
        db: sha256(db),
        wal: sha256(&beside(db, "-wal")),
        modified: std::fs::metadata(db).unwrap().modified().unwrap(),
        schema,
    }
}

/// A store's database with a tenant's consents and ledger, closed; then one more tenant
/// committed to the WAL only (no checkpoint: the writing connection closes without one).
async fn database_with_commits_in_the_wal(db: &Path) -> World {
    let store = SqliteStore::open(db).await.unwrap();
    let w = World::new(&store, "Lender A").await;
    for n in 0..3 {
        let write = fixtures::consent_write(&w.company, &w.nv, at(n));
        store.record_consent(&write).await.unwrap();
    }
    store.close().await;
    drop(store);
    let conn = raw(db.parent().unwrap());
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .unwrap();
    conn.execute_batch("pragma wal_autocheckpoint = 0").unwrap();
    conn.execute(
        "insert into tenants (id, name, settings, created_at)
         values ('0190a5b2-0000-7000-8000-000000000009', 'Only In The WAL', '{}', 0)",
        [],
    )
    .unwrap();
    drop(conn);
    assert!(
        std::fs::metadata(beside(db, "-wal")).unwrap().len() > 0,
        "the last commit is in the WAL only"
    );
    w
}

fn refused_as_read_only<T: std::fmt::Debug>(outcome: accord_store::Result<T>) {
    match outcome {
        Err(StoreError::Backend(e)) => assert!(e.is::<ReadOnly>(), "{e}"),
        other => panic!("expected the read-only refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_read_only_store_reads_the_wal_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    let w = database_with_commits_in_the_wal(&db).await;
    let before = evidence(&db);

    let store = SqliteStore::open_read_only(&db).await.unwrap();
    let in_wal = store.tenant_by_name("Only In The WAL").await.unwrap();
    assert!(in_wal.is_some(), "the commit still in the WAL is read");
    assert_eq!(store.ledger_tenants().await.unwrap(), [w.tenant.id]);
    let rows = store.ledger_rows(w.tenant.id, 0, 5_000).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(store.tree_root(w.tenant.id, 3).await.unwrap().is_some());

    // Every write is refused, before anything reaches the file.
    let company = accord_domain::tenant::Company {
        id: accord_domain::ids::CompanyId::new(),
        tenant_id: w.tenant.id,
        name: "Not Written Ltd".into(),
        external_id: None,
        created_at: at(9),
    };
    refused_as_read_only(store.create_company(&company).await);
    refused_as_read_only(
        store
            .record_consent(&fixtures::consent_write(&w.company, &w.nv, at(9)))
            .await,
    );
    refused_as_read_only(store.migrate().await);
    refused_as_read_only(store.pragmas().await);
    store.close().await;
    drop(store);

    assert_eq!(
        evidence(&db),
        before,
        "the file, its WAL and its schema are as they were"
    );
}

/// A database whose events have no Merkle tree (written before trees existed): the server
/// builds the trees when it opens it; a verification does not.
#[tokio::test]
async fn a_read_only_store_builds_no_tree() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    let w = database_with_commits_in_the_wal(&db).await;
    raw(dir.path())
        .execute_batch(
            "drop trigger ledger_nodes_refuse_delete; delete from ledger_nodes;
             pragma wal_checkpoint(truncate);",
        )
        .unwrap();
    let before = evidence(&db);

    let store = SqliteStore::open_read_only(&db).await.unwrap();
    assert_eq!(
        store.ledger_rows(w.tenant.id, 0, 10).await.unwrap().len(),
        3
    );
    assert!(
        store.tree_root(w.tenant.id, 3).await.is_err(),
        "the tree's nodes are missing, as they were"
    );
    store.close().await;
    drop(store);
    assert_eq!(evidence(&db), before);
    let nodes: i64 = raw(dir.path())
        .query_row("select count(*) from ledger_nodes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(nodes, 0, "no tree was built");

    // What the server would have done: the check above can tell.
    SqliteStore::open(&db).await.unwrap().close().await;
    let nodes: i64 = raw(dir.path())
        .query_row("select count(*) from ledger_nodes", [], |r| r.get(0))
        .unwrap();
    assert!(nodes > 0, "the server builds the missing tree");
}

async fn read_only_refusal(db: &Path) -> SchemaMismatch {
    match SqliteStore::open_read_only(db).await {
        Err(StoreError::Backend(e)) => match e.downcast::<SchemaMismatch>() {
            Ok(m) => *m,
            Err(other) => panic!("expected a schema mismatch, got {other}"),
        },
        Err(other) => panic!("expected a schema mismatch, got {other:?}"),
        Ok(_) => panic!("the store must refuse to open"),
    }
}

/// A database an older Accord left (one migration behind) is refused with both versions and
/// what to do, and left as it was: not migrated.
#[tokio::test]
async fn an_older_schema_is_refused_naming_both_versions_and_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    migrate_like_sqlx(&db, 1);
    let all = files();
    let (older, newest) = (all[all.len() - 2].0, all[all.len() - 1].0);
    let applied = recorded(dir.path());
    let before = evidence(&db);

    let refusal = read_only_refusal(&db).await;
    assert_eq!(
        refusal,
        SchemaMismatch::Older {
            database: older,
            expected: newest
        }
    );
    let said = refusal.to_string();
    assert!(
        said.contains(&format!(
            "the database is at schema {older}, this accord expects {newest}"
        )) && said.contains("accord migrate"),
        "{said}"
    );
    assert_eq!(evidence(&db), before, "nothing changed");
    assert_eq!(recorded(dir.path()), applied, "nothing migrated");
}

/// A newer schema, a migration changed or half-applied, and a file that is no Accord database
/// are refused too, each saying which.
#[tokio::test]
async fn other_schemas_are_refused() {
    let newest = files().last().unwrap().0;
    for (tamper, expected) in [
        (
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
             values (9999, 'from the future', true, x'00', 0)",
            SchemaMismatch::Newer {
                database: 9999,
                expected: newest,
            },
        ),
        (
            "update _sqlx_migrations set checksum = x'00' where version = 1",
            SchemaMismatch::Altered(String::new()),
        ),
        (
            "update _sqlx_migrations set success = false where version = 2",
            SchemaMismatch::Altered(String::new()),
        ),
        ("drop table _sqlx_migrations", SchemaMismatch::NotAccord),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("accord.db");
        SqliteStore::open(&db).await.unwrap().close().await;
        raw(dir.path()).execute_batch(tamper).unwrap();
        let before = evidence(&db);
        let refusal = read_only_refusal(&db).await;
        match (&refusal, &expected) {
            (SchemaMismatch::Altered(why), SchemaMismatch::Altered(_)) => {
                assert!(why.contains("migration"), "{tamper}: {why}");
            }
            _ => assert_eq!(refusal, expected, "{tamper}"),
        }
        assert_eq!(evidence(&db), before, "{tamper}: nothing changed");
    }
}
