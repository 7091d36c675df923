//! PostgreSQL stopped with `pg_ctl -m immediate` (the server's processes killed, no checkpoint,
//! crash recovery at the next start) in the middle of consent load, then started again, while
//! the same Accord keeps running. Checked: while the server is down every consent request is
//! answered `503` (problem+json, `Retry-After`), never a `2xx` for a consent that could not be
//! written and never a `500`; once the server is back Accord writes again without a restart;
//! afterwards every acknowledged consent is there and the ledger verifies (`faults.rs` says
//! what is checked and how).
//!
//! The shared PostgreSQL server of the other tests is never stopped: this test runs a private
//! instance (`initdb` into a temporary directory as the `postgres` OS user, on a free loopback
//! port), stopped and removed afterwards whatever happens. That needs root (to act as the
//! `postgres` user) and Debian's PostgreSQL binaries; without them the test says why and does
//! nothing.

use crate::crash::{consent_body, start_demo_with, Logs};
use crate::faults::{
    check_kept, client, ledger_verifies, summary, Answer, Attempt, Expected, Load,
};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long the server stays down: longer than the pool's wait for a connection, so requests
/// queued before the stop and sent during it are all answered while it is down.
const DOWN: Duration = Duration::from_secs(12);

/// A bound on Accord's recovery once the server accepts connections again.
const RECOVERY_BOUND: Duration = Duration::from_secs(30);

