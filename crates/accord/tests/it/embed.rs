//! The embed SDK: the SDK's files and size budget, `frame-ancestors` from the
//! tenant's embedding origins, the framed flow without cookies (the handle travels in form
//! bodies, never in URLs), the platform sign-in in a first-party popup that reports back, and
//! the top-level fallback that returns through the return redirect.

use crate::helpers::{query_param, spawn_app, Page, TestApp};
use crate::return_redirect::{set_integration, RETURN_URL};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

const HOST: &str = "https://lender.example";

async fn embed_link(app: &TestApp) -> String {
    let (_, settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    let body = if settings["integration"]["return_urls"].is_array() {
        json!({ "return_url": RETURN_URL })
    } else {
        json!({})
    };
    let (status, body) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{}/link-sessions", app.company_id),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let url = body["url"].as_str().unwrap();
    format!(
        "{url}?embed={}",
        url::form_urlencoded::byte_serialize(HOST.as_bytes()).collect::<String>()
    )
}

fn csp(page: &Page) -> String {
    page.header("content-security-policy")
}

/// The fields of the framed page's hand-off: the handle and the host origin.
fn handle(page: &Page) -> BTreeMap<String, String> {
    crate::helpers::quietly(|| handle_of(page))
}

fn handle_of(page: &Page) -> BTreeMap<String, String> {
    let doc = page.doc();
    let sel = scraper::Selector::parse("meta[name=accord-embed]").unwrap();
    let meta = doc
        .select(&sel)
        .next()
        .unwrap_or_else(|| panic!("a framed page carries the handle: {}", page.body));
    BTreeMap::from([
        (
            "accord_embed".to_owned(),
            meta.value().attr("content").unwrap().to_owned(),
        ),
        (
            "accord_origin".to_owned(),
            meta.value().attr("data-origin").unwrap().to_owned(),
        ),
    ])
}

fn events(page: &Page) -> Vec<Value> {
    crate::helpers::quietly(|| events_of(page))
}

fn events_of(page: &Page) -> Vec<Value> {
    let doc = page.doc();
    let sel = scraper::Selector::parse("meta[name=accord-embed]").unwrap();
    let meta = doc.select(&sel).next().unwrap();
    serde_json::from_str::<Vec<Value>>(meta.value().attr("data-events").unwrap()).unwrap()
}

/// What `embed.js` does on a link click: a post standing for the GET.
async fn nav(
    app: &TestApp,
    browser: &crate::helpers::Browser,
    path: &str,
    h: &BTreeMap<String, String>,
) -> Page {
    let mut fields = h.clone();
    fields.insert("accord_nav".into(), "get".into());
    let _ = app;
    browser.post(path, &fields).await
}

#[tokio::test]
async fn the_sdk_is_served_small_cacheable_and_typed() {
    let app = spawn_app().await;
    let res = app.http.get(app.url("/sdk/link.js")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let h = res.headers().clone();
    assert!(h["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(h["cache-control"], "public, max-age=300");
    assert_eq!(h["access-control-allow-origin"], "*");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let js = res.text().await.unwrap();
    assert_eq!(js, accord_web::sdk::LINK_JS);
    // As served compressed: ≤ 4 KB gzipped, since it loads on the tenant's own page.
    let gz = app
        .http
        .get(app.url("/sdk/link.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let size = gz.bytes().await.unwrap().len();
    assert!(
        size <= 4096,
        "the SDK is {size} bytes gzipped; the budget is 4096"
    );
    // Messages are checked by exact origin and source, and sent to exact origins only.
    assert!(js.contains("e.origin !== origin || e.source !== frame.contentWindow"));
    assert!(js.contains("postMessage({ accord: 1, type: \"exit\" }, origin)"));
    assert!(!js.contains("\"*\"") && !js.contains("'*'"));

    let dts = app
        .http
        .get(app.url("/sdk/link.d.ts"))
        .send()
        .await
        .unwrap();
    assert_eq!(dts.status(), 200);
    assert!(dts.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/typescript"));
    let dts = dts.text().await.unwrap();
    for name in [
        "onConnection",
        "onConsent",
        "onFinish",
        "onClose",
        "onError",
        "nonce",
        "url: string",
    ] {
        assert!(dts.contains(name), "link.d.ts declares {name}");
    }
}

#[tokio::test]
async fn only_allowed_origins_can_frame_the_flow() {
    let app = spawn_app().await;
    // Not registered: the entry refuses and the page cannot be framed.
    let browser = app.browser();
    let page = browser.get(&embed_link(&app).await).await;
    assert_eq!(page.status, 403, "{}", page.body);
    assert!(
        csp(&page).contains("frame-ancestors 'none'"),
        "{}",
        csp(&page)
    );
    assert_eq!(page.header("x-frame-options"), "DENY");

    set_integration(&app, json!({ "embedding_origins": [HOST, "https://app.lender.example"], "return_urls": [RETURN_URL] })).await;
    let page = browser.get(&embed_link(&app).await).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        csp(&page).contains("frame-ancestors https://lender.example https://app.lender.example;"),
        "{}",
        csp(&page)
    );
    assert_eq!(page.header("x-frame-options"), "");
    // No cookie: a framed page cannot count on one.
    assert!(page
        .headers
        .get_all("set-cookie")
        .iter()
        .all(|c| !c.to_str().unwrap().starts_with("accord_link=")));
    // The handle is in the body, never in the URL.
    let (action, fields) = page.quiet_form("form[data-accord-continue]");
    assert_eq!(action, "/link/start");
    assert_eq!(fields["accord_origin"], HOST);
    assert_eq!(fields["accord_embed"].len(), 43);

    // Another origin named with a valid handle gets no session and no framing.
    let mut other = fields.clone();
    other.insert("accord_origin".into(), "https://evil.example".into());
    let refused = browser.post("/link/start", &other).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(csp(&refused).contains("frame-ancestors 'none'"));
    // A wrong handle with an allowed origin: the same.
    let mut forged = fields.clone();
    forged.insert("accord_embed".into(), "A".repeat(43));
    let refused = browser.post("/link/start", &forged).await;
    assert_eq!(refused.status, 403);
    assert!(csp(&refused).contains("frame-ancestors 'none'"));
    // A page outside the embed stays unframeable.
    let plain = browser.get("/guide").await;
    assert!(csp(&plain).contains("frame-ancestors 'none'"));
    // The single-use link cannot be opened a second time, framed or not.
    assert_eq!(browser.get(&page.url).await.status, 410);
}

#[tokio::test]
async fn the_framed_flow_completes_through_the_popup_without_cookies() {
    framed_flow(&spawn_app().await).await;
}

#[tokio::test]
async fn the_framed_flow_completes_on_postgres() {
    let Some(app) = crate::helpers::spawn_app_on_postgres().await else {
        return;
    };
    framed_flow(&app).await;
}

async fn framed_flow(app: &TestApp) {
    set_integration(
        app,
        json!({ "embedding_origins": [HOST], "return_urls": [RETURN_URL] }),
    )
    .await;
    // The iframe's browser never keeps a cookie for Accord (third-party cookies blocked).
    let frame = crate::helpers::Browser {
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        base: app.base.clone(),
    };
    let entry = frame.get(&embed_link(app).await).await;
    let (action, fields) = entry.quiet_form("form[data-accord-continue]");
    let landing = frame.post(&action, &fields).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert!(csp(&landing).contains("frame-ancestors https://lender.example;"));
    let h = handle(&landing);
    assert!(landing.body.contains("/assets/embed.js"));
    assert!(
        landing.body.contains("id=\"accord-exit\""),
        "the exit confirmation"
    );

    let select = nav(app, &frame, "/link/platforms", &h).await;
    assert_eq!(select.status, 200, "{}", select.body);
    // The language goes with the handle (the language cookie is third-party in a frame).
    let mut french = h.clone();
    french.insert("accord_lang".into(), "fr".into());
    let page = nav(app, &frame, "/link/platforms", &french).await;
    assert!(page.body.contains("<html lang=\"fr\""), "{}", page.body);
    // A GET form (the search) keeps working as a post: its fields become the query.
    let mut search = h.clone();
    search.insert("accord_nav".into(), "get".into());
    search.insert("q".into(), "bank".into());
    let found = frame.post("/link/platforms", &search).await;
    assert_eq!(found.status, 200);
    assert!(found.body.contains("value=\"bank\""), "{}", found.body);

    let consent = nav(app, &frame, "/link/platforms/sandbox/consent", &h).await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    let (action, mut form) = consent.quiet_form("form.consent-form");
    form.extend(h.clone());
    form.insert("agree".into(), "yes".into());
    form.insert("action".into(), "connect".into());
    form.insert("accord_window".into(), "popup".into());

    // The consent form is posted into the popup: a first-party window, where the answer sets
    // the ordinary session cookie and sends it to the platform.
    let popup = app.browser();
    let to_platform = popup.post(&action, &form).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    assert!(
        to_platform.location().contains("/sandbox/oauth/authorize"),
        "{}",
        to_platform.location()
    );
    let cookies: Vec<String> = to_platform
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|c| c.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("accord_link=") && c.contains("SameSite=Lax")),
        "{cookies:?}"
    );
    assert!(
        cookies.iter().any(|c| c.starts_with("accord_window=popup")),
        "{cookies:?}"
    );

    let callback = popup
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    let done = popup.get(&callback.location()).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let (status, connection) = crate::helpers::quietly(|| {
        let doc = done.doc();
        let sel = scraper::Selector::parse("meta[name=accord-popup]").unwrap();
        let meta = doc
            .select(&sel)
            .next()
            .expect("the popup's last page tells the iframe");
        (
            meta.value().attr("data-status").unwrap().to_owned(),
            meta.value().attr("data-connection").unwrap().to_owned(),
        )
    });
    assert_eq!(status, "linked");

    // The iframe learns the result and shows the success step, with the host's events.
    let success = nav(app, &frame, &format!("/link/connections/{connection}"), &h).await;
    assert_eq!(success.status, 200, "{}", success.body);
    let ev = events(&success);
    let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["consent", "connection"]);
    assert_eq!(ev[1]["data"]["connectionId"], connection.as_str());
    assert_eq!(ev[1]["data"]["status"], "linked");
    assert_eq!(ev[1]["data"]["companyId"], app.company_id.as_str());
    assert!(ev[0]["data"]["consentId"].is_string());

    // Finish inside the frame: an `onFinish` event with the return parameters, no redirect.
    let finish = nav(app, &frame, "/link/finish", &h).await;
    assert_eq!(finish.status, 200, "{}", finish.body);
    let ev = events(&finish);
    assert_eq!(ev[0]["type"], "finish");
    assert_eq!(ev[0]["data"]["status"], "linked");
    assert_eq!(ev[0]["data"]["connectionId"], connection.as_str());
    // The server never logs the handle (the test's own HTTP client logs its cookie jar: not
    // Accord's lines).
    let logs = crate::helpers::captured_logs();
    for line in logs
        .lines()
        .filter(|l| l.contains("\"target\":\"accord") || l.contains("\"target\":\"tower_http"))
    {
        assert!(
            !line.contains(&h["accord_embed"]),
            "the handle is logged: {line}"
        );
    }
}

#[tokio::test]
async fn a_blocked_popup_falls_back_to_the_top_level_and_the_return_redirect() {
    let app = spawn_app().await;
    set_integration(
        &app,
        json!({ "embedding_origins": [HOST], "return_urls": [RETURN_URL] }),
    )
    .await;
    let top = app.browser();
    let entry = top.get(&embed_link(&app).await).await;
    let (action, fields) = entry.quiet_form("form[data-accord-continue]");
    let landing = top.post(&action, &fields).await;
    let h = handle(&landing);
    let consent = nav(&app, &top, "/link/platforms/sandbox/consent", &h).await;
    let (action, mut form) = consent.quiet_form("form.consent-form");
    form.extend(h.clone());
    form.insert("agree".into(), "yes".into());
    form.insert("action".into(), "connect".into());
    form.insert("accord_window".into(), "top".into());
    let to_platform = top.post(&action, &form).await;
    assert_eq!(to_platform.status, 303);
    let callback = top
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    let back = top.get(&callback.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let to = back.location();
    assert!(to.starts_with(RETURN_URL), "{to}");
    assert_eq!(query_param(&to, "status").unwrap(), "linked");
    assert_eq!(query_param(&to, "platform").unwrap(), "sandbox");
}

#[tokio::test]
async fn a_blocked_popup_does_not_return_to_a_return_url_removed_meanwhile() {
    let app = spawn_app().await;
    set_integration(
        &app,
        json!({ "embedding_origins": [HOST], "return_urls": [RETURN_URL] }),
    )
    .await;
    let top = app.browser();
    let entry = top.get(&embed_link(&app).await).await;
    let (action, fields) = entry.quiet_form("form[data-accord-continue]");
    let landing = top.post(&action, &fields).await;
    let h = handle(&landing);
    let consent = nav(&app, &top, "/link/platforms/sandbox/consent", &h).await;
    let (action, mut form) = consent.quiet_form("form.consent-form");
    form.extend(h.clone());
    form.insert("agree".into(), "yes".into());
    form.insert("action".into(), "connect".into());
    form.insert("accord_window".into(), "top".into());
    let to_platform = top.post(&action, &form).await;
    assert_eq!(to_platform.status, 303);
    // While the customer signs in at the platform, the tenant drops the return URL.
    set_integration(
        &app,
        json!({ "embedding_origins": [HOST], "return_urls": [] }),
    )
    .await;
    let callback = top
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    let back = top.get(&callback.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let conn = &app.connections().await[0];
    assert_eq!(
        back.location(),
        format!("/link/connections/{}", conn["id"].as_str().unwrap()),
        "the hosted flow's own success step"
    );
    let success = top.get(&back.location()).await;
    assert_eq!(success.status, 200, "{}", success.body);
}
