//! The connected-apps page: a customer removes an application's access from the platform's
//! side, and the application then meets real OAuth refusals. Also the token endpoint's
//! simulated outage, which spends nothing.

use crate::helpers::{location, parse_form, spawn_app, str_field, TestApp, CLIENT_ID};

/// The connected-apps page of `organisation`, as HTML.
async fn page(app: &TestApp, organisation: &str) -> String {
    let response = app
        .http
        .get(app.url("/connected-apps"))
        .query(&[("organisation", organisation)])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.text().await.unwrap()
}

/// Sends the page's (first) "Remove access" form, with `edit` applied to its fields.
async fn remove(
    app: &TestApp,
    html: &str,
    edit: impl FnOnce(&mut Vec<(String, String)>),
) -> reqwest::Response {
    let mut form = parse_form(html);
    edit(&mut form.fields);
    app.http
        .post(format!("{}{}", app.origin(), form.action))
        .form(&form.fields)
        .send()
        .await
        .unwrap()
}

async fn refresh_error(app: &TestApp, refresh_token: &str) -> (u16, String) {
    let response = app.refresh(refresh_token).await;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, str_field(&body, "error").to_owned())
}

#[tokio::test]
async fn removing_access_revokes_every_grant_of_the_organisation_to_the_app() {
    let app = spawn_app().await;
    let first = app.tokens("invoices:read offline_access", "Bluebell").await;
    let second = app.tokens("bills:read offline_access", "Bluebell").await;
    let other = app.tokens("invoices:read offline_access", "Acme").await;

    let start = app.get(&app.url("/connected-apps")).await;
    assert_eq!(start.status(), 200);
    assert!(start.text().await.unwrap().contains("Sandbox user name"));
    let listed = page(&app, "Bluebell").await;
    assert!(listed.contains(CLIENT_ID), "{listed}");
    assert!(
        listed.contains("Read your sales invoices") && listed.contains("Read your supplier bills")
    );
    assert!(!listed.contains(str_field(&first, "refresh_token")));

    let removed = remove(&app, &listed, |_| {}).await;
    assert_eq!(removed.status(), 303);
    let to = location(&removed);
    assert!(
        to.starts_with("/sandbox/connected-apps?organisation=Bluebell&removed="),
        "{to}"
    );
    // RFC 6749 §5.2: the refresh tokens are revoked; RFC 6750 §3.1: so are the access tokens.
    for tokens in [&first, &second] {
        assert_eq!(
            refresh_error(&app, str_field(tokens, "refresh_token")).await,
            (400, "invalid_grant".into())
        );
        let access = str_field(tokens, "access_token");
        assert_eq!(app.api("invoices", access).await.status(), 401);
    }
    assert!(page(&app, "Bluebell")
        .await
        .contains("No application has access"));
    // Another organisation's access to the same application is untouched.
    assert_eq!(
        app.refresh(str_field(&other, "refresh_token"))
            .await
            .status(),
        200
    );
    assert!(page(&app, "Acme").await.contains(CLIENT_ID));
}

#[tokio::test]
async fn a_removal_form_works_once_and_only_for_what_it_names() {
    let app = spawn_app().await;
    let tokens = app.tokens("invoices:read offline_access", "Bluebell").await;
    let acme = page(&app, "Acme").await;
    assert!(acme.contains("No application has access"));

    // A form shown for Bluebell, edited to name Acme, and one with no nonce: refused.
    let listed = page(&app, "Bluebell").await;
    let retargeted = remove(&app, &listed, |fields| {
        for (name, value) in fields.iter_mut() {
            if name == "organisation" {
                *value = "Acme".into();
            }
        }
    })
    .await;
    assert_eq!(retargeted.status(), 400);
    let unsigned = remove(&app, &listed, |fields| fields.retain(|(n, _)| n != "csrf")).await;
    assert_eq!(unsigned.status(), 400);
    let refresh = str_field(&tokens, "refresh_token");
    let response = app.refresh(refresh).await;
    assert_eq!(response.status(), 200, "nothing was removed");
    let rotated: serde_json::Value = response.json().await.unwrap();

    let listed = page(&app, "Bluebell").await;
    assert_eq!(remove(&app, &listed, |_| {}).await.status(), 303);
    assert_eq!(
        remove(&app, &listed, |_| {}).await.status(),
        400,
        "the nonce is spent"
    );
    assert_eq!(
        refresh_error(&app, str_field(&rotated, "refresh_token")).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn an_unusable_organisation_name_is_refused_with_the_form_again() {
    let app = spawn_app().await;
    let response = app
        .http
        .get(app.url("/connected-apps"))
        .query(&[("organisation", "x".repeat(65))])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("Use 64 characters or fewer."), "{html}");
    assert!(html.contains("aria-invalid=\"true\""));
}

#[tokio::test]
async fn an_outage_answers_503_and_spends_no_refresh_token() {
    let app = spawn_app().await;
    let tokens = app.tokens("invoices:read offline_access", "Bluebell").await;
    let refresh = str_field(&tokens, "refresh_token");
    app.sandbox.fail_next_token_requests(2);
    for _ in 0..2 {
        let down = app.refresh(refresh).await;
        assert_eq!(down.status(), 503);
        assert_eq!(down.headers()["retry-after"], "30");
    }
    let up = app.refresh(refresh).await;
    assert_eq!(up.status(), 200, "the same refresh token still works");
}
