//! SQLite on a full disk: Accord's data directory on a small tmpfs, filled by a file of the
//! test's while consents are being written. Checked: once SQLite cannot write, consent requests
//! are answered `503` (problem+json), never a `500`, with a log line naming the cause (no space
//! left); the database is not corrupted (`pragma integrity_check`); when the filler file is
//! deleted, the same Accord writes again without a restart; every acknowledged consent is kept
//! with its ledger event, none is there that was not acknowledged, and the ledger verifies.
//!
//! Mounting a tmpfs needs root; without it the test says so and does nothing. The tmpfs is
//! unmounted whatever happens (a guard), after Accord has been stopped.

use crate::crash::{consent_body, start_demo_with, Logs};
use crate::faults::{
    check_kept, client, ledger_verifies, sqlite_intact, summary, Answer, Expected, Load,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The size of the tmpfs: room for Accord's database and keys, small enough to fill at once.
const SIZE: &str = "16m";

/// Bounds: for SQLite to meet the full disk once it is full, and for writes to succeed again
/// once there is room.
const FULL_BOUND: Duration = Duration::from_secs(45);
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// How long the load goes on against the full disk once the first `503` was seen.
const WHILE_FULL: Duration = Duration::from_secs(2);

/// A tmpfs mounted on a temporary directory, unmounted when dropped.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub(crate) fn mount(size: &str) -> Option<Self> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
        if !root {
            eprintln!("note: not root, so no tmpfs can be mounted; this fault test did nothing");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path())
            .output()
            .unwrap();
        if !out.status.success() {
            // A container may forbid mounting even as root: say so rather than fail.
            eprintln!(
                "note: mounting a tmpfs failed ({}); this fault test did nothing",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Some(Self { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process not yet gone): detach it now, freed when released.
            let _ = Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }
}

/// Writes `path` until the file system has no space left; the bytes written.
fn fill(path: &Path) -> u64 {
    let mut file = std::fs::File::create(path).unwrap();
    let chunk = vec![0x5a_u8; 64 * 1024];
    let mut written = 0_u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling the disk: {e}"),
        }
    }
    let _ = file.sync_all();
    written
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault harness: run by .ci/run's fault step (needs root to mount a tmpfs)"]
async fn faults_sqlite_on_a_full_disk_answers_503_and_recovers_when_space_returns() {
    let Some(tmpfs) = Tmpfs::mount(SIZE) else {
        return;
    };
    let data: PathBuf = tmpfs.path().join("data");
    let filler = tmpfs.path().join("filler");
    let logs: Logs = Arc::new(Mutex::new(Vec::new()));
    let (mut child, demo) = start_demo_with(&data, &[], Some(&logs)).await;
    let http = client();
    let body = consent_body(&http, &demo).await;
    let load = Load::start(&http, &demo, &body);
    load.wait_acknowledged(50).await;

    let filled_at = load.started.elapsed();
    let filler_bytes = fill(&filler);
    let full = load
        .wait_for(filled_at, FULL_BOUND, |a| {
            matches!(a, Answer::Refused { status: 503, .. })
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "no 503 within {FULL_BOUND:?} of the disk being full: {:?}",
                summary(&load.attempts())
            )
        });
    tokio::time::sleep(WHILE_FULL).await;
    let logged = logs.lock().unwrap().join("\n");
    assert!(
        logged.contains("no space left"),
        "a log line names the cause:\n{logged}"
    );

    std::fs::remove_file(&filler).unwrap();
    let freed_at = load.started.elapsed();
    let recovery = load
        .wait_for(freed_at, RECOVERY_BOUND, |a| {
            matches!(a, Answer::Acknowledged(_))
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "Accord wrote nothing within {RECOVERY_BOUND:?} of space returning: {:?}",
                summary(&load.attempts())
            )
        });
    let now = load.acknowledged();
    load.wait_acknowledged(now + 50).await;
    let attempts = load.stop().await;

    // Only 201 or 503 problem+json, from start to end; some 503s.
    let mut unavailable = 0;
    for a in &attempts {
        match a.answer {
            Answer::Acknowledged(_) => {}
            Answer::Refused {
                status: 503,
                problem: true,
            } => unavailable += 1,
            _ => panic!(
                "only 201 or 503 problem+json: {a:?}; all: {:?}",
                summary(&attempts)
            ),
        }
    }
    let full_lines = logged
        .lines()
        .filter(|l| l.contains("no space left"))
        .count();
    child.start_kill().unwrap();
    let _ = child.wait().await;

    // The database is intact and holds exactly what was acknowledged: a write SQLite could not
    // commit for want of space was rolled back, and was answered 503.
    let db = data.join("accord.db");
    sqlite_intact(&db);
    ledger_verifies(&data, &[]).await;
    let mut expected = Expected::new(&demo);
    for a in &attempts {
        if let Answer::Acknowledged(id) = &a.answer {
            expected.acknowledged.push(id.clone());
        }
    }
    let store = accord_store_sqlite::SqliteStore::open(&db).await.unwrap();
    let kept = check_kept(&store, demo.tenant, &[expected]).await;
    store.close().await;
    assert_eq!(kept.unacknowledged, 0, "no consent that was answered 503");
    println!(
        "SQLite full disk ({SIZE} tmpfs, {:.1} MB filler): first 503 {:.2} s after the disk was \
         full; {unavailable} requests answered 503 and {full_lines} log lines naming the lack \
         of space; first consent written {:.2} s after space returned (Accord not restarted); \
         {} consents acknowledged, all kept, none other; integrity_check ok",
        f64::from(u32::try_from(filler_bytes / 1000).unwrap_or(u32::MAX)) / 1e3,
        full.as_secs_f64(),
        recovery.as_secs_f64(),
        kept.acknowledged,
    );
    drop(tmpfs);
}
