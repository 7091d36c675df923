//! Support requests end to end: e-mailed to the tenant's support inbox through
//! a local SMTP sink, retried after a failure, rate-limited per IP and per session (429 with
//! `Retry-After`, nothing stored), diagnostics (last error code, correlation id) and the
//! prefilled "Can't find your platform?" request. The form and storage basics are in `flow.rs`.

use crate::helpers::{spawn_app, spawn_app_with, Browser, Page, TestApp};
use crate::smtp::SmtpSink;
use accord_domain::tenant::{Job, JobKind};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// An app whose support requests are e-mailed through `sink`.
async fn app_mailing_to(sink: &SmtpSink) -> TestApp {
    let url = sink.url();
    spawn_app_with(
        &[
            ("smtp.url", &url),
            ("smtp.from", "Accord <accord@accord.test>"),
        ],
        None,
    )
    .await
}

/// Waits (bounded: 5 s, polling) until `f` gives something.
async fn eventually<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn email_jobs(app: &TestApp) -> Vec<Job> {
    app.jobs(JobKind::SendSupportEmail).await
}

// ---- Helpers of the flow ----

fn heading(page: &Page) -> String {
    page.quiet_texts("h1")
        .first()
        .cloned()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The support form at `link`, filled with a valid request.
async fn filled_form(browser: &Browser, link: &str) -> (String, BTreeMap<String, String>) {
    let form = browser.get(link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    let (action, mut fields) = form.quiet_form("form.support-form");
    let selected = form.attrs("select#topic option[selected]", "value");
    fields.insert(
        "topic".into(),
        selected.first().cloned().unwrap_or_else(|| "other".into()),
    );
    fields.insert("message".into(), "The sign-in page never loads.".into());
    fields.insert("reply_to".into(), "owner@bluebell.example".into());
    (action, fields)
}

/// Sends a valid request from the support form; returns the answer.
async fn send(browser: &Browser, link: &str) -> Page {
    let (action, fields) = filled_form(browser, link).await;
    browser.post(&action, &fields).await
}

fn reference_of(page: &Page) -> String {
    let body = page.quiet_texts("p[role=status]").join(" ");
    let at = body
        .find("SR-")
        .unwrap_or_else(|| panic!("no reference: {}", page.body));
    body[at..].chars().take(11).collect()
}

// ---- E-mail ----

#[tokio::test]
async fn a_support_request_is_emailed_to_the_tenant_inbox() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let done = send(&browser, "/link/support?step=consent&platform=sandbox").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let reference = reference_of(&done);

    let mail = eventually("the e-mail arrives", async || sink.messages().pop()).await;
    assert_eq!(mail.from, "<accord@accord.test>");
    assert_eq!(
        mail.to,
        ["<help@northwind-lending.example>"],
        "the demo tenant's support e-mail is its inbox"
    );
    let data = mail.data.replace("\r\n", "\n");
    for expected in [
        format!("Subject: Support request {reference} (other) from Bluebell"),
        "Reply-To: owner@bluebell.example".to_owned(),
        format!("Reference: {reference}"),
        "Topic: other".to_owned(),
        "Reply to: owner@bluebell.example".to_owned(),
        "The sign-in page never loads.".to_owned(),
        "  step: consent".to_owned(),
        "  platform: sandbox".to_owned(),
        "  locale: en".to_owned(),
        "  user_agent: AccordTest/1.0".to_owned(),
    ] {
        assert!(data.contains(&expected), "{expected:?} in:\n{data}");
    }
    let link_token = app.link_url.rsplit('/').next().unwrap();
    assert!(!data.contains(link_token), "no link token in the e-mail");
    assert!(!data.contains(&app.api_key), "no API key in the e-mail");

    let jobs = email_jobs(&app).await;
    assert_eq!(jobs.len(), 1, "one e-mail job");
    let job = app.wait_job_done(jobs[0].id).await;
    assert_eq!((job.attempts, job.last_error), (1, None));
    assert_eq!(sink.messages().len(), 1, "sent once");
}

#[tokio::test]
async fn a_failed_send_is_retried_on_the_job_schedule() {
    let sink = SmtpSink::start(1).await;
    let app = app_mailing_to(&sink).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let done = send(&browser, "/link/support?step=select").await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(app.support_requests().await.len(), 1, "stored at once");

    let failed = eventually("the first attempt fails", async || {
        email_jobs(&app)
            .await
            .into_iter()
            .find(|j| j.last_error.is_some())
    })
    .await;
    assert_eq!(failed.attempts, 1);
    assert!(failed.done_at.is_none(), "to be retried");
    assert!(
        failed.last_error.as_deref().unwrap().contains("451"),
        "{:?}",
        failed.last_error
    );
    assert_eq!(*sink.refused.lock().unwrap(), 1);
    assert!(sink.messages().is_empty());

    // Not before its time: after a first failed attempt the job schedule waits a minute
    // (`job_retry_delay(1)`, on the injected clock).
    app.clock.advance(time::Duration::seconds(55));
    app.state.jobs.notify_one();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sink.messages().is_empty(), "not retried early");
    assert_eq!(
        app.state
            .store
            .job(failed.id)
            .await
            .unwrap()
            .unwrap()
            .attempts,
        1
    );
    app.clock.advance(time::Duration::seconds(6));
    app.state.jobs.notify_one();
    let job = app.wait_job_done(failed.id).await;
    assert_eq!((job.attempts, job.last_error), (2, None));
    let mail = sink.messages().pop().expect("delivered on the retry");
    assert!(mail.data.contains("The sign-in page never loads."));
}

