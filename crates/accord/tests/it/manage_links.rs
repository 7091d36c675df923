//! The company's personal link to its manage page: shown on the success page, the record of
//! consent and the manage page; it outlives the flow's browser session and the tenant's
//! hour-long manage sessions, opens one company's page only, is replaced when used from a new
//! browser, can be revoked by the tenant, and opens nothing once no consent is in force.

use crate::helpers::{spawn_app, Browser, Page, TestApp};

/// The personal link a page shows.
fn personal_link(page: &Page) -> String {
    let links = page.attrs("section.personal-link a.personal-link-url", "href");
    assert_eq!(links.len(), 1, "one personal link: {}", page.body);
    links[0].clone()
}

/// Opens `link` in `browser` as a customer does (the link's page, then its one button): the
/// manage page, or the refusal.
async fn open(browser: &Browser, link: &str) -> Page {
    let asked = browser.get(link).await;
    if asked.status != 200 {
        return asked;
    }
    assert_eq!(
        asked.quiet_texts("main form[method=get] button"),
        ["Open my connections"]
    );
    assert!(
        asked.body.contains("Northwind Lending"),
        "the tenant's page: {}",
        asked.body
    );
    let opened = browser.get(&format!("{link}?go=1")).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.location(), "/manage?rotated=1");
    browser.get(&opened.location()).await
}

/// A link that opens nothing: the friendly "no longer usable" page.
async fn assert_refused(app: &TestApp, link: &str) {
    for url in [link.to_owned(), format!("{link}?go=1")] {
        let page = app.browser().get(&url).await;
        assert_eq!(page.status, 410, "{url}: {}", page.body);
        assert!(page.body.contains("This link can no longer be used"));
    }
}

async fn disconnect(browser: &Browser, page: &Page, app: &TestApp) {
    let href = page.attrs("article.connection a.danger", "href").remove(0);
    let confirm = browser.get(&href).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    // A plain form post: no script is needed.
    let (action, fields) = confirm.quiet_form("main form[method=post]");
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(app.connections().await[0]["status"], "disconnected");
}

/// The callback makes the personal link in the transaction that links the connection; the
/// success page only shows it: a reload shows the same link, and it opens the manage page.
#[tokio::test]
async fn the_success_page_shows_the_link_the_callback_made() {
    let app = spawn_app().await;
    let flow = app.browser();
    let success = flow.connect(Some(&app.link_url), "sandbox").await;
    let link = personal_link(&success);
    let again = flow.get(&success.url).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(personal_link(&again), link, "made once, shown again");
    let page = open(&app.browser(), &link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_ne!(personal_link(&page), link, "opened once, then replaced");
}

#[tokio::test]
async fn the_personal_link_disconnects_a_day_after_the_flow_ended_and_is_then_replaced() {
    let app = spawn_app().await;
    let flow = app.browser();
    let success = flow.connect(Some(&app.link_url), "sandbox").await;
    let link = personal_link(&success);
    assert!(link.contains("/manage/return/"), "{link}");
    let finished = flow.get("/link/finish").await;
    assert_eq!(finished.status, 200);
    app.clock
        .advance(time::Duration::days(1) + time::Duration::seconds(1));

    let browser = app.browser();
    let page = open(&browser, &link).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page
        .quiet_texts("p[role=status]")
        .iter()
        .any(|t| t.starts_with("This link is new")));
    let fresh = personal_link(&page);
    assert_ne!(fresh, link, "a fresh link is shown");
    assert!(page.body.contains("To come back later"), "how to come back");

    // Merely fetching the link (as a mail scanner does) spends nothing.
    let fetched = app.browser().get(&fresh).await;
    assert_eq!(fetched.status, 200);
    // The spent link opens nothing in another browser; the same browser just continues.
    assert_refused(&app, &link).await;
    assert_eq!(browser.get(&fresh).await.location(), "/manage");

    disconnect(&browser, &page, &app).await;
    let consent = app.consents().await.remove(0);
    assert!(
        !consent["withdrawn_at"].is_null(),
        "recorded as a withdrawal"
    );
    let events = app
        .state
        .store
        .ledger_events(app.tenant(), 0, 1000)
        .await
        .unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.event.body.kind == accord_domain::ledger::EventKind::Withdrawn),
        "recorded in the ledger"
    );

    // No consent in force: the fresh link opens nothing either.
    assert_refused(&app, &fresh).await;
}

#[tokio::test]
async fn the_record_of_consent_carries_the_personal_link() {
    let app = spawn_app().await;
    let flow = app.browser();
    let success = flow.connect(Some(&app.link_url), "sandbox").await;
    let receipt = success
        .attrs("a[href^='/link/receipts/']", "href")
        .remove(0);
    let page = flow.get(&receipt).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let link = personal_link(&page);
    let opened = open(&app.browser(), &link).await;
    assert_eq!(opened.status, 200, "{}", opened.body);
}

#[tokio::test]
async fn a_personal_link_opens_one_company_only() {
    let app = spawn_app().await;
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let link = personal_link(&success);
    let other = app.new_company("Acme Widgets").await;
    let other_url = app.new_link_url(&other).await;
    app.browser().connect(Some(&other_url), "sandbox").await;
    let (_, theirs) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{other}/connections"),
            None,
        )
        .await;
    let their_id = theirs["data"][0]["id"].as_str().unwrap().to_owned();

    let browser = app.browser();
    let page = open(&browser, &link).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.attrs("article.connection", "class").len(), 1);
    assert!(!page.body.contains(&their_id));
    let confirm = browser
        .get(&format!("/manage/connections/{their_id}/disconnect"))
        .await;
    assert_eq!(confirm.status, 404, "{}", confirm.body);
}

#[tokio::test]
async fn the_tenant_hands_out_and_revokes_personal_links() {
    let app = spawn_app().await;
    let path = format!("/v1/companies/{}/manage-links", app.company_id);
    let (status, body) = app.api_json(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 409, "nothing in force yet: {body}");

    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let (status, body) = app.api_json(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 201, "{body}");
    let link = body["url"].as_str().unwrap().to_owned();
    let (status, body) = app.api_json(reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["revoked"].as_u64().unwrap() >= 1, "{body}");
    assert_refused(&app, &link).await;

    let unknown = format!(
        "/v1/companies/{}/manage-links",
        "00000000-0000-4000-8000-000000000000"
    );
    let (status, _) = app.api_json(reqwest::Method::DELETE, &unknown, None).await;
    assert_eq!(status, 404);
}
