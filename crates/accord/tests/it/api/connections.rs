//! Connections and consents after a real hosted flow: evidence, notice hash, disconnect.

use super::{call, connect_demo, create_company, tenant_id, ts};
use crate::helpers::spawn_app;
use accord_domain::crypto::sha256_hex;
use accord_domain::ids::ConnectionId;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn connections_and_consents_show_a_real_flow_with_its_evidence() {
    let app = spawn_app().await;
    let company = app.company_id.clone();
    let conn = connect_demo(&app).await;
    let conn_id = conn["id"].as_str().unwrap().to_owned();
    assert_eq!(conn["company_id"], company.as_str());
    assert_eq!(conn["platform_key"], "sandbox");
    assert!(
        conn["data_uses"].as_array().is_some_and(|a| !a.is_empty()),
        "{conn}"
    );
    assert!(conn["granted_scope"].is_string(), "{conn}");
    ts(&conn["linked_at"]);

    let one = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{company}/connections/{conn_id}"),
        None,
    )
    .await;
    assert_eq!(one.status, 200, "{}", one.text);
    assert_eq!(one.json, conn);

    let consents = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{company}/consents"),
        None,
    )
    .await;
    assert_eq!(consents.status, 200, "{}", consents.text);
    let list = consents.json["data"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{}", consents.text);
    let consent_id = list[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(conn["consent_id"], consent_id.as_str());

    let c = call(
        &app,
        Method::GET,
        &format!("/v1/consents/{consent_id}"),
        None,
    )
    .await;
    assert_eq!(c.status, 200, "{}", c.text);
    assert_eq!(c.json, list[0], "the list shows the same consent");
    let text = c.json["notice_text"].as_str().expect("notice_text");
    assert!(!text.is_empty());
    assert_eq!(
        c.json["notice_sha256"],
        sha256_hex(text.as_bytes()),
        "notice_sha256 is the SHA-256 of notice_text"
    );
    assert_eq!(c.json["notice_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(c.json["connection_id"], conn_id.as_str());
    assert_eq!(c.json["company_id"], company.as_str());
    assert_eq!(c.json["platform_key"], "sandbox");
    assert_eq!(c.json["category"], "accounting");
    assert_eq!(c.json["notice_version"], 1);
    assert_eq!(c.json["data_uses"], conn["data_uses"]);
    assert_eq!(c.json["evidence"]["method"], "hosted_flow_checkbox");
    assert_eq!(c.json["evidence"]["checkbox_ticked"], true);
    assert_eq!(c.json["evidence"]["ip"], "127.0.0.1");
    assert_eq!(c.json["evidence"]["user_agent"], "AccordTest/1.0");
    assert!(c.json["withdrawn_at"].is_null());
    ts(&c.json["given_at"]);

    // Disconnect: effective at once, idempotent, the consent withdrawn.
    let path = format!("/v1/companies/{company}/connections/{conn_id}");
    let d = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.json["status"], "disconnected");
    ts(&d.json["disconnected_at"]);
    let conn_typed: ConnectionId = conn_id.parse().unwrap();
    assert!(
        app.state
            .store
            .connection_tokens(tenant_id(&app), conn_typed)
            .await
            .unwrap()
            .is_none(),
        "tokens destroyed"
    );
    let again = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(again.status, 200, "idempotent: {}", again.text);
    assert_eq!(again.json["status"], "disconnected");
    assert_eq!(
        again.json["disconnected_at"], d.json["disconnected_at"],
        "the first disconnection time stands"
    );
    let after = call(&app, Method::GET, &path, None).await;
    assert_eq!(after.json["status"], "disconnected");
    let c2 = call(
        &app,
        Method::GET,
        &format!("/v1/consents/{consent_id}"),
        None,
    )
    .await;
    assert!(c2.json["withdrawn_at"].is_string(), "{}", c2.text);
    assert_eq!(
        c2.json["notice_text"], c.json["notice_text"],
        "the agreed text never changes"
    );

    // A connection under another company of the same tenant is not found.
    let other = create_company(&app, "Other Co").await;
    call(
        &app,
        Method::GET,
        &format!("/v1/companies/{other}/connections/{conn_id}"),
        None,
    )
    .await
    .assert_problem(404);
    call(
        &app,
        Method::DELETE,
        &format!("/v1/companies/{other}/connections/{conn_id}"),
        None,
    )
    .await
    .assert_problem(404);
    let none = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{other}/connections"),
        None,
    )
    .await;
    assert_eq!(none.json["data"], json!([]));
    let none = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{other}/consents"),
        None,
    )
    .await;
    assert_eq!(none.json["data"], json!([]));
    call(
        &app,
        Method::GET,
        "/v1/consents/0190a0b0-0000-7000-8000-000000000000",
        None,
    )
    .await
    .assert_problem(404);
    call(
        &app,
        Method::GET,
        &format!("/v1/companies/{company}/connections/0190a0b0-0000-7000-8000-000000000000"),
        None,
    )
    .await
    .assert_problem(404);
}