#[tokio::test]
async fn without_smtp_or_without_an_inbox_no_email_is_queued() {
    // No SMTP configured.
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    assert_eq!(send(&browser, "/link/support").await.status, 200);
    assert_eq!(app.support_requests().await.len(), 1);
    assert!(email_jobs(&app).await.is_empty());

    // SMTP configured, but the tenant has neither an inbox nor a support e-mail.
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    let (status, mut settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    assert_eq!(status, 200);
    settings["support"]["email"] = serde_json::Value::Null;
    let (status, body) = app
        .api_json(reqwest::Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let browser = app.browser();
    browser.get(&app.link_url).await;
    assert_eq!(send(&browser, "/link/support").await.status, 200);
    assert_eq!(app.support_requests().await.len(), 1);
    assert!(email_jobs(&app).await.is_empty());
}

#[tokio::test]
async fn a_dedicated_inbox_gets_the_email() {
    let sink = SmtpSink::start(0).await;
    let app = app_mailing_to(&sink).await;
    let (_, mut settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    settings["support"]["inbox"] = "tickets@northwind-lending.example".into();
    let (status, body) = app
        .api_json(reqwest::Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let browser = app.browser();
    browser.get(&app.link_url).await;
    assert_eq!(send(&browser, "/link/support").await.status, 200);
    let mail = eventually("the e-mail arrives", async || sink.messages().pop()).await;
    assert_eq!(mail.to, ["<tickets@northwind-lending.example>"]);
}

// ---- Rate limits ----

#[tokio::test]
async fn support_requests_are_limited_per_session_with_retry_after() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    // The default allows five an hour per session.
    for _ in 0..5 {
        assert_eq!(send(&browser, "/link/support").await.status, 200);
    }
    let refused = send(&browser, "/link/support").await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(
        refused.header("retry-after"),
        "720",
        "one more every 12 minutes"
    );
    assert_eq!(heading(&refused), "Too many attempts");
    assert_eq!(app.support_requests().await.len(), 5, "nothing stored");

    // The same page in French.
    let french = Browser::with_accept_language(&app.base, "fr");
    french.get(&app.new_link_url(&app.company_id).await).await;
    for _ in 0..5 {
        send(&french, "/link/support").await;
    }
    let refused = send(&french, "/link/support").await;
    assert_eq!(refused.status, 429);
    assert_eq!(heading(&refused), "Trop de tentatives");
    assert!(!refused.header("retry-after").is_empty());

    app.clock.advance(time::Duration::seconds(720));
    assert_eq!(
        send(&browser, "/link/support").await.status,
        200,
        "allowed again"
    );
    assert_eq!(app.support_requests().await.len(), 11);
}

#[tokio::test]
async fn support_requests_are_limited_per_ip_across_sessions() {
    let app = spawn_app_with(&[("rate_limits.support_per_ip", "2")], None).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let browser = app.browser();
        browser.get(&app.new_link_url(&app.company_id).await).await;
        let page = send(&browser, "/link/support").await;
        statuses.push((page.status, page.header("retry-after")));
    }
    assert_eq!(
        statuses,
        [
            (200, String::new()),
            (200, String::new()),
            (429, "1800".to_owned())
        ]
    );
    assert_eq!(app.support_requests().await.len(), 2);
}

#[tokio::test]
async fn a_bot_filling_the_honeypot_is_limited_too() {
    let app = spawn_app_with(&[("rate_limits.support_per_session", "1")], None).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let (action, mut fields) = filled_form(&browser, "/link/support").await;
    fields.insert("website".into(), "https://spam.example".into());
    assert_eq!(browser.post(&action, &fields).await.status, 200);
    assert_eq!(browser.post(&action, &fields).await.status, 429);
    assert!(app.support_requests().await.is_empty());
}

#[tokio::test]
async fn form_posts_of_the_flow_are_limited_per_ip() {
    let app = spawn_app_with(&[("rate_limits.posts_per_ip", "2")], None).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("action".into(), "decline".into());
    assert_eq!(browser.post(&action, &fields).await.status, 200);
    assert_eq!(browser.post(&action, &fields).await.status, 200);
    let refused = browser.post(&action, &fields).await;
    assert_eq!(refused.status, 429, "{}", refused.body);
    assert_eq!(refused.header("retry-after"), "1800");
    assert_eq!(heading(&refused), "Too many attempts");
    assert_eq!(
        refused.header("cache-control"),
        "no-store",
        "the flow's headers stay"
    );
    // Pages are still served.
    assert_eq!(browser.get("/link/platforms").await.status, 200);
}

// ---- Diagnostics and prefilled requests ----

#[tokio::test]
async fn the_last_error_code_is_attached_from_the_failed_connection() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    browser.get(&callback.location()).await;
    // From the footer of another page: no error code in the link, found on the connection.
    let done = send(&browser, "/link/support?step=select").await;
    assert_eq!(done.status, 200, "{}", done.body);
    let stored = app.support_requests().await.pop().unwrap();
    assert_eq!(stored["diagnostics"]["error_code"], "access_denied");
    assert_eq!(
        stored["diagnostics"]["link_session"].as_str().map(str::len),
        Some(36),
        "{}",
        stored["diagnostics"]
    );
}

/// A failed platform sign-in is logged under a correlation id; the page shows it, and a support
/// request filed from that page (its "Ask for help" button or its footer) carries the error code
/// and that id, so the tenant finds the server's log line for the failure.
#[tokio::test]
async fn a_failed_sign_in_gives_support_its_code_and_log_correlation_id() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    let failed = browser.get(&callback.location()).await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    let ask = failed
        .attrs("main .actions a[href*='topic=connection_failed']", "href")
        .remove(0);
    let id = crate::helpers::query_param(&ask, "correlation_id").expect("a correlation id");
    assert!(id.len() >= 12, "{id}");
    assert_eq!(
        crate::helpers::query_param(&ask, "error").as_deref(),
        Some("access_denied")
    );
    assert!(
        failed
            .quiet_texts("main p.muted")
            .concat()
            .contains(&format!("Reference for support: {id}")),
        "the page shows it"
    );
    let footer = failed
        .attrs("footer.help a[href^='/link/support']", "href")
        .remove(0);
    assert_eq!(
        crate::helpers::query_param(&footer, "correlation_id").as_deref(),
        Some(id.as_str())
    );

    // The server logged the failure under that id, with its code.
    let logs = crate::helpers::captured_logs();
    let line = logs
        .lines()
        .find(|l| l.contains(&id))
        .unwrap_or_else(|| panic!("no log line with {id}"));
    assert!(line.contains("access_denied"), "{line}");
    assert!(line.contains("platform sign-in failed"), "{line}");

    for link in [ask, footer] {
        let done = send(&browser, &link).await;
        assert_eq!(done.status, 200, "{}", done.body);
        let stored = app.support_requests().await.pop().unwrap();
        let d = &stored["diagnostics"];
        assert_eq!(d["step"], "callback", "{d}");
        assert_eq!(d["platform"], "sandbox", "{d}");
        assert_eq!(d["error_code"], "access_denied", "{d}");
        assert_eq!(d["correlation_id"], json!(id), "{d}");
    }
    // A retried sign-in that fails again is a new failure with a new id.
    let (action, fields) = failed.quiet_form("main .actions form");
    let again = browser.post(&action, &fields).await;
    assert_eq!(again.status, 303, "{}", again.body);
    let callback = browser
        .sandbox_decide(&again.location(), "Bluebell", false)
        .await;
    let failed_again = browser.get(&callback.location()).await;
    let second = crate::helpers::query_param(
        &failed_again.attrs("main .actions a[href*='topic=connection_failed']", "href")[0],
        "correlation_id",
    )
    .unwrap();
    assert_ne!(second, id);
}

