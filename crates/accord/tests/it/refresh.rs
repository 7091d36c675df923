//! Token refresh and deauthorization, through the real flow and the in-process sandbox, on
//! the injected clock: a linked connection's token is refreshed before it expires and the
//! rotated tokens are used from then on; a customer removing Accord's access on the platform's
//! connected-apps page makes the next refresh answer `invalid_grant`, and the connection ends
//! `deauthorized` with its tokens destroyed and `connection.deauthorized` delivered, signed;
//! the manage page says so and reconnects it; an outage is retried on the job schedule.

use crate::helpers::{captured_logs, spawn_app, Browser, TestApp};
use crate::webhooks::{register, wait_deliveries, Receiver};
use accord_domain::connection::TokenSet;
use accord_domain::ids::JobId;
use accord_domain::tenant::{job_retry_delay, Job, JobKind};
use accord_worker::Worker;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Connects the demo company to the sandbox (as the customer "Bluebell"); returns the
/// connection id and the tokens Accord holds.
async fn connect(app: &TestApp) -> (String, TokenSet) {
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = success.url.rsplit('/').next().unwrap().to_owned();
    let tokens = app.platform_tokens(&id).await.expect("tokens stored");
    (id, tokens)
}

async fn connection(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// The refresh jobs not done yet.
async fn pending_refreshes(app: &TestApp) -> Vec<Job> {
    let mut jobs = app.jobs(JobKind::RefreshToken).await;
    jobs.retain(|j| j.done_at.is_none());
    jobs
}

/// The one pending refresh.
async fn the_pending_refresh(app: &TestApp) -> Job {
    let mut jobs = pending_refreshes(app).await;
    assert_eq!(jobs.len(), 1, "one refresh pending: {jobs:?}");
    jobs.remove(0)
}

/// Waits (bounded: 10 s, polling) until Accord holds an access token other than `before`.
async fn wait_refreshed(app: &TestApp, id: &str, before: &str) -> TokenSet {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(t) = app.platform_tokens(id).await {
            if t.access_token != before {
                return t;
            }
        }
        assert!(Instant::now() < deadline, "not refreshed within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded: 10 s, polling) until the API shows the connection with `status`.
async fn wait_status(app: &TestApp, id: &str, status: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let c = connection(app, id).await;
        if c["status"] == status {
            return c;
        }
        assert!(Instant::now() < deadline, "not {status} within 10 s: {c}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits (bounded: 10 s, polling) until the job satisfies `pred`.
async fn wait_job(app: &TestApp, id: JobId, what: &str, pred: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let job = app.state.store.job(id).await.unwrap().expect("job exists");
        if pred(&job) {
            return job;
        }
        assert!(Instant::now() < deadline, "{what} within 10 s: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Within a millisecond (times are kept at microsecond precision).
fn close(a: time::OffsetDateTime, b: time::OffsetDateTime) -> bool {
    (a - b).abs() < time::Duration::milliseconds(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_connection_is_refreshed_before_expiry_and_the_rotated_tokens_are_used() {
    let app = spawn_app().await;
    let (id, linked) = connect(&app).await;
    let spent = linked
        .refresh_token
        .clone()
        .expect("offline access granted");
    let expires = linked.expires_at.expect("the sandbox says when it expires");

    // The link queued the first refresh: ten minutes before the hour-long token expires,
    // naming the connection only (the job holds no token).
    let first = the_pending_refresh(&app).await;
    assert!(
        close(first.run_at, expires - time::Duration::minutes(10)),
        "{first:?}"
    );
    assert_eq!(
        first.payload,
        json!({"connection_id": id, "platform_key": "sandbox"})
    );

    // Not a moment early.
    app.clock.set(first.run_at - time::Duration::seconds(1));
    let worker = Worker::new(
        app.state.platforms.clone(),
        app.state.jobs.clone(),
        Duration::from_secs(1),
    );
    assert_eq!(worker.run_due().await.unwrap(), 0, "nothing due yet");
    assert_eq!(
        app.platform_tokens(&id).await.unwrap().access_token,
        linked.access_token
    );

    // At its time the worker refreshes, and the sandbox rotates the refresh token.
    app.clock.set(first.run_at);
    let rotated = wait_refreshed(&app, &id, &linked.access_token).await;
    let rotated_refresh = rotated.refresh_token.clone().expect("a new refresh token");
    assert_ne!(rotated_refresh, spent, "rotated");
    assert!(rotated.expires_at.unwrap() > expires);
    assert_eq!(rotated.scope, linked.scope);
    assert_eq!(
        app.sandbox_api_status("invoices", &rotated.access_token)
            .await,
        200
    );
    let done = app.wait_job_done(first.id).await;
    assert_eq!((done.attempts, done.last_error), (1, None));
    assert_eq!(done.payload, Value::Null);
    let c = connection(&app, &id).await;
    assert_eq!(c["status"], "linked");

    // The next refresh, queued by this one, presents the rotated token: had it presented the
    // spent one, the sandbox would have revoked the grant (reuse detection) and the connection
    // would have ended deauthorized.
    let second = the_pending_refresh(&app).await;
    assert!(close(
        second.run_at,
        rotated.expires_at.unwrap() - time::Duration::minutes(10)
    ));
    app.clock.set(second.run_at);
    let again = wait_refreshed(&app, &id, &rotated.access_token).await;
    assert_ne!(
        again.refresh_token.as_deref(),
        Some(rotated_refresh.as_str())
    );
    assert_eq!(connection(&app, &id).await["status"], "linked");
    app.wait_job_done(second.id).await;

    // A disconnect then revokes what Accord holds: the latest rotated tokens.
    let (status, body) = app
        .api_json(
            Method::DELETE,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let revoke = app.revoke_jobs().await;
    assert_eq!(revoke.len(), 1);
    assert_eq!(app.wait_job_done(revoke[0].id).await.last_error, None);
    assert_eq!(
        app.sandbox_api_status("invoices", &again.access_token)
            .await,
        401,
        "the rotated tokens are revoked at the platform"
    );
    assert!(
        pending_refreshes(&app).await.is_empty(),
        "no refresh after a disconnect"
    );
    let events = app.state.store.webhook_events(app.tenant(), 100).await;
    assert!(!events
        .unwrap()
        .iter()
        .any(|e| e.event_type == "connection.deauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_removed_at_the_platform_deauthorizes_the_connection_and_tells_the_tenant() {
    let app = crate::webhooks::spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &["connection.deauthorized"]).await;
    receiver.trust(&[&secret]);
    let (id, linked) = connect(&app).await;

    // The customer removes Accord's access on the platform's connected-apps page.
    assert_eq!(app.browser().sandbox_remove_access("Bluebell").await, 1);
    assert_eq!(
        app.sandbox_api_status("invoices", &linked.access_token)
            .await,
        401
    );
    assert_eq!(
        connection(&app, &id).await["status"],
        "linked",
        "Accord learns it from the platform, at the next refresh"
    );

    let job = the_pending_refresh(&app).await;
    app.clock.set(job.run_at);
    let c = wait_status(&app, &id, "deauthorized").await;
    assert_eq!(c["last_error"], "invalid_grant");
    assert_eq!(c["disconnected_at"], Value::Null);
    assert!(app.platform_tokens(&id).await.is_none(), "tokens destroyed");
    let done = app.wait_job_done(job.id).await;
    assert_eq!(
        (done.attempts, done.last_error),
        (1, None),
        "nothing to retry"
    );
    assert!(pending_refreshes(&app).await.is_empty());
    let consents = app.consents().await;
    assert_eq!(consents[0]["withdrawn_at"], Value::Null);

    // Delivered, signed, and verified by an independent Standard Webhooks implementation.
    let got = receiver.wait_for(1).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].event_type(), "connection.deauthorized");
    assert_eq!(got[0].verified_by, [0]);
    let data = &got[0].json()["data"];
    assert_eq!(data["connection_id"], id.as_str());
    assert_eq!(data["company_id"], app.company_id.as_str());
    assert_eq!(data["status"], "deauthorized");
    assert_eq!(data["error_code"], "invalid_grant");
    wait_deliveries(&app, &endpoint, "delivered", |d| {
        d.len() == 1 && d[0]["status"] == "succeeded"
    })
    .await;

    // No token in the webhook, the API answer or the logs.
    let refresh = linked.refresh_token.unwrap();
    let logs = captured_logs();
    for secret in [&linked.access_token, &refresh] {
        assert!(!got[0].body.contains(secret.as_str()));
        assert!(!c.to_string().contains(secret.as_str()));
        assert!(!logs.contains(secret.as_str()), "a token reached the logs");
    }
}

/// A browser on a fresh manage session of the demo company, in `language`.
async fn manage_browser(app: &TestApp, language: &str) -> (Browser, crate::helpers::Page) {
    let (status, body) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{}/manage-sessions", app.company_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let browser = Browser::with_accept_language(&app.base, language);
    let opened = browser.get(body["url"].as_str().unwrap()).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let page = browser.get("/manage").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (browser, page)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_manage_page_shows_a_deauthorized_connection_and_reconnects_it() {
    let app = spawn_app().await;
    let (id, linked) = connect(&app).await;
    app.browser().sandbox_remove_access("Bluebell").await;
    let job = the_pending_refresh(&app).await;
    app.clock.set(job.run_at);
    wait_status(&app, &id, "deauthorized").await;

    // In both languages: what happened, and a way back.
    let (_, fr) = manage_browser(&app, "fr").await;
    assert_eq!(
        fr.quiet_texts("article.connection .status-deauthorized"),
        ["Accès coupé par la plateforme"]
    );
    let text = fr.quiet_texts("article.connection").join(" ");
    assert!(
        text.contains("a mis fin à l’accès de Northwind Lending"),
        "{text}"
    );
    assert!(
        text.contains("Reconnecter votre compte Accord Sandbox Books"),
        "{text}"
    );
    let (browser, page) = manage_browser(&app, "en").await;
    assert_eq!(
        page.quiet_texts("article.connection .status-deauthorized"),
        ["Access ended by the platform"]
    );
    let text = page.quiet_texts("article.connection").join(" ");
    assert!(text.contains("ended Northwind Lending's access"), "{text}");
    assert!(
        page.has("article.connection a.danger"),
        "it can still be disconnected"
    );
    let (action, fields) = page.quiet_form("article.connection form[action$='/reconnect']");
    assert_eq!(action, format!("/manage/connections/{id}/reconnect"));

    // Without its CSRF token the button does nothing.
    let mut forged = fields.clone();
    forged.remove("csrf");
    assert_eq!(browser.post(&action, &forged).await.status, 403);
    assert_eq!(connection(&app, &id).await["status"], "deauthorized");

    // Reconnecting: the flow's consent step for that platform, the platform sign-in, and
    // the same connection linked again with new tokens and its refresh queued.
    let to_consent = browser.post(&action, &fields).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    assert_eq!(to_consent.location(), "/link/platforms/sandbox/consent");
    let select = browser.get("/link/platforms").await;
    assert!(
        select
            .quiet_texts(".platform .reconsent")
            .contains(&"Access ended by the platform".to_owned()),
        "{}",
        select.body
    );
    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    let done = browser.get(&callback.location()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(done.location(), format!("/link/connections/{id}"));
    let c = connection(&app, &id).await;
    assert_eq!(
        (&c["status"], &c["last_error"]),
        (&json!("linked"), &Value::Null)
    );
    assert_eq!(app.connections().await.len(), 1, "no second connection");
    let tokens = app.platform_tokens(&id).await.expect("new tokens");
    assert_ne!(tokens.access_token, linked.access_token);
    assert_eq!(
        app.sandbox_api_status("invoices", &tokens.access_token)
            .await,
        200
    );
    the_pending_refresh(&app).await;
    let consents = app.consents().await;
    assert_eq!(consents.len(), 2);
    assert_eq!(c["consent_id"], consents[1]["id"]);
    assert!(
        consents[0]["withdrawn_at"].is_string(),
        "superseded by the new consent"
    );
    // A linked connection has nothing to reconnect.
    let again = browser.post(&action, &fields).await;
    assert_eq!(again.status, 303);
    assert_eq!(again.location(), "/manage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_meets_an_outage_is_retried_on_the_job_schedule() {
    let app = spawn_app().await;
    let (id, linked) = connect(&app).await;
    let job = the_pending_refresh(&app).await;
    app.sandbox
        .as_ref()
        .expect("sandbox mounted")
        .fail_next_token_requests(1);

    app.clock.set(job.run_at);
    let failed = wait_job(&app, job.id, "the attempt failed", |j| {
        j.last_error.is_some()
    })
    .await;
    assert_eq!((failed.attempts, failed.done_at), (1, None), "to retry");
    let error = failed.last_error.clone().unwrap();
    assert!(error.starts_with("platform_unreachable"), "{error}");
    assert!(!error.contains(linked.refresh_token.as_deref().unwrap()));
    assert!(close(
        failed.run_at,
        job.run_at + job_retry_delay(1).unwrap()
    ));
    assert_eq!(connection(&app, &id).await["status"], "linked");
    assert_eq!(
        app.platform_tokens(&id).await.unwrap().access_token,
        linked.access_token,
        "the tokens are kept meanwhile"
    );

    // On the schedule, the same refresh token (the outage spent nothing) is accepted.
    app.clock.set(failed.run_at);
    let fresh = wait_refreshed(&app, &id, &linked.access_token).await;
    assert_ne!(fresh.refresh_token, linked.refresh_token);
    let done = app.wait_job_done(job.id).await;
    assert_eq!((done.attempts, done.last_error), (2, None));
    assert_eq!(connection(&app, &id).await["status"], "linked");
    the_pending_refresh(&app).await;
}

/// An outage longer than the whole retry schedule: the refresh of a linked connection is never
/// abandoned. Past the schedule it tries every 6 hours, keeping the tokens, and the first answer
/// after the outage refreshes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_outlives_an_outage_longer_than_the_retry_schedule() {
    let app = spawn_app().await;
    let (id, linked) = connect(&app).await;
    let job = the_pending_refresh(&app).await;
    let failures = 14;
    app.sandbox
        .as_ref()
        .expect("sandbox mounted")
        .fail_next_token_requests(failures);
    let (mut run_at, mut due) = (job.run_at, job.run_at);
    for attempt in 1..=i64::from(failures) {
        app.clock.set(run_at);
        due = run_at;
        let failed = wait_job(&app, job.id, "the attempt failed", |j| {
            j.attempts == attempt && j.run_at != due
        })
        .await;
        assert_eq!(failed.done_at, None, "attempt {attempt}: never abandoned");
        // The job schedule, then every 6 hours.
        let delay = job_retry_delay(attempt).unwrap_or(time::Duration::hours(6));
        assert!(
            close(failed.run_at, due + delay),
            "attempt {attempt}: {failed:?}"
        );
        run_at = failed.run_at;
    }
    assert_eq!(
        run_at - due,
        time::Duration::hours(6),
        "past the schedule, every 6 hours"
    );
    // The tenant was told once, when the ordinary schedule ran out.
    let c = connection(&app, &id).await;
    assert_eq!(
        (c["status"].as_str(), c["last_error"].as_str()),
        (Some("linked"), Some("platform_unreachable")),
        "{c}"
    );
    assert_eq!(refresh_failing_events(&app).await, 1);

    app.clock.set(run_at);
    let fresh = wait_refreshed(&app, &id, &linked.access_token).await;
    assert_ne!(fresh.refresh_token, linked.refresh_token);
    let done = app.wait_job_done(job.id).await;
    assert_eq!(
        (done.attempts, done.last_error),
        (i64::from(failures) + 1, None)
    );
    let c = connection(&app, &id).await;
    assert_eq!(
        (c["status"].as_str(), c["last_error"].as_str()),
        (Some("linked"), None),
        "cleared by the refresh: {c}"
    );
    assert_eq!(refresh_failing_events(&app).await, 1, "told once");
}

/// The `connection.refresh_failing` events in the app's outbox.
async fn refresh_failing_events(app: &TestApp) -> usize {
    app.state
        .store
        .webhook_events(app.tenant(), 1000)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "connection.refresh_failing")
        .count()
}
