//! Every event of the real flow, delivered and verified; delivery across a crash (before the
//! send, and during it); graceful shutdown; PostgreSQL.

use super::{register, spawn, wait_deliveries, Answer, Receiver, DEV};
use crate::helpers::spawn_app_with;
use reqwest::Method;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use time::OffsetDateTime;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_of_the_flow_arrives_signed_and_verified() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &[]).await;
    receiver.trust(&[&secret]);

    // connection.created, consent.given, connection.linked
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let connection = success.url.rsplit('/').next().unwrap().to_owned();
    // consent.reconsent_required: a material change of the notice agreed to
    let (_, content) = crate::reconsent::current_notice(&app, "en").await;
    crate::reconsent::publish(&app, "en", &crate::reconsent::material_change(content)).await;
    // connection.disconnected, consent.withdrawn
    let (status, body) = app
        .api_json(
            Method::DELETE,
            &format!("/v1/companies/{}/connections/{connection}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    // connection.failed: the customer refuses at the platform
    let company = app.new_company("Refuses SARL").await;
    let link = app.new_link_url(&company).await;
    let refusing = app.browser();
    assert_eq!(refusing.get(&link).await.status, 303);
    let to_platform = refusing.consent("sandbox", true).await;
    let callback = refusing
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    refusing.get(&callback.location()).await;
    // support_request.created
    let opened = refusing.get(&app.new_link_url(&company).await).await;
    let landing = refusing.get(&opened.location()).await;
    let help = landing.attrs("footer.help a[href^='/link/support']", "href");
    crate::flow::send_support_request(&refusing, &help[0]).await;
    // nda.accepted
    crate::nda::configure(&app).await;
    let nda_browser = app.browser();
    let fresh = app.new_link_url(&app.company_id).await;
    assert_eq!(nda_browser.get(&fresh).await.status, 303);
    let signed = crate::nda::sign(&nda_browser, "Jeanne Martin", "Gérante", true).await;
    assert!(signed.status < 400, "{}", signed.body);
    // connection.deauthorized: the customer removes Accord's access at the platform, and the
    // next refresh of the connection is refused (invalid_grant)
    let revoked = super::connect_new_company(&app, "Revokes Ltd").await;
    app.browser().sandbox_remove_access("Bluebell").await;
    let refresh = app
        .jobs(accord_domain::tenant::JobKind::RefreshToken)
        .await
        .into_iter()
        .find(|j| j.done_at.is_none())
        .expect("the connection's refresh is queued");
    app.clock.set(refresh.run_at);
    let deadline = Instant::now() + Duration::from_secs(10);
    let revoked: accord_domain::ids::ConnectionId = revoked.parse().unwrap();
    while app
        .state
        .store
        .connection(app.tenant(), revoked)
        .await
        .unwrap()
        .is_none_or(|c| c.status != accord_domain::connection::ConnectionStatus::Deauthorized)
    {
        assert!(Instant::now() < deadline, "deauthorized within 10 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let expected = [
        "connection.created",
        "consent.given",
        "connection.linked",
        "consent.reconsent_required",
        "connection.disconnected",
        "consent.withdrawn",
        "connection.failed",
        "support_request.created",
        "nda.accepted",
        "connection.deauthorized",
    ];
    let events = app
        .state
        .store
        .webhook_events(app.tenant(), 100)
        .await
        .unwrap();
    for t in expected {
        assert!(
            events.iter().any(|e| e.event_type == t),
            "{t} written to the outbox: {:?}",
            events.iter().map(|e| e.event_type).collect::<Vec<_>>()
        );
    }
    let got = receiver.wait_for(events.len()).await;
    assert_eq!(got.len(), events.len(), "each event once");
    for e in &events {
        let r = got
            .iter()
            .find(|r| r.id == e.id.to_string())
            .unwrap_or_else(|| panic!("{} ({}) not received", e.id, e.event_type));
        assert_eq!(r.body, e.body, "the body sent is the outbox body");
        assert_eq!(r.event_type(), e.event_type);
        assert_eq!(r.verified_by, [0]);
        assert_eq!(r.path, "/hooks/accord");
    }
    // Payloads carry ids and statuses: the linked event names the connection, no token.
    let linked = got
        .iter()
        .find(|r| r.event_type() == "connection.linked")
        .unwrap()
        .json();
    assert_eq!(linked["data"]["connection_id"], connection.as_str());
    assert_eq!(linked["data"]["status"], "linked");
    let tokens_seen = crate::helpers::captured_logs();
    for r in &got {
        assert!(!r.body.contains("access_token") && !r.body.contains("refresh_token"));
        assert!(
            !r.body.contains("owner@bluebell.example"),
            "no reply address"
        );
        assert!(
            !tokens_seen.contains(&secret),
            "the secret never reaches a log"
        );
    }
    let failed = got
        .iter()
        .find(|r| r.event_type() == "connection.failed")
        .unwrap()
        .json();
    assert_eq!(failed["data"]["error_code"], "access_denied");
    let deauthorized = got
        .iter()
        .find(|r| r.event_type() == "connection.deauthorized")
        .unwrap()
        .json();
    assert_eq!(deauthorized["data"]["status"], "deauthorized");
    assert_eq!(deauthorized["data"]["error_code"], "invalid_grant");
    // Every delivery is listed, succeeded after one attempt answered 204.
    let listed = wait_deliveries(&app, &endpoint, "all succeeded", |d| {
        d.len() == events.len() && d.iter().all(|x| x["status"] == "succeeded")
    })
    .await;
    for d in &listed {
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{d}");
        assert_eq!(attempts[0]["response_status"], 204);
        assert_eq!(attempts[0]["error"], Value::Null);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_the_commit_and_the_send_still_delivers_with_the_same_id() {
    let receiver = Receiver::start().await;
    // Instance A commits the events but its worker never gets to them (its next round is a
    // minute away), then A goes away.
    let mut a = spawn(&[("webhooks.poll_millis", "60000")]).await;
    let (endpoint, secret) = register(&a, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    a.browser().connect(Some(&a.link_url), "sandbox").await;
    let event = a
        .state
        .store
        .webhook_events(a.tenant(), 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.event_type == "connection.linked")
        .expect("committed to the outbox");
    let dir = std::mem::replace(&mut a.data_dir, tempfile::tempdir().unwrap());
    let path = dir.path().display().to_string();
    drop(a);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(receiver.received().is_empty(), "A never sent it");

    // B, on the same database, delivers it.
    let b = spawn(&[("database.data_dir", &path)]).await;
    let got = receiver.wait_for(1).await;
    assert_eq!(got[0].id, event.id.to_string());
    assert_eq!(got[0].body, event.body);
    let d = wait_deliveries(&b, &endpoint, "delivered by B", |d| {
        d.len() == 1 && d[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(d[0]["event_id"], event.id.to_string());
    drop(b);
    drop(dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_the_send_sends_again_after_the_lease_with_the_same_id() {
    let receiver = Receiver::start().await;
    receiver.script([Answer::Hang]);
    let mut a = spawn(&[("webhooks.timeout_secs", "60")]).await;
    let (endpoint, secret) = register(&a, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    a.browser().connect(Some(&a.link_url), "sandbox").await;
    // A's worker sent it; the receiver holds the request; A dies before any answer.
    receiver.wait_for(1).await;
    let clock = a.clock.clone();
    let dir = std::mem::replace(&mut a.data_dir, tempfile::tempdir().unwrap());
    let path = dir.path().display().to_string();
    drop(a);

    let b = spawn_app_with(
        &[DEV[0], DEV[1], ("database.data_dir", &path)],
        Some(clock.clone()),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        1,
        "still leased to the dead worker"
    );
    clock.advance(time::Duration::minutes(4));
    let got = receiver.wait_for(2).await;
    assert_eq!(got[1].id, got[0].id, "at least once, same webhook-id");
    assert_eq!(got[1].body, got[0].body);
    let d = wait_deliveries(&b, &endpoint, "delivered by B", |d| {
        d.len() == 1 && d[0]["status"] == "succeeded"
    })
    .await;
    assert_eq!(d[0]["attempts"].as_array().unwrap().len(), 1);
    drop(b);
    drop(dir);
}

// ---- PostgreSQL (gated on ACCORD_TEST_POSTGRES_URL) ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_events_committed_by_one_instance_are_delivered_by_another() {
    use crate::helpers::{spawn_app_on_postgres_with, spawn_instance_like_with};
    // A commits and never sends (its worker's next round is a minute away).
    let Some(a) = spawn_app_on_postgres_with(&[DEV[0], ("webhooks.poll_millis", "60000")]).await
    else {
        return;
    };
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&a, &receiver.url, &[]).await;
    receiver.trust(&[&secret]);
    a.browser().connect(Some(&a.link_url), "sandbox").await;
    let events = a.state.store.webhook_events(a.tenant(), 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        ["connection.created", "consent.given", "connection.linked"]
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(receiver.received().is_empty());
    // B, on the same database, delivers them, verified, once each, with their ids.
    let b = spawn_instance_like_with(&a, &DEV).await;
    let got = receiver.wait_for(3).await;
    for e in &events {
        assert_eq!(
            got.iter().filter(|r| r.id == e.id.to_string()).count(),
            1,
            "{}",
            e.event_type
        );
    }
    wait_deliveries(&b, &endpoint, "all succeeded", |d| {
        d.len() == 3 && d.iter().all(|x| x["status"] == "succeeded")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_send_in_progress_then_stops() {
    use accord::config::{Overrides, Settings};
    use secrecy::ExposeSecret;
    let receiver = Receiver::start().await;
    receiver.script([Answer::Hang]);
    let dir = tempfile::tempdir().unwrap();
    let mut o = Overrides::default();
    for (k, v) in [
        ("server.listen", "127.0.0.1:0"),
        ("server.public_url", ""),
        ("webhooks.allow_loopback", "true"),
        ("webhooks.poll_millis", "25"),
        ("webhooks.timeout_secs", "2"),
    ] {
        o.set(k, v);
    }
    o.set("server.allow_http_localhost", true);
    o.set("sandbox.mount", true);
    o.set("database.data_dir", dir.path().display().to_string());
    let settings = Settings::load(None, &[], &o).unwrap();
    let clock = accord_domain::ManualClock::new(OffsetDateTime::now_utc());
    let app = accord::Application::build(&settings, Arc::new(clock))
        .await
        .unwrap();
    let demo = accord::demo::ensure(app.state()).await.unwrap();
    let state = app.state().clone();
    let base = format!("http://{}", app.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(app.serve(async {
        let _ = stopped.await;
    }));
    let (status, body) = reqwest::Client::new()
        .post(format!("{base}/v1/webhook-endpoints"))
        .bearer_auth(demo.api_key.expose_secret())
        .json(&json!({"url": receiver.url, "event_types": ["connection.linked"]}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    let created: Value = body.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    receiver.trust(&[created["secret"].as_str().unwrap()]);
    crate::helpers::Browser::new(&base)
        .connect(Some(&demo.link_url), "sandbox")
        .await;
    receiver.wait_for(1).await;

    // The send hangs; shutdown waits for it (bounded by the 2 s timeout), records it, stops.
    let asked = Instant::now();
    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), served)
        .await
        .expect("serve stops within the send timeout")
        .unwrap()
        .unwrap();
    assert!(
        asked.elapsed() < Duration::from_secs(8),
        "{:?}",
        asked.elapsed()
    );
    let endpoint: accord_domain::ids::WebhookEndpointId =
        created["id"].as_str().unwrap().parse().unwrap();
    let deliveries = state
        .store
        .webhook_deliveries(demo.tenant.id, endpoint, None, 10)
        .await
        .unwrap();
    let attempts = state
        .store
        .webhook_attempts(demo.tenant.id, deliveries[0].id)
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1, "the attempt in progress was recorded");
    assert_eq!(attempts[0].error.as_deref(), Some("timeout"));
    assert_eq!(
        deliveries[0].status,
        accord_domain::outbox::DeliveryStatus::Pending,
        "to be retried"
    );
}