#[tokio::test]
async fn an_error_pages_support_link_carries_its_code_and_correlation_id() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let missing = browser.get("/link/nowhere/at/all").await;
    assert_eq!(missing.status, 404);
    let link = missing
        .attrs("footer.help a[href^='/link/support']", "href")
        .remove(0);
    assert_eq!(link, "/link/support?step=error&error=error-not-found");
    // A 500 page adds its correlation id the same way; the form carries it to the request.
    let done = send(&browser, &format!("{link}&correlation_id=Zx9-abc_123")).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let stored = app.support_requests().await.pop().unwrap();
    let d = &stored["diagnostics"];
    assert_eq!(d["step"], "error", "{d}");
    assert_eq!(d["error_code"], "error-not-found", "{d}");
    assert_eq!(d["correlation_id"], "Zx9-abc_123", "{d}");
}

#[tokio::test]
async fn cant_find_your_platform_leads_to_a_prefilled_request() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let select = browser.get("/link/platforms?q=Sage").await;
    assert_eq!(select.status, 200);
    let link = select.attrs("p.missing a", "href").remove(0);
    assert_eq!(
        link,
        "/link/support?topic=platform_missing&step=select&q=Sage"
    );
    let form = browser.get(&link).await;
    assert_eq!(
        form.attrs("select#topic option[selected]", "value"),
        ["platform_missing"]
    );
    let message = form.quiet_texts("textarea#message").remove(0);
    assert!(
        message.starts_with("I can't find my platform in the list. I searched for “Sage”."),
        "{message}"
    );
    let french = Browser::with_accept_language(&app.base, "fr");
    french.get(&app.new_link_url(&app.company_id).await).await;
    let form = french
        .get("/link/support?topic=platform_missing&step=select")
        .await;
    assert!(form
        .quiet_texts("textarea#message")
        .remove(0)
        .starts_with("Je ne trouve pas ma plateforme"));
}

