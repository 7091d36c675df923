//! The tenant's configuration the flow's pages read from memory (`services::snapshot`): a
//! change through this instance shows on the very next page view; a change through another
//! instance on PostgreSQL shows well within the documented bound; and a consent is recorded
//! against the notice in force in the store, never against the copy a page was shown from.

use crate::helpers::{spawn_app, spawn_app_on_postgres, spawn_instance_like, Browser, TestApp};
use accord_domain::catalog::Category;
use accord_domain::ids::TenantId;
use accord_domain::locale::Locale;
use accord_domain::Clock;
use accord_web::services::snapshot::MAX_AGE;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// Sets the landing page's English title through the API of `app`.
async fn set_landing_title(app: &TestApp, title: &str) {
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["landing_enabled"] = json!(true);
    doc["landing"] = json!({"title": {"en": title}});
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(doc))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn landing_title(browser: &Browser) -> String {
    let page = browser.get("/link/start?lang=en").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.texts("h1").join(" ")
}

fn tenant_id(app: &TestApp) -> TenantId {
    app.tenant_id.parse().unwrap()
}

#[tokio::test]
async fn a_change_through_this_instance_shows_on_the_very_next_page_view() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    set_landing_title(&app, "Before the change").await;
    assert_eq!(landing_title(&browser).await, "Before the change");
    assert_eq!(
        app.state.snapshots.len(),
        1,
        "the page's configuration is kept"
    );

    // Settings: no wait, no second view.
    set_landing_title(&app, "After the change").await;
    assert_eq!(landing_title(&browser).await, "After the change");

    // Platforms: the sandbox disabled is gone from the very next list and consent page.
    let list = browser.get("/link/platforms").await;
    assert!(list.body.contains("/link/platforms/sandbox/consent"));
    let (status, body) = app
        .api_json(
            Method::PUT,
            "/v1/platforms/sandbox",
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let list = browser.get("/link/platforms").await;
    assert!(!list.body.contains("/link/platforms/sandbox/consent"));
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(consent.status, 404);
    let (status, body) = app
        .api_json(
            Method::PUT,
            "/v1/platforms/sandbox",
            Some(json!({"enabled": true})),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // Notices: the version published is the one the next consent page offers.
    let before = consent_version(&browser).await;
    publish_accounting_change(&app).await;
    let after = consent_version(&browser).await;
    assert_ne!(before, after, "the new notice version is offered at once");
}

/// The notice version id the consent page's form carries.
async fn consent_version(browser: &Browser) -> String {
    let page = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(page.status, 200, "{}", page.body);
    page.form("form.consent-form").1["notice_version_id"].clone()
}

/// Publishes a changed English accounting notice through the API.
async fn publish_accounting_change(app: &TestApp) {
    let content = accounting_content(app).await;
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/notices",
            Some(json!({"category": "accounting", "locale": "en", "content": content})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

/// The English accounting notice's content in force, its retention extended by a sentence.
async fn accounting_content(app: &TestApp) -> Value {
    let version = app
        .state
        .store
        .current_notice_version(tenant_id(app), Category::Accounting, Locale::En)
        .await
        .unwrap()
        .expect("the accounting notice");
    let mut content = serde_json::to_value(&version.content).unwrap();
    let retention = content["retention"].as_str().unwrap().to_owned();
    content["retention"] = json!(format!("{retention} Kept a year longer for audits."));
    content
}

#[tokio::test]
async fn a_consent_is_recorded_against_the_notice_in_force_though_the_page_was_stale() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let shown = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(shown.status, 200, "{}", shown.body);
    let (action, mut stale_fields) = shown.form("form.consent-form");

    // Another process publishes straight into the store: nothing tells this instance, so its
    // copy keeps the old version (for up to `MAX_AGE`).
    let content = accounting_content(&app).await;
    let content = serde_json::from_value(content).unwrap();
    let published = app
        .state
        .store
        .publish_notice_version(
            tenant_id(&app),
            Category::Accounting,
            Locale::En,
            &content,
            app.clock.now(),
        )
        .await
        .unwrap();
    let again = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(
        again.form("form.consent-form").1["notice_version_id"],
        stale_fields["notice_version_id"],
        "the page is shown from the copy kept in memory"
    );

    // Agreeing to what the stale page showed: refused, the notice in force shown instead.
    stale_fields.insert("agree".into(), "yes".into());
    stale_fields.insert("action".into(), "connect".into());
    let refused = browser.post(&action, &stale_fields).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(app.consents().await.is_empty(), "nothing recorded");
    let (action, mut fields) = refused.form("form.consent-form");
    assert_eq!(
        fields["notice_version_id"],
        published.version.id.to_string()
    );

    // Agreeing to the version in force records it.
    fields.insert("agree".into(), "yes".into());
    fields.insert("action".into(), "connect".into());
    let agreed = browser.post(&action, &fields).await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);
    let consents = app.consents().await;
    assert_eq!(consents.len(), 1);
    assert_eq!(
        consents[0]["notice_version_id"],
        json!(published.version.id.to_string())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_one_instance_shows_on_the_other_within_the_bound() {
    let Some(a) = spawn_app_on_postgres().await else {
        return;
    };
    let b = spawn_instance_like(&a).await;
    let on_b = b.browser();
    assert_eq!(on_b.get(&b.link_url).await.status, 303);
    set_landing_title(&a, "Before the change").await;
    // B keeps copies only once its watch listens; wait for that, as a page view would.
    let listening = Instant::now();
    while b.state.snapshots.is_empty() {
        assert_eq!(landing_title(&on_b).await, "Before the change");
        assert!(
            listening.elapsed() < Duration::from_secs(10),
            "B never kept a copy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Changed through A: B's copy is dropped on A's notification, long before `MAX_AGE`.
    set_landing_title(&a, "After the change").await;
    let changed = Instant::now();
    loop {
        if landing_title(&on_b).await == "After the change" {
            break;
        }
        assert!(
            changed.elapsed() < MAX_AGE / 2,
            "B still shows the old title after {:?}",
            changed.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
