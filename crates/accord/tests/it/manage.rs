//! The manage page: the company sees each connection, what it shares and since when, and
//! disconnects in one click plus one confirmation — effective at once (status, consent, tokens)
//! and followed by revocation at the platform, which then refuses the old access token.

use crate::helpers::{spawn_app, Browser, Page, TestApp};

/// Connects the sandbox for the demo company; returns the connection id and its access token.
async fn connected(app: &TestApp) -> (String, String) {
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app.platform_tokens(&id).await.expect("tokens stored");
    (id, tokens.access_token)
}

/// A browser on the demo company's manage page.
async fn on_manage_page(app: &TestApp) -> (Browser, Page) {
    let browser = app.browser();
    let opened = browser.get(&app.manage_url).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    assert_eq!(opened.location(), "/manage");
    let page = browser.get("/manage").await;
    assert_eq!(page.status, 200, "{}", page.body);
    (browser, page)
}

/// The connection is listed with its platform, status, grant date and each data use.
fn assert_lists_connection(page: &Page, app_today: &str) {
    assert_eq!(page.quiet_texts("h1"), vec!["Your connections".to_owned()]);
    let names: Vec<String> = page
        .quiet_texts("article.connection h2")
        .iter()
        .map(|n| n.trim().to_owned())
        .collect();
    assert_eq!(names, ["Bluebell · Accord Sandbox Books"]);
    assert_eq!(
        page.quiet_texts("article.connection .status-linked"),
        vec!["Connected".to_owned()]
    );
    let meta = page.quiet_texts("article.connection p").join(" ");
    assert!(meta.contains(&format!("agreed on {app_today}")), "{meta}");
    let uses: Vec<String> = page
        .quiet_texts("article.connection ul.uses li")
        .iter()
        .map(|u| u.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    for expected in [
        "Company details read from Accord Sandbox Books",
        "Invoices read from Accord Sandbox Books",
        "Bills read from Accord Sandbox Books",
        "Customers read from Accord Sandbox Books",
        "Suppliers read from Accord Sandbox Books",
        "Balance sheet read from Accord Sandbox Books",
        "Profit and loss read from Accord Sandbox Books",
    ] {
        assert!(
            uses.contains(&expected.to_owned()),
            "{expected} in {uses:?}"
        );
    }
    assert_eq!(uses.len(), 7);
}

fn today(app: &TestApp) -> String {
    // Written out for the reader, as the page does ("7 December 2026").
    let d = accord_domain::Clock::now(&app.clock).date();
    format!("{} {} {}", d.day(), d.month(), d.year())
}

#[tokio::test]
async fn the_manage_link_lists_the_connection_with_what_it_shares_and_since_when() {
    let app = spawn_app().await;
    connected(&app).await;
    let (_, page) = on_manage_page(&app).await;
    assert_lists_connection(&page, &today(&app));
    let disconnect = page.attrs("article.connection a.danger", "href");
    assert_eq!(disconnect.len(), 1, "a Disconnect link");
    assert_eq!(
        page.quiet_texts("article.connection a.danger"),
        vec!["Disconnect Accord Sandbox Books".to_owned()]
    );
}

#[tokio::test]
async fn the_success_page_leads_to_the_manage_page_without_a_new_link() {
    let app = spawn_app().await;
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let button = success.quiet_texts("form[action='/link/manage'] button");
    assert_eq!(button, vec!["See and manage my connections".to_owned()]);
    let (action, fields) = success.quiet_form("form[action='/link/manage']");
    let to_manage = browser.post(&action, &fields).await;
    assert_eq!(to_manage.status, 303, "{}", to_manage.body);
    assert_eq!(to_manage.location(), "/manage");
    let page = browser.get("/manage").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_lists_connection(&page, &today(&app));
}

#[tokio::test]
async fn disconnecting_is_one_click_and_one_confirmation() {
    let app = spawn_app().await;
    let (id, _) = connected(&app).await;
    let (browser, page) = on_manage_page(&app).await;

    // The click: a plain link to the confirmation.
    let href = page.attrs("article.connection a.danger", "href").remove(0);
    assert_eq!(href, format!("/manage/connections/{id}/disconnect"));
    let confirm = browser.get(&href).await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert_eq!(
        confirm.quiet_texts("h1"),
        vec!["Disconnect Accord Sandbox Books?".to_owned()]
    );
    assert_eq!(
        app.connections().await[0]["status"],
        "linked",
        "looking at the confirmation changes nothing"
    );

    // The confirmation: one post.
    let (action, fields) = confirm.quiet_form("main form[method=post]");
    assert_eq!(
        confirm.quiet_texts("main form button[type=submit]"),
        vec!["Yes, disconnect".to_owned()]
    );
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let after = browser.get(&done.location()).await;
    assert_eq!(after.status, 200);
    assert_eq!(
        after.quiet_texts("p[role=status]"),
        vec!["Accord Sandbox Books is disconnected. Sharing has stopped and Northwind Lending's access to your Accord Sandbox Books account has been removed.".to_owned()]
    );
    assert_eq!(
        after.quiet_texts("article.connection .status-disconnected"),
        vec!["Disconnected".to_owned()]
    );
    assert!(
        after
            .attrs("article.connection a.danger", "href")
            .is_empty(),
        "nothing left to disconnect"
    );
    assert_eq!(app.connections().await[0]["status"], "disconnected");
}

/// What a disconnect must have done at once, and then at the platform.
async fn assert_disconnected_everywhere(app: &TestApp, id: &str, access_token: &str) {
    let connections = app.connections().await;
    assert_eq!(connections[0]["status"], "disconnected");
    assert!(connections[0]["disconnected_at"].is_string());
    let consents = app.consents().await;
    assert_eq!(consents.len(), 1);
    assert!(
        consents[0]["withdrawn_at"].is_string(),
        "consent withdrawn: {}",
        consents[0]
    );
    assert!(
        app.platform_tokens(id).await.is_none(),
        "tokens destroyed at once"
    );

    let jobs = app.revoke_jobs().await;
    assert_eq!(jobs.len(), 1, "one revocation job");
    let job = app.wait_job_done(jobs[0].id).await;
    assert!(job.last_error.is_none(), "{:?}", job.last_error);
    assert!(
        job.payload.get("tokens_ct").is_none(),
        "the job's copy of the tokens is gone: {}",
        job.payload
    );
    assert_eq!(
        app.sandbox_api_status("invoices", access_token).await,
        401,
        "the platform refuses the old token"
    );
}

#[tokio::test]
async fn disconnecting_on_the_manage_page_stops_sharing_and_revokes_at_the_platform() {
    let app = spawn_app().await;
    let (id, access_token) = connected(&app).await;
    assert_eq!(
        app.sandbox_api_status("invoices", &access_token).await,
        200,
        "the token works before"
    );
    let (browser, _) = on_manage_page(&app).await;
    let confirm = browser
        .get(&format!("/manage/connections/{id}/disconnect"))
        .await;
    let (action, fields) = confirm.quiet_form("main form[method=post]");
    assert_eq!(browser.post(&action, &fields).await.status, 303);
    assert_disconnected_everywhere(&app, &id, &access_token).await;
}

#[tokio::test]
async fn disconnecting_through_the_api_stops_sharing_and_revokes_at_the_platform() {
    let app = spawn_app().await;
    let (id, access_token) = connected(&app).await;
    assert_eq!(
        app.sandbox_api_status("invoices", &access_token).await,
        200,
        "the token works before"
    );
    let (status, body) = app
        .api_json(
            reqwest::Method::DELETE,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "disconnected");
    assert_disconnected_everywhere(&app, &id, &access_token).await;
}

#[tokio::test]
async fn a_disconnect_post_without_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    let (id, _) = connected(&app).await;
    let (browser, _) = on_manage_page(&app).await;
    let confirm = browser
        .get(&format!("/manage/connections/{id}/disconnect"))
        .await;
    let (action, mut fields) = confirm.quiet_form("main form[method=post]");
    fields.remove("csrf");
    assert_eq!(browser.post(&action, &fields).await.status, 403);
    assert_eq!(app.connections().await[0]["status"], "linked");
    assert!(app.platform_tokens(&id).await.is_some());
}

