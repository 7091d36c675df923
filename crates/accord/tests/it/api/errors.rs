//! Errors and headers shared by every endpoint: 401/400/404/422 as problem+json, `no-store`.

use super::{call, call_as, raw, Answer};
use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn health_and_readiness_answer_200() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let res = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[tokio::test]
async fn missing_garbled_or_wrong_api_keys_are_401_problems() {
    let app = spawn_app().await;
    let no_key = Answer::of(app.http.get(app.url("/v1/companies")).send().await.unwrap()).await;
    no_key.assert_problem(401);
    let (prefix, _) = app.api_key.split_at(app.api_key.len() - 4);
    let wrong_secret = format!("{prefix}AAAA");
    let wrong_secret = if wrong_secret == app.api_key {
        format!("{prefix}BBBB")
    } else {
        wrong_secret
    };
    for key in [
        "garbage",
        "acc_",
        "acc_nope_nope",
        "",
        wrong_secret.as_str(),
    ] {
        let res = call_as(&app, key, Method::GET, "/v1/companies", None).await;
        res.assert_problem(401);
        assert_eq!(res.header("cache-control"), "no-store");
    }
    let with_scheme = |scheme: &str| {
        app.http
            .get(app.url("/v1/companies"))
            .header("authorization", format!("{scheme} {}", app.api_key))
            .send()
    };
    for scheme in ["Basic", "Token", "Bearer:", ""] {
        Answer::of(with_scheme(scheme).await.unwrap())
            .await
            .assert_problem(401);
    }
    // The scheme is case-insensitive (RFC 9110 §11.1).
    for scheme in ["bearer", "BEARER"] {
        assert_eq!(with_scheme(scheme).await.unwrap().status(), 200, "{scheme}");
    }
    // 401 comes before body parsing: no hint about the body of an unauthenticated request.
    let res = app
        .http
        .post(app.url("/v1/companies"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    Answer::of(res).await.assert_problem(401);
    // Every endpoint requires the key.
    for (m, p) in [
        (Method::GET, "/v1/platforms"),
        (Method::GET, "/v1/notices"),
        (Method::GET, "/v1/link-settings"),
        (Method::GET, "/v1/support-requests"),
        (
            Method::DELETE,
            &*format!("/v1/companies/{}", app.company_id),
        ),
    ] {
        let res = Answer::of(app.http.request(m, app.url(p)).send().await.unwrap()).await;
        res.assert_problem(401);
    }
    let still = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{}", app.company_id),
        None,
    )
    .await;
    assert_eq!(still.status, 200, "the unauthenticated DELETE did nothing");
}

#[tokio::test]
async fn malformed_or_mistyped_bodies_are_400_or_422() {
    let app = spawn_app().await;
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/json",
        "{\"name\": ",
    )
    .await;
    res.assert_problem(400);
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/json",
        "not json",
    )
    .await;
    res.assert_problem(400);
    let res = raw(&app, Method::POST, "/v1/companies", "application/json", "").await;
    res.assert_problem(400);
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "text/plain",
        "{\"name\": \"A\"}",
    )
    .await;
    res.assert_problem(400);
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/x-www-form-urlencoded",
        "name=A",
    )
    .await;
    res.assert_problem(400);
    let res = app
        .api(Method::POST, "/v1/companies")
        .body("{\"name\": \"A\"}")
        .send()
        .await
        .unwrap();
    Answer::of(res).await.assert_problem(400);
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/json; charset=utf-8",
        "{\"name\": \"Charset Ltd\"}",
    )
    .await;
    assert_eq!(res.status, 201, "a charset parameter is fine: {}", res.text);
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/json",
        "[1, 2]",
    )
    .await;
    res.assert_problem(422);
    let res = raw(
        &app,
        Method::PUT,
        "/v1/link-settings",
        "application/json",
        "{\"support\": {\"email\": 5}}",
    )
    .await;
    res.assert_invalid("support.email");
    let res = raw(&app, Method::PUT, "/v1/link-settings", "text/plain", "{}").await;
    res.assert_problem(400);
    let big = format!("{{\"name\": \"{}\"}}", "x".repeat(300 * 1024));
    let res = raw(
        &app,
        Method::POST,
        "/v1/companies",
        "application/json",
        &big,
    )
    .await;
    assert!(
        res.status == 413 || res.status == 400,
        "an oversized body is refused: {}",
        res.status
    );
    let all = call(&app, Method::GET, "/v1/companies", None).await;
    assert_eq!(
        all.json["data"].as_array().unwrap().len(),
        2,
        "only the valid request wrote: {}",
        all.text
    );
}

#[tokio::test]
async fn api_responses_are_never_cached() {
    let app = spawn_app().await;
    let company = app.company_id.clone();
    for (m, p, body) in [
        (Method::GET, "/v1/companies".to_owned(), None),
        (
            Method::POST,
            "/v1/companies".to_owned(),
            Some(json!({"name": "Cache Ltd"})),
        ),
        (Method::GET, format!("/v1/companies/{company}"), None),
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
            format!("/v1/companies/{company}/consents"),
            None,
        ),
        (Method::GET, "/v1/platforms".to_owned(), None),
        (Method::GET, "/v1/notices".to_owned(), None),
        (Method::GET, "/v1/link-settings".to_owned(), None),
        (Method::GET, "/v1/support-requests".to_owned(), None),
        (
            Method::GET,
            "/v1/consents/0190a0b0-0000-7000-8000-000000000000".to_owned(),
            None,
        ),
        (
            Method::POST,
            "/v1/companies".to_owned(),
            Some(json!({"name": ""})),
        ),
    ] {
        let res = call(&app, m.clone(), &p, body).await;
        assert_eq!(res.header("cache-control"), "no-store", "{m} {p}");
        assert_eq!(res.header("x-content-type-options"), "nosniff", "{m} {p}");
    }
}

#[tokio::test]
async fn unknown_api_paths_answer_problem_json() {
    let app = spawn_app().await;
    for path in [
        "/v1/nope",
        "/v1/companies/",
        "/v1/companies/x/y/z/w",
        "/v1/consents",
    ] {
        let res = call(&app, Method::GET, path, None).await;
        res.assert_problem(404);
        assert_eq!(res.header("cache-control"), "no-store", "{path}");
    }
    let res = call(&app, Method::PATCH, "/v1/companies", None).await;
    assert_eq!(res.status, 405, "{}", res.text);
}

#[tokio::test]
async fn malformed_ids_in_paths_answer_problem_json() {
    let app = spawn_app().await;
    for path in [
        "/v1/companies/not-a-uuid".to_owned(),
        "/v1/companies/not-a-uuid/connections".to_owned(),
        format!("/v1/companies/{}/connections/123", app.company_id),
        "/v1/consents/zzz".to_owned(),
        "/v1/notices/zzz/versions".to_owned(),
    ] {
        let res = call(&app, Method::GET, &path, None).await;
        res.assert_problem(404);
    }
}
