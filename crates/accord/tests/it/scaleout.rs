//! Many instances, one truth: two Accord instances built on one PostgreSQL database,
//! as two `accord serve` behind one load balancer — same database, a copy of the same key file,
//! each serving on its own `127.0.0.1:0` port. Every request is sent to the instance the test
//! chooses, the way a load balancer would spread them:
//!
//! - a flow started on one instance finishes on the other;
//! - two callbacks racing with one `state`, on both instances: exactly one succeeds;
//! - two browsers racing to open one link, on both instances: exactly one gets in;
//! - disconnects racing on both instances queue one revocation per connection, and the job
//!   workers of both instances, claiming at once, run each job once (one claim per attempt);
//! - the tenant's consent ledger, appended to by both instances, stays one unforked chain;
//! - the webhook workers of both instances, polling at once, send each outbox message once
//!   (one claim per attempt, `for update skip locked`);
//! - token refreshes due at once, claimed by the job workers of both instances, run once per
//!   connection (the sandbox would revoke the grant of a refresh token presented twice).
//!
//! Gated on `ACCORD_TEST_POSTGRES_URL`, like `postgres.rs`.

use crate::helpers::{spawn_app_on_postgres, spawn_instance_like, Browser, PgTestApp};
use accord_domain::ledger::{ChainVerifier, EventKind};
use accord_domain::tenant::JobKind;
use accord_worker::Worker;
use reqwest::Method;
use std::time::Duration;

/// Two instances of one deployment: `a` was started first (its address stands in for the load
/// balancer's in every link), `b` is the second instance.
async fn two_instances() -> Option<(PgTestApp, PgTestApp)> {
    let a = spawn_app_on_postgres().await?;
    let b = spawn_instance_like(&a).await;
    Some((a, b))
}

/// `url` (an absolute URL on `a`, as every link and redirect says) sent to `to` instead.
fn via(url: &str, a: &PgTestApp, to: &PgTestApp) -> String {
    url.replacen(&a.base, &to.base, 1)
}

/// The same browser (one cookie jar) talking to another instance.
fn same_browser_on(browser: &Browser, instance: &PgTestApp) -> Browser {
    Browser {
        client: browser.client.clone(),
        base: instance.base.clone(),
    }
}

