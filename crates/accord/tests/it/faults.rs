//! The fault harness: Accord under consent load while the things beneath it fail, checked from
//! the outside with the real binary (`accord demo`), real databases and loopback HTTP only.
//!
//! - here: `kill -9` of Accord during consent load, cycle after cycle, restarted each time on the
//!   same database, on SQLite and on PostgreSQL;
//! - `faults_pg.rs`: a private PostgreSQL instance stopped with `-m immediate` under load;
//! - `faults_disk.rs`: SQLite on a small tmpfs written until the disk is full.
//!
//! What "nothing lost, nothing made up" means, checked by [`check_kept`] after every scenario:
//! every consent answered `201` is in the database with exactly one `given` event in the
//! tenant's ledger; no consent lacks its event and no event lacks its consent; no consent or
//! event is there twice; a consent that was never acknowledged is there only if its request
//! got no answer or an error while the fault struck (its commit may have happened just before),
//! so there are never more of them than such requests. Then the ledger must verify
//! (`accord ledger verify`, exit 0) and a SQLite file must pass `pragma integrity_check`.
//!
//! These tests are `#[ignore]`d: `.ci/run` runs them in a step of their own, after the
//! PostgreSQL pass (they start and stop processes and fill disks; nothing else should race them):
//! `ACCORD_TEST_FAULT_CYCLES=3 cargo test -p accord --test it -- --ignored --test-threads 1 faults`.
//! The full form is 30 cycles (`ACCORD_TEST_FAULT_CYCLES=30`); docs/reliability.md has the
//! commands and the figures measured. The PostgreSQL cases also need `ACCORD_TEST_POSTGRES_URL`
//! (kill -9) or root (the private instance), and say why they did nothing otherwise.

