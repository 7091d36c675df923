//! The schema's migrations: a database migrated by the sqlx migrator this store used before is
//! recognised and upgraded, a run on an up-to-date database changes nothing, and a database
//! whose recorded migrations differ from the files is refused.

use crate::sqlite::raw;
use accord_store::{StoreError, TenantStore};
use accord_store_sqlite::SqliteStore;
use sha2::{Digest as _, Sha384};
use std::path::{Path, PathBuf};

/// The migration files, in version order: (version, description as sqlx records it, SQL).
pub(crate) fn files() -> Vec<(i64, String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(i64, String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path: PathBuf = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            let (version, rest) = name.split_once('_').unwrap();
            let description = rest.strip_suffix(".sql").unwrap().replace('_', " ");
            let sql = std::fs::read_to_string(&path).unwrap();
            (version.parse().unwrap(), description, sql)
        })
        .collect();
    files.sort_by_key(|f| f.0);
    files
}

/// Applies all but the last `missing` migrations the way sqlx did: its table, each file in a
/// transaction with its row (SHA-384 of the SQL, `success` true, a measured duration).
pub(crate) fn migrate_like_sqlx(db: &Path, missing: usize) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE IF NOT EXISTS _sqlx_migrations (
             version BIGINT PRIMARY KEY,
             description TEXT NOT NULL,
             installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
             success BOOLEAN NOT NULL,
             checksum BLOB NOT NULL,
             execution_time BIGINT NOT NULL
         );",
    )
    .unwrap();
    let files = files();
    for (version, description, sql) in &files[..files.len() - missing] {
        conn.execute_batch("begin").unwrap();
        conn.execute_batch(sql).unwrap();
        conn.execute(
            "INSERT INTO _sqlx_migrations ( version, description, success, checksum, execution_time )
             VALUES ( ?1, ?2, TRUE, ?3, -1 )",
            rusqlite::params![version, description, Sha384::digest(sql.as_bytes()).to_vec()],
        )
        .unwrap();
        conn.execute_batch("commit").unwrap();
        conn.execute(
            "UPDATE _sqlx_migrations SET execution_time = ?1 WHERE version = ?2",
            rusqlite::params![1_234_567, version],
        )
        .unwrap();
    }
}

pub(crate) fn recorded(dir: &Path) -> Vec<(i64, String, Vec<u8>, bool)> {
    let conn = raw(dir);
    let mut st = conn
        .prepare(
            "select version, description, checksum, success from _sqlx_migrations order by version",
        )
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

fn expected() -> Vec<(i64, String, Vec<u8>, bool)> {
    files()
        .into_iter()
        .map(|(v, d, sql)| (v, d, Sha384::digest(sql.as_bytes()).to_vec(), true))
        .collect()
}

async fn open_error(dir: &Path) -> String {
    match SqliteStore::open(&dir.join("accord.db")).await {
        Err(StoreError::Backend(e)) => e.to_string(),
        Err(other) => panic!("expected a backend error, got {other:?}"),
        Ok(_) => panic!("the store must refuse to open"),
    }
}

/// A database the old sqlx migrator left, one migration behind and with data: opened as it is,
/// the missing migration applied and recorded as sqlx would have, the data kept.
#[tokio::test]
async fn a_database_migrated_by_sqlx_is_upgraded() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    migrate_like_sqlx(&db, 1);
    raw(dir.path())
        .execute(
            "insert into tenants (id, name, settings, created_at)
             values ('0190a5b2-0000-7000-8000-000000000001', 'Lender A', '{}', 0)",
            [],
        )
        .unwrap();
    let store = SqliteStore::open(&db)
        .await
        .expect("an sqlx database opens");
    assert_eq!(recorded(dir.path()), expected());
    let tenant = store.tenant_by_name("Lender A").await.unwrap();
    assert!(tenant.is_some(), "the data is kept");
    // The rows sqlx wrote are left as they were.
    let untouched: i64 = raw(dir.path())
        .query_row(
            "select count(*) from _sqlx_migrations where execution_time = 1234567",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(usize::try_from(untouched).unwrap(), files().len() - 1);
}

/// Opening and migrating again applies nothing and records nothing more.
#[tokio::test]
async fn migrations_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    let store = SqliteStore::open(&db).await.unwrap();
    assert_eq!(recorded(dir.path()), expected());
    store.migrate().await.expect("idempotent");
    store.close().await;
    drop(store);
    let store = SqliteStore::open(&db).await.expect("reopen");
    store.migrate().await.expect("idempotent");
    assert_eq!(recorded(dir.path()), expected());
}

