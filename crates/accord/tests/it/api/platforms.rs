//! The catalog as a tenant sees it; enabling a platform with an encrypted client secret.

use super::{call, tenant_id};
use crate::helpers::spawn_app;
use accord_domain::catalog::PlatformKey;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeMap;

#[tokio::test]
async fn platforms_list_the_catalog_and_never_return_secrets() {
    let app = spawn_app().await;
    let res = call(&app, Method::GET, "/v1/platforms", None).await;
    assert_eq!(res.status, 200, "{}", res.text);
    let data = res.json["data"].as_array().unwrap();
    let by_key: BTreeMap<&str, &Value> = data
        .iter()
        .map(|p| (p["key"].as_str().unwrap(), p))
        .collect();
    assert!(by_key.len() > 10, "the shipped catalog");
    let sandbox = by_key["sandbox"];
    assert_eq!(sandbox["enabled"], true);
    assert_eq!(sandbox["category"], "accounting");
    assert_eq!(sandbox["client_id"], accord::SANDBOX_CLIENT_ID);
    assert_eq!(sandbox["has_client_secret"], true);
    assert_eq!(
        sandbox["redirect_uri"],
        format!("{}/link/callback/sandbox", app.base)
    );
    assert!(sandbox["data_uses"]
        .as_array()
        .is_some_and(|a| !a.is_empty()));
    assert_eq!(by_key["xero"]["enabled"], false);
    assert_eq!(by_key["xero"]["has_client_secret"], false);
    assert!(
        !res.text.contains("\"client_secret\""),
        "no client_secret field: {}",
        res.text
    );
    let (_, secret) = accord::sandbox_client(&app.state.keyring);
    assert!(
        !res.text.contains(secret.expose_secret()),
        "the sandbox secret is never returned"
    );
}

#[tokio::test]
async fn enabling_a_platform_stores_the_secret_encrypted() {
    let app = spawn_app().await;
    let secret = "xero-s3cret-VALUE-never-shown";
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/xero",
        Some(json!({"enabled": true, "client_id": "XERO-CLIENT", "client_secret": secret})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["enabled"], true);
    assert_eq!(res.json["client_id"], "XERO-CLIENT");
    assert_eq!(res.json["has_client_secret"], true);
    assert!(!res.text.contains(secret));
    let list = call(&app, Method::GET, "/v1/platforms", None).await;
    assert!(!list.text.contains(secret), "list never returns the secret");
    let xero = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "xero")
        .unwrap()
        .clone();
    assert_eq!(xero["enabled"], true);
    assert_eq!(xero["has_client_secret"], true);

    let key = PlatformKey::parse("xero").unwrap();
    let stored = app
        .state
        .store
        .tenant_platform(tenant_id(&app), &key)
        .await
        .unwrap()
        .expect("stored");
    let ct = stored.client_secret_ct.clone().expect("ciphertext stored");
    assert_ne!(ct, secret);
    assert!(!ct.contains(secret), "stored encrypted: {ct}");
    let platform = app.state.catalog.find("xero").unwrap();
    let plain = app
        .state
        .secrets()
        .open(
            tenant_id(&app),
            &ct,
            &accord_platform::client_secret_aad(tenant_id(&app), platform),
        )
        .await
        .expect("decrypts with the tenant's AAD");
    assert_eq!(plain, secret.as_bytes());

    // Omitting the secret keeps it; disabling keeps the credentials.
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/xero",
        Some(json!({"enabled": false})),
    )
    .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.json["enabled"], false);
    assert_eq!(res.json["client_id"], "XERO-CLIENT");
    assert_eq!(res.json["has_client_secret"], true);
    let again = app
        .state
        .store
        .tenant_platform(tenant_id(&app), &key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.client_secret_ct.as_deref(), Some(ct.as_str()));
}

#[tokio::test]
async fn platform_updates_are_validated() {
    let app = spawn_app().await;
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/quickbooks-online",
        Some(json!({"enabled": true})),
    )
    .await;
    res.assert_invalid("client_id");
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/quickbooks-online",
        Some(json!({"enabled": true, "client_id": "  "})),
    )
    .await;
    res.assert_invalid("client_id");
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/no-such-platform",
        Some(json!({"enabled": true, "client_id": "x"})),
    )
    .await;
    res.assert_problem(404);
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/xero",
        Some(json!({"enabled": true, "client_id": "x", "colour": "blue"})),
    )
    .await;
    res.assert_invalid("colour");
    let res = call(
        &app,
        Method::PUT,
        "/v1/platforms/xero",
        Some(json!({"enabled": "yes", "client_id": "x"})),
    )
    .await;
    res.assert_invalid("enabled");
    // None of the refused requests changed anything.
    let key = PlatformKey::parse("xero").unwrap();
    assert!(app
        .state
        .store
        .tenant_platform(tenant_id(&app), &key)
        .await
        .unwrap()
        .is_none());
    let key = PlatformKey::parse("quickbooks-online").unwrap();
    assert!(app
        .state
        .store
        .tenant_platform(tenant_id(&app), &key)
        .await
        .unwrap()
        .is_none());
}
