//! `accord ledger verify` (the real binary) only reads the database it checks: the file's bytes,
//! its modification time, its WAL and its schema are the same afterwards; the commits still in
//! the WAL are verified with the others; a database at another schema version is refused,
//! naming both versions, and left as it was; and a copy on read-only media verifies in place
//! (ignored by `cargo test`: it mounts a tmpfs, so it runs in CI's fault step).

use crate::helpers::spawn_app;
use crate::ledger::{connect, snapshot, with_events};
use crate::receipts::{run, Ran};
use rusqlite::config::DbConfig;
use std::path::{Path, PathBuf};

/// A tenant committed to a copy's WAL and not to its file.
const IN_THE_WAL: &str = "Only In The WAL Ltd";

fn beside(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

/// What a verification must leave as it found it.
#[derive(Debug, PartialEq)]
struct Evidence {
    db: Vec<u8>,
    wal: Option<Vec<u8>>,
    modified: std::time::SystemTime,
    schema: Vec<(String, String, Option<String>)>,
}

fn evidence(dir: &Path) -> Evidence {
    let db = dir.join("accord.db");
    // A read-only connection of its own: a read-write one would checkpoint the WAL on closing.
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
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
        db: std::fs::read(&db).unwrap(),
        wal: std::fs::read(beside(&db, "-wal")).ok(),
        modified: std::fs::metadata(&db).unwrap().modified().unwrap(),
        schema,
    }
}

/// Puts the copy in `dir` in WAL mode and commits a tenant to its WAL only: the connection
/// closes without the checkpoint that would copy it into the file.
fn commit_to_the_wal_only(dir: &Path) {
    let conn = connect(&dir.join("accord.db"));
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)
        .unwrap();
    conn.execute_batch("pragma journal_mode = wal; pragma wal_autocheckpoint = 0;")
        .unwrap();
    conn.execute(
        "insert into tenants (id, name, settings, created_at)
         values ('0190a5b2-0000-7000-8000-00000000a011', ?1, '{}', 0)",
        [IN_THE_WAL],
    )
    .unwrap();
    drop(conn);
    let wal = std::fs::metadata(dir.join("accord.db-wal")).unwrap();
    assert!(wal.len() > 0, "the tenant is in the WAL only");
}

async fn ledger_verify(dir: &Path) -> Ran {
    run(&["ledger", "verify", "--data-dir", dir.to_str().unwrap()]).await
}

#[tokio::test]
async fn ledger_verify_reads_the_wal_and_leaves_the_database_as_it_was() {
    let app = with_events(spawn_app().await).await;
    let copy = snapshot(&app);
    commit_to_the_wal_only(copy.path());
    // As an auditor keeps a copy (it proves something only when not run as root).
    let db = copy.path().join("accord.db");
    let mut mode = std::fs::metadata(&db).unwrap().permissions();
    mode.set_readonly(true);
    std::fs::set_permissions(&db, mode).unwrap();
    let before = evidence(copy.path());

    let ran = ledger_verify(copy.path()).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains(&format!(
            "tenant {} (Northwind Lending): 3 events intact",
            app.tenant_id
        )),
        "{ran}"
    );
    assert!(
        ran.stdout
            .contains(&format!("({IN_THE_WAL}): 0 events intact")),
        "the commit in the WAL was read: {ran}"
    );
    assert_eq!(
        evidence(copy.path()),
        before,
        "the file, its modification time, its WAL and its schema are as they were"
    );
}

