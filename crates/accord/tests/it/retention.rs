//! The access log's retention on the injected clock: housekeeping deletes access records older
//! than `data_access.log_retention_days` (default 396 days, 13 months) and keeps the rest, with
//! the running application's own worker and with the default period.

use crate::helpers::{spawn_app_with, TestApp};
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn connect(app: &TestApp) -> String {
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    success.url.rsplit('/').next().unwrap().to_owned()
}

async fn read_invoices(app: &TestApp, id: &str) {
    let path = format!(
        "/v1/companies/{}/connections/{id}/data/invoices",
        app.company_id
    );
    let res = app.api(Method::GET, &path).send().await.unwrap();
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// The `at` of every access record of the connection, newest first.
async fn logged(app: &TestApp, id: &str) -> Vec<String> {
    let path = format!(
        "/v1/companies/{}/connections/{id}/access-log?limit=100",
        app.company_id
    );
    let (status, body) = app.api_json(Method::GET, &path, None).await;
    assert_eq!(status, 200, "{body}");
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["at"].as_str().unwrap().to_owned())
        .collect::<Vec<_>>()
}

fn worker(app: &TestApp) -> accord_worker::Worker {
    accord_worker::Worker::new(
        app.state.platforms.clone(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
        Duration::from_hours(1),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_keeps_access_records_thirteen_months() {
    let app = spawn_app_with(&[("worker.poll_secs", "3600")], None).await;
    let id = connect(&app).await;
    read_invoices(&app, &id).await;
    app.clock.advance(time::Duration::days(2));
    read_invoices(&app, &id).await;
    assert_eq!(logged(&app, &id).await.len(), 2);

    let worker = worker(&app);
    // The older record is 395 days old, the newer 393: both within 396 days.
    app.clock.advance(time::Duration::days(393));
    worker.run_housekeeping().await.unwrap();
    assert_eq!(logged(&app, &id).await.len(), 2, "nothing is past 396 days");

    // 397 and 395 days old: only the older goes.
    app.clock.advance(time::Duration::days(2));
    worker.run_housekeeping().await.unwrap();
    let kept = logged(&app, &id).await;
    assert_eq!(kept.len(), 1, "{kept:?}");

    app.clock.advance(time::Duration::days(2));
    worker.run_housekeeping().await.unwrap();
    assert!(logged(&app, &id).await.is_empty());
    // The connection itself is untouched: retention is of the log only.
    assert_eq!(app.connections().await[0]["status"], "linked");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_period_is_what_the_running_worker_keeps() {
    let app = spawn_app_with(
        &[
            ("worker.poll_secs", "3600"),
            ("data_access.log_retention_days", "30"),
        ],
        None,
    )
    .await;
    let id = connect(&app).await;
    read_invoices(&app, &id).await;
    app.clock.advance(time::Duration::days(20));
    read_invoices(&app, &id).await;
    assert_eq!(logged(&app, &id).await.len(), 2);

    // The first record is now 31 days old, the second 11. The app's own worker runs its
    // housekeeping when woken once a minute of the clock has passed since its last pass.
    app.clock.advance(time::Duration::days(11));
    let deadline = Instant::now() + Duration::from_secs(10);
    let kept = loop {
        app.state.jobs.notify_one();
        let kept = logged(&app, &id).await;
        if kept.len() < 2 || Instant::now() >= deadline {
            break kept;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        kept.len(),
        1,
        "only the record within 30 days is kept: {kept:?}"
    );
    let (status, body): (_, Value) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
}
