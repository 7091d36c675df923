//! The HTTP integration tests on PostgreSQL: the same application, a fresh PostgreSQL database
//! per test (dropped afterwards), the in-process sandbox. A representative set of what the
//! SQLite-backed tests check — the whole flow, the API's reads and writes, disconnection with
//! revocation, single-use links, tenant isolation, notices — so the backend the README offers
//! for scale-out runs the real application, not only the store suite.
//!
//! Gated on `ACCORD_TEST_POSTGRES_URL` (e.g. `postgres://postgres@127.0.0.1:5432/postgres`):
//! unset, each test prints a note and returns, so `cargo test` needs no services.

use crate::helpers::{spawn_app_on_postgres, PgTestApp};
use accord_domain::crypto::sha256_hex;
use accord_domain::settings::LinkSettings;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

/// Connects the sandbox for the demo company through the hosted flow; the connection as the
/// API lists it.
async fn connect_demo(app: &PgTestApp) -> Value {
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    assert!(success.body.contains("is connected"), "{}", success.body);
    let connections = app.connections().await;
    assert_eq!(connections.len(), 1, "{connections:?}");
    assert_eq!(connections[0]["status"], "linked");
    connections[0].clone()
}

/// The revocation jobs of the database, each waited for (bounded, see `wait_job_done`) until
/// finished.
async fn revocations_done(app: &PgTestApp) -> Vec<accord_domain::tenant::Job> {
    let mut jobs = Vec::new();
    for id in app.db.job_ids().await {
        let job = app.state.store.job(id).await.unwrap().expect("listed");
        if job.kind == accord_domain::tenant::JobKind::RevokeToken {
            jobs.push(app.wait_job_done(id).await);
        }
    }
    jobs
}

#[tokio::test]
async fn the_whole_flow_connects_the_sandbox() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let conn = connect_demo(&app).await;
    let consents = app.consents().await;
    assert_eq!(consents.len(), 1);
    let consent = &consents[0];
    assert_eq!(conn["consent_id"], consent["id"]);
    let text = consent["notice_text"].as_str().unwrap();
    assert_eq!(consent["notice_sha256"], sha256_hex(text.as_bytes()));
    assert_eq!(consent["evidence"]["checkbox_ticked"], true);
    assert_eq!(consent["evidence"]["user_agent"], "AccordTest/1.0");
    assert!(consent["withdrawn_at"].is_null());
    let tokens = app.platform_tokens(conn["id"].as_str().unwrap()).await;
    let tokens = tokens.expect("tokens stored, encrypted");
    assert_eq!(
        app.sandbox_api_status("invoices", &tokens.access_token)
            .await,
        200
    );
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    for path in ["/healthz", "/readyz"] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn disconnecting_destroys_tokens_and_revokes_once_at_the_platform() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let conn = connect_demo(&app).await;
    let id = conn["id"].as_str().unwrap().to_owned();
    let tokens = app.platform_tokens(&id).await.unwrap();
    let path = format!("/v1/companies/{}/connections/{id}", app.company_id);
    let (status, body) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("disconnected")),
        "{body}"
    );
    assert!(
        app.platform_tokens(&id).await.is_none(),
        "destroyed at once"
    );
    let (again, _) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(again, 200, "idempotent");

    let jobs = revocations_done(&app).await;
    assert_eq!(jobs.len(), 1, "one revocation job: {jobs:?}");
    assert_eq!((jobs[0].attempts, jobs[0].last_error.as_deref()), (1, None));
    assert_eq!(
        jobs[0].payload,
        Value::Null,
        "the job's copy of the tokens is gone"
    );
    assert_eq!(
        app.sandbox_api_status("invoices", &tokens.access_token)
            .await,
        401
    );
    assert!(app.consents().await[0]["withdrawn_at"].is_string());
}

#[tokio::test]
async fn a_link_opens_once() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let first = app.browser().get(&app.link_url).await;
    assert_eq!(first.status, 303, "{}", first.body);
    let second = app.browser().get(&app.link_url).await;
    assert_eq!(
        second.status, 410,
        "a used link is gone for another browser"
    );
}

#[tokio::test]
async fn companies_are_paginated_and_deleted() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let mut ids = vec![app.company_id.clone()];
    for n in 0..3 {
        ids.push(app.new_company(&format!("Company {n}")).await);
    }
    let (status, page) = app
        .api_json(Method::GET, "/v1/companies?limit=2", None)
        .await;
    assert_eq!(status, 200, "{page}");
    let first: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(first, ids[..2]);
    let cursor = page["next_cursor"].as_str().expect("a next page");
    let (_, next) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies?limit=2&after={cursor}"),
            None,
        )
        .await;
    let rest: Vec<&str> = next["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ids[2..]);
    let path = format!("/v1/companies/{}", ids[1]);
    let (deleted, _) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(deleted, 204);
    let (gone, _) = app.api_json(Method::GET, &path, None).await;
    assert_eq!(gone, 404);
}