/// A PostgreSQL instance of this test's own, in a temporary directory: stopped (immediately)
/// and removed when dropped, even when the test fails.
pub(crate) struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    pub(crate) port: u16,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// The newest Debian PostgreSQL's binaries (`/usr/lib/postgresql/<version>/bin`).
fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let v = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl PrivatePostgres {
    /// `initdb` and start, or `None` with the reason printed.
    pub(crate) fn start() -> Option<Self> {
        if !is_root() {
            eprintln!("note: not root, so no private PostgreSQL instance (runuser -u postgres); this fault test did nothing");
            return None;
        }
        let Some(bin) = postgres_bin() else {
            eprintln!("note: no PostgreSQL binaries in /usr/lib/postgresql/*/bin; this fault test did nothing");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let chown = Command::new("chown")
            .arg("postgres:postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(chown.success(), "chown the instance's directory");
        let pg = Self {
            bin,
            dir,
            port: free_port(),
        };
        pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data().display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
        );
        pg.start_again();
        Some(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs one of the server's programs as the `postgres` OS user; panics if it fails.
    fn as_postgres(&self, program: &str, args: &[&str]) {
        let out = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `pg_ctl start`, waiting until it accepts connections; loopback only, its socket in its
    /// own directory.
    pub(crate) fn start_again(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.dir.path().display()
        );
        let data = self.data().display().to_string();
        let log = self.dir.path().join("server.log").display().to_string();
        self.as_postgres(
            "pg_ctl",
            &[
                "-D", &data, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        );
    }

    /// `pg_ctl -m immediate stop`: the server's processes end at once, as in a crash.
    pub(crate) fn stop_immediately(&self) {
        let data = self.data().display().to_string();
        self.as_postgres("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }

    fn running(&self) -> bool {
        self.data().join("postmaster.pid").exists()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running() {
            let _ = Command::new("runuser")
                .args(["-u", "postgres", "--"])
                .arg(self.bin.join("pg_ctl"))
                .arg("-D")
                .arg(self.data())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

/// The attempts sent at or after `from` and answered before `to`.
fn within(attempts: &[Attempt], from: Duration, to: Duration) -> Vec<&Attempt> {
    attempts
        .iter()
        .filter(|a| a.sent >= from && a.answered < to)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault harness: run by .ci/run's fault step (needs root for a private PostgreSQL)"]
async fn faults_postgres_stopped_immediately_answers_503_and_recovers_without_restart() {
    let Some(pg) = PrivatePostgres::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let url = pg.url();
    let env = [("ACCORD_DATABASE__URL", url.as_str())];
    let logs: Logs = Arc::new(Mutex::new(Vec::new()));
    let (mut child, demo) = start_demo_with(tmp.path(), &env, Some(&logs)).await;
    let http = client();
    let body = consent_body(&http, &demo).await;
    let load = Load::start(&http, &demo, &body);
    load.wait_acknowledged(100).await;

    let stop_began = load.started.elapsed();
    pg.stop_immediately();
    let stopped = load.started.elapsed();
    // Readiness says so too, while the server is down, for a load balancer to take note.
    let ready = http
        .get(format!("{}/readyz", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503, "/readyz while PostgreSQL is down");
    let down_for = load.started.elapsed().saturating_sub(stopped);
    tokio::time::sleep(DOWN.saturating_sub(down_for)).await;
    let restart_began = load.started.elapsed();
    pg.start_again();
    let restarted = load.started.elapsed();
    let recovery = load
        .wait_for(restarted, RECOVERY_BOUND, |a| {
            matches!(a, Answer::Acknowledged(_))
        })
        .await
        .unwrap_or_else(|| {
            panic!(
                "Accord wrote nothing within {RECOVERY_BOUND:?} of PostgreSQL's return: {:?}",
                summary(&load.attempts())
            )
        });
    let ready = http
        .get(format!("{}/readyz", demo.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200, "/readyz once PostgreSQL is back");
    // Some more load after the recovery, then the end of it.
    let now = load.acknowledged();
    load.wait_acknowledged(now + 100).await;
    let attempts = load.stop().await;

    // While it was down: only 503 problem+json, and at least some (the outage was seen).
    let while_down = within(&attempts, stopped, restart_began);
    let down_answers = summary(&while_down.iter().map(|a| (*a).clone()).collect::<Vec<_>>());
    assert!(
        while_down.iter().all(|a| a.answer
            == Answer::Refused {
                status: 503,
                problem: true
            }),
        "while PostgreSQL was down: {down_answers:?}"
    );
    assert!(
        !while_down.is_empty(),
        "requests were answered while PostgreSQL was down"
    );
    // Around the stop and the start: 201 or 503, nothing else, and Accord never went away.
    for a in &attempts {
        assert!(
            matches!(
                a.answer,
                Answer::Acknowledged(_)
                    | Answer::Refused {
                        status: 503,
                        problem: true
                    }
            ),
            "only 201 or 503 problem+json: {a:?}; all: {:?}",
            summary(&attempts)
        );
    }
    let logged = logs.lock().unwrap().join("\n");
    assert!(
        logged.contains("the database is unavailable"),
        "the log names the cause:\n{logged}"
    );
    child.start_kill().unwrap();
    let _ = child.wait().await;

    // Nothing acknowledged lost. A 503 to a request in flight at the stop may hide a commit that
    // happened (the connection broke before its answer): those are the only possible extras.
    let mut expected = Expected::new(&demo);
    for a in &attempts {
        if let Answer::Acknowledged(id) = &a.answer {
            expected.acknowledged.push(id.clone());
        }
    }
    expected.unknown_outcome = attempts
        .iter()
        .filter(|a| a.sent < stopped && a.answered >= stop_began)
        .filter(|a| !matches!(a.answer, Answer::Acknowledged(_)))
        .count();
    ledger_verifies(tmp.path(), &env).await;
    let store = accord_store_postgres::PgStore::connect(
        &url,
        accord_store_postgres::testing::test_options(),
    )
    .await
    .unwrap();
    let kept = check_kept(&store, demo.tenant, &[expected]).await;
    let refused = attempts
        .iter()
        .filter(|a| matches!(a.answer, Answer::Refused { .. }))
        .count();
    println!(
        "PostgreSQL -m immediate: stop took {:.2} s, down {:.1} s; {} requests answered while \
         down, all 503 ({} 503s in all); first consent written {:.2} s after the server was \
         back (Accord not restarted); {} consents acknowledged, all kept; {} never \
         acknowledged, of {} requests in flight at the stop",
        stopped.saturating_sub(stop_began).as_secs_f64(),
        restarted.saturating_sub(stopped).as_secs_f64(),
        while_down.len(),
        refused,
        recovery.as_secs_f64(),
        kept.acknowledged,
        kept.unacknowledged,
        kept.unknown_outcome
    );
    drop(store);
}
