//! The flow's defences: the OAuth callback refuses every `state` it did not issue to this
//! browser for this platform — before any token request — forms need their CSRF token and a
//! same-site origin, and every response carries the security headers.

use crate::helpers::{query_param, quietly, spawn_app, Browser, Page, TestApp};
use std::collections::BTreeMap;

/// Opens the link, agrees, approves at the sandbox: returns the browser and the callback URL
/// the sandbox redirected to (not yet visited).
async fn authorized(app: &TestApp) -> (Browser, String) {
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    (browser, callback.location())
}

/// The friendly 400 page of a callback that cannot be trusted.
fn assert_refused(page: &Page) {
    assert_eq!(page.status, 400, "{}", page.body);
    assert_eq!(
        page.quiet_texts("h1"),
        vec!["This sign-in could not be confirmed".to_owned()]
    );
    assert!(page.has("footer.help"), "help on the error page");
}

/// The genuine callback still links the connection: its code was never sent to the token
/// endpoint before (codes are single-use at the sandbox, and a replayed code revokes its grant).
async fn assert_code_unused(app: &TestApp, browser: &Browser, callback: &str) {
    let done = browser.get(callback).await;
    assert_eq!(
        done.status, 303,
        "the genuine callback succeeds: {}",
        done.body
    );
    assert!(
        done.location().starts_with("/link/connections/"),
        "{}",
        done.location()
    );
    assert_eq!(app.connections().await[0]["status"], "linked");
}

/// The connection is still waiting for sign-in, with no error recorded and no tokens: no token
/// request happened (an exchange either links the connection or records its failure).
async fn assert_untouched(app: &TestApp) {
    let connections = app.connections().await;
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["status"], "pending_auth");
    assert!(connections[0]["last_error"].is_null(), "{}", connections[0]);
    assert!(app
        .platform_tokens(connections[0]["id"].as_str().unwrap())
        .await
        .is_none());
}

fn with_query(callback: &str, f: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let mut url = url::Url::parse(callback).unwrap();
    let mut pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    f(&mut pairs);
    url.query_pairs_mut().clear().extend_pairs(pairs);
    url.to_string()
}

#[tokio::test]
async fn a_callback_without_state_is_refused_without_a_token_request() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;
    let stateless = with_query(&callback, |q| q.retain(|(k, _)| k != "state"));
    assert!(query_param(&stateless, "code").is_some());
    assert_refused(&browser.get(&stateless).await);
    assert_untouched(&app).await;
    assert_code_unused(&app, &browser, &callback).await;
}

#[tokio::test]
async fn a_callback_with_an_unknown_state_is_refused_without_a_token_request() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;
    let forged = with_query(&callback, |q| {
        for (k, v) in q.iter_mut() {
            if k == "state" {
                *v = "A".repeat(43);
            }
        }
    });
    assert_refused(&browser.get(&forged).await);
    assert_untouched(&app).await;
    assert_code_unused(&app, &browser, &callback).await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused_without_a_token_request() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;
    assert_code_unused(&app, &browser, &callback).await;
    let connection = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app
        .platform_tokens(&connection)
        .await
        .expect("tokens stored");

    assert_refused(&browser.get(&callback).await);
    // Presenting the code again at the sandbox would have revoked every token issued from it.
    assert_eq!(
        app.sandbox_api_status("invoices", &tokens.access_token)
            .await,
        200
    );
    assert_eq!(app.connections().await[0]["status"], "linked");
    assert!(app.connections().await[0]["last_error"].is_null());
}

#[tokio::test]
async fn a_callback_from_another_browser_session_is_refused_without_a_token_request() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;

    let other = app.browser();
    let other_link = app.new_link_url(&app.company_id).await;
    assert_eq!(
        other.get(&other_link).await.status,
        303,
        "the other browser has its own session"
    );
    assert_refused(&other.get(&callback).await);
    assert_untouched(&app).await;

    // The first browser's callback still works with the same, single-use code.
    assert_code_unused(&app, &browser, &callback).await;
}

#[tokio::test]
async fn a_callback_without_any_session_is_refused() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;
    assert_refused(&app.browser().get(&callback).await);
    assert_untouched(&app).await;
    assert_code_unused(&app, &browser, &callback).await;
}

#[tokio::test]
async fn a_callback_after_the_state_expired_is_refused_without_a_token_request() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    // The customer lingers 11 minutes on the platform's sign-in page (the state lives 10).
    app.clock.advance(time::Duration::minutes(11));
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    assert_refused(&browser.get(&callback.location()).await);
    assert_untouched(&app).await;
}

