//! The data API as a client of Accord's data gateway uses it: paging, who was connected,
//! injected faults, and the count of refreshes that reached the token endpoint.

use accord_sandbox::{DataFault, RATE_LIMITED_ORGANISATION};
use serde_json::Value;

use crate::helpers::{header, spawn_app, str_field, TestApp};

const ALL_READS: &str = "company-info:read invoices:read bills:read customers:read \
    suppliers:read bank-accounts:read bank-transactions:read balance-sheet:read \
    profit-and-loss:read orders:read products:read payouts:read";

async fn get(app: &TestApp, path_and_query: &str, token: &str) -> reqwest::Response {
    app.http
        .get(app.url(path_and_query))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn access_token(app: &TestApp, scope: &str, organisation: &str) -> String {
    let tokens = app.tokens(scope, organisation).await;
    str_field(&tokens, "access_token").to_owned()
}

#[tokio::test]
async fn lists_page_through_opaque_cursors_to_the_end() {
    let app = spawn_app().await;
    let token = access_token(&app, ALL_READS, "Bluebell Bakery Ltd").await;
    let whole: Value = get(&app, "/api/bank-transactions?limit=100", &token)
        .await
        .json()
        .await
        .unwrap();
    let whole = whole["data"].as_array().unwrap().clone();
    assert!(whole.len() > 7, "enough transactions to page");

    let mut seen = Vec::new();
    let mut next = "/api/bank-transactions?limit=7".to_owned();
    for _ in 0..20 {
        let page: Value = get(&app, &next, &token).await.json().await.unwrap();
        let records = page["data"].as_array().unwrap();
        assert!(records.len() <= 7);
        seen.extend(records.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => next = format!("/api/bank-transactions?limit=7&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seen, whole, "every record once, in order");

    let first: Value = get(&app, "/api/invoices", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        first["data"].as_array().unwrap().len(),
        20,
        "the default page holds them all"
    );
    assert_eq!(first["next_cursor"], Value::Null);
}

#[tokio::test]
async fn single_documents_keep_their_shape_and_bad_paging_is_refused() {
    let app = spawn_app().await;
    let token = access_token(&app, ALL_READS, "Bluebell Bakery Ltd").await;
    for single in ["company-info", "balance-sheet", "profit-and-loss"] {
        let body: Value = get(&app, &format!("/api/{single}?limit=1"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert!(body["data"].is_object(), "{single}");
        assert!(body.get("next_cursor").is_none(), "{single}");
    }
    for query in ["limit=0", "limit=101", "cursor=bm9wZQ", "cursor=42"] {
        let response = get(&app, &format!("/api/invoices?{query}"), &token).await;
        assert_eq!(response.status(), 400, "{query}");
    }
}

#[tokio::test]
async fn every_list_is_paged() {
    let app = spawn_app().await;
    let token = access_token(&app, ALL_READS, "Bluebell Bakery Ltd").await;
    for list in [
        "invoices",
        "bills",
        "customers",
        "suppliers",
        "bank-accounts",
        "bank-transactions",
        "orders",
        "products",
        "payouts",
    ] {
        let body: Value = get(&app, &format!("/api/{list}?limit=1"), &token)
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(body["data"].as_array().unwrap().len(), 1, "{list}");
        assert!(body["next_cursor"].is_string(), "{list}");
    }
}

#[tokio::test]
async fn the_identity_names_the_organisation_that_signed_in() {
    let app = spawn_app().await;
    let token = access_token(&app, "invoices:read", "Bluebell Bakery Ltd").await;
    let response = get(&app, "/api/organisation", &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["name"], "Bluebell Bakery Ltd");
    let id = body["data"]["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("org_"), "{id}");

    // Stable: the same organisation gives the same id, another one another.
    let again = access_token(&app, "bills:read", "Bluebell Bakery Ltd").await;
    let body: Value = get(&app, "/api/organisation", &again)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["id"], id.as_str());
    let other = access_token(&app, "bills:read", "Hawthorn Garage").await;
    let body: Value = get(&app, "/api/organisation", &other)
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(body["data"]["id"], id.as_str());

    // Still a protected resource.
    assert_eq!(get(&app, "/api/organisation", "nope").await.status(), 401);
    let response = app
        .http
        .get(app.url("/api/organisation"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test]
async fn faults_answer_after_the_token_is_checked_and_run_out() {
    let app = spawn_app().await;
    let token = access_token(&app, "invoices:read", "Bluebell Bakery Ltd").await;
    let other = access_token(&app, "invoices:read", "Hawthorn Garage").await;
    app.sandbox.fail_data_requests(
        "Bluebell Bakery Ltd",
        DataFault::RateLimited {
            retry_after_secs: 7,
        },
        2,
    );
    // A bad token or a missing scope is still refused as such, and spends no fault.
    assert_eq!(get(&app, "/api/invoices", "nope").await.status(), 401);
    assert_eq!(get(&app, "/api/bills", &token).await.status(), 403);
    for _ in 0..2 {
        let response = get(&app, "/api/invoices", &token).await;
        assert_eq!(response.status(), 429);
        assert_eq!(header(&response, "retry-after"), "7");
    }
    assert_eq!(get(&app, "/api/invoices", &token).await.status(), 200);
    assert_eq!(
        get(&app, "/api/invoices", &other).await.status(),
        200,
        "other organisations untouched"
    );

    app.sandbox
        .fail_data_requests("Hawthorn Garage", DataFault::Unavailable, 1);
    let response = get(&app, "/api/invoices", &other).await;
    assert_eq!(response.status(), 503);
    assert_eq!(header(&response, "retry-after"), "30");
    app.sandbox
        .fail_data_requests("Hawthorn Garage", DataFault::ServerError, 5);
    assert_eq!(get(&app, "/api/invoices", &other).await.status(), 500);
    app.sandbox
        .fail_data_requests("Hawthorn Garage", DataFault::ServerError, 0);
    assert_eq!(
        get(&app, "/api/invoices", &other).await.status(),
        200,
        "0 ends a fault"
    );
    assert_eq!(get(&app, "/api/organisation", &other).await.status(), 200);
}

#[tokio::test]
async fn the_rate_limited_organisation_is_always_limited() {
    let app = spawn_app().await;
    let token = access_token(&app, "invoices:read", RATE_LIMITED_ORGANISATION).await;
    for _ in 0..3 {
        let response = get(&app, "/api/invoices", &token).await;
        assert_eq!(response.status(), 429);
        assert_eq!(header(&response, "retry-after"), "1");
    }
    let body: Value = get(&app, "/api/organisation", &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["data"]["name"], RATE_LIMITED_ORGANISATION);
}

#[tokio::test]
async fn refreshes_that_reach_the_token_endpoint_are_counted() {
    let app = spawn_app().await;
    assert_eq!(app.sandbox.refresh_count(), 0);
    let tokens = app
        .tokens("offline_access invoices:read", "Bluebell Bakery Ltd")
        .await;
    assert_eq!(
        app.sandbox.refresh_count(),
        0,
        "a code exchange is no refresh"
    );
    let refresh_token = str_field(&tokens, "refresh_token").to_owned();
    assert_eq!(app.refresh(&refresh_token).await.status(), 200);
    assert_eq!(app.sandbox.refresh_count(), 1);
    // A refused refresh (the spent token again) reached the platform all the same.
    assert_eq!(app.refresh(&refresh_token).await.status(), 400);
    assert_eq!(app.sandbox.refresh_count(), 2);
}
