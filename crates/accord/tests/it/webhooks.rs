//! Signed webhooks (issue 5): every event of the real flow reaches a loopback receiver that
//! verifies it with an independent Standard Webhooks implementation (the `standardwebhooks`
//! crate) and fails the test on any request it cannot verify; the retry schedule runs on the
//! injected clock; `Retry-After`, 3xx and 410 are honoured; a crash between the commit and the
//! send still delivers, with the same `webhook-id`; server-side request forgery is refused at
//! registration and at send time; a rotated secret signs beside the new one during the overlap.

use crate::helpers::{spawn_app_with, TestApp};
use accord_domain::Clock as _;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub signature: String,
    pub body: String,
    /// Which of the receiver's secrets verified it (indices).
    pub verified_by: Vec<usize>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

/// What the receiver answers next: a status, headers, or hanging (never answering).
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16, Vec<(&'static str, String)>),
    Hang,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    received: Vec<Received>,
    unverified: Vec<String>,
    script: VecDeque<Answer>,
}

/// A loopback webhook receiver verifying every request with `standardwebhooks`.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    pub port: u16,
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let answer = {
        let mut inner = r.inner.lock().unwrap();
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let verified_by: Vec<usize> = inner
            .secrets
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                standardwebhooks::Webhook::new(s)
                    .unwrap()
                    .verify(body.as_bytes(), &headers)
                    .is_ok()
            })
            .map(|(i, _)| i)
            .collect();
        if verified_by.is_empty() {
            inner.unverified.push(format!("{uri} {}", h("webhook-id")));
        }
        inner.received.push(Received {
            path: uri.path().to_owned(),
            id: h("webhook-id"),
            signature: h("webhook-signature"),
            body: body.clone(),
            verified_by,
        });
        inner.script.pop_front()
    };
    match answer {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(Answer::Status(code, headers)) => {
            let mut res = StatusCode::from_u16(code).unwrap().into_response();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
        Some(Answer::Hang) => std::future::pending().await,
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            inner: Arc::default(),
            url: format!("http://127.0.0.1:{port}/hooks/accord"),
            port,
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }

    /// The secrets it verifies with (any one verifying is enough).
    pub fn trust(&self, secrets: &[&str]) {
        self.inner.lock().unwrap().secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Fails the test if any request could not be verified.
    pub fn assert_all_verified(&self) {
        let inner = self.inner.lock().unwrap();
        assert!(
            inner.unverified.is_empty(),
            "unverifiable webhooks: {:?}",
            inner.unverified
        );
    }

    /// Waits (bounded: 15 s) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received();
            if got.len() >= n {
                self.assert_all_verified();
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} webhooks arrived: {:?}",
                got.len(),
                got.iter().map(Received::event_type).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The settings every webhook test runs with: loopback allowed (the receiver is on it), a
/// quick poll.
pub const DEV: [(&str, &str); 2] = [
    ("webhooks.allow_loopback", "true"),
    ("webhooks.poll_millis", "25"),
];

pub async fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut all: Vec<(&str, &str)> = DEV.to_vec();
    all.extend_from_slice(extra);
    spawn_app_with(&all, None).await
}

/// Registers `url` for `types` (empty: all); returns the endpoint id and its secret.
pub async fn register(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url, "event_types": types, "description": "Risk engine"})),
        )
        .await;
    assert_eq!(status, 201, "register: {body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (body["id"].as_str().unwrap().to_owned(), secret)
}

