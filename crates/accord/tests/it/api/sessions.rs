//! Link and manage sessions: single use, expiry, locale, categories, return URL validation.

use super::{call, link_session, now, ts};
use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn a_link_session_opens_the_flow_once_and_lasts_24_hours() {
    let app = spawn_app().await;
    let res = link_session(&app, &app.company_id, json!({})).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert!(
        res.json["id"].as_str().is_some_and(|s| s.len() == 36),
        "{}",
        res.text
    );
    let url = res.json["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("http://{}/link/", app.addr)),
        "{url}"
    );
    assert_eq!(
        ts(&res.json["expires_at"]),
        now(&app) + time::Duration::hours(24),
        "default link_ttl_secs"
    );

    let first = app.browser().get(&url).await;
    assert_eq!(first.status, 303, "{}", first.body);
    assert!(
        first.location().starts_with("/link/start"),
        "{}",
        first.location()
    );
    let second = app.browser().get(&url).await;
    assert_ne!(
        second.status,
        303,
        "a link session opens once: {}",
        second.location()
    );
    assert!((400..500).contains(&second.status), "{}", second.status);

    // An unknown company has no link sessions.
    let missing = link_session(&app, "0190a0b0-0000-7000-8000-000000000000", json!({})).await;
    missing.assert_problem(404);
}

#[tokio::test]
async fn an_expired_link_session_does_not_open() {
    let app = spawn_app().await;
    let res = link_session(&app, &app.company_id, json!({})).await;
    let url = res.json["url"].as_str().unwrap().to_owned();
    app.clock
        .advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let page = app.browser().get(&url).await;
    assert_ne!(page.status, 303, "expired link must not open");
}

#[tokio::test]
async fn a_link_session_keeps_its_locale_and_categories() {
    let app = spawn_app().await;
    let res = link_session(
        &app,
        &app.company_id,
        json!({"locale": "fr", "categories": ["banking"]}),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let browser = app.browser();
    // The session's locale wins over the browser's language.
    let opened = browser
        .get_with(
            res.json["url"].as_str().unwrap(),
            &[("accept-language", "en")],
        )
        .await;
    assert_eq!(opened.status, 303);
    assert!(
        opened.location().contains("lang=fr"),
        "{}",
        opened.location()
    );
    let start = browser.follow(opened).await;
    assert_eq!(start.status, 200, "{}", start.body);
    assert!(start.body.contains("<html lang=\"fr\""), "French pages");

    let select = browser.get("/link/platforms").await;
    assert_eq!(select.status, 200, "{}", select.body);
    let doc = select.doc();
    let sel = scraper::Selector::parse("a.platform").unwrap();
    let hrefs: Vec<String> = doc
        .select(&sel)
        .map(|a| a.value().attr("href").unwrap().to_owned())
        .collect();
    assert_eq!(
        hrefs,
        ["/link/platforms/sandbox-bank/consent"],
        "only banking platforms: {hrefs:?}"
    );
    let accounting = browser.get("/link/platforms/sandbox/consent").await;
    assert_ne!(
        accounting.status, 200,
        "a category not offered cannot be reached by URL"
    );

    // Without categories, every enabled category is offered.
    let all = link_session(&app, &app.company_id, json!({})).await;
    assert_eq!(all.status, 201, "{}", all.text);
    let b2 = app.browser();
    b2.get(all.json["url"].as_str().unwrap()).await;
    let page = b2.get("/link/platforms").await;
    assert!(
        page.body.contains("/link/platforms/sandbox/consent")
            && page.body.contains("/link/platforms/sandbox-bank/consent"),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn link_session_fields_are_validated_with_paths() {
    let app = spawn_app().await;
    let company = app.company_id.clone();
    link_session(&app, &company, json!({"locale": "de"}))
        .await
        .assert_invalid("locale");
    link_session(&app, &company, json!({"categories": ["gaming"]}))
        .await
        .assert_invalid("categories.0");
    link_session(
        &app,
        &company,
        json!({"categories": ["banking", "payroll"]}),
    )
    .await
    .assert_invalid("categories.1");
    link_session(
        &app,
        &company,
        json!({"categories": ["banking", "banking"]}),
    )
    .await
    .assert_invalid("categories.1");
    link_session(
        &app,
        &company,
        json!({"return_url": "http://lender.example/done"}),
    )
    .await
    .assert_invalid("return_url");
    link_session(&app, &company, json!({"return_url": "javascript:alert(1)"}))
        .await
        .assert_invalid("return_url");
    link_session(&app, &company, json!({"return_url": "not a url"}))
        .await
        .assert_invalid("return_url");
    // Wrong JSON types name the field too, with the same path style.
    link_session(&app, &company, json!({"categories": [7]}))
        .await
        .assert_invalid("categories.0");
    link_session(&app, &company, json!({"locale": 1}))
        .await
        .assert_invalid("locale");
    link_session(&app, &company, json!({"colour": "blue"}))
        .await
        .assert_invalid("colour");
    // All errors at once.
    let many = link_session(
        &app,
        &company,
        json!({"locale": "de", "categories": ["x"], "return_url": "ftp://x"}),
    )
    .await;
    many.assert_problem(422);
    assert_eq!(
        many.paths(),
        ["locale", "categories.0", "return_url"],
        "{}",
        many.text
    );
}

#[tokio::test]
async fn a_manage_session_opens_the_manage_page_once() {
    let app = spawn_app().await;
    let res = call(
        &app,
        Method::POST,
        &format!("/v1/companies/{}/manage-sessions", app.company_id),
        None,
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let url = res.json["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/manage/", app.base)), "{url}");
    let expires = ts(&res.json["expires_at"]);
    let expected = now(&app) + time::Duration::hours(1);
    assert!(
        (expires - expected).abs() < time::Duration::seconds(1),
        "expires_at {expires} vs {expected}"
    );
    let browser = app.browser();
    let opened = browser.get(&url).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let page = browser.follow(opened).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_ne!(app.browser().get(&url).await.status, 303, "once");

    call(
        &app,
        Method::POST,
        "/v1/companies/0190a0b0-0000-7000-8000-000000000000/manage-sessions",
        None,
    )
    .await
    .assert_problem(404);
}