#[tokio::test]
async fn notices_are_versioned() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let body = json!({
        "category": "accounting",
        "locale": "en",
        "content": {
            "purpose": "To assess your loan, version two.",
            "data_uses": [{"data_type": "invoices", "direction": "read"}],
            "retention": "12 months after a decision.",
            "third_party_sharing": "Never shared.",
            "withdrawal": "Disconnect at any time from the manage page.",
            "privacy_policy_url": "https://lender.example/privacy"
        }
    });
    let (status, v2) = app.api_json(Method::POST, "/v1/notices", Some(body)).await;
    assert_eq!((status, &v2["version"]), (201, &json!(2)), "{v2}");
    let path = format!("/v1/notices/{}/versions", v2["notice_id"].as_str().unwrap());
    let (_, versions) = app.api_json(Method::GET, &path, None).await;
    let numbers: Vec<&Value> = versions["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["version"])
        .collect();
    assert_eq!(numbers, [&json!(1), &json!(2)]);
    // The next consent quotes version 2.
    connect_demo(&app).await;
    assert_eq!(app.consents().await[0]["notice_version"], 2);
}

#[tokio::test]
async fn another_tenant_sees_none_of_this_tenants_ids() {
    let Some(app) = spawn_app_on_postgres().await else {
        return;
    };
    let conn = connect_demo(&app).await;
    let (_, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        LinkSettings::default(),
    )
    .await
    .unwrap();
    let other = key.expose_secret();
    let company = &app.company_id;
    let conn_id = conn["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/companies/{company}")),
        (
            Method::GET,
            format!("/v1/companies/{company}/connections/{conn_id}"),
        ),
        (
            Method::DELETE,
            format!("/v1/companies/{company}/connections/{conn_id}"),
        ),
        (
            Method::GET,
            format!("/v1/consents/{}", conn["consent_id"].as_str().unwrap()),
        ),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(other)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404, "{method} {path}");
    }
    assert_eq!(app.connections().await[0]["status"], "linked", "untouched");
}

/// Settings for the binary's own paths (`accord migrate`, `Application::build`) on `db`.
fn settings_on(
    db: &accord_store_postgres::testing::TestDatabase,
    data_dir: &std::path::Path,
    extra: &[(&str, toml::Value)],
) -> accord::config::Settings {
    let mut o = accord::config::Overrides::default();
    o.set("server.listen", "127.0.0.1:0");
    o.set("server.public_url", "");
    o.set("database.url", db.url());
    o.set("database.pool_size", 4);
    o.set("database.data_dir", data_dir.display().to_string());
    for (k, v) in extra {
        o.set(k, v.clone());
    }
    accord::config::Settings::load(None, &[], &o).expect("valid settings")
}

#[tokio::test]
async fn accord_migrate_applies_the_postgresql_migrations_once() {
    let Some(db) = accord_store_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let settings = settings_on(&db, dir.path(), &[]);
    let first = accord::migrate(&settings).await.expect("migrate");
    assert!(
        first.starts_with("migrations applied to postgres://"),
        "{first}"
    );
    assert!(
        first.contains(db.name()) && first.contains("versions: 1, 2"),
        "{first}"
    );
    let again = accord::migrate(&settings).await.expect("migrate again");
    assert_eq!(first, again, "idempotent");
    assert!(
        !dir.path().join("accord.db").exists(),
        "no SQLite file on the side"
    );
}

/// A database whose sessions would acknowledge commits before they are durable: Accord refuses
/// to start on it, naming the setting and the way out, unless the operator allowed it.
#[tokio::test]
async fn accord_refuses_a_server_that_may_lose_commits() {
    let Some(db) = accord_store_postgres::testing::TestDatabase::create().await else {
        return;
    };
    let mut conn = db.raw().await;
    sqlx::query(&format!(
        "alter database \"{}\" set synchronous_commit = off",
        db.name()
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let refused = accord::Application::build(
        &settings_on(&db, dir.path(), &[]),
        std::sync::Arc::new(accord_domain::SystemClock),
    )
    .await
    .err()
    .expect("refused");
    let message = format!("{refused:#}");
    assert!(message.contains("synchronous_commit = off"), "{message}");
    assert!(
        message.contains("database.allow_unsafe_durability"),
        "{message}"
    );
    let allowed = accord::Application::build(
        &settings_on(
            &db,
            dir.path(),
            &[(
                "database.allow_unsafe_durability",
                toml::Value::Boolean(true),
            )],
        ),
        std::sync::Arc::new(accord_domain::SystemClock),
    )
    .await;
    assert!(allowed.is_ok(), "explicitly allowed: {:?}", allowed.err());
}