/// A new company of the demo tenant and a fresh link for it, minted on instance `on`.
async fn company_with_link(on: &PgTestApp, name: &str) -> (String, String) {
    let company = on.new_company(name).await;
    let link = on.new_link_url(&company).await;
    (company, link)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_started_on_one_instance_finishes_on_the_other() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    let on_a = a.browser();
    let on_b = same_browser_on(&on_a, &b);

    let opened = on_a.get(&a.link_url).await;
    assert_eq!(opened.status, 303, "link opens on A: {}", opened.body);
    // The consent page is rendered by B from the session A opened; the consent is posted to B.
    let to_platform = on_b.consent("sandbox", true).await;
    assert_eq!(
        to_platform.status, 303,
        "consent accepted by B: {}",
        to_platform.body
    );
    let callback = on_a
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    assert_eq!(
        callback.status, 303,
        "the platform approves: {}",
        callback.body
    );
    // The callback reaches A: it consumes the state B stored and exchanges the code.
    let done = on_a.get(&callback.location()).await;
    assert_eq!(done.status, 303, "callback accepted by A: {}", done.body);
    // The success page is served by B.
    let success = on_b.get(&done.location()).await;
    assert_eq!(success.status, 200, "{}", success.body);
    assert!(success.body.contains("is connected"), "{}", success.body);

    // Both instances' APIs tell the same story.
    let path = format!("/v1/companies/{}/connections", a.company_id);
    for instance in [&a, &b] {
        let (status, body) = instance.api_json(Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["data"][0]["status"], "linked", "{body}");
    }
    let id = a.connections().await[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        a.platform_tokens(&id).await.map(|t| t.access_token),
        b.platform_tokens(&id).await.map(|t| t.access_token),
        "B decrypts what A encrypted: one key file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_callbacks_with_one_state_exactly_one_succeeds() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    for round in 0..3 {
        let (company, link) = company_with_link(&a, &format!("Racing {round}")).await;
        let on_a = a.browser();
        let on_b = same_browser_on(&on_a, &b);
        assert_eq!(on_a.get(&link).await.status, 303);
        let to_platform = on_a.consent("sandbox", true).await;
        assert_eq!(to_platform.status, 303, "{}", to_platform.body);
        let callback = on_a
            .sandbox_decide(&to_platform.location(), "Bluebell", true)
            .await;
        let url = callback.location();
        let url_on_b = via(&url, &a, &b);
        let (first, second) = tokio::join!(on_a.get(&url), on_b.get(&url_on_b));
        let mut statuses = [first.status, second.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [303, 400],
            "round {round}: one succeeds, one is refused"
        );

        let (_, body) = a
            .api_json(
                Method::GET,
                &format!("/v1/companies/{company}/connections"),
                None,
            )
            .await;
        let connections = body["data"].as_array().unwrap();
        assert_eq!(connections.len(), 1, "{body}");
        assert_eq!(connections[0]["status"], "linked", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_opens_of_one_link_exactly_one_gets_in() {
    let Some((a, b)) = two_instances().await else {
        return;
    };
    for round in 0..5 {
        let (_, link) = company_with_link(&b, &format!("Opening {round}")).await;
        let (first, second) = (a.browser(), b.browser());
        let on_b = via(&link, &a, &b);
        let (x, y) = tokio::join!(first.get(&link), second.get(&on_b));
        let mut statuses = [x.status, y.status];
        statuses.sort_unstable();
        assert_eq!(
            statuses,
            [303, 410],
            "round {round}: the link is consumed once"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_disconnects_revoke_once_per_connection_and_each_job_runs_once() {
    const CONNECTIONS: usize = 6;
    let Some((a, b)) = two_instances().await else {
        return;
    };
    // Linked connections, each through the whole flow, alternately on A and B.
    let mut linked = Vec::new();
    for n in 0..CONNECTIONS {
        let on = if n % 2 == 0 { &a } else { &b };
        let (company, link) = company_with_link(on, &format!("Company {n}")).await;
        let browser = on.browser();
        // The in-process sandbox platform lives on A (the load balancer's address).
        let at_platform = same_browser_on(&browser, &a);
        assert_eq!(browser.get(&via(&link, &a, on)).await.status, 303);
        let to_platform = browser.consent("sandbox", true).await;
        assert_eq!(to_platform.status, 303, "{}", to_platform.body);
        let callback = at_platform
            .sandbox_decide(&to_platform.location(), "Bluebell", true)
            .await;
        let done = browser.get(&via(&callback.location(), &a, on)).await;
        assert_eq!(done.status, 303, "{}", done.body);
        let (_, body) = on
            .api_json(
                Method::GET,
                &format!("/v1/companies/{company}/connections"),
                None,
            )
            .await;
        let id = body["data"][0]["id"].as_str().unwrap().to_owned();
        let tokens = a.platform_tokens(&id).await.expect("linked");
        linked.push((company, id, tokens.access_token));
    }

    // Each connection disconnected on both instances at the same moment.
    for (company, id, _) in &linked {
        let path = format!("/v1/companies/{company}/connections/{id}");
        let ((s1, b1), (s2, b2)) = tokio::join!(
            a.api_json(Method::DELETE, &path, None),
            b.api_json(Method::DELETE, &path, None)
        );
        assert_eq!((s1, s2), (200, 200), "{b1} {b2}");
        assert_eq!(
            (&b1["status"], &b2["status"]),
            (&"disconnected".into(), &"disconnected".into())
        );
    }

    // Both instances' workers run in the background; two more on each instance claim at once.
    let worker = |app: &PgTestApp| {
        let w = Worker::new(
            app.state.platforms.clone(),
            app.state.jobs.clone(),
            Duration::from_secs(1),
        );
        async move {
            let mut claimed = 0;
            for _ in 0..20 {
                claimed += w.run_due().await.expect("claim");
            }
            claimed
        }
    };
    let (n1, n2, n3, n4) = tokio::join!(worker(&a), worker(&b), worker(&a), worker(&b));
    assert!(
        n1 + n2 + n3 + n4 <= CONNECTIONS,
        "never more claims than jobs"
    );

    let mut ids = Vec::new();
    for id in a.db.job_ids().await {
        // Each link also queued a refresh, which the disconnect ended.
        if a.state.store.job(id).await.unwrap().unwrap().kind == JobKind::RevokeToken {
            ids.push(id);
        }
    }
    assert_eq!(ids.len(), CONNECTIONS, "one revocation job per connection");
    for id in ids {
        let job = a.wait_job_done(id).await;
        assert_eq!(
            (job.attempts, job.last_error.as_deref()),
            (1, None),
            "claimed once, run once: {job:?}"
        );
    }
    for (_, _, access_token) in &linked {
        assert_eq!(
            a.sandbox_api_status("invoices", access_token).await,
            401,
            "revoked at the platform"
        );
    }

    // The tenant's ledger, appended to by both instances, is one unforked chain: a `given`
    // event per consent and a `withdrawn` one per connection, however the disconnects raced.
    let events = b
        .state
        .store
        .ledger_events(a.tenant(), 0, 10_000)
        .await
        .unwrap();
    let mut verifier = ChainVerifier::default();
    for e in &events {
        verifier
            .push(e)
            .unwrap_or_else(|broken| panic!("chain broken: {broken}"));
    }
    let kinds = |kind| events.iter().filter(|e| e.event.body.kind == kind).count();
    assert_eq!(
        (kinds(EventKind::Given), kinds(EventKind::Withdrawn)),
        (CONNECTIONS, CONNECTIONS),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_deliveries_are_claimed_by_one_instance_per_attempt() {
    use crate::helpers::{spawn_app_on_postgres_with, spawn_instance_like_with};
    use crate::webhooks::{register, wait_deliveries, Receiver, DEV};
    let Some(a) = spawn_app_on_postgres_with(&DEV).await else {
        return;
    };
    // B only runs its webhook worker beside A's.
    let _b = spawn_instance_like_with(&a, &DEV).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&a, &receiver.url, &[]).await;
    receiver.trust(&[&secret]);
    // Both workers poll every 25 ms and claim at once. (The flows run on A: the sandbox
    // platform's sign-in state lives in the instance that mounts it.)
    for n in 0..6 {
        let (_, link) = company_with_link(&a, &format!("Webhook Co {n}")).await;
        a.browser().connect(Some(&link), "sandbox").await;
    }
    let events = a
        .state
        .store
        .webhook_events(a.tenant(), 1000)
        .await
        .unwrap();
    assert_eq!(events.len(), 18, "three events per connection");
    let delivered = wait_deliveries(&a, &endpoint, "every delivery succeeded", |d| {
        d.len() == events.len() && d.iter().all(|x| x["status"] == "succeeded")
    })
    .await;
    for d in &delivered {
        assert_eq!(
            d["attempts"].as_array().unwrap().len(),
            1,
            "one attempt: {d}"
        );
    }
    // Give a second (wrong) claim time to show itself, then count what the receiver got.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = receiver.received();
    receiver.assert_all_verified();
    assert_eq!(
        got.len(),
        events.len(),
        "each event sent once, by one instance"
    );
    for e in &events {
        assert_eq!(got.iter().filter(|r| r.id == e.id.to_string()).count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_claimed_on_both_instances_run_once_per_connection() {
    const CONNECTIONS: usize = 4;
    let Some((a, b)) = two_instances().await else {
        return;
    };
    // Linked connections (the flows run on A: the sandbox platform's sign-in state lives in
    // the instance that mounts it).
    let mut linked = Vec::new();
    for n in 0..CONNECTIONS {
        let (company, link) = company_with_link(&a, &format!("Refresh Co {n}")).await;
        a.browser().connect(Some(&link), "sandbox").await;
        let (_, body) = a
            .api_json(
                Method::GET,
                &format!("/v1/companies/{company}/connections"),
                None,
            )
            .await;
        let id = body["data"][0]["id"].as_str().unwrap().to_owned();
        let tokens = a.platform_tokens(&id).await.expect("linked");
        linked.push((company, id, tokens));
    }
    let mut first_refreshes = Vec::new();
    for id in a.db.job_ids().await {
        let job = a.state.store.job(id).await.unwrap().unwrap();
        assert_eq!(job.kind, JobKind::RefreshToken);
        first_refreshes.push(job);
    }
    assert_eq!(
        first_refreshes.len(),
        CONNECTIONS,
        "one refresh queued per link"
    );

    // Every first refresh is due; both instances' workers run in the background, and two
    // more on each claim at the same moment.
    let due = first_refreshes.iter().map(|j| j.run_at).max().unwrap();
    a.clock.set(due);
    let worker = |app: &PgTestApp| {
        let w = Worker::new(
            app.state.platforms.clone(),
            app.state.jobs.clone(),
            Duration::from_secs(1),
        );
        async move {
            for _ in 0..20 {
                w.run_due().await.expect("claim");
            }
        }
    };
    tokio::join!(worker(&a), worker(&b), worker(&a), worker(&b));

    for job in &first_refreshes {
        let done = a.wait_job_done(job.id).await;
        assert_eq!(
            (done.attempts, done.last_error.as_deref()),
            (1, None),
            "claimed once, run once: {done:?}"
        );
    }
    for (company, id, before) in &linked {
        let (_, c) = b
            .api_json(
                Method::GET,
                &format!("/v1/companies/{company}/connections/{id}"),
                None,
            )
            .await;
        // A refresh token presented twice would have made the sandbox revoke the grant, and
        // the second refresh would have ended the connection deauthorized.
        assert_eq!(c["status"], "linked", "{c}");
        let after = a.platform_tokens(id).await.expect("still held");
        assert_ne!(after.refresh_token, before.refresh_token, "rotated once");
        assert_eq!(
            a.sandbox_api_status("invoices", &after.access_token).await,
            200,
            "the grant is intact"
        );
    }
    let mut pending = 0;
    for id in a.db.job_ids().await {
        let job = a.state.store.job(id).await.unwrap().unwrap();
        if job.done_at.is_none() {
            assert_eq!(job.kind, JobKind::RefreshToken);
            pending += 1;
        }
    }
    assert_eq!(pending, CONNECTIONS, "one next refresh per connection");
    let events = a
        .state
        .store
        .webhook_events(a.tenant(), 1000)
        .await
        .unwrap();
    assert!(!events
        .iter()
        .any(|e| e.event_type == "connection.deauthorized"));
}
