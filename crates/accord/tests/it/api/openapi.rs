//! The OpenAPI document: committed = generated = served, 3.1, every contract path, unique operation ids.

use crate::helpers::spawn_app;
use serde_json::Value;
use std::collections::BTreeSet;

const REGENERATE: &str = "openapi.json is out of date: regenerate it with `cargo run -p accord -- openapi > openapi.json`";

fn committed_openapi() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.json"))
        .unwrap_or_else(|e| panic!("cannot read openapi.json ({e}); {REGENERATE}"))
}

#[test]
fn the_committed_openapi_json_is_up_to_date() {
    let generated = accord_web::api::openapi_json();
    let committed = committed_openapi();
    assert!(generated.trim_end() == committed.trim_end(), "{REGENERATE}");
}

#[tokio::test]
async fn the_served_openapi_document_covers_the_contract() {
    let app = spawn_app().await;
    let res = app.http.get(app.url("/openapi.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    let served = res.text().await.unwrap();
    assert!(
        served.trim_end() == committed_openapi().trim_end(),
        "served /openapi.json differs from the committed file; {REGENERATE}"
    );
    let doc: Value = serde_json::from_str(&served).unwrap();
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1.")),
        "openapi 3.1.x: {}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().unwrap();
    for (path, methods) in [
        ("/v1/companies", &["get", "post"][..]),
        ("/v1/companies/{company_id}", &["get", "delete"]),
        ("/v1/companies/{company_id}/link-sessions", &["post"]),
        ("/v1/companies/{company_id}/manage-sessions", &["post"]),
        ("/v1/companies/{company_id}/connections", &["get"]),
        (
            "/v1/companies/{company_id}/connections/{connection_id}",
            &["get", "delete"],
        ),
        ("/v1/companies/{company_id}/consents", &["get"]),
        ("/v1/consents/{consent_id}", &["get"]),
        ("/v1/platforms", &["get"]),
        ("/v1/platforms/{platform_key}", &["put"]),
        ("/v1/notices", &["get", "post"]),
        ("/v1/notices/{notice_id}/versions", &["get"]),
        ("/v1/link-settings", &["get", "put"]),
        ("/v1/support-requests", &["get"]),
    ] {
        let item = paths
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing from the OpenAPI document"));
        for m in methods {
            assert!(
                item.get(*m).is_some(),
                "{m} {path} missing from the OpenAPI document"
            );
        }
    }
    // operationId MUST be unique among all operations (OpenAPI 3.1 §4.8.10.1): generators
    // name client methods after them.
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(
                ids.insert(id.to_owned()),
                "operationId `{id}` is used twice ({method} {path})"
            );
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["api_key"]["scheme"],
        "bearer"
    );
    assert!(doc["components"]["schemas"].get("Problem").is_some());
}