pub async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries?limit=100"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits (bounded: 15 s) until `pred` holds for the endpoint's deliveries.
pub async fn wait_deliveries(
    app: &TestApp,
    endpoint: &str,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = deliveries(app, endpoint).await;
        if pred(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Connects the sandbox for a new company of the app's tenant; returns the connection id.
pub async fn connect_new_company(app: &TestApp, name: &str) -> String {
    let company = app.new_company(name).await;
    let link = app.new_link_url(&company).await;
    let success = app.browser().connect(Some(&link), "sandbox").await;
    success.url.rsplit('/').next().unwrap().to_owned()
}

/// Whether the (only) delivery shows attempt `n` recorded. The list reads a delivery, then its
/// attempts: an attempt committed in between shows in the attempts but not yet in the
/// delivery, so wait until the delivery too has moved past the time attempt `n` was made.
pub fn recorded(d: &[Value], n: usize) -> bool {
    let Some(attempts) = d.first().and_then(|x| x["attempts"].as_array()) else {
        return false;
    };
    d.len() == 1 && attempts.len() == n && d[0]["next_attempt_at"] != attempts[n - 1]["at"]
}

fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}

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
async fn retries_follow_the_schedule_on_the_injected_clock_then_give_up_and_replay() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    receiver.script((0..8).map(|_| Answer::Status(503, vec![])));
    app.browser().connect(Some(&app.link_url), "sandbox").await;

    // Attempt 1 goes at once; each next one only once the clock reaches its time.
    let schedule = [5_i64, 300, 1800, 7200, 18_000, 36_000, 36_000];
    let mut last_at: Option<OffsetDateTime> = None;
    for (n, expected) in (1..=8).zip(schedule.iter().map(Some).chain([None])) {
        let got = receiver.wait_for(n).await;
        assert_eq!(got.len(), n, "attempt {n} sent once");
        let d = wait_deliveries(&app, &endpoint, "attempt recorded", |d| recorded(d, n)).await;
        let attempts = d[0]["attempts"].as_array().unwrap();
        let at = time_of(&attempts[n - 1]["at"]);
        if let Some(prev) = last_at {
            let gap = (at - prev).whole_seconds();
            let base = schedule[n - 2];
            // ±10 % jitter, and a second for times kept at microsecond precision.
            assert!(
                (base * 9 / 10 - 1..=base * 11 / 10 + 1).contains(&gap),
                "gap before attempt {n}: {gap} s, schedule {base} s ±10 %: {d:#?}"
            );
        }
        last_at = Some(at);
        assert_eq!(attempts[n - 1]["response_status"], 503);
        assert_eq!(attempts[n - 1]["error"], "status 503");
        if let Some(base) = expected {
            assert_eq!(d[0]["status"], "pending");
            let next = time_of(&d[0]["next_attempt_at"]);
            let wait = (next - at).whole_seconds();
            assert!(
                (base * 9 / 10 - 1..=base * 11 / 10 + 1).contains(&wait),
                "after attempt {n}: {wait} s, schedule {base} s ±10 %: {d:#?}"
            );
            if n == 2 {
                // Not a moment early.
                app.clock.set(next - time::Duration::seconds(1));
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(receiver.received().len(), n, "nothing before its time");
            }
            app.clock.set(next);
        } else {
            assert_eq!(d[0]["status"], "failed", "given up after the last step");
            assert_eq!(d[0]["next_attempt_at"], Value::Null);
        }
    }
    app.clock.advance(time::Duration::days(2));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 8, "no attempt after giving up");

    // A replay sends the same event again, with the same webhook-id.
    let d = deliveries(&app, &endpoint).await;
    let (status, replay) = app
        .api_json(
            Method::POST,
            &format!(
                "/v1/webhook-endpoints/{endpoint}/deliveries/{}/replay",
                d[0]["id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 202, "{replay}");
    assert_eq!(replay["event_id"], d[0]["event_id"]);
    let got = receiver.wait_for(9).await;
    assert_eq!(got[8].id, got[0].id, "same webhook-id");
    assert_eq!(got[8].id, d[0]["event_id"].as_str().unwrap());
    wait_deliveries(&app, &endpoint, "replay succeeded", |d| {
        d.len() == 2 && d[0]["status"] == "succeeded"
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_redirects_fail_and_gone_disables() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&app, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    let elsewhere = format!("http://127.0.0.1:{}/elsewhere", receiver.port);
    receiver.script([
        Answer::Status(429, vec![("retry-after", "120".into())]),
        Answer::Status(302, vec![("location", elsewhere)]),
        Answer::Status(
            307,
            vec![("location", "http://169.254.169.254/latest/meta-data".into())],
        ),
        Answer::Status(410, vec![]),
    ]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    receiver.wait_for(1).await;
    let d = wait_deliveries(&app, &endpoint, "first attempt", |d| recorded(d, 1)).await;
    let first_at = time_of(&d[0]["attempts"][0]["at"]);
    let next = time_of(&d[0]["next_attempt_at"]);
    assert_eq!(
        (next - first_at).whole_seconds(),
        120,
        "Retry-After (120 s) is later than the schedule (5 s)"
    );
    app.clock.set(next);
    receiver.wait_for(2).await;
    let d = wait_deliveries(&app, &endpoint, "second attempt", |d| recorded(d, 2)).await;
    assert_eq!(d[0]["attempts"][1]["response_status"], 302);
    assert_eq!(
        d[0]["attempts"][1]["error"],
        "status 302: redirects are not followed"
    );
    assert_eq!(d[0]["status"], "pending", "3xx is a failure");
    app.clock.set(time_of(&d[0]["next_attempt_at"]));
    receiver.wait_for(3).await;
    let d = wait_deliveries(&app, &endpoint, "third attempt", |d| recorded(d, 3)).await;
    assert_eq!(d[0]["attempts"][2]["response_status"], 307);
    app.clock.set(time_of(&d[0]["next_attempt_at"]));
    receiver.wait_for(4).await;
    let d = wait_deliveries(&app, &endpoint, "410", |d| {
        d[0]["status"] == "failed" && recorded(d, 4)
    })
    .await;
    assert_eq!(d[0]["attempts"][3]["response_status"], 410);
    assert!(
        receiver
            .received()
            .iter()
            .all(|r| r.path == "/hooks/accord"),
        "no redirect was followed"
    );
    let (_, e) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(
        (e["enabled"].clone(), e["disabled_reason"].clone()),
        (json!(false), json!("gone"))
    );
    // Disabled: later events wait; re-enabling sends them.
    connect_new_company(&app, "Later Ltd").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        receiver.received().len(),
        4,
        "nothing sent to a disabled endpoint"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_corpus_is_refused_at_registration() {
    let strict = spawn_app_with(&[], None).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://017700000001/hook",
        "https://0177.0.0.1/hook",
        "https://0x7f000001/hook",
        "https://0x7f.0.0.1/hook",
        "https://127.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:7f00:1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[0:0:0:0:0:ffff:10.0.0.1]/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://0/hook",
        "https://localhost/hook",
        "https://LOCALHOST./hook",
        "https://hooks.localhost/hook",
        "https://user:pw@hooks.lender.example/hook",
        "http://hooks.lender.example/hook",
        "http://127.0.0.1:9000/hook",
        "ftp://hooks.lender.example/hook",
        "not a url",
    ] {
        let (status, body) = strict
            .api_json(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(status, 422, "{url} must be refused: {body}");
        assert_eq!(body["errors"][0]["path"], "url", "{url}: {body}");
    }
    let (status, _) = strict
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.lender.example/accord"})),
        )
        .await;
    assert_eq!(status, 201, "a public https URL is fine");
    // The development setting allows loopback, and nothing else inward.
    let dev = spawn(&[]).await;
    for (url, ok) in [
        ("http://127.0.0.1:9000/hook", true),
        ("http://[::1]:9000/hook", true),
        ("http://10.0.0.1/hook", false),
        ("https://169.254.169.254/", false),
    ] {
        let (status, body) = dev
            .api_json(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(status == 201, ok, "{url}: {status} {body}");
    }
    // Other fields are checked too, with their paths.
    let (status, body) = dev
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "http://127.0.0.1:1/", "event_types": ["consent.given", "consent.maybe"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "event_types[1]");
    // Changing the URL is checked like registering it.
    let (id, _) = register(&dev, "http://127.0.0.1:1/", &[]).await;
    let (status, body) = dev
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"url": "http://192.168.0.1/"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "url");
}

/// A name of this machine that resolves to an address Accord must not reach, if there is one
/// (its own host name usually resolves to loopback or a private address).
async fn inward_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .ok()?
        .collect();
    (!addrs.is_empty()
        && addrs
            .iter()
            .all(|a| !accord_domain::netguard::is_public(a.ip(), false)))
    .then_some(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_inward_is_refused_at_send_time() {
    let Some(name) = inward_name().await else {
        eprintln!("skipped: this machine's host name does not resolve inward");
        return;
    };
    let app = spawn_app_with(&[("webhooks.poll_millis", "25")], None).await;
    let receiver = Receiver::start().await;
    // The name is not a literal address: registration accepts it (DNS may change later).
    let url = format!("https://{name}:{}/hooks/accord", receiver.port);
    let (endpoint, _) = register(&app, &url, &["connection.linked"]).await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let d = wait_deliveries(&app, &endpoint, "attempt refused", |d| recorded(d, 1)).await;
    let error = d[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("address refused"), "{error}");
    assert_eq!(d[0]["attempts"][0]["response_status"], Value::Null);
    assert!(
        receiver.received().is_empty(),
        "nothing reached the address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = register(&app, &receiver.url, &["connection.linked"]).await;
    let (status, rotated) = app
        .api_json(
            Method::POST,
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until = time_of(&rotated["previous_secret_expires_at"]);
    let hours = (until - app.clock.now()).whole_minutes();
    assert!(
        (24 * 60 - 1..=24 * 60).contains(&hours),
        "24 h overlap: {hours} min"
    );
    // The secret is shown once: never in a later answer.
    let (_, got) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(got["secret"], Value::Null);
    assert!(!got.to_string().contains(&new[6..]));

    receiver.trust(&[&old, &new]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let during = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        during.verified_by,
        [0, 1],
        "both secrets verify during the overlap"
    );
    assert_eq!(during.signature.split(' ').count(), 2);

    app.clock.set(until + time::Duration::seconds(1));
    connect_new_company(&app, "After Overlap Ltd").await;
    let after = receiver.wait_for(2).await.remove(1);
    assert_eq!(
        after.verified_by,
        [1],
        "only the new secret after the overlap"
    );
    assert_eq!(after.signature.split(' ').count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_and_another_tenants_ids_are_not_found() {
    let app = spawn(&[]).await;
    let (id, secret) = register(&app, "http://127.0.0.1:1/a", &["consent.given"]).await;
    // At rest the secret is an AEAD ciphertext: neither it nor its key is in any file.
    let key = &secret["whsec_".len()..];
    for (file, bytes) in app.data_files() {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the secret is readable in {file}"
        );
    }
    let (status, list) = app
        .api_json(Method::GET, "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["secret"], Value::Null);
    let (status, patched) = app
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"event_types": [], "enabled": false, "description": ""})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["event_types"], json!([]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["description"], Value::Null);
    let (status, body) = app
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"colour": "red"})),
        )
        .await;
    assert!(status == 422 || status == 400, "{status} {body}");

    let (_, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let other = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    let delivery = accord_domain::ids::WebhookDeliveryId::new();
    for (method, path) in [
        (Method::GET, format!("/v1/webhook-endpoints/{id}")),
        (Method::PATCH, format!("/v1/webhook-endpoints/{id}")),
        (Method::DELETE, format!("/v1/webhook-endpoints/{id}")),
        (
            Method::POST,
            format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        ),
        (
            Method::GET,
            format!("/v1/webhook-endpoints/{id}/deliveries"),
        ),
        (
            Method::POST,
            format!("/v1/webhook-endpoints/{id}/deliveries/{delivery}/replay"),
        ),
        (Method::GET, "/v1/webhook-endpoints/not-a-uuid".to_owned()),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(&other)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{method} {path}");
        assert!(res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
    }
    let res = app
        .http
        .get(app.url("/v1/webhook-endpoints"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], json!([]), "the other tenant lists none");

    let (status, _) = app
        .api_json(Method::DELETE, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .api_json(Method::GET, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, 404);
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
