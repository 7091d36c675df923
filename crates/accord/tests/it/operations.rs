//! Operable and unbreakable: `/metrics`, strict input at every surface (trailing JSON, bodies
//! over the limit, unreadable paths), the security headers on every response, the browser
//! session ending when the customer leaves, the favicon; and `accord backup`/`restore`.

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use std::collections::BTreeMap;

/// Fetches `/metrics` (with `token` as the bearer token, if any): status and body.
async fn scrape(app: &TestApp, token: Option<&str>) -> (u16, String) {
    let mut req = app.http.get(app.url("/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

/// Whether `s` holds something shaped like a UUID (8-4-4-4-12 hex digits).
fn has_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    (0..b.len().saturating_sub(35)).any(|i| {
        b[i..i + 36].iter().enumerate().all(|(j, c)| match j {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
    })
}

#[tokio::test]
async fn metrics_after_a_flow_name_routes_and_outcomes_never_ids() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.connect(Some(&app.link_url), "sandbox").await;
    assert_eq!(browser.get("/link/finish").await.status, 200);
    let (status, _) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{}/connections", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, text) = scrape(&app, None).await;
    assert_eq!(status, 200, "{text}");
    for series in [
        r#"accord_http_requests_total{method="GET",route="/v1/companies/{company_id}/connections",status="200"}"#,
        r#"route="/link/platforms/{key}/consent""#,
        "accord_http_request_duration_seconds_bucket{",
        "accord_consents_written_total ",
        "accord_funnel_steps_total{step=",
        r#"accord_db_commit_duration_seconds_count{backend="sqlite"}"#,
        "accord_jobs_pending ",
        "accord_jobs_due ",
        "accord_jobs_oldest_due_age_seconds ",
        "accord_ledger_unsealed_events ",
        r#"accord_db_pool_connections{backend="sqlite",state="open"}"#,
        r#"accord_db_pool_connections{backend="sqlite",state="idle"}"#,
        r#"accord_db_pool_connections{backend="sqlite",state="max"}"#,
    ] {
        assert!(text.contains(series), "{series} missing from:\n{text}");
    }
    // Latency is split by status too: the consent page's GET answered 200.
    assert!(
        text.lines().any(
            |l| l.starts_with("accord_http_request_duration_seconds_count{")
                && l.contains(r#"route="/link/platforms/{key}/consent""#)
                && l.contains(r#"status="200""#)
        ),
        "no latency by status:\n{text}"
    );
    // The read pool holds at least the connection it opened at start, never more than its size.
    let gauge = |state: &str| -> u64 {
        let key = format!(r#"accord_db_pool_connections{{backend="sqlite",state="{state}"}} "#);
        let line = text.lines().find(|l| l.starts_with(&key)).unwrap();
        line[key.len()..].trim().parse().unwrap()
    };
    assert!((1..=gauge("max")).contains(&gauge("open")), "{text}");
    assert!(gauge("idle") <= gauge("open"));
    // The link token, the OAuth code and the ids travelled in URIs; none is in a label.
    let token = app.link_url.rsplit('/').next().unwrap();
    assert!(!text.contains(token));
    assert!(!has_uuid(&text), "an id in a label:\n{text}");
    assert!(!text.contains(&app.company_id));
}

#[tokio::test]
async fn metrics_ask_for_the_token_when_one_is_set() {
    let app = spawn_app_with(&[("metrics.token", "s3cret-scrape")], None).await;
    let (status, text) = scrape(&app, None).await;
    assert_eq!(status, 401, "{text}");
    assert!(!text.contains("accord_"));
    assert_eq!(scrape(&app, Some("wrong")).await.0, 401);
    // The tenant API key is not the metrics token.
    assert_eq!(scrape(&app, Some(&app.api_key)).await.0, 401);
    let (status, text) = scrape(&app, Some("s3cret-scrape")).await;
    assert_eq!(status, 200);
    assert!(text.contains("accord_http_requests_total"));
}

fn assert_security_headers(res: &reqwest::Response, what: &str) {
    let h = res.headers();
    assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
    assert!(h.contains_key("content-security-policy"), "{what}: CSP");
    assert!(
        h.contains_key("x-frame-options") || {
            let csp = h["content-security-policy"].to_str().unwrap();
            csp.contains("frame-ancestors")
        },
        "{what}: framing"
    );
}

#[tokio::test]
async fn json_with_trailing_data_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    let res = app
        .api(reqwest::Method::POST, "/v1/companies")
        .header("content-type", "application/json")
        .body(r#"{"name":"Trailing Ltd"} xyz"#)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_security_headers(&res, "400");
    let (_, list) = app
        .api_json(reqwest::Method::GET, "/v1/companies", None)
        .await;
    assert!(
        !list.to_string().contains("Trailing Ltd"),
        "nothing created: {list}"
    );
    // Two documents back to back are trailing data too; whitespace after one is not.
    let two = app
        .api(reqwest::Method::POST, "/v1/companies")
        .header("content-type", "application/json")
        .body(r#"{"name":"A"}{"name":"B"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(two.status(), 400);
    let spaced = app
        .api(reqwest::Method::POST, "/v1/companies")
        .header("content-type", "application/json")
        .body("{\"name\":\"Spaced Ltd\"}\n  ")
        .send()
        .await
        .unwrap();
    assert_eq!(spaced.status(), 201);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused_in_each_surface_s_own_way() {
    let app = spawn_app().await;
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(300 * 1024));
    let res = app
        .api(reqwest::Method::POST, "/v1/companies")
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 413);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert_security_headers(&res, "API 413");
    // A flow form: the friendly page, with the pages' headers.
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let mut fields = BTreeMap::new();
    fields.insert("message".to_owned(), "y".repeat(300 * 1024));
    for path in ["/link/support", "/link/exit"] {
        let res = browser
            .client
            .post(app.url(path))
            .form(&fields)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 413, "{path}");
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert_security_headers(&res, path);
        let csp = res.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'nonce-"), "{csp}");
        let body = res.text().await.unwrap();
        assert!(body.contains("That was too long to accept"), "{body}");
    }
}

#[tokio::test]
async fn every_response_says_nosniff_errors_included() {
    let app = spawn_app().await;
    for path in [
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/.well-known/jwks.json",
        "/metrics",
        "/favicon.ico",
        "/sdk/link.js",
        "/no/such/page",
        "/v1/no-such-thing",
    ] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            res.headers()
                .get("x-content-type-options")
                .map(|v| v.to_str().unwrap().to_owned()),
            Some("nosniff".to_owned()),
            "{path}"
        );
        if res.status().as_u16() >= 400 {
            assert_security_headers(&res, path);
        }
    }
    // A method a route does not take: 405, with the baseline.
    let res = app.http.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(res.status(), 405);
    assert_security_headers(&res, "405");
}

#[tokio::test]
async fn a_path_that_is_not_utf8_gets_the_friendly_page() {
    let app = spawn_app().await;
    for path in ["/link/%FF%FE", "/manage/%C3%28", "/link/receipts/%FF"] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        assert!((400..500).contains(&status), "{path}: {status}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"),
            "{path}"
        );
        assert_security_headers(&res, path);
        let body = res.text().await.unwrap();
        assert!(body.contains("<footer"), "{path}: the page chrome: {body}");
    }
}

#[tokio::test]
async fn the_favicon_is_served_and_cached() {
    let app = spawn_app().await;
    let res = app.http.get(app.url("/favicon.ico")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(res.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("max-age="));
    assert!(res.text().await.unwrap().starts_with("<svg"));
}

#[tokio::test]
async fn done_ends_the_browser_session_and_the_link_opens_again() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.connect(Some(&app.link_url), "sandbox").await;
    let done = browser.get("/link/finish").await;
    assert_eq!(done.status, 200);
    let cleared = done.headers.get_all("set-cookie").iter().any(|c| {
        let c = c.to_str().unwrap();
        c.starts_with("accord_link=;") && c.contains("Max-Age=0")
    });
    assert!(cleared, "the cookie is cleared: {:?}", done.headers);
    // Even a browser that kept the cookie (a copy of it) gets no further: the session is over
    // on the server.
    let next = browser.get("/link/platforms").await;
    assert_eq!(next.status, 403, "{}", next.body);
    // The customer's link opens the flow again while it is valid.
    let again = app.browser();
    assert_eq!(again.get(&app.link_url).await.status, 303);
    assert_eq!(again.get("/link/platforms").await.status, 200);
}

#[tokio::test]
async fn yes_exit_ends_the_session_on_the_server() {
    let app = spawn_app().await;
    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    // The cookie as it was, as the next person at a shared computer could find it.
    let page = browser.get("/link/platforms").await;
    assert_eq!(page.status, 200);
    let confirm = browser.get("/link/exit?from=select").await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let (action, fields) = confirm.quiet_form("main form");
    let left = browser.post(&action, &fields).await;
    assert_eq!(left.status, 303, "{}", left.body);
    let finish = browser.get(&left.location()).await;
    assert_eq!(finish.status, 200, "{}", finish.body);
    assert_eq!(browser.get("/link/platforms").await.status, 403);
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(
        consent.status, 403,
        "nobody can consent for the company now"
    );
}

#[tokio::test]
async fn an_unusable_link_s_error_page_names_its_tenant_s_contacts() {
    let app = spawn_app().await;
    let first = app.browser();
    assert_eq!(first.get(&app.link_url).await.status, 303);
    // The same link in another browser: already used, and that browser has no session.
    let other = app.browser();
    let page = other.get(&app.link_url).await;
    assert_eq!(page.status, 410, "{}", page.body);
    assert!(
        page.has("footer.help a[href^='mailto:']"),
        "the tenant's e-mail on the error page: {}",
        page.body
    );
    assert!(page.has("footer.help a[href^='tel:']"), "{}", page.body);
    // A link nobody made: Accord's own page, nothing to name.
    let made_up = other
        .get("/link/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")
        .await;
    assert_eq!(made_up.status, 410);
    assert!(!made_up.has("footer.help a[href^='tel:']"));
}