#[tokio::test]
async fn a_callback_on_another_platforms_path_is_refused() {
    let app = spawn_app().await;
    let (browser, callback) = authorized(&app).await;
    let mixed_up = callback.replace("/link/callback/sandbox?", "/link/callback/sandbox-bank?");
    assert_ne!(mixed_up, callback);
    assert_refused(&browser.get(&mixed_up).await);
    assert_untouched(&app).await;
}

// ---- CSRF ----

/// The consent form of a fresh session (on a link of its own), ticked and ready to post.
async fn ticked_consent_form(app: &TestApp) -> (Browser, String, BTreeMap<String, String>) {
    let browser = app.browser();
    let link = app.new_link_url(&app.company_id).await;
    assert_eq!(browser.get(&link).await.status, 303);
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("agree".into(), "yes".into());
    fields.insert("action".into(), "connect".into());
    (browser, action, fields)
}

async fn assert_nothing_recorded(app: &TestApp) {
    assert!(app.consents().await.is_empty(), "no consent recorded");
    assert!(app.connections().await.is_empty(), "no connection");
}

#[tokio::test]
async fn a_consent_post_without_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    let (browser, action, mut fields) = ticked_consent_form(&app).await;
    fields.remove("csrf");
    let page = browser.post(&action, &fields).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_eq!(
        page.quiet_texts("h1"),
        vec!["This action was refused".to_owned()]
    );
    assert_nothing_recorded(&app).await;
}

#[tokio::test]
async fn a_consent_post_with_a_wrong_csrf_token_is_forbidden() {
    let app = spawn_app().await;
    let (browser, action, mut fields) = ticked_consent_form(&app).await;
    // Another session's valid token is still wrong for this one.
    let (_, _, theirs) = ticked_consent_form(&app).await;
    assert_ne!(theirs["csrf"], fields["csrf"]);
    fields.insert("csrf".into(), theirs["csrf"].clone());
    assert_eq!(browser.post(&action, &fields).await.status, 403);
    fields.insert("csrf".into(), "forged".into());
    assert_eq!(browser.post(&action, &fields).await.status, 403);
    assert_nothing_recorded(&app).await;
}

#[tokio::test]
async fn a_consent_post_from_another_origin_is_forbidden() {
    let app = spawn_app().await;
    let (browser, action, fields) = ticked_consent_form(&app).await;
    let page = browser
        .post_with(&action, &fields, &[("Origin", "https://evil.example")])
        .await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert_nothing_recorded(&app).await;

    // The same post from Accord's own origin goes through.
    let page = browser
        .post_with(&action, &fields, &[("Origin", &app.base)])
        .await;
    assert_eq!(page.status, 303, "{}", page.body);
}

/// Every form post the page router registers (`accord_web::pages::routes`) refuses a post
/// without a CSRF token, or with a forged one, with the friendly 403 page, and changes nothing:
/// the router accepts a POST handler only when it checks the token, and this walks the table to
/// prove each route's check runs before anything else the handler does.
#[tokio::test]
async fn every_form_route_refuses_a_post_without_its_csrf_token() {
    let app = spawn_app().await;
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let (action, fields) = success.quiet_form("form[action='/link/manage']");
    let to_manage = browser.post(&action, &fields).await;
    assert_eq!(to_manage.status, 303, "{}", to_manage.body);
    let connection = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let routes = accord_web::pages::routes();
    let paths = routes.form_paths();
    assert!(
        paths.len() >= 10,
        "the table lists the form posts: {paths:?}"
    );
    for pattern in paths {
        let path = pattern
            .replace("{id}", &connection)
            .replace("{key}", "sandbox");
        assert!(
            !path.contains('{'),
            "a placeholder this test does not fill: {pattern}"
        );
        let mut forged = BTreeMap::new();
        for token in [None, Some("forged")] {
            if let Some(t) = token {
                forged.insert("csrf".to_owned(), t.to_owned());
            }
            let page = browser.post(&path, &forged).await;
            assert_eq!(page.status, 403, "{path} {token:?}: {}", page.body);
            assert_eq!(
                page.quiet_texts("h1"),
                vec!["This action was refused".to_owned()],
                "{path}"
            );
        }
    }
    let after = app.connections().await;
    assert_eq!(after.len(), 1, "nothing was connected");
    assert_eq!(after[0]["status"], "linked", "nothing was disconnected");
    assert!(
        app.support_requests().await.is_empty(),
        "nothing was stored"
    );
}

