//! Tenant isolation: another tenant's ids answer 404 everywhere and appear in no listing.

use super::{call, call_as, connect_demo, tenant_id};
use crate::helpers::spawn_app;
use accord_domain::settings::LinkSettings;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use serde_json::Value;

#[tokio::test]
async fn another_tenant_sees_none_of_this_tenants_ids() {
    let app = spawn_app().await;
    let conn = connect_demo(&app).await;
    let company = app.company_id.clone();
    let conn_id = conn["id"].as_str().unwrap().to_owned();
    let consent_id = conn["consent_id"].as_str().unwrap().to_owned();
    let notices = call(&app, Method::GET, "/v1/notices", None).await;
    let notice_id = notices.json["data"][0]["id"].as_str().unwrap().to_owned();

    let (other, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        LinkSettings::default(),
    )
    .await
    .unwrap();
    let key = key.expose_secret().to_owned();
    let as_other = |m: Method, p: String, b: Option<Value>| {
        let key = key.clone();
        let app = &app;
        async move { call_as(app, &key, m, &p, b).await }
    };

    for (m, p, b) in [
        (Method::GET, format!("/v1/companies/{company}"), None),
        (Method::DELETE, format!("/v1/companies/{company}"), None),
        (
            Method::POST,
            format!("/v1/companies/{company}/link-sessions"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/v1/companies/{company}/manage-sessions"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/companies/{company}/connections"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/companies/{company}/connections/{conn_id}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v1/companies/{company}/connections/{conn_id}"),
            None,
        ),
        (
            Method::GET,
            format!("/v1/companies/{company}/consents"),
            None,
        ),
        (Method::GET, format!("/v1/consents/{consent_id}"), None),
        (
            Method::GET,
            format!("/v1/notices/{notice_id}/versions"),
            None,
        ),
    ] {
        let res = as_other(m.clone(), p.clone(), b).await;
        assert_eq!(res.status, 404, "{m} {p} as another tenant: {}", res.text);
        res.assert_problem(404);
    }

    // The other tenant's own company cannot reach this tenant's connection either.
    let theirs = as_other(
        Method::POST,
        "/v1/companies".into(),
        Some(json!({"name": "Their Co"})),
    )
    .await;
    assert_eq!(theirs.status, 201);
    let theirs = theirs.json["id"].as_str().unwrap().to_owned();
    for m in [Method::GET, Method::DELETE] {
        let res = as_other(
            m,
            format!("/v1/companies/{theirs}/connections/{conn_id}"),
            None,
        )
        .await;
        res.assert_problem(404);
    }
    // And this tenant cannot reach theirs.
    call(&app, Method::GET, &format!("/v1/companies/{theirs}"), None)
        .await
        .assert_problem(404);

    // Listings show only their own.
    let list = as_other(Method::GET, "/v1/companies".into(), None).await;
    let ids: Vec<&str> = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [theirs.as_str()], "{}", list.text);
    let after = as_other(Method::GET, format!("/v1/companies?after={company}"), None).await;
    assert!(!after.text.contains(&company), "{}", after.text);
    let list = as_other(Method::GET, "/v1/notices".into(), None).await;
    assert!(!list.text.contains(&notice_id), "{}", list.text);
    assert_eq!(
        list.json["data"].as_array().unwrap().len(),
        6,
        "their own seeded notices"
    );
    let list = as_other(Method::GET, "/v1/platforms".into(), None).await;
    assert!(
        list.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["enabled"] == false && p["client_id"].is_null()),
        "{}",
        list.text
    );
    let settings = as_other(Method::GET, "/v1/link-settings".into(), None).await;
    assert!(settings.json["legal_name"].is_null(), "{}", settings.text);
    let support = as_other(Method::GET, "/v1/support-requests".into(), None).await;
    assert_eq!(support.json["data"], json!([]));
    assert_ne!(other.id, tenant_id(&app));

    // Nothing of the first tenant changed.
    let mine = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{company}/connections/{conn_id}"),
        None,
    )
    .await;
    assert_eq!(mine.json["status"], "linked", "{}", mine.text);
    let mine = call(&app, Method::GET, &format!("/v1/companies/{company}"), None).await;
    assert_eq!(mine.status, 200);
}