#[tokio::test]
async fn ledger_verify_refuses_an_older_schema_and_leaves_it_as_it_was() {
    let app = with_events(spawn_app().await).await;
    let copy = snapshot(&app);
    let conn = connect(&copy.path().join("accord.db"));
    let newest: i64 = conn
        .query_row("select max(version) from _sqlx_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    // The database as the release before the newest migration left it.
    conn.execute("delete from _sqlx_migrations where version = ?1", [newest])
        .unwrap();
    let older: i64 = conn
        .query_row("select max(version) from _sqlx_migrations", [], |r| {
            r.get(0)
        })
        .unwrap();
    drop(conn);
    let before = evidence(copy.path());

    let ran = ledger_verify(copy.path()).await;
    assert_eq!(ran.code, Some(2), "{ran}");
    assert!(
        ran.stderr.contains(&format!(
            "the database is at schema {older}, this accord expects {newest}: verify it with \
             the accord version that wrote it, or migrate a copy of it (`accord migrate"
        )),
        "{ran}"
    );
    assert_eq!(
        evidence(copy.path()),
        before,
        "nothing changed, nothing migrated"
    );
}

/// A copy on read-only media (a tmpfs remounted read-only: as root, file modes would not
/// stop SQLite from creating its files; the media itself keeps the bytes unchanged, so what is
/// checked is that it verifies, or says why not). Ignored by `cargo test`; CI's fault step
/// runs it.
mod faults {
    use super::{commit_to_the_wal_only, ledger_verify, IN_THE_WAL};
    use crate::faults_disk::Tmpfs;
    use crate::helpers::{spawn_app, TestApp};
    use crate::ledger::{connect, snapshot, with_events};
    use std::path::Path;
    use std::process::Command;

    /// A copy of `app`'s database and key file on a tmpfs, `prepare`d, then remounted
    /// read-only; `None` where no tmpfs can be mounted.
    fn on_read_only_media(app: &TestApp, prepare: impl FnOnce(&Path)) -> Option<Tmpfs> {
        let media = Tmpfs::mount("8m")?;
        let copy = snapshot(app);
        for file in ["accord.db", "keys.toml"] {
            std::fs::copy(copy.path().join(file), media.path().join(file)).unwrap();
        }
        prepare(media.path());
        let remounted = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(media.path())
            .status()
            .unwrap();
        assert!(remounted.success(), "remounted read-only");
        assert!(
            std::fs::write(media.path().join("probe"), b"").is_err(),
            "the media is read-only"
        );
        Some(media)
    }

    fn files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    #[ignore = "fault harness: run by .ci/run's fault step (needs root to mount a tmpfs)"]
    async fn ledger_verify_reads_a_copy_on_read_only_media() {
        let app = with_events(spawn_app().await).await;
        let intact = format!(
            "tenant {} (Northwind Lending): 3 events intact",
            app.tenant_id
        );

        // A WAL database closed cleanly (no -wal, no -shm): SQLite cannot create them there,
        // and there is nothing in a WAL to miss, so it is read as immutable.
        let Some(media) = on_read_only_media(&app, |dir| {
            let conn = connect(&dir.join("accord.db"));
            conn.execute_batch("pragma journal_mode = wal").unwrap();
        }) else {
            return;
        };
        assert_eq!(files(media.path()), ["accord.db", "keys.toml"]);
        let ran = ledger_verify(media.path()).await;
        assert_eq!(ran.code, Some(0), "{ran}");
        assert!(ran.stdout.contains(&intact), "{ran}");
        drop(media);

        // The three files together: read in place, the WAL's commits included.
        let media = on_read_only_media(&app, commit_to_the_wal_only).unwrap();
        assert_eq!(
            files(media.path()),
            ["accord.db", "accord.db-shm", "accord.db-wal", "keys.toml"]
        );
        let ran = ledger_verify(media.path()).await;
        assert_eq!(ran.code, Some(0), "{ran}");
        assert!(ran.stdout.contains(&intact), "{ran}");
        assert!(ran.stdout.contains(&format!("({IN_THE_WAL})")), "{ran}");
        drop(media);

        // Commits in the WAL without its index: they cannot be read there, and reading the
        // file without them would verify something else. Refused, saying what to do.
        let media = on_read_only_media(&app, |dir| {
            commit_to_the_wal_only(dir);
            std::fs::remove_file(dir.join("accord.db-shm")).unwrap();
        })
        .unwrap();
        let ran = ledger_verify(media.path()).await;
        assert_eq!(ran.code, Some(2), "{ran}");
        assert!(
            ran.stderr
                .contains("accord.db-wal holds commits not yet in")
                && ran
                    .stderr
                    .contains("to a writable directory and verify the copy there"),
            "{ran}"
        );
    }
}
