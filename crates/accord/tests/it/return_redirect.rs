//! The return redirect: a link session's `return_url` must be exactly one of
//! the tenant's registered return URLs (a bypass corpus of near misses is refused), and on
//! finish the customer goes back there with `companyId`, `connectionId`, `platform`, `status`
//! and `errorCode`.

use crate::helpers::{query_param, spawn_app, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

pub const RETURN_URL: &str = "https://lender.example/accord/done?from=accord";

/// Replaces the tenant's `integration` settings through the API.
pub async fn set_integration(app: &TestApp, integration: Value) {
    let (status, mut settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(status, 200);
    settings["integration"] = integration;
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn link_session(app: &TestApp, body: Value) -> (u16, Value) {
    app.api_json(
        Method::POST,
        &format!("/v1/companies/{}/link-sessions", app.company_id),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn return_urls_are_matched_exactly_and_near_misses_are_refused() {
    let app = spawn_app().await;
    // Nothing registered: any return URL is refused.
    let (status, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "return_url");

    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let (status, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    assert_eq!(status, 201, "{body}");

    let corpus = [
        // other hosts, suffix and prefix domains
        "https://lender.example.evil.example/accord/done?from=accord",
        "https://evil-lender.example/accord/done?from=accord",
        "https://evil.example/lender.example/accord/done?from=accord",
        "https://lender.example.evil.example/",
        // user info
        "https://lender.example@evil.example/accord/done?from=accord",
        "https://user:pass@lender.example/accord/done?from=accord",
        "https://evil.example%40lender.example/accord/done?from=accord",
        // scheme-relative, slashes and backslashes
        "//evil.example/accord/done?from=accord",
        "//lender.example/accord/done?from=accord",
        "https:/lender.example/accord/done?from=accord",
        "https:\\\\lender.example/accord/done?from=accord",
        "https://lender.example\\@evil.example/accord/done?from=accord",
        "https://lender.example/accord/done/..//evil.example?from=accord",
        "/\\evil.example",
        // case
        "https://LENDER.example/accord/done?from=accord",
        "HTTPS://lender.example/accord/done?from=accord",
        "https://lender.example/Accord/done?from=accord",
        // encodings
        "https://lender.example/accord/%64one?from=accord",
        "https://lender.example/accord/done?from=%61ccord",
        "https://lender%2Eexample/accord/done?from=accord",
        "https://xn--lender-9ta.example/accord/done?from=accord",
        "https://lender.example./accord/done?from=accord",
        "https://lender.example:443/accord/done?from=accord",
        // paths, queries and fragments around the registered one
        "https://lender.example/accord/done",
        "https://lender.example/accord/done?from=accord&next=https://evil.example",
        "https://lender.example/accord/done/?from=accord",
        "https://lender.example/accord/done?from=accord#https://evil.example",
        "https://lender.example/accord/done?from=accord ",
        " https://lender.example/accord/done?from=accord",
        "https://lender.example/accord/done?from=accord\n",
        // other schemes
        "http://lender.example/accord/done?from=accord",
        "javascript:alert(1)//lender.example/accord/done?from=accord",
        "JavaScript:alert(document.domain)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "",
    ];
    for near in corpus {
        let (status, body) = link_session(&app, json!({ "return_url": near })).await;
        assert_eq!(status, 422, "{near:?} must be refused: {body}");
        assert_eq!(body["errors"][0]["path"], "return_url", "{near:?}");
    }
}

#[tokio::test]
async fn integration_settings_are_validated_with_field_paths() {
    let app = spawn_app().await;
    let (status, mut settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(status, 200);
    settings["integration"] = json!({
        "embedding_origins": ["https://lender.example", "https://*.lender.example", "https://lender.example/app"],
        "return_urls": ["https://lender.example/done", "ftp://lender.example/done", "https://lender.example/done#top"]
    });
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 422, "{body}");
    let paths: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "integration.embedding_origins.1",
            "integration.embedding_origins.2",
            "integration.return_urls.1",
            "integration.return_urls.2"
        ]
    );
    // Nothing was written.
    let (_, now) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert!(now.get("integration").is_none(), "{now}");
}

#[tokio::test]
async fn finishing_returns_to_the_tenant_with_the_outcome() {
    let app = spawn_app().await;
    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let (status, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    assert_eq!(status, 201, "{body}");
    let browser = app.browser();
    let success = browser
        .connect(Some(body["url"].as_str().unwrap()), "sandbox")
        .await;
    assert_eq!(success.status, 200);
    let done = browser.get("/link/finish").await;
    assert_eq!(done.status, 303, "{}", done.body);
    let to = done.location();
    assert!(
        to.starts_with("https://lender.example/accord/done?from=accord&"),
        "{to}"
    );
    let conn = &app.connections().await[0];
    assert_eq!(query_param(&to, "companyId").unwrap(), app.company_id);
    assert_eq!(
        query_param(&to, "connectionId").as_deref(),
        conn["id"].as_str()
    );
    assert_eq!(query_param(&to, "platform").unwrap(), "sandbox");
    assert_eq!(query_param(&to, "status").unwrap(), "linked");
    assert_eq!(query_param(&to, "errorCode"), None);

    // A customer who leaves without connecting anything returns as `exited` (a later session:
    // the connection above is not this session's).
    app.clock.advance(time::Duration::minutes(1));
    let (_, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    let other = app.browser();
    assert_eq!(other.get(body["url"].as_str().unwrap()).await.status, 303);
    let done = other.get("/link/finish").await;
    assert_eq!(done.status, 303);
    assert_eq!(query_param(&done.location(), "status").unwrap(), "exited");
    assert_eq!(query_param(&done.location(), "connectionId"), None);

    // Without a return URL the flow ends on its own closing page.
    let plain = app.browser();
    let url = app.new_link_url(&app.company_id).await;
    assert_eq!(plain.get(&url).await.status, 303);
    assert_eq!(plain.get("/link/finish").await.status, 200);
}

#[tokio::test]
async fn a_refused_sign_in_returns_with_its_error_code() {
    let app = spawn_app().await;
    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let (_, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    let browser = app.browser();
    assert_eq!(browser.get(body["url"].as_str().unwrap()).await.status, 303);
    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303);
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    let page = browser.get(&callback.location()).await;
    assert_eq!(page.status, 200, "the error page: {}", page.body);
    let done = browser.get("/link/finish").await;
    assert_eq!(done.status, 303);
    let to = done.location();
    assert_eq!(query_param(&to, "status").unwrap(), "pending_auth");
    assert_eq!(query_param(&to, "errorCode").unwrap(), "access_denied");
}

/// The tenant's other return URL, kept while `RETURN_URL` is removed.
const OTHER_RETURN_URL: &str = "https://lender.example/accord/other";

#[tokio::test]
async fn a_return_url_removed_since_the_link_was_made_is_not_used() {
    let app = spawn_app().await;
    set_integration(
        &app,
        json!({ "return_urls": [RETURN_URL, OTHER_RETURN_URL] }),
    )
    .await;
    let (status, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    assert_eq!(status, 201, "{body}");
    let browser = app.browser();
    browser
        .connect(Some(body["url"].as_str().unwrap()), "sandbox")
        .await;
    // The tenant takes the URL off its list while the customer is in the flow.
    set_integration(&app, json!({ "return_urls": [OTHER_RETURN_URL] })).await;
    let done = browser.get("/link/finish").await;
    assert_eq!(
        done.status, 200,
        "the flow's own closing page: {}",
        done.body
    );
    assert_eq!(done.location(), "");
    assert!(
        !done.body.contains("lender.example/accord/done"),
        "the removed URL is nowhere on the page"
    );
    // Put back, the next finish returns there again: the list is read at each finish (the
    // first one ended its session, so a new link).
    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let (status, body) = link_session(&app, json!({ "return_url": RETURN_URL })).await;
    assert_eq!(status, 201, "{body}");
    let browser = app.browser();
    assert_eq!(browser.get(body["url"].as_str().unwrap()).await.status, 303);
    let done = browser.get("/link/finish").await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert!(
        done.location().starts_with(RETURN_URL),
        "{}",
        done.location()
    );
}

#[tokio::test]
async fn a_tenant_ui_sign_in_does_not_return_to_a_removed_url() {
    let app = spawn_app().await;
    set_integration(
        &app,
        json!({ "return_urls": [RETURN_URL, OTHER_RETURN_URL] }),
    )
    .await;
    let company = app.company_id.clone();
    let (_, notice) = app
        .api_json(Method::GET, "/v1/notices/render?platform=sandbox", None)
        .await;
    let (status, recorded) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{company}/consents"),
            Some(json!({
                "platform": "sandbox", "locale": "en",
                "notice_version_id": notice["notice_version_id"], "text_hash": notice["text_hash"],
                "checkbox_ticked": true
            })),
        )
        .await;
    assert_eq!(status, 201, "{recorded}");
    let (status, auth) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{company}/authorizations"),
            Some(json!({ "connection_id": recorded["connection_id"], "return_url": RETURN_URL })),
        )
        .await;
    assert_eq!(status, 201, "{auth}");
    set_integration(&app, json!({ "return_urls": [OTHER_RETURN_URL] })).await;
    let customer = crate::helpers::Browser::new(&app.base);
    let callback = customer
        .sandbox_decide(
            auth["authorization_url"].as_str().unwrap(),
            "Bluebell",
            true,
        )
        .await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    let back = customer.get(&callback.location()).await;
    assert_eq!(
        back.status, 410,
        "a page of Accord's, not a redirect: {}",
        back.body
    );
    assert_eq!(back.location(), "");
    assert!(!back.body.contains("lender.example"), "{}", back.body);
    // The sign-in itself went through.
    let (_, conn) = app
        .api_json(
            Method::GET,
            &format!(
                "/v1/companies/{company}/connections/{}",
                recorded["connection_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(conn["status"], "linked");
}
