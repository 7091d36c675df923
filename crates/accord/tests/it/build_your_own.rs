//! Build your own UI, end to end against the sandbox: the tenant's pages list
//! the platforms, render the notice, record the consent they collected (409 when the notice
//! shown is not the one in force), start the authorization (Accord keeps `state` and PKCE),
//! and the customer comes back through Accord's callback to the tenant's return URL — with the
//! same ledger event and receipt as the hosted flow.

use crate::helpers::{query_param, spawn_app, Browser, TestApp};
use crate::return_redirect::{set_integration, RETURN_URL};
use accord_domain::ledger::EventKind;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

async fn render(app: &TestApp, query: &str) -> (u16, Value) {
    app.api_json(Method::GET, &format!("/v1/notices/render?{query}"), None)
        .await
}

async fn consent(app: &TestApp, company: &str, body: Value) -> (u16, Value) {
    app.api_json(
        Method::POST,
        &format!("/v1/companies/{company}/consents"),
        Some(body),
    )
    .await
}

async fn authorize(app: &TestApp, company: &str, body: Value) -> (u16, Value) {
    app.api_json(
        Method::POST,
        &format!("/v1/companies/{company}/authorizations"),
        Some(body),
    )
    .await
}

#[tokio::test]
async fn the_tenant_ui_runs_the_whole_flow_through_the_api() {
    the_whole_flow(&spawn_app().await).await;
}

#[tokio::test]
async fn the_tenant_ui_runs_the_whole_flow_on_postgres() {
    let Some(app) = crate::helpers::spawn_app_on_postgres().await else {
        return;
    };
    the_whole_flow(&app).await;
}

