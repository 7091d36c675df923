//! Link settings (validated as a whole, nothing changes on error) and support requests.

use super::call;
use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn link_settings_round_trip_and_a_refused_update_changes_nothing() {
    let app = spawn_app().await;
    let before = call(&app, Method::GET, "/v1/link-settings", None).await;
    assert_eq!(before.status, 200, "{}", before.text);
    assert_eq!(
        before.json["legal_name"], "Northwind Lending Ltd",
        "the demo tenant's settings"
    );

    let new = json!({
        "legal_name": "Acme Lending Ltd",
        "landing_enabled": false,
        "trust_message": {"en": "Connect securely.", "fr": "Connectez-vous en toute sécurité."},
        "trust_statistics": [{"en": "Trusted by many."}],
        "privacy_policy_url": "https://acme.example/privacy",
        "terms_url": "https://acme.example/terms",
        "connection_guide_url": "https://acme.example/guide",
        "support": {"phone": "+33 1 23 45 67 89", "email": "help@acme.example", "hours": {"en": "9 to 5"}, "form_enabled": false},
        "powered_by_badge": false
    });
    let put = call(&app, Method::PUT, "/v1/link-settings", Some(new.clone())).await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(put.json, new);
    let got = call(&app, Method::GET, "/v1/link-settings", None).await;
    assert_eq!(got.json, new, "round trip");

    let mut bad = new.clone();
    bad["legal_name"] = json!("Changed Ltd");
    bad["support"]["email"] = json!("not-an-email");
    call(&app, Method::PUT, "/v1/link-settings", Some(bad))
        .await
        .assert_invalid("support.email");
    let mut bad = new.clone();
    bad["pre_ticked"] = json!(true);
    call(&app, Method::PUT, "/v1/link-settings", Some(bad))
        .await
        .assert_invalid("pre_ticked");
    let mut bad = new.clone();
    bad["support"]["colour"] = json!("blue");
    call(&app, Method::PUT, "/v1/link-settings", Some(bad))
        .await
        .assert_invalid("support.colour");
    let mut bad = new.clone();
    bad["privacy_policy_url"] = json!("http://acme.example/privacy");
    call(&app, Method::PUT, "/v1/link-settings", Some(bad))
        .await
        .assert_invalid("privacy_policy_url");
    let mut bad = new.clone();
    bad["support"]["form_enabled"] = json!("no");
    call(&app, Method::PUT, "/v1/link-settings", Some(bad))
        .await
        .assert_invalid("support.form_enabled");
    let after = call(&app, Method::GET, "/v1/link-settings", None).await;
    assert_eq!(after.json, new, "nothing changes on error");
}

#[tokio::test]
async fn support_requests_from_the_flow_are_listed() {
    let app = spawn_app().await;
    let empty = call(&app, Method::GET, "/v1/support-requests", None).await;
    assert_eq!(empty.status, 200, "{}", empty.text);
    assert_eq!(empty.json["data"], json!([]));

    let browser = app.browser();
    assert_eq!(browser.get(&app.link_url).await.status, 303);
    let form = browser
        .get("/link/support?topic=platform_missing&step=select")
        .await;
    assert_eq!(form.status, 200, "{}", form.body);
    let (action, mut fields) = form.form("form.support-form");
    fields.insert("topic".into(), "platform_missing".into());
    fields.insert("message".into(), "Please add Acme Books.".into());
    fields.insert("reply_to".into(), "owner@bluebell.example".into());
    let sent = browser.post(&action, &fields).await;
    assert!(
        sent.status == 200 || sent.status == 303,
        "{}: {}",
        sent.status,
        sent.body
    );

    let list = call(&app, Method::GET, "/v1/support-requests", None).await;
    let data = list.json["data"].as_array().unwrap();
    assert_eq!(data.len(), 1, "{}", list.text);
    assert_eq!(data[0]["topic"], "platform_missing");
    assert_eq!(data[0]["message"], "Please add Acme Books.");
    assert_eq!(data[0]["reply_to"], "owner@bluebell.example");
    assert_eq!(data[0]["company_id"], app.company_id.as_str());
    assert!(data[0]["reference"].as_str().is_some_and(|r| !r.is_empty()));
}