#[tokio::test]
async fn a_tenant_without_the_form_does_not_offer_it() {
    let app = spawn_app().await;
    let (_, mut settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    settings["support"]["form_enabled"] = false.into();
    let (status, body) = app
        .api_json(reqwest::Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let select = browser.get("/link/platforms").await;
    assert!(!select.has("p.missing a"), "no link to a form that is off");
    assert_eq!(browser.get("/link/support").await.status, 404);
}

// ---- Behind a reverse proxy ----

/// A support request sent through a proxy that says the client is `forwarded_for`.
async fn send_via_proxy(app: &TestApp, forwarded_for: &str) -> u16 {
    let browser = app.browser();
    browser.get(&app.new_link_url(&app.company_id).await).await;
    let (action, fields) = filled_form(&browser, "/link/support").await;
    browser
        .post_with(&action, &fields, &[("x-forwarded-for", forwarded_for)])
        .await
        .status
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client() {
    let app = spawn_app_with(
        &[
            ("server.trusted_proxies", "127.0.0.1, 10.0.0.5"),
            ("rate_limits.support_per_ip", "1"),
        ],
        None,
    )
    .await;
    // Two customers behind the proxies, each limited on their own address; what a client
    // claims itself (198.51.100.1, left of the trusted hops) is not believed.
    assert_eq!(send_via_proxy(&app, "198.51.100.1, 203.0.113.7").await, 200);
    assert_eq!(
        send_via_proxy(&app, "198.51.100.1, 203.0.113.8, 10.0.0.5").await,
        200
    );
    assert_eq!(send_via_proxy(&app, "192.0.2.99, 203.0.113.7").await, 429);
    assert_eq!(app.support_requests().await.len(), 2);

    // The consent's evidence records the customer's address, not the proxy's.
    let browser = app.browser();
    browser.get(&app.new_link_url(&app.company_id).await).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("agree".into(), "yes".into());
    fields.insert("action".into(), "connect".into());
    let to_platform = browser
        .post_with(&action, &fields, &[("x-forwarded-for", "203.0.113.9")])
        .await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let consents = app.consents().await;
    assert_eq!(consents[0]["evidence"]["ip"], "203.0.113.9");
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn_app_with(&[("rate_limits.support_per_ip", "1")], None).await;
    assert_eq!(send_via_proxy(&app, "203.0.113.7").await, 200);
    assert_eq!(
        send_via_proxy(&app, "203.0.113.8").await,
        429,
        "the same peer"
    );
}

// ---- The API ----

#[tokio::test]
async fn support_requests_are_listed_page_by_page() {
    let app = spawn_app_with(&[("rate_limits.support_per_session", "0")], None).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let mut references = Vec::new();
    for _ in 0..3 {
        references.push(reference_of(&send(&browser, "/link/support").await));
    }
    let (status, first) = app
        .api_json(reqwest::Method::GET, "/v1/support-requests?limit=2", None)
        .await;
    assert_eq!(status, 200, "{first}");
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, second) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/support-requests?limit=2&after={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["next_cursor"], serde_json::Value::Null);
    let listed: Vec<&str> = first["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second["data"].as_array().unwrap())
        .map(|r| r["reference"].as_str().unwrap())
        .collect();
    assert_eq!(listed, references, "oldest first, each once");
    let (status, body) = app
        .api_json(reqwest::Method::GET, "/v1/support-requests?limit=0", None)
        .await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["path"], "limit");
}
