//! Companies: create, fetch, cursor pagination, validation, deletion (which disconnects).

use super::{call, connect_demo, create_company, tenant_id, ts};
use crate::helpers::spawn_app;
use accord_domain::ids::ConnectionId;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn companies_are_created_fetched_and_paginated_with_a_cursor() {
    let app = spawn_app().await;
    let created = call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "Acme Tools Ltd", "external_id": "cus_42"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text);
    assert_eq!(created.json["name"], "Acme Tools Ltd");
    assert_eq!(created.json["external_id"], "cus_42");
    let id = created.json["id"].as_str().unwrap().to_owned();
    ts(&created.json["created_at"]);

    let got = call(&app, Method::GET, &format!("/v1/companies/{id}"), None).await;
    assert_eq!(got.status, 200, "{}", got.text);
    assert_eq!(got.json, created.json, "GET returns what POST created");

    // The demo company plus five more: pages of two are 2, 2, 2 and then an empty last page,
    // or 2, 2, 2 with no cursor; either way every company appears exactly once, oldest first.
    let mut expected = vec![app.company_id.clone(), id];
    for i in 0..4 {
        expected.push(create_company(&app, &format!("Company {i}")).await);
    }
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..10 {
        let path = match &after {
            Some(a) => format!("/v1/companies?limit=2&after={a}"),
            None => "/v1/companies?limit=2".to_owned(),
        };
        let page = call(&app, Method::GET, &path, None).await;
        assert_eq!(page.status, 200, "{}", page.text);
        let data = page.json["data"].as_array().unwrap();
        assert!(data.len() <= 2, "limit respected: {}", page.text);
        seen.extend(data.iter().map(|c| c["id"].as_str().unwrap().to_owned()));
        let Some(cursor) = page.json["next_cursor"].as_str() else {
            after = None;
            break;
        };
        assert_eq!(data.len(), 2, "a cursor only after a full page");
        assert_eq!(
            cursor,
            data[1]["id"].as_str().unwrap(),
            "the cursor is the last id of the page"
        );
        after = Some(cursor.to_owned());
    }
    assert!(after.is_none(), "pagination ends");
    assert_eq!(seen, expected, "every company once, oldest first");

    // Default limit returns them all in one page.
    let all = call(&app, Method::GET, "/v1/companies", None).await;
    assert_eq!(all.json["data"].as_array().unwrap().len(), 6);
    assert!(all.json["next_cursor"].is_null(), "{}", all.text);
}

#[tokio::test]
async fn company_list_limit_out_of_range_is_422_naming_limit() {
    let app = spawn_app().await;
    for q in ["limit=0", "limit=201", "limit=-1", "limit=ten"] {
        let res = call(&app, Method::GET, &format!("/v1/companies?{q}"), None).await;
        res.assert_problem(422);
        assert_eq!(res.json["errors"][0]["path"], "limit", "{q}: {}", res.text);
    }
    for q in ["limit=1", "limit=200"] {
        let res = call(&app, Method::GET, &format!("/v1/companies?{q}"), None).await;
        assert_eq!(res.status, 200, "{q}: {}", res.text);
    }
    let res = call(&app, Method::GET, "/v1/companies?after=not-a-uuid", None).await;
    res.assert_invalid("after");
}

#[tokio::test]
async fn company_creation_validates_its_body() {
    let app = spawn_app().await;
    call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "   "})),
    )
    .await
    .assert_invalid("name");
    call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": 42})),
    )
    .await
    .assert_invalid("name");
    call(&app, Method::POST, "/v1/companies", Some(json!({})))
        .await
        .assert_invalid("name");
    call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "A", "colour": "blue"})),
    )
    .await
    .assert_invalid("colour");
    call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "A", "external_id": ""})),
    )
    .await
    .assert_invalid("external_id");
    call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "Bidi \u{202E}txet"})),
    )
    .await
    .assert_invalid("name");

    let first = call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "One", "external_id": "dup"})),
    )
    .await;
    assert_eq!(first.status, 201);
    let again = call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "Two", "external_id": "dup"})),
    )
    .await;
    again.assert_problem(409);
    // Nothing was written by the refused requests.
    let all = call(&app, Method::GET, "/v1/companies", None).await;
    assert_eq!(
        all.json["data"].as_array().unwrap().len(),
        2,
        "{}",
        all.text
    );

    // Deleting a company frees its external_id.
    let id = first.json["id"].as_str().unwrap();
    let del = call(&app, Method::DELETE, &format!("/v1/companies/{id}"), None).await;
    assert_eq!(del.status, 204, "{}", del.text);
    let reused = call(
        &app,
        Method::POST,
        "/v1/companies",
        Some(json!({"name": "Two", "external_id": "dup"})),
    )
    .await;
    assert_eq!(reused.status, 201, "{}", reused.text);
    assert_ne!(reused.json["id"], first.json["id"]);
}

#[tokio::test]
async fn deleting_a_company_answers_204_then_404_and_disconnects_its_connections() {
    let app = spawn_app().await;
    let conn = connect_demo(&app).await;
    let conn_id: ConnectionId = conn["id"].as_str().unwrap().parse().unwrap();
    let consent_id = conn["consent_id"].as_str().unwrap().to_owned();
    assert!(
        app.state
            .store
            .connection_tokens(tenant_id(&app), conn_id)
            .await
            .unwrap()
            .is_some(),
        "tokens stored while linked"
    );

    let path = format!("/v1/companies/{}", app.company_id);
    let del = call(&app, Method::DELETE, &path, None).await;
    assert_eq!(del.status, 204, "{}", del.text);
    assert!(del.text.is_empty(), "204 has no body");
    call(&app, Method::GET, &path, None)
        .await
        .assert_problem(404);
    call(&app, Method::DELETE, &path, None)
        .await
        .assert_problem(404);
    call(&app, Method::GET, &format!("{path}/connections"), None)
        .await
        .assert_problem(404);
    call(
        &app,
        Method::POST,
        &format!("{path}/link-sessions"),
        Some(json!({})),
    )
    .await
    .assert_problem(404);
    let list = call(&app, Method::GET, "/v1/companies", None).await;
    assert!(
        !list.text.contains(&app.company_id),
        "a deleted company is not listed: {}",
        list.text
    );

    let stored = app
        .state
        .store
        .connection(tenant_id(&app), conn_id)
        .await
        .unwrap()
        .expect("connection kept");
    assert_eq!(stored.status.as_str(), "disconnected");
    assert!(stored.disconnected_at.is_some());
    assert!(
        app.state
            .store
            .connection_tokens(tenant_id(&app), conn_id)
            .await
            .unwrap()
            .is_none(),
        "tokens destroyed"
    );
    // The consent record stays, as the tenant's proof, and shows it was withdrawn.
    let consent = call(
        &app,
        Method::GET,
        &format!("/v1/consents/{consent_id}"),
        None,
    )
    .await;
    assert_eq!(consent.status, 200, "{}", consent.text);
    assert!(consent.json["withdrawn_at"].is_string(), "{}", consent.text);
}