// ---- Headers ----

/// Security headers of an HTML page of Accord.
fn assert_page_headers(page: &Page) {
    let csp = page.header("content-security-policy");
    assert!(csp.contains("script-src 'nonce-"), "{}: {csp}", page.url);
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{}: {csp}",
        page.url
    );
    assert!(!csp.contains("unsafe-inline"), "{}: {csp}", page.url);
    assert_eq!(
        page.header("x-content-type-options"),
        "nosniff",
        "{}",
        page.url
    );
    assert_eq!(page.header("cache-control"), "no-store", "{}", page.url);
    assert_eq!(
        page.header("referrer-policy"),
        "no-referrer",
        "{}",
        page.url
    );
    // The one script of the page carries this response's nonce.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(nonce.len() >= 16, "a real nonce: {nonce}");
    let scripts = page.attrs("script", "nonce");
    assert!(!scripts.is_empty(), "{}: a script", page.url);
    assert_eq!(
        page.quiet_texts("script").len(),
        scripts.len(),
        "{}: every script has a nonce",
        page.url
    );
    for n in scripts {
        assert_eq!(n, nonce, "{}", page.url);
    }
}

/// Headers of a non-HTML response of the pages router (assets): same CSP, nosniff.
fn assert_asset_headers(page: &Page) {
    let csp = page.header("content-security-policy");
    assert!(csp.contains("script-src 'nonce-"), "{}: {csp}", page.url);
    assert!(
        csp.contains("frame-ancestors 'none'"),
        "{}: {csp}",
        page.url
    );
    assert!(!csp.contains("unsafe-inline"), "{}: {csp}", page.url);
    assert_eq!(
        page.header("x-content-type-options"),
        "nosniff",
        "{}",
        page.url
    );
}

#[tokio::test]
async fn every_flow_page_carries_the_security_headers() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&app.link_url).await;
    assert_eq!(
        opened.header("referrer-policy"),
        "no-referrer",
        "the link's redirect too"
    );
    assert_eq!(opened.header("cache-control"), "no-store");
    let mut pages = vec![
        browser.get("/link/start").await,
        browser.get("/link/platforms").await,
        browser.get("/link/platforms/sandbox/consent").await,
        browser.consent("sandbox", false).await,
        browser.get("/link/support").await,
        browser.get("/guide").await,
        browser.get("/privacy").await,
        browser.get("/link/nowhere/at/all").await,
        app.browser().get("/link/platforms").await,
        app.browser().get(&app.link_url).await,
    ];
    let success = browser.connect(None, "sandbox").await;
    pages.push(success);
    pages.push(browser.get("/link/finish").await);
    let manage = app.browser();
    manage.get(&app.manage_url).await;
    let manage_page = manage.get("/manage").await;
    let disconnect = manage_page.attrs("a.danger", "href").remove(0);
    pages.push(manage_page);
    pages.push(manage.get(&disconnect).await);
    pages.push(
        browser
            .get("/link/callback/sandbox?state=nope&code=nope")
            .await,
    );
    let statuses: Vec<u16> = pages.iter().map(|p| p.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 422, 200, 200, 200, 404, 403, 410, 200, 200, 200, 200, 400]
    );
    for page in &pages {
        assert_page_headers(page);
    }
}

#[tokio::test]
async fn the_callback_error_and_declined_pages_carry_the_security_headers() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    let error = browser.get(&callback.location()).await;
    assert_eq!(error.status, 200);
    assert_page_headers(&error);

    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("action".into(), "decline".into());
    let declined = browser.post(&action, &fields).await;
    assert_eq!(declined.status, 200);
    assert_page_headers(&declined);
}

#[tokio::test]
async fn assets_carry_the_security_headers() {
    let app = spawn_app().await;
    let browser = app.browser();
    for path in [
        "/assets/accord.css",
        "/assets/accord.js",
        "/assets/marks/sandbox.svg",
    ] {
        let asset = browser.get(path).await;
        assert_eq!(asset.status, 200, "{path}");
        assert_asset_headers(&asset);
    }
}

