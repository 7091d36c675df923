//! The bearer-protected data API.

use serde_json::json;

use crate::helpers::{header, spawn_app, str_field};

const ALL_READ: &str = "company-info:read invoices:read bills:read customers:read \
    suppliers:read bank-accounts:read bank-transactions:read balance-sheet:read \
    profit-and-loss:read orders:read products:read payouts:read";

#[tokio::test]
async fn a_missing_scope_is_403_insufficient_scope() {
    let app = spawn_app().await;
    let tokens = app.tokens("invoices:read", "Org").await;
    let access = str_field(&tokens, "access_token");
    let response = app.api("bank-transactions", access).await;
    assert_eq!(response.status(), 403);
    let challenge = header(&response, "www-authenticate");
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(
        challenge.contains("scope=\"bank-transactions:read\""),
        "{challenge}"
    );
}

#[tokio::test]
async fn bad_tokens_are_401_invalid_token() {
    let app = spawn_app().await;
    let response = app.api("invoices", "sbx_at_made-up").await;
    assert_eq!(response.status(), 401);
    let challenge = header(&response, "www-authenticate");
    assert!(challenge.starts_with("Bearer ") && challenge.contains("error=\"invalid_token\""));

    // No token at all: a bare challenge (RFC 6750 §3.1).
    let response = app.get(&app.url("/api/invoices")).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").starts_with("Bearer realm="));

    // An expired token.
    let tokens = app.tokens("invoices:read", "Org").await;
    let access = str_field(&tokens, "access_token");
    app.clock.advance(time::Duration::minutes(59));
    assert_eq!(app.api("invoices", access).await.status(), 200);
    app.clock.advance(time::Duration::minutes(1));
    assert_eq!(app.api("invoices", access).await.status(), 401);

    // An unknown resource.
    assert_eq!(app.api("payroll", access).await.status(), 404);
}

#[tokio::test]
async fn data_is_identical_for_the_same_organisation_across_two_sandboxes() {
    let one = spawn_app().await;
    let two = spawn_app().await;
    let a = one.tokens(ALL_READ, "Harbour Bakery").await;
    let b = two.tokens(ALL_READ, "Harbour Bakery").await;
    let c = two.tokens(ALL_READ, "Someone Else").await;
    for resource in ALL_READ
        .split_whitespace()
        .map(|s| s.trim_end_matches(":read"))
    {
        let from_one: serde_json::Value = one
            .api(resource, str_field(&a, "access_token"))
            .await
            .json()
            .await
            .unwrap();
        let from_two: serde_json::Value = two
            .api(resource, str_field(&b, "access_token"))
            .await
            .json()
            .await
            .unwrap();
        let other: serde_json::Value = two
            .api(resource, str_field(&c, "access_token"))
            .await
            .json()
            .await
            .unwrap();
        assert!(!from_one["data"].is_null(), "{resource}");
        assert_eq!(from_one, from_two, "{resource}");
        assert_ne!(from_one, other, "{resource}");
    }
}

#[tokio::test]
async fn the_books_add_up_over_http() {
    let app = spawn_app().await;
    let tokens = app
        .tokens("balance-sheet:read profit-and-loss:read", "Org")
        .await;
    let access = str_field(&tokens, "access_token");
    let bs: serde_json::Value = app.api("balance-sheet", access).await.json().await.unwrap();
    let bs = &bs["data"];
    assert_eq!(
        bs["total_assets_minor"].as_i64().unwrap(),
        bs["total_liabilities_minor"].as_i64().unwrap()
            + bs["total_equity_minor"].as_i64().unwrap()
    );
    let pnl: serde_json::Value = app
        .api("profit-and-loss", access)
        .await
        .json()
        .await
        .unwrap();
    let pnl = &pnl["data"];
    assert_eq!(
        pnl["net_profit_minor"].as_i64().unwrap(),
        pnl["total_income_minor"].as_i64().unwrap() - pnl["total_expenses_minor"].as_i64().unwrap()
    );
}

#[tokio::test]
async fn invoices_can_be_written_with_the_write_scope() {
    let app = spawn_app().await;
    let tokens = app
        .tokens(
            "invoices:read invoices:write customers:read company-info:read",
            "Org",
        )
        .await;
    let access = str_field(&tokens, "access_token");
    let company: serde_json::Value = app.api("company-info", access).await.json().await.unwrap();
    let currency = company["data"]["base_currency"].as_str().unwrap();
    let customers: serde_json::Value = app.api("customers", access).await.json().await.unwrap();
    let customer_id = customers["data"][0]["id"].as_str().unwrap();

    let body = json!({
        "customer_id": customer_id,
        "issue_date": "2025-04-01",
        "due_date": "2025-05-01",
        "currency": currency,
        "subtotal_minor": 12_000,
        "tax_minor": 2_400,
        "reference": "Spring order",
    });
    let post = |body: serde_json::Value| {
        app.http
            .post(app.url("/api/invoices"))
            .bearer_auth(access)
            .json(&body)
            .send()
    };
    let response = post(body.clone()).await.unwrap();
    assert_eq!(response.status(), 201);
    let created: serde_json::Value = response.json().await.unwrap();
    assert_eq!(created["data"]["id"], "inv_0021");
    assert_eq!(created["data"]["total_minor"], 14_400);
    assert_eq!(created["data"]["status"], "open");

    let list: serde_json::Value = app.api("invoices", access).await.json().await.unwrap();
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), 21);
    assert_eq!(list[20]["reference"], "Spring order");

    // Invalid bodies are refused with a reason.
    let mut bad = body.clone();
    bad["customer_id"] = json!("cus_999");
    assert_eq!(post(bad).await.unwrap().status(), 422);
    let mut bad = body.clone();
    bad["surprise"] = json!(true);
    assert_eq!(post(bad).await.unwrap().status(), 400);

    // Writing bills needs bills:write.
    let response = app
        .http
        .post(app.url("/api/bills"))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // Read-only resources cannot be written at all.
    let response = app
        .http
        .post(app.url("/api/customers"))
        .bearer_auth(access)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
}
