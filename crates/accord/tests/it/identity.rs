//! Who was connected at the platform: read at the callback from the sandbox's identity endpoint
//! (the organisation typed on its sign-in page) and shown wherever a connection is — success
//! page, manage page, tenant API, webhooks. Signing in again to the same organisation replaces
//! the earlier connection; another organisation is a second one; a reconnect that lands on
//! another organisation asks first.

use crate::helpers::{spawn_app, Browser, Page, TestApp};
use crate::webhooks::{register, Receiver};
use accord_domain::tenant::{Job, JobKind};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BOOKS: &str = "Accord Sandbox Books";

/// Consents and signs in at the sandbox as `organisation` in an open flow; returns the callback's
/// answer (not followed).
async fn sign_in(browser: &Browser, organisation: &str) -> Page {
    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let callback = browser
        .sandbox_decide(&to_platform.location(), organisation, true)
        .await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    browser.get(&callback.location()).await
}

/// Signs in and follows to the success page.
async fn connect_as(browser: &Browser, organisation: &str) -> Page {
    let done = sign_in(browser, organisation).await;
    assert_eq!(done.status, 303, "callback accepted: {}", done.body);
    let success = browser.get(&done.location()).await;
    assert_eq!(success.status, 200, "{}", success.body);
    success
}

fn card_titles(page: &Page) -> Vec<String> {
    page.quiet_texts("article.connection h2")
        .iter()
        .map(|t| t.trim().to_owned())
        .collect()
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

async fn manage_page(app: &TestApp, accept: &str) -> (Browser, Page) {
    let (status, body) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{}/manage-sessions", app.company_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let browser = Browser::with_accept_language(&app.base, accept);
    let opened = browser.get(body["url"].as_str().unwrap()).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let page = browser.get("/manage").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (browser, page)
}

/// Waits (bounded: 10 s) until the revocation jobs of the app are all done, and returns them.
async fn revocations_done(app: &TestApp, at_least: usize) -> Vec<Job> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let jobs = app.jobs(JobKind::RevokeToken).await;
        if jobs.len() >= at_least && jobs.iter().all(|j| j.done_at.is_some()) {
            return jobs;
        }
        assert!(Instant::now() < deadline, "revocations not done: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_organisation_names_the_connection_on_every_surface() {
    let app = crate::webhooks::spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (_, secret) = register(&app, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let success = connect_as(&browser, "Bluebell Bakery Ltd").await;
    assert_eq!(
        card_titles(&success),
        [format!("Bluebell Bakery Ltd · {BOOKS}")]
    );
    assert!(!success.has("p.replaced"), "nothing was replaced");
    let id = success.url.rsplit('/').next().unwrap().to_owned();

    let c = connection(&app, &id).await;
    assert_eq!(c["upstream"]["name"], "Bluebell Bakery Ltd");
    assert!(c["upstream"]["id"].as_str().is_some_and(|s| !s.is_empty()));

    let got = receiver.wait_for(1).await;
    let data = &got[0].json()["data"];
    assert_eq!(data["connection_id"], id.as_str());
    assert_eq!(data["upstream"], c["upstream"]);

    let (_, manage) = manage_page(&app, "en").await;
    assert_eq!(
        card_titles(&manage),
        [format!("Bluebell Bakery Ltd · {BOOKS}")]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_in_again_to_the_same_organisation_replaces_the_earlier_connection() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let first = connect_as(&browser, "Bluebell").await;
    let old = first.url.rsplit('/').next().unwrap().to_owned();
    let old_token = app.platform_tokens(&old).await.unwrap().access_token;

    let second = connect_as(&browser, "Bluebell").await;
    let new = second.url.rsplit('/').next().unwrap().to_owned();
    assert_ne!(old, new);
    assert_eq!(
        second.quiet_texts("p.replaced"),
        [format!(
            "This replaces your earlier connection to Bluebell · {BOOKS} — its access has been removed."
        )]
    );
    assert_eq!(connection(&app, &old).await["status"], "disconnected");
    assert_eq!(connection(&app, &new).await["status"], "linked");
    assert!(app.platform_tokens(&old).await.is_none());
    revocations_done(&app, 1).await;
    assert_eq!(app.sandbox_api_status("invoices", &old_token).await, 401);
    let consents = app.consents().await;
    assert!(
        consents
            .iter()
            .any(|k| k["connection_id"] == old.as_str() && k["withdrawn_at"].is_string()),
        "{consents:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_organisation_is_a_second_connection_told_apart_by_its_name() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    connect_as(&browser, "Bluebell").await;
    let second = connect_as(&browser, "Acme Widgets").await;
    assert!(!second.has("p.replaced"));
    let linked: Vec<Value> = app
        .connections()
        .await
        .into_iter()
        .filter(|c| c["status"] == "linked")
        .collect();
    assert_eq!(linked.len(), 2);
    let (_, manage) = manage_page(&app, "en").await;
    let mut titles = card_titles(&manage);
    titles.sort();
    assert_eq!(
        titles,
        [
            format!("Acme Widgets · {BOOKS}"),
            format!("Bluebell · {BOOKS}")
        ]
    );
}

/// Connects as Bluebell, has the platform end the access, and reconnects from the manage page,
/// signing in as `organisation`; returns the browser, the connection id and the callback's answer.
async fn reconnect_as(app: &TestApp, organisation: &str) -> (Browser, String, Page) {
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = success.url.rsplit('/').next().unwrap().to_owned();
    app.browser().sandbox_remove_access("Bluebell").await;
    let refresh = app
        .jobs(JobKind::RefreshToken)
        .await
        .into_iter()
        .find(|j| j.done_at.is_none())
        .expect("a pending refresh");
    app.clock.set(refresh.run_at);
    let deadline = Instant::now() + Duration::from_secs(10);
    while connection(app, &id).await["status"] != "deauthorized" {
        assert!(Instant::now() < deadline, "not deauthorized");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (browser, page) = manage_page(app, "en").await;
    let (action, fields) = page.quiet_form("article.connection form[action$='/reconnect']");
    let to_consent = browser.post(&action, &fields).await;
    assert_eq!(to_consent.status, 303, "{}", to_consent.body);
    let answer = sign_in(&browser, organisation).await;
    (browser, id, answer)
}

fn the_question(page: &Page) -> (String, std::collections::BTreeMap<String, String>) {
    assert_eq!(page.status, 200, "the question: {}", page.body);
    assert_eq!(page.quiet_texts("h1"), ["A different organisation"]);
    let lead = page.quiet_texts("main p").join(" ");
    assert!(
        lead.contains(&format!(
            "This connection was to Bluebell · {BOOKS}, but you just signed in to Acme Widgets."
        )),
        "{lead}"
    );
    assert_eq!(
        page.quiet_texts("main form button"),
        ["Keep Bluebell", "Connect Acme Widgets as well"]
    );
    assert!(
        !page.body.contains("access_token"),
        "nothing of the grant in the page"
    );
    page.quiet_form("main form[method=post]")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_to_another_organisation_asks_first_and_can_keep_the_earlier_one() {
    let app = spawn_app().await;
    let (browser, id, answer) = reconnect_as(&app, "Acme Widgets").await;
    let (action, mut fields) = the_question(&answer);
    assert_eq!(action, format!("/link/connections/{id}/organisation"));
    let c = connection(&app, &id).await;
    assert_eq!(
        c["upstream"]["name"], "Bluebell",
        "nothing linked before the answer"
    );
    assert!(app.platform_tokens(&id).await.is_none());

    // Without its CSRF token the answer does nothing.
    let mut forged = fields.clone();
    forged.remove("csrf");
    forged.insert("choice".into(), "keep".into());
    assert_eq!(browser.post(&action, &forged).await.status, 403);

    fields.insert("choice".into(), "keep".into());
    let kept = browser.post(&action, &fields).await;
    assert_eq!(kept.status, 200, "{}", kept.body);
    assert_eq!(
        kept.quiet_texts("p[role=status]"),
        [format!("Your connection to Bluebell · {BOOKS} is kept. The access you just gave to Acme Widgets has been removed.")]
    );
    let c = connection(&app, &id).await;
    assert_eq!(c["upstream"]["name"], "Bluebell");
    assert_eq!(c["last_error"], "organisation_changed");
    assert_eq!(app.connections().await.len(), 1, "no second connection");
    // The grant to Acme Widgets is revoked at the platform (the first revocation is Bluebell's
    // deauthorized grant, which had none to revoke; count what exists).
    let jobs = revocations_done(&app, 1).await;
    assert!(!jobs.is_empty());

    // The answer is single use.
    let again = browser.post(&action, &fields).await;
    assert_eq!(again.status, 400, "{}", again.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnect_to_another_organisation_can_become_a_new_connection() {
    let app = spawn_app().await;
    let (browser, id, answer) = reconnect_as(&app, "Acme Widgets").await;
    let (action, mut fields) = the_question(&answer);
    fields.insert("choice".into(), "new".into());
    let to_success = browser.post(&action, &fields).await;
    assert_eq!(to_success.status, 303, "{}", to_success.body);
    let new = to_success.location().rsplit('/').next().unwrap().to_owned();
    assert_ne!(new, id);
    let success = browser.get(&to_success.location()).await;
    assert_eq!(success.status, 200, "{}", success.body);
    assert_eq!(card_titles(&success), [format!("Acme Widgets · {BOOKS}")]);

    let n = connection(&app, &new).await;
    assert_eq!(
        (&n["status"], &n["upstream"]["name"]),
        (&json!("linked"), &json!("Acme Widgets"))
    );
    let tokens = app
        .platform_tokens(&new)
        .await
        .expect("the new grant is held");
    assert_eq!(
        app.sandbox_api_status("invoices", &tokens.access_token)
            .await,
        200
    );
    let old = connection(&app, &id).await;
    assert_eq!(
        old["upstream"]["name"], "Bluebell",
        "the earlier one keeps its organisation"
    );
    assert_ne!(old["status"], "linked");
    let consents = app.consents().await;
    assert!(consents
        .iter()
        .any(|k| k["connection_id"] == new.as_str() && k["withdrawn_at"].is_null()));
}

/// While the customer has not answered, nothing of the grant just given to the other
/// organisation reaches the tenant: the data API, the proxy and the access-token endpoint (turned
/// on, so a leak would show there) all refuse the connection, which holds no tokens, and none of
/// the refusals carries a token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_unanswered_question_never_lets_the_new_grant_out() {
    let app = spawn_app().await;
    let (status, mut settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(status, 200);
    settings["allow_access_tokens"] = json!(true);
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
    let (_browser, id, answer) = reconnect_as(&app, "Acme Widgets").await;
    the_question(&answer);
    let base = format!("/v1/companies/{}/connections/{id}", app.company_id);
    for (method, path) in [
        (Method::GET, "/data/invoices"),
        (Method::GET, "/proxy/invoices"),
        (Method::POST, "/access-token"),
    ] {
        let (status, body) = app.api_json(method, &format!("{base}{path}"), None).await;
        assert_eq!(status, 403, "{path}: {body}");
        let reason = body["type"].as_str().unwrap_or("").rsplit('/').next();
        assert!(
            matches!(
                reason,
                Some("deauthorized" | "not_consented" | "withdrawn" | "reconsent_required")
            ),
            "{path}: {body}"
        );
        assert!(!body.to_string().contains("access_token\":"), "{body}");
    }
    assert!(
        app.platform_tokens(&id).await.is_none(),
        "still nothing held"
    );
    let c = connection(&app, &id).await;
    assert_eq!(c["upstream"]["name"], "Bluebell");
}