#[tokio::test]
async fn api_responses_carry_the_security_headers() {
    let app = spawn_app().await;
    let ok = app
        .api(
            reqwest::Method::GET,
            &format!("/v1/companies/{}/connections", app.company_id),
        )
        .send()
        .await
        .unwrap();
    let unauthorized = app.http.get(app.url("/v1/companies")).send().await.unwrap();
    for res in [ok, unauthorized] {
        let h = res.headers();
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(!csp.contains("unsafe-inline"), "{csp}");
        // JSON is never a script context: scripts are refused outright, or allowed by nonce only.
        assert!(
            csp.contains("script-src 'nonce-")
                || (csp.contains("default-src 'none'") && !csp.contains("script-src")),
            "{csp}"
        );
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn session_cookies_are_http_only_lax_and_not_secure_over_http() {
    let app = spawn_app().await;
    let link = app
        .browser()
        .get(&format!("{}?lang=fr", app.link_url))
        .await;
    let manage = app.browser().get(&app.manage_url).await;
    let mut cookies: Vec<String> = link
        .headers
        .get_all("set-cookie")
        .iter()
        .chain(manage.headers.get_all("set-cookie"))
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    cookies.sort();
    let names: Vec<&str> = cookies
        .iter()
        .map(|c| c.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["accord_lang", "accord_link", "accord_manage"]);
    for cookie in &cookies {
        let attrs: Vec<String> = cookie
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        assert!(attrs.contains(&"httponly".to_owned()), "{cookie}");
        assert!(attrs.contains(&"samesite=lax".to_owned()), "{cookie}");
        assert!(attrs.contains(&"path=/".to_owned()), "{cookie}");
        assert!(
            !attrs.contains(&"secure".to_owned()),
            "no Secure over http: {cookie}"
        );
    }
}

// ---- Forms ----

/// Every `<form method="post">` has a non-empty `csrf` hidden input.
fn assert_forms_have_csrf(page: &Page) {
    let missing: Vec<String> = quietly(|| {
        let doc = page.doc();
        let forms = scraper::Selector::parse("form").unwrap();
        let csrf = scraper::Selector::parse("input[type=hidden][name=csrf]").unwrap();
        doc.select(&forms)
            .filter(|form| {
                form.value()
                    .attr("method")
                    .unwrap_or("get")
                    .eq_ignore_ascii_case("post")
            })
            .filter(|form| {
                let token = form
                    .select(&csrf)
                    .next()
                    .and_then(|i| i.value().attr("value"));
                token.is_none_or(str::is_empty)
            })
            .map(|form| form.html())
            .collect()
    });
    assert!(
        missing.is_empty(),
        "{}: post forms without CSRF token: {missing:?}",
        page.url
    );
}

#[tokio::test]
async fn every_post_form_carries_a_csrf_token() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let mut pages = vec![
        browser.get("/link/start").await,
        browser.get("/link/platforms").await,
        browser.get("/link/platforms/sandbox/consent").await,
        browser.consent("sandbox", false).await,
        browser.get("/link/support").await,
    ];
    // A support form sent back with errors.
    let (action, mut fields) = pages[4].quiet_form("form.support-form");
    fields.insert("message".into(), String::new());
    pages.push(browser.post(&action, &fields).await);
    // The callback error page (Try again).
    let to_platform = browser.consent("sandbox", true).await;
    let denied = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    pages.push(browser.get(&denied.location()).await);
    // Success (manage), then the manage page and its confirmation.
    pages.push(browser.connect(None, "sandbox").await);
    let (action, fields) = pages
        .last()
        .unwrap()
        .quiet_form("form[action='/link/manage']");
    let to_manage = browser.post(&action, &fields).await;
    let manage = browser.get(&to_manage.location()).await;
    let disconnect = manage.attrs("a.danger", "href").remove(0);
    pages.push(manage);
    pages.push(browser.get(&disconnect).await);
    pages.push(browser.get("/manage/support").await);
    let post_forms: usize = pages
        .iter()
        .map(|p| p.body.matches("method=\"post\"").count())
        .sum();
    assert!(post_forms >= 8, "the pages have post forms: {post_forms}");
    for page in &pages {
        assert!(page.status < 500, "{}", page.url);
        assert_forms_have_csrf(page);
    }
}

#[tokio::test]
async fn the_consent_checkbox_is_never_ticked_in_advance() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let page = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(
        page.attrs("input#agree", "type"),
        vec!["checkbox".to_owned()]
    );
    assert!(page.attrs("input#agree", "checked").is_empty(), "unticked");
    let again = browser.consent("sandbox", false).await;
    assert!(
        again.attrs("input#agree", "checked").is_empty(),
        "still unticked after an error"
    );
    // Even once connected, reconnecting asks again.
    browser.connect(None, "sandbox").await;
    let reconnect = browser.get("/link/platforms/sandbox/consent").await;
    assert!(reconnect.attrs("input#agree", "checked").is_empty());
}