#[tokio::test]
async fn a_company_cannot_see_or_disconnect_another_companys_connection() {
    let app = spawn_app().await;
    // Another company of the same tenant connects.
    let other_company = app.new_company("Crocus Cafe Ltd").await;
    let other_link = app.new_link_url(&other_company).await;
    app.browser().connect(Some(&other_link), "sandbox").await;
    let (status, theirs) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{other_company}/connections"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let theirs = theirs["data"][0]["id"].as_str().unwrap().to_owned();

    // The demo company's manage page.
    let (browser, page) = on_manage_page(&app).await;
    assert!(
        page.quiet_texts("article.connection").is_empty(),
        "not listed: {}",
        page.body
    );
    assert!(!page.body.contains(&theirs));
    let confirm = browser
        .get(&format!("/manage/connections/{theirs}/disconnect"))
        .await;
    assert_eq!(confirm.status, 404, "{}", confirm.body);

    // Even with a valid CSRF token of its own session, the post is a 404.
    let support = browser.get("/manage/support").await;
    let (_, fields) = support.quiet_form("form.support-form");
    let mut post = std::collections::BTreeMap::new();
    post.insert("csrf".to_owned(), fields["csrf"].clone());
    let refused = browser
        .post(&format!("/manage/connections/{theirs}/disconnect"), &post)
        .await;
    assert_eq!(refused.status, 404, "{}", refused.body);

    let (_, after) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{other_company}/connections/{theirs}"),
            None,
        )
        .await;
    assert_eq!(after["status"], "linked");
}