/// A recorded migration that is not the file this code has (edited after it landed), that
/// this code does not know, or that was left half-applied, stops the store from opening.
#[tokio::test]
async fn a_database_with_other_migrations_is_refused() {
    for (tamper, why) in [
        (
            "update _sqlx_migrations set checksum = x'00' where version = 1",
            "checksum mismatch",
        ),
        (
            "insert into _sqlx_migrations (version, description, success, checksum, execution_time)
             values (9999, 'from the future', true, x'00', 0)",
            "unknown",
        ),
        (
            "update _sqlx_migrations set success = false where version = 2",
            "partially applied",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("accord.db");
        SqliteStore::open(&db).await.unwrap().close().await;
        raw(dir.path()).execute_batch(tamper).unwrap();
        let error = open_error(dir.path()).await;
        assert!(error.contains(why), "{tamper}: {error}");
    }
}

/// A ledger row as stored: (tenant, position, kind, consent, event, hash, previous hash, at).
type LedgerRow = (String, i64, String, String, String, String, String, i64);

fn ledger_rows(conn: &rusqlite::Connection) -> Vec<LedgerRow> {
    let mut st = conn
        .prepare(
            "select tenant_id, seq, kind, consent_id, event, hash, prev_hash, at
             from ledger_events order by tenant_id, seq",
        )
        .unwrap();
    st.query_map([], |r| {
        Ok((
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
        ))
    })
    .unwrap()
    .collect::<rusqlite::Result<_>>()
    .unwrap()
}

/// An event's JSON about the size of a consent's (1.3 KiB), different for every position.
fn event_json(tenant: &str, seq: i64) -> String {
    format!(
        r#"{{"tenant_id":"{tenant}","seq":{seq},"notice_text":"{}"}}"#,
        "x".repeat(1300)
    )
}

fn append_events(conn: &rusqlite::Connection, tenant: &str, seqs: std::ops::RangeInclusive<i64>) {
    for seq in seqs {
        conn.execute(
            "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
             values (?1, ?2, 'given', ?3, ?4, ?5, ?6, ?2)",
            rusqlite::params![
                tenant,
                seq,
                format!("consent-{seq}"),
                event_json(tenant, seq),
                format!("{seq:064}"),
                format!("{:064}", seq - 1),
            ],
        )
        .unwrap();
    }
}

/// The ledger, written before its table had a rowid, is copied whole by the upgrade: every row
/// of every tenant the same, each chain still append-only and without forks. Then the reason
/// for the layout: a consent-sized event no longer takes an overflow page of its own.
#[tokio::test]
async fn the_ledger_is_copied_whole_into_its_rowid_table() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("accord.db");
    let later = files().iter().filter(|f| f.0 >= 32).count();
    migrate_like_sqlx(&db, later);
    let (a, b) = (
        "0190a5b2-0000-7000-8000-00000000000a",
        "0190a5b2-0000-7000-8000-00000000000b",
    );
    let before = {
        let conn = raw(dir.path());
        for (id, name) in [(a, "Lender A"), (b, "Lender B")] {
            conn.execute(
                "insert into tenants (id, name, settings, created_at) values (?1, ?2, '{}', 0)",
                rusqlite::params![id, name],
            )
            .unwrap();
        }
        // The two chains interleaved, as two tenants' consents arrive.
        for seq in 1..=5 {
            append_events(&conn, a, seq..=seq);
            append_events(&conn, b, seq..=seq);
        }
        ledger_rows(&conn)
    };
    SqliteStore::open(&db).await.unwrap().close().await;

    let conn = raw(dir.path());
    assert_eq!(ledger_rows(&conn), before, "every row copied as it was");
    let sql: String = conn
        .query_row(
            "select sql from sqlite_master where name = 'ledger_events'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(!sql.to_lowercase().contains("without rowid"), "{sql}");
    for change in [
        "update ledger_events set kind = 'withdrawn' where seq = 1",
        "delete from ledger_events where seq = 1",
    ] {
        let e = conn.execute(change, []).unwrap_err().to_string();
        assert!(e.contains("append-only"), "{change}: {e}");
    }
    let fork = conn
        .execute(
            "insert into ledger_events (tenant_id, seq, kind, consent_id, event, hash, prev_hash, at)
             values (?1, 3, 'given', 'c', '{}', 'h', 'p', 0)",
            [a],
        )
        .unwrap_err()
        .to_string();
    assert!(
        fork.contains("UNIQUE"),
        "a second event at a taken position: {fork}"
    );
    let plan: String = conn
        .query_row(
            "explain query plan select seq from ledger_events indexed by ledger_events_consent
             where tenant_id = ?1 and consent_id = 'consent-2'",
            [a],
            |r| r.get(3),
        )
        .unwrap();
    assert!(plan.contains("ledger_events_consent"), "{plan}");

    // 200 more consent-sized events: without a rowid each took a 4 KiB overflow page besides
    // its share of a leaf (over 250 pages); whole rows three to a page take about 70.
    let pages = |conn: &rusqlite::Connection| -> i64 {
        conn.query_row("pragma page_count", [], |r| r.get(0))
            .unwrap()
    };
    let start = pages(&conn);
    append_events(&conn, a, 6..=205);
    let grown = pages(&conn) - start;
    assert!(grown < 120, "200 events took {grown} pages");
}
