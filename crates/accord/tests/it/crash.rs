//! Nothing acknowledged is ever lost: `accord demo` is killed with SIGKILL while consents are
//! being written through the tenant API, and every consent it answered `201` for is in the
//! database afterwards, with its ledger event, and the ledger still verifies. SQLite runs WAL
//! with `synchronous=FULL` and the group-commit writer answers a caller only after the batch's
//! commit is on disk; this test holds the process to that from the outside.

use crate::startup::{accord, run, CHILD_TIMEOUT};
use accord_domain::ids::{ConsentId, TenantId};
use accord_domain::ledger::EventKind;
use accord_store::{ConsentStore, LedgerStore};
use accord_store_sqlite::SqliteStore;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

/// Concurrent writers, and how many acknowledged consents to wait for before the kill.
const WRITERS: usize = 24;
const ACKNOWLEDGED_BEFORE_KILL: usize = 150;

/// What `accord demo` printed: its address, the API key, the tenant and company ids.
pub(crate) struct Demo {
    pub(crate) base: String,
    pub(crate) api_key: String,
    pub(crate) tenant: TenantId,
    pub(crate) company: String,
}

fn after<'a>(lines: &'a [String], prefix: &str) -> Option<&'a str> {
    lines.iter().find_map(|l| l.strip_prefix(prefix))
}

/// The id in a line such as `Company: Bluebell Bakery Ltd (id 0190…)`.
fn id_in(line: &str) -> String {
    line.rsplit_once("(id ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("an id in {line:?}"))
        .to_owned()
}

pub(crate) async fn start_demo(dir: &std::path::Path) -> (tokio::process::Child, Demo) {
    start_demo_with(dir, &[], None).await
}

/// Where the lines `accord demo` logs (its stderr) are collected, when a test reads them.
pub(crate) type Logs = Arc<Mutex<Vec<String>>>;

/// [`start_demo`] with settings from the environment (`ACCORD_DATABASE__URL` for PostgreSQL…)
/// and, when `logs` is given, every line it logs collected there.
pub(crate) async fn start_demo_with(
    dir: &std::path::Path,
    env: &[(&str, &str)],
    logs: Option<&Logs>,
) -> (tokio::process::Child, Demo) {
    let mut cmd = accord();
    cmd.args(["demo", "--port", "0", "--data-dir"])
        .arg(dir)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(if logs.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("accord demo runs");
    if let (Some(logs), Some(stderr)) = (logs, child.stderr.take()) {
        let logs = Arc::clone(logs);
        let mut lines = BufReader::new(stderr).lines();
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                logs.lock().unwrap().push(line);
            }
        });
    }
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    tokio::time::timeout(CHILD_TIMEOUT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.starts_with("Link URL: ");
            seen.push(line);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("accord demo did not start in time; saw {seen:?}"));
    // Keep reading what it prints: a closed pipe would make its next line fail, and `println!`
    // panics on a write error, which would end the server mid-test.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let base = after(&seen, "Accord demo is running at ")
        .unwrap_or_else(|| panic!("no address in {seen:?}"))
        .to_owned();
    let api_key = after(&seen, "Tenant API key (shown once): ")
        .unwrap_or_else(|| panic!("no API key in {seen:?}"))
        .to_owned();
    let tenant = id_in(after(&seen, "Tenant: ").unwrap()).parse().unwrap();
    let company = id_in(after(&seen, "Company: ").unwrap());
    (
        child,
        Demo {
            base,
            api_key,
            tenant,
            company,
        },
    )
}

/// The consent request a tenant's own UI sends, for the notice in force.
pub(crate) async fn consent_body(http: &reqwest::Client, demo: &Demo) -> Value {
    let notice: Value = http
        .get(format!(
            "{}/v1/notices/render?platform=sandbox&category=accounting&locale=en",
            demo.base
        ))
        .bearer_auth(&demo.api_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    json!({
        "platform": "sandbox",
        "category": "accounting",
        "locale": "en",
        "notice_version_id": notice["notice_version_id"],
        "text_hash": notice["text_hash"],
        "checkbox_ticked": true,
    })
}

/// Writes consents from `WRITERS` callers until `stop`, recording every id answered `201`.
pub(crate) fn spawn_writers(
    http: &reqwest::Client,
    demo: &Demo,
    body: &Value,
    acknowledged: &Arc<Mutex<Vec<String>>>,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let url = format!("{}/v1/companies/{}/consents", demo.base, demo.company);
    (0..WRITERS)
        .map(|_| {
            let (http, url, key, body) = (
                http.clone(),
                url.clone(),
                demo.api_key.clone(),
                body.clone(),
            );
            let (acknowledged, stop) = (Arc::clone(acknowledged), Arc::clone(stop));
            tokio::spawn(async move {
                // Bounded: the process is killed long before, and then every request fails.
                for _ in 0..10_000 {
                    if stop.load(Ordering::Relaxed) {
                        return;
                    }
                    let Ok(res) = http.post(&url).bearer_auth(&key).json(&body).send().await else {
                        continue;
                    };
                    if res.status() != 201 {
                        continue;
                    }
                    // A response cut by the kill was never acknowledged: only a whole body counts.
                    if let Ok(v) = res.json::<Value>().await {
                        let id = v["consent_id"].as_str().unwrap().to_owned();
                        acknowledged.lock().unwrap().push(id);
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_consent_acknowledged_before_a_kill_9_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let (mut child, demo) = start_demo(tmp.path()).await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let body = consent_body(&http, &demo).await;
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_writers(&http, &demo, &body, &acknowledged, &stop);

    // Kill in the middle of the load: once enough consents were acknowledged, with the writers
    // still sending (so batches are in flight when the process dies).
    tokio::time::timeout(CHILD_TIMEOUT, async {
        while acknowledged.lock().unwrap().len() < ACKNOWLEDGED_BEFORE_KILL {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("consents are acknowledged in time");
    child.start_kill().expect("SIGKILL");
    let status = tokio::time::timeout(CHILD_TIMEOUT, child.wait())
        .await
        .expect("the process dies")
        .unwrap();
    assert!(!status.success(), "killed, not exited: {status:?}");
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL);

    // The ledger of the killed process verifies, as it is on disk.
    let mut verify = accord();
    verify
        .args(["ledger", "verify", "--data-dir"])
        .arg(tmp.path());
    let ran = run(verify).await;
    assert_eq!(ran.code, Some(0), "{}\n{}", ran.stdout, ran.stderr);

    // Every acknowledged consent is there, with its `given` event.
    let store = SqliteStore::open(&tmp.path().join("accord.db"))
        .await
        .unwrap();
    let mut given: HashMap<ConsentId, usize> = HashMap::new();
    let mut after_seq = 0;
    loop {
        let page = store
            .ledger_events(demo.tenant, after_seq, 5_000)
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after_seq = last.event.seq;
        for e in page
            .iter()
            .filter(|e| e.event.body.kind == EventKind::Given)
        {
            *given.entry(e.event.body.consent_id).or_default() += 1;
        }
    }
    for id in &acknowledged {
        let id: ConsentId = id.parse().unwrap();
        assert!(
            store.consent(demo.tenant, id).await.unwrap().is_some(),
            "acknowledged consent {id} was lost"
        );
        assert_eq!(given.get(&id), Some(&1), "consent {id} has its one event");
    }
    store.close().await;
}