use crate::crash::{consent_body, start_demo_with, Demo};
use crate::startup::{accord, run, CHILD_TIMEOUT};
use accord_domain::ids::{CompanyId, ConsentId, TenantId};
use accord_domain::ledger::EventKind;
use accord_store::{ConsentStore, LedgerStore};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The number of kill cycles (`ACCORD_TEST_FAULT_CYCLES`): 3 unless set (the short form CI
/// runs); the full form is 30.
pub(crate) fn cycles() -> usize {
    std::env::var("ACCORD_TEST_FAULT_CYCLES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(3)
}

/// Concurrent writers of consents.
pub(crate) const WRITERS: usize = 16;

/// How one consent request ended, as its sender saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Answer {
    /// `201` with a whole body: the consent id Accord acknowledged.
    Acknowledged(String),
    /// Any other complete answer: its status, and whether it was `application/problem+json`.
    Refused { status: u16, problem: bool },
    /// No complete answer: the connection was refused (nothing was sent), or it broke.
    Unanswered { sent: bool },
}

/// One consent request: when it was sent and answered, since the load started.
#[derive(Debug, Clone)]
pub(crate) struct Attempt {
    pub(crate) sent: Duration,
    pub(crate) answered: Duration,
    pub(crate) answer: Answer,
}

impl Attempt {
    /// Whether the request may have reached Accord without a whole answer coming back.
    pub(crate) fn in_flight(&self) -> bool {
        matches!(self.answer, Answer::Unanswered { sent: true })
    }
}

/// Consent writers sending to one running Accord until [`Load::stop`], every request recorded.
pub(crate) struct Load {
    pub(crate) started: Instant,
    attempts: Arc<Mutex<Vec<Attempt>>>,
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    pub(crate) fn start(http: &reqwest::Client, demo: &Demo, body: &Value) -> Self {
        let started = Instant::now();
        let attempts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let url = format!("{}/v1/companies/{}/consents", demo.base, demo.company);
        let tasks = (0..WRITERS)
            .map(|_| {
                let (http, url, key, body) = (
                    http.clone(),
                    url.clone(),
                    demo.api_key.clone(),
                    body.clone(),
                );
                let (attempts, stop) = (Arc::clone(&attempts), Arc::clone(&stop));
                tokio::spawn(async move {
                    // Bounded in count; the test stops it long before.
                    for _ in 0..50_000 {
                        if stop.load(Ordering::Relaxed) {
                            return;
                        }
                        let sent = started.elapsed();
                        let answer = send(&http, &url, &key, &body).await;
                        let pause = matches!(answer, Answer::Unanswered { .. })
                            || matches!(answer, Answer::Refused { .. });
                        attempts.lock().unwrap().push(Attempt {
                            sent,
                            answered: started.elapsed(),
                            answer,
                        });
                        if pause {
                            // Nothing listening, or told to come back: no busy loop meanwhile.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                        }
                    }
                })
            })
            .collect();
        Self {
            started,
            attempts,
            stop,
            tasks,
        }
    }

    /// Consents acknowledged so far.
    pub(crate) fn acknowledged(&self) -> usize {
        self.attempts
            .lock()
            .unwrap()
            .iter()
            .filter(|a| matches!(a.answer, Answer::Acknowledged(_)))
            .count()
    }

    /// The attempts so far (the load goes on).
    pub(crate) fn attempts(&self) -> Vec<Attempt> {
        self.attempts.lock().unwrap().clone()
    }

    /// Waits (bounded) until `n` consents were acknowledged.
    pub(crate) async fn wait_acknowledged(&self, n: usize) {
        tokio::time::timeout(CHILD_TIMEOUT, async {
            while self.acknowledged() < n {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
        .await
        .unwrap_or_else(|_| {
            panic!(
                "{n} consents acknowledged in time; answers so far: {:?}",
                summary(&self.attempts())
            )
        });
    }

    /// Waits (bounded by `limit`) for an answer that satisfies `what` to a request sent at or
    /// after `since`; the time from `since` to that answer.
    pub(crate) async fn wait_for(
        &self,
        since: Duration,
        limit: Duration,
        what: impl Fn(&Answer) -> bool,
    ) -> Option<Duration> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            let found = self
                .attempts
                .lock()
                .unwrap()
                .iter()
                .filter(|a| a.sent >= since && what(&a.answer))
                .map(|a| a.answered)
                .min();
            if let Some(at) = found {
                return Some(at.saturating_sub(since));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        None
    }

    /// Stops the writers, waits for their last requests, and returns every attempt.
    pub(crate) async fn stop(self) -> Vec<Attempt> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.tasks {
            t.await.unwrap();
        }
        let attempts = self.attempts.lock().unwrap().clone();
        attempts
    }
}

async fn send(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Answer {
    let res = match http.post(url).bearer_auth(key).json(body).send().await {
        Ok(res) => res,
        Err(e) => {
            return Answer::Unanswered {
                sent: !e.is_connect(),
            }
        }
    };
    let status = res.status().as_u16();
    let problem = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes() == b"application/problem+json");
    // A response cut by a kill was never acknowledged: only a whole body counts.
    match res.json::<Value>().await {
        Ok(v) if status == 201 => match v["consent_id"].as_str() {
            Some(id) => Answer::Acknowledged(id.to_owned()),
            None => panic!("a 201 without a consent id: {v}"),
        },
        Ok(_) => Answer::Refused { status, problem },
        Err(_) => Answer::Unanswered { sent: true },
    }
}

/// The answers, counted by kind (for messages and the figures printed).
pub(crate) fn summary(attempts: &[Attempt]) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for a in attempts {
        let key = match &a.answer {
            Answer::Acknowledged(_) => "201".to_owned(),
            Answer::Refused { status, problem } => {
                format!("{status}{}", if *problem { " problem+json" } else { "" })
            }
            Answer::Unanswered { sent: true } => "no answer (sent)".to_owned(),
            Answer::Unanswered { sent: false } => "connection refused".to_owned(),
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

/// What one company's consent requests left to check: the ids acknowledged, and how many
/// requests may have been written without being acknowledged (no answer, or an error while
/// the fault struck).
#[derive(Debug, Default)]
pub(crate) struct Expected {
    pub(crate) company: Option<CompanyId>,
    pub(crate) acknowledged: Vec<String>,
    pub(crate) unknown_outcome: usize,
}

impl Expected {
    pub(crate) fn new(demo: &Demo) -> Self {
        Self {
            company: Some(demo.company.parse().expect("a company id")),
            ..Self::default()
        }
    }
}

/// What [`check_kept`] found, for the figures printed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Kept {
    pub(crate) acknowledged: usize,
    pub(crate) consents: usize,
    pub(crate) given_events: usize,
    /// Consents in the database never acknowledged (their requests' outcome was unknown).
    pub(crate) unacknowledged: usize,
    pub(crate) unknown_outcome: usize,
}

/// Checks the database against what was acknowledged (see the module's documentation).
pub(crate) async fn check_kept<S: ConsentStore + LedgerStore>(
    store: &S,
    tenant: TenantId,
    expected: &[Expected],
) -> Kept {
    let mut given: HashMap<ConsentId, usize> = HashMap::new();
    let mut after_seq = 0;
    loop {
        let page = store.ledger_events(tenant, after_seq, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after_seq = last.event.seq;
        for e in page
            .iter()
            .filter(|e| e.event.body.kind == EventKind::Given)
        {
            *given.entry(e.event.body.consent_id).or_default() += 1;
        }
    }
    let mut kept = Kept {
        given_events: given.values().sum(),
        ..Kept::default()
    };
    for (id, n) in &given {
        assert_eq!(*n, 1, "consent {id} has {n} `given` events");
        assert!(
            store.consent(tenant, *id).await.unwrap().is_some(),
            "a ledger event without its consent: {id}"
        );
    }
    let mut acknowledged_anywhere = HashSet::new();
    for exp in expected {
        let company = exp.company.expect("a company");
        let stored = store.company_consents(tenant, company).await.unwrap();
        let ids: HashSet<String> = stored.iter().map(|c| c.id.to_string()).collect();
        assert_eq!(ids.len(), stored.len(), "a consent listed twice");
        for c in &stored {
            assert_eq!(
                given.get(&c.id),
                Some(&1),
                "consent {} without its one `given` event",
                c.id
            );
        }
        for id in &exp.acknowledged {
            assert!(
                acknowledged_anywhere.insert(id.clone()),
                "consent {id} acknowledged twice"
            );
            assert!(ids.contains(id), "acknowledged consent {id} was lost");
        }
        let acknowledged: HashSet<&String> = exp.acknowledged.iter().collect();
        let unacknowledged = ids.iter().filter(|id| !acknowledged.contains(id)).count();
        assert!(
            unacknowledged <= exp.unknown_outcome,
            "{unacknowledged} consents of company {company} were never acknowledged, but only \
             {} requests could have written one unseen",
            exp.unknown_outcome
        );
        kept.acknowledged += exp.acknowledged.len();
        kept.consents += stored.len();
        kept.unacknowledged += unacknowledged;
        kept.unknown_outcome += exp.unknown_outcome;
    }
    assert_eq!(
        kept.consents, kept.given_events,
        "every `given` event is one of the companies' consents"
    );
    kept
}

/// `accord ledger verify` over the data dir (and the database `env` names): exit 0.
pub(crate) async fn ledger_verifies(dir: &Path, env: &[(&str, &str)]) {
    let mut verify = accord();
    verify
        .args(["ledger", "verify", "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied());
    let ran = run(verify).await;
    assert_eq!(
        ran.code,
        Some(0),
        "ledger verify:\n{}\n{}",
        ran.stdout,
        ran.stderr
    );
}

/// `pragma integrity_check` on a SQLite file: `ok`.
pub(crate) fn sqlite_intact(db: &Path) {
    let conn = rusqlite::Connection::open(db).unwrap();
    let verdict: Vec<String> = conn
        .prepare("pragma integrity_check")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(verdict, ["ok"], "integrity_check of {}", db.display());
}

/// An HTTP client for the load: bounded, and no connection kept across a kill.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(WRITERS)
        .build()
        .unwrap()
}

/// Kill cycles on one database: start `accord demo` (on `env`'s database, else the SQLite file
/// in `dir`), write consents, `kill -9` once some were acknowledged (a different count each
/// cycle, so the kill lands at different points of the group commit), start again on the same
/// database, and so on. Returns what each cycle expects, and the tenant.
async fn kill_cycles(dir: &Path, env: &[(&str, &str)], label: &str) -> (TenantId, Vec<Expected>) {
    let http = client();
    let mut expected = Vec::new();
    let mut tenant = None;
    let (mut slowest_start, mut refused) = (Duration::ZERO, 0);
    let n = cycles();
    for cycle in 0..n {
        let begun = Instant::now();
        let (mut child, demo) = start_demo_with(dir, env, None).await;
        slowest_start = slowest_start.max(begun.elapsed());
        assert!(tenant.is_none_or(|t| t == demo.tenant), "one tenant");
        tenant = Some(demo.tenant);
        let body = consent_body(&http, &demo).await;
        let load = Load::start(&http, &demo, &body);
        load.wait_acknowledged(20 + (cycle * 37) % 120).await;
        // A little more, different each cycle, so the kill is not in step with the batches.
        tokio::time::sleep(Duration::from_millis((cycle as u64 * 7) % 23)).await;
        child.start_kill().expect("SIGKILL");
        let status = tokio::time::timeout(CHILD_TIMEOUT, child.wait())
            .await
            .expect("the process dies")
            .unwrap();
        assert!(!status.success(), "killed, not exited: {status:?}");
        let attempts = load.stop().await;
        let mut exp = Expected::new(&demo);
        for a in &attempts {
            match &a.answer {
                Answer::Acknowledged(id) => exp.acknowledged.push(id.clone()),
                Answer::Refused { .. } => refused += 1,
                Answer::Unanswered { .. } => {}
            }
        }
        exp.unknown_outcome = attempts.iter().filter(|a| a.in_flight()).count();
        assert_eq!(
            refused,
            0,
            "{label} cycle {cycle}: a running Accord refused a consent: {:?}",
            summary(&attempts)
        );
        expected.push(exp);
    }
    println!(
        "{label}: {n} kill -9 cycles; slowest restart to serving {:.2} s",
        slowest_start.as_secs_f64()
    );
    (tenant.expect("at least one cycle"), expected)
}

fn print_kept(label: &str, kept: Kept) {
    println!(
        "{label}: {} consents acknowledged, all kept; {} consents and {} `given` events in the \
         database; {} never acknowledged, of {} requests cut by a kill",
        kept.acknowledged,
        kept.consents,
        kept.given_events,
        kept.unacknowledged,
        kept.unknown_outcome
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault harness: run by .ci/run's fault step (ACCORD_TEST_FAULT_CYCLES)"]
async fn faults_kill_9_cycles_on_sqlite_lose_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let (tenant, expected) = kill_cycles(tmp.path(), &[], "SQLite").await;
    let db = tmp.path().join("accord.db");
    sqlite_intact(&db);
    ledger_verifies(tmp.path(), &[]).await;
    let store = accord_store_sqlite::SqliteStore::open(&db).await.unwrap();
    let kept = check_kept(&store, tenant, &expected).await;
    store.close().await;
    print_kept("SQLite", kept);
    // Accord starts again on what the last kill left, and serves.
    let (mut child, demo) = start_demo_with(tmp.path(), &[], None).await;
    assert_eq!(demo.tenant, tenant);
    child.start_kill().unwrap();
    let _ = child.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "fault harness: run by .ci/run's fault step (ACCORD_TEST_FAULT_CYCLES)"]
async fn faults_kill_9_cycles_on_postgres_lose_nothing_acknowledged() {
    let Some(db) = accord_store_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let env = [("ACCORD_DATABASE__URL", db.url())];
    let (tenant, expected) = kill_cycles(tmp.path(), &env, "PostgreSQL").await;
    ledger_verifies(tmp.path(), &env).await;
    let store = db.store().await;
    let kept = check_kept(&store, tenant, &expected).await;
    print_kept("PostgreSQL", kept);
}