async fn the_whole_flow(app: &TestApp) {
    set_integration(app, json!({ "return_urls": [RETURN_URL] })).await;
    let company = app.company_id.clone();

    // The platforms, with names and marks.
    let (status, list) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{company}/platforms"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{list}");
    let sandbox = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "sandbox")
        .expect("the sandbox is offered")
        .clone();
    assert_eq!(sandbox["category"], "accounting");
    assert!(!sandbox["name"].as_str().unwrap().is_empty());
    let mark = sandbox["mark"]["url"].as_str().unwrap();
    let svg = app.http.get(mark).send().await.unwrap();
    assert_eq!(svg.status(), 200, "{mark}");
    assert!(sandbox["connection"].is_null());

    // The notice as the hosted flow renders it, in French.
    let (status, notice) = render(app, "platform=sandbox&category=accounting&locale=fr").await;
    assert_eq!(status, 200, "{notice}");
    assert_eq!(notice["locale"], "fr");
    let text = notice["text"].as_str().unwrap();
    assert_eq!(
        notice["notice_sha256"].as_str().unwrap(),
        accord_domain::notice::RenderedNotice::new(text.to_owned()).sha256
    );
    // The former name stays for one release, with the same value.
    assert_eq!(notice["text_hash"], notice["notice_sha256"]);
    // The hosted flow shows the same text: its consent page carries the same hash.
    let hosted = app.browser();
    hosted.get(&app.link_url).await;
    let page = hosted.get("/link/platforms/sandbox/consent?lang=fr").await;
    let (_, fields) = page.form("form.consent-form");
    assert_eq!(
        fields["notice_sha256"],
        notice["notice_sha256"].as_str().unwrap()
    );
    assert_eq!(
        fields["notice_version_id"],
        notice["notice_version_id"].as_str().unwrap()
    );

    let good = json!({
        "platform": "sandbox",
        "category": "accounting",
        "locale": "fr",
        "notice_version_id": notice["notice_version_id"],
        "notice_sha256": notice["notice_sha256"],
        "checkbox_ticked": true,
        "ip": "203.0.113.9",
        "user_agent": "LenderPortal/2.0 (customer browser: Firefox 140)"
    });
    // A hash or a version that is not the one in force: 409, nothing written.
    let mut wrong = good.clone();
    wrong["notice_sha256"] = json!("0".repeat(64));
    let (status, body) = consent(app, &company, wrong).await;
    assert_eq!(status, 409);
    assert!(
        body["detail"].as_str().unwrap().starts_with("`notice_sha256` is not the hash of the notice in force as rendered in `fr`: render the notice again"),
        "{body}"
    );
    let mut wrong = good.clone();
    wrong["notice_version_id"] = json!("00000000-0000-4000-8000-000000000000");
    let (status, body) = consent(app, &company, wrong).await;
    assert_eq!(status, 409);
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .starts_with("the notice version is not the one in force"),
        "{body}"
    );
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("render the notice again"),
        "{body}"
    );
    // Text rendered in another language is another text: the answer says which, and what to do.
    let mut wrong = good.clone();
    wrong["locale"] = json!("en");
    let (status, body) = consent(app, &company, wrong).await;
    assert_eq!(status, 409);
    assert!(
        body["detail"].as_str().unwrap().starts_with("the notice was rendered in another language (`fr`) than the one the consent names (`en`): render it in `en` and send that hash"),
        "{body}"
    );
    // Both names at once must agree; neither is a 422 naming the hash.
    let mut both = good.clone();
    both["text_hash"] = json!("0".repeat(64));
    let (status, body) = consent(app, &company, both).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "text_hash");
    let mut neither = good.clone();
    neither.as_object_mut().unwrap().remove("notice_sha256");
    let (status, body) = consent(app, &company, neither).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "notice_sha256");
    let mut unticked = good.clone();
    unticked["checkbox_ticked"] = json!(false);
    let (status, body) = consent(app, &company, unticked).await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["path"], "checkbox_ticked");
    assert!(app.consents().await.is_empty(), "nothing was written");

    let (status, recorded) = consent(app, &company, good).await;
    assert_eq!(status, 201, "{recorded}");
    assert_eq!(recorded["connection_status"], "pending_auth");
    let consent_id = recorded["consent_id"].as_str().unwrap().to_owned();
    let connection_id = recorded["connection_id"].as_str().unwrap().to_owned();

    // The same consent record as the hosted flow, with the tenant's evidence.
    let consents = app.consents().await;
    assert_eq!(consents.len(), 1);
    let c = &consents[0];
    assert_eq!(c["id"], consent_id.as_str());
    assert_eq!(c["notice_text"], text);
    assert_eq!(c["locale"], "fr");
    assert_eq!(c["evidence"]["method"], "tenant_api");
    assert_eq!(c["evidence"]["ip"], "203.0.113.9");
    // The same ledger event and a signed receipt.
    let events = app
        .state
        .store
        .consent_events(app.tenant(), consent_id.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.body.kind, EventKind::Given);
    let (status, receipts) = app
        .api_json(
            Method::GET,
            &format!("/v1/consents/{consent_id}/receipt"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{receipts}");
    assert_eq!(receipts["data"].as_array().unwrap().len(), 1);

    // The authorization: a return URL not registered is refused, another company's connection
    // is not found.
    let (status, body) = authorize(
        app,
        &company,
        json!({ "connection_id": connection_id, "return_url": "https://lender.example/accord/done" }),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "return_url");
    let stranger = app.new_company("Stranger Ltd").await;
    let (status, _) = authorize(
        app,
        &stranger,
        json!({ "connection_id": connection_id, "return_url": RETURN_URL }),
    )
    .await;
    assert_eq!(status, 404);

    let (status, auth) = authorize(
        app,
        &company,
        json!({ "connection_id": connection_id, "return_url": RETURN_URL }),
    )
    .await;
    assert_eq!(status, 201, "{auth}");
    let url = auth["authorization_url"].as_str().unwrap();
    // The URL lives 10 minutes, and the answer says until when.
    let expires = time::OffsetDateTime::parse(
        auth["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let life = expires - app.state.clock.now();
    assert!(
        life <= time::Duration::minutes(10) && life > time::Duration::minutes(9),
        "{auth}"
    );
    assert!(query_param(url, "code_challenge").is_some(), "PKCE: {url}");
    assert_eq!(query_param(url, "code_challenge_method").unwrap(), "S256");
    assert!(query_param(url, "state").unwrap().len() >= 43);

    // The customer's browser has never seen Accord: no cookie. The platform sends it back to
    // Accord's callback, which finishes and returns it to the tenant.
    let customer = Browser::new(&app.base);
    let callback = customer.sandbox_decide(url, "Bluebell", true).await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    let back = customer.get(&callback.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let to = back.location();
    assert!(
        to.starts_with("https://lender.example/accord/done?from=accord&"),
        "{to}"
    );
    assert_eq!(query_param(&to, "companyId").unwrap(), company);
    assert_eq!(query_param(&to, "connectionId").unwrap(), connection_id);
    assert_eq!(query_param(&to, "platform").unwrap(), "sandbox");
    assert_eq!(query_param(&to, "status").unwrap(), "linked");
    assert!(
        !to.contains("code="),
        "no code or state goes to the tenant: {to}"
    );

    // Linked, with tokens; the callback does not work twice.
    let (_, conn) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{company}/connections/{connection_id}"),
            None,
        )
        .await;
    assert_eq!(conn["status"], "linked");
    let replay = customer.get(&callback.location()).await;
    assert_eq!(replay.status, 400);
    // No browser session exists here: the page speaks of the authorization, not of a browser.
    assert!(
        replay
            .body
            .contains("This authorization was already completed or has expired"),
        "{}",
        replay.body
    );
    assert!(!replay.body.contains("this browser"), "{}", replay.body);

    // Now the list shows the connection; a linked connection needs a new consent first.
    let (_, list) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{company}/platforms"),
            None,
        )
        .await;
    let sandbox = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "sandbox")
        .unwrap()
        .clone();
    assert_eq!(sandbox["connection"]["status"], "linked");
    let (status, _) = authorize(
        app,
        &company,
        json!({ "connection_id": connection_id, "return_url": RETURN_URL }),
    )
    .await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn a_denied_sign_in_returns_to_the_tenant_with_the_error_code() {
    let app = spawn_app().await;
    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let company = app.company_id.clone();
    let (_, notice) = render(&app, "platform=sandbox").await;
    assert_eq!(notice["locale"], "en");
    let (status, recorded) = consent(
        &app,
        &company,
        json!({
            "platform": "sandbox", "locale": "en",
            "notice_version_id": notice["notice_version_id"], "text_hash": notice["text_hash"],
            "checkbox_ticked": true
        }),
    )
    .await;
    assert_eq!(status, 201, "{recorded}");
    let connection_id = recorded["connection_id"].as_str().unwrap();
    let (_, auth) = authorize(
        &app,
        &company,
        json!({ "connection_id": connection_id, "return_url": RETURN_URL }),
    )
    .await;
    // This customer also has a hosted-flow session in the same browser: its cookie does not
    // capture the tenant-started authorization.
    let customer = app.browser();
    assert_eq!(customer.get(&app.link_url).await.status, 303);
    let callback = customer
        .sandbox_decide(
            auth["authorization_url"].as_str().unwrap(),
            "Bluebell",
            false,
        )
        .await;
    let back = customer.get(&callback.location()).await;
    assert_eq!(back.status, 303, "{}", back.body);
    let to = back.location();
    assert_eq!(query_param(&to, "status").unwrap(), "pending_auth");
    assert_eq!(query_param(&to, "errorCode").unwrap(), "access_denied");
    assert_eq!(query_param(&to, "connectionId").unwrap(), connection_id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tenant_ui_flow_emits_the_same_webhook_events() {
    let app = crate::webhooks::spawn(&[]).await;
    let receiver = crate::webhooks::Receiver::start().await;
    let (_, secret) = crate::webhooks::register(&app, &receiver.url, &[]).await;
    receiver.trust(&[&secret]);
    set_integration(&app, json!({ "return_urls": [RETURN_URL] })).await;
    let company = app.company_id.clone();
    let (_, notice) = render(&app, "platform=sandbox").await;
    let (status, recorded) = consent(
        &app,
        &company,
        json!({
            "platform": "sandbox", "locale": "en",
            "notice_version_id": notice["notice_version_id"], "text_hash": notice["text_hash"],
            "checkbox_ticked": true
        }),
    )
    .await;
    assert_eq!(status, 201, "{recorded}");
    let connection_id = recorded["connection_id"].as_str().unwrap().to_owned();
    let consent_id = recorded["consent_id"].as_str().unwrap().to_owned();
    // Consent recorded: the connection and the consent are announced before any sign-in.
    let first = receiver.wait_for(2).await;
    let mut types: Vec<String> = first
        .iter()
        .map(crate::webhooks::Received::event_type)
        .collect();
    types.sort();
    assert_eq!(types, ["connection.created", "consent.given"]);

    let (status, auth) = authorize(
        &app,
        &company,
        json!({ "connection_id": connection_id, "return_url": RETURN_URL }),
    )
    .await;
    assert_eq!(status, 201, "{auth}");
    let customer = Browser::new(&app.base);
    let callback = customer
        .sandbox_decide(
            auth["authorization_url"].as_str().unwrap(),
            "Bluebell",
            true,
        )
        .await;
    assert_eq!(customer.get(&callback.location()).await.status, 303);
    let all = receiver.wait_for(3).await;
    assert_eq!(all.len(), 3, "exactly three events: {all:?}");
    let of = |t: &str| {
        all.iter()
            .find(|r| r.event_type() == t)
            .unwrap_or_else(|| panic!("no {t}"))
            .json()["data"]
            .clone()
    };
    let created = of("connection.created");
    assert_eq!(created["connection_id"], connection_id.as_str());
    assert_eq!(created["company_id"], company.as_str());
    assert_eq!(created["platform_key"], "sandbox");
    assert_eq!(created["status"], "pending_auth");
    let given = of("consent.given");
    assert_eq!(given["consent_id"], consent_id.as_str());
    assert_eq!(given["connection_id"], connection_id.as_str());
    assert_eq!(given["notice_version_id"], notice["notice_version_id"]);
    assert_eq!(given["notice_sha256"], notice["text_hash"]);
    let linked = of("connection.linked");
    assert_eq!(linked["connection_id"], connection_id.as_str());
    assert_eq!(linked["status"], "linked");
    assert_eq!(linked["consent_id"], consent_id.as_str());
    assert!(linked["linked_at"].is_string(), "{linked}");
}

#[tokio::test]
async fn bad_input_and_other_tenants_are_refused() {
    let app = spawn_app().await;
    let (status, body) = render(&app, "platform=nope").await;
    assert_eq!(status, 422);
    assert_eq!(body["errors"][0]["path"], "platform");
    let (status, body) = render(&app, "platform=sandbox&category=banking&locale=de").await;
    assert_eq!(status, 422);
    let paths: Vec<_> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(paths, ["locale", "category"]);
    let (status, body) = render(&app, "").await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = consent(
        &app,
        &app.company_id,
        json!({ "platform": "sandbox", "locale": "en", "notice_version_id": "00000000-0000-4000-8000-000000000000",
                "text_hash": "x", "checkbox_ticked": true, "ip": "not an ip", "surprise": 1 }),
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // Another tenant's key sees none of this company.
    let (_, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let key = key.expose_secret().to_owned();
    let company = &app.company_id;
    for (method, path, body) in [
        (
            Method::GET,
            format!("/v1/companies/{company}/platforms"),
            None,
        ),
        (
            Method::POST,
            format!("/v1/companies/{company}/consents"),
            Some(
                json!({ "platform": "sandbox", "locale": "en", "notice_version_id": "00000000-0000-4000-8000-000000000000", "text_hash": "x", "checkbox_ticked": true }),
            ),
        ),
        (
            Method::POST,
            format!("/v1/companies/{company}/authorizations"),
            Some(
                json!({ "connection_id": "00000000-0000-4000-8000-000000000000", "return_url": RETURN_URL }),
            ),
        ),
    ] {
        let mut req = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(&key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
}
