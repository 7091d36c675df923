//! An API that explains itself: every 404 names the type of what was not found (the same for
//! an unknown id and another tenant's), and a body, path or query of the wrong shape is
//! answered with field paths in our own words, never the deserializer's.

use super::{call, call_as, connect_demo, raw, Answer};
use crate::helpers::spawn_app;
use accord_domain::settings::LinkSettings;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

const UNKNOWN: &str = "00000000-0000-4000-8000-00000000abcd";

#[track_caller]
fn assert_names(res: &Answer, resource: &str, detail: &str) {
    res.assert_problem(404);
    assert_eq!(
        res.json["type"], "https://accord.dev/problems/not-found",
        "{}",
        res.text
    );
    assert_eq!(res.json["resource"], resource, "{}", res.text);
    assert!(
        res.json["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with(detail),
        "detail should start with {detail:?}: {}",
        res.text
    );
}

#[tokio::test]
async fn every_404_names_the_resource_and_another_tenants_ids_answer_like_unknown_ones() {
    let app = spawn_app().await;
    let conn = connect_demo(&app).await;
    let company = app.company_id.clone();
    let conn_id = conn["id"].as_str().unwrap().to_owned();
    let consent_id = conn["consent_id"].as_str().unwrap().to_owned();
    let notices = call(&app, Method::GET, "/v1/notices", None).await;
    let notice_id = notices.json["data"][0]["id"].as_str().unwrap().to_owned();
    let endpoint = call(
        &app,
        Method::POST,
        "/v1/webhook-endpoints",
        Some(json!({ "url": "https://hooks.example.com/accord", "events": ["connection.linked"] })),
    )
    .await;
    let endpoint_id = endpoint.json["id"].as_str().unwrap_or(UNKNOWN).to_owned();
    let (_, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        LinkSettings::default(),
    )
    .await
    .unwrap();
    let other = key.expose_secret().to_owned();

    // (path with this tenant's ids, the same path with unknown ids, resource, detail)
    let cases = [
        (
            format!("/v1/companies/{company}"),
            format!("/v1/companies/{UNKNOWN}"),
            "company",
            "company not found",
        ),
        (
            format!("/v1/companies/{company}/connections/{conn_id}"),
            format!("/v1/companies/{company}/connections/{UNKNOWN}"),
            "connection",
            "connection not found",
        ),
        (
            format!("/v1/consents/{consent_id}"),
            format!("/v1/consents/{UNKNOWN}"),
            "consent",
            "consent not found",
        ),
        (
            format!("/v1/consents/{consent_id}/receipt"),
            format!("/v1/consents/{UNKNOWN}/receipt"),
            "consent",
            "consent not found",
        ),
        (
            format!("/v1/notices/{notice_id}/versions"),
            format!("/v1/notices/{UNKNOWN}/versions"),
            "notice",
            "notice not found",
        ),
        (
            format!("/v1/webhook-endpoints/{endpoint_id}"),
            format!("/v1/webhook-endpoints/{UNKNOWN}"),
            "webhook_endpoint",
            "webhook endpoint not found",
        ),
    ];
    for (theirs, unknown, resource, detail) in cases {
        let unknown_answer = call(&app, Method::GET, &unknown, None).await;
        assert_names(&unknown_answer, resource, detail);
        let other_tenant = call_as(&app, &other, Method::GET, &theirs, None).await;
        assert_names(&other_tenant, resource, detail);
        // No existence leak: the body is the same, byte for byte, as for an id nobody has.
        let unknown_as_other = call_as(&app, &other, Method::GET, &unknown, None).await;
        assert_eq!(other_tenant.text, unknown_as_other.text, "GET {theirs}");
    }
    // A path no endpoint serves is not "not found" for a resource that does not exist.
    let nowhere = call(&app, Method::GET, "/v1/no-such-thing", None).await;
    assert_names(&nowhere, "endpoint", "no API endpoint at this path");
}

/// What a problem detail must never carry: the deserializer's own words.
const RAW: [&str; 8] = [
    "missing field",
    "invalid type",
    "UUID parsing failed",
    "expected",
    "invalid digit",
    "unknown field",
    "unknown variant",
    "at line",
];

#[track_caller]
fn assert_plain(res: &Answer, what: &str) {
    for raw in RAW {
        assert!(
            !res.text.contains(raw),
            "{what}: {raw:?} reached the answer: {}",
            res.text
        );
    }
}

#[tokio::test]
async fn malformed_bodies_paths_and_queries_are_answered_in_field_paths_never_in_serde_words() {
    let app = spawn_app().await;
    let company = app.company_id.clone();
    let consents = format!("/v1/companies/{company}/consents");
    let authorizations = format!("/v1/companies/{company}/authorizations");
    let bodies: [(&str, Value, &str, &str); 7] = [
        (
            consents.as_str(),
            json!({ "locale": "en" }),
            "platform",
            "body.platform: is required",
        ),
        (
            consents.as_str(),
            json!({ "platform": "sandbox", "locale": "en", "notice_version_id": "nope", "notice_sha256": "x", "checkbox_ticked": true }),
            "notice_version_id",
            "body.notice_version_id: is not a UUID",
        ),
        (
            consents.as_str(),
            json!({ "platform": "sandbox", "locale": "en", "notice_version_id": UNKNOWN, "notice_sha256": "x", "checkbox_ticked": "yes" }),
            "checkbox_ticked",
            "body.checkbox_ticked: is not `true` or `false`",
        ),
        (
            consents.as_str(),
            json!({ "platform": 7, "locale": "en", "notice_version_id": UNKNOWN, "notice_sha256": "x", "checkbox_ticked": true }),
            "platform",
            "body.platform: is not a string",
        ),
        (
            consents.as_str(),
            json!({ "platform": "sandbox", "locale": "en", "notice_version_id": UNKNOWN, "notice_sha256": "x", "checkbox_ticked": true, "surprise": 1 }),
            "surprise",
            "body.surprise: is not a field of this request",
        ),
        (
            authorizations.as_str(),
            json!({ "return_url": "https://x.example" }),
            "connection_id",
            "body.connection_id: is required",
        ),
        (
            "/v1/companies",
            json!({ "name": ["a"] }),
            "name",
            "body.name: is not a string",
        ),
    ];
    for (path, body, field, detail) in bodies {
        let res = call(&app, Method::POST, path, Some(body.clone())).await;
        res.assert_invalid(field);
        assert_eq!(res.json["detail"], detail, "POST {path} {body}");
        assert_plain(&res, path);
    }

    let queries = [
        (
            "/v1/companies?limit=ten",
            "limit",
            "query.limit: is not a whole number",
        ),
        (
            "/v1/companies?limit=-1",
            "limit",
            "query.limit: is not a whole number",
        ),
        (
            "/v1/companies?after=nope",
            "after",
            "query.after: is not a UUID",
        ),
    ];
    for (path, field, detail) in queries {
        let res = call(&app, Method::GET, path, None).await;
        res.assert_invalid(field);
        assert_eq!(res.json["detail"], detail, "GET {path}");
        assert_plain(&res, path);
    }

    let paths = [
        ("/v1/companies/nope", "company", "path.company_id"),
        (
            &*format!("/v1/companies/{company}/connections/nope"),
            "connection",
            "path.connection_id",
        ),
        ("/v1/consents/12-34/receipt", "consent", "path.consent_id"),
        (
            "/v1/webhook-endpoints/x",
            "webhook_endpoint",
            "path.endpoint_id",
        ),
    ];
    for (path, resource, param) in paths {
        let res = call(&app, Method::GET, path, None).await;
        assert_names(
            &res,
            resource,
            &format!("{} not found", resource.replace('_', " ")),
        );
        assert_eq!(res.json["errors"][0]["path"], param, "{}", res.text);
        assert_eq!(
            res.json["errors"][0]["message"], "is not a UUID",
            "{}",
            res.text
        );
        assert_plain(&res, path);
    }

    // Not JSON at all: a 400 that says where it broke, in our words.
    for body in ["{\"name\": ", "{\"name\": \"x\"} trailing", "nope"] {
        let res = raw(
            &app,
            Method::POST,
            "/v1/companies",
            "application/json",
            body,
        )
        .await;
        res.assert_problem(400);
        assert_plain(&res, body);
    }
}

/// A body that is JSON but not an object is refused with a 422 and changes nothing.
#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    // JSON, but not an object: serde would read `["x"]` as a company named "x" and `[]` as
    // link settings with every default. A 422, and nothing is created or replaced.
    for (path, body) in [
        ("/v1/companies", "[\"Array Bakery\"]"),
        ("/v1/companies", "\"Array Bakery\""),
        ("/v1/link-settings", "[]"),
    ] {
        let method = if path == "/v1/companies" {
            Method::POST
        } else {
            Method::PUT
        };
        let res = raw(&app, method, path, "application/json", body).await;
        res.assert_problem(422);
        assert_eq!(
            res.json["errors"][0]["message"], "must be a JSON object",
            "{}",
            res.text
        );
    }
    let companies = call(&app, Method::GET, "/v1/companies?limit=200", None).await;
    assert!(
        !companies.text.contains("Array Bakery"),
        "{}",
        companies.text
    );
}
