//! The sandbox answering in-process (as `accord demo` has it answer Accord's token requests):
//! the same request as on the wire gets the same answer, and the platform's checks hold.

use crate::helpers::{form_encode, spawn_app, TestApp, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI};

/// The token request `reqwest` would send, as an `http` request with the body it would carry.
fn token_request(app: &TestApp, form: &[(&str, &str)]) -> axum::http::Request<Vec<u8>> {
    let built = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(form_encode(CLIENT_ID), Some(form_encode(CLIENT_SECRET)))
        .form(form)
        .build()
        .unwrap();
    let mut request = axum::http::Request::builder()
        .method(built.method().as_str())
        .uri(built.url().as_str())
        .header("host", built.url().authority());
    for (name, value) in built.headers() {
        request = request.header(name.as_str(), value.as_bytes());
    }
    let body = built
        .body()
        .and_then(|b| b.as_bytes())
        .unwrap_or_default()
        .to_vec();
    request.body(body).unwrap()
}

#[tokio::test]
async fn a_code_is_exchanged_in_process_once_with_its_verifier() {
    let app = spawn_app().await;
    let in_process = app.sandbox.in_process("/sandbox");
    let (spoiled, _) = app.code("invoices:read", "Bluebell Bakery Ltd").await;
    let wrong = in_process
        .answer(token_request(
            &app,
            &[
                ("grant_type", "authorization_code"),
                ("code", &spoiled),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &"w".repeat(64)),
            ],
        ))
        .await;
    assert_eq!(wrong.status(), 400, "a wrong verifier is refused");

    let (code, verifier) = app.code("invoices:read", "Bluebell Bakery Ltd").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let answer = in_process.answer(token_request(&app, &form)).await;
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["cache-control"], "no-store");
    let json: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    let access = json["access_token"].as_str().unwrap();
    // The token works over HTTP: one platform, whichever way the request came.
    assert_eq!(app.api("organisation", access).await.status(), 200);

    let replay = in_process.answer(token_request(&app, &form)).await;
    assert_eq!(replay.status(), 400);
    let json: serde_json::Value = serde_json::from_slice(replay.body()).unwrap();
    assert_eq!(json["error"], "invalid_grant");
}

#[tokio::test]
async fn metadata_in_process_names_the_issuer_from_host_and_mount() {
    let app = spawn_app().await;
    let answer = app
        .sandbox
        .in_process("/sandbox")
        .answer(
            axum::http::Request::builder()
                .uri("http://127.0.0.1:8080/sandbox/.well-known/oauth-authorization-server")
                .header("host", "127.0.0.1:8080")
                .body(Vec::new())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status(), 200);
    let json: serde_json::Value = serde_json::from_slice(answer.body()).unwrap();
    assert_eq!(json["issuer"], "http://127.0.0.1:8080/sandbox");
    assert_eq!(
        json["token_endpoint"],
        "http://127.0.0.1:8080/sandbox/oauth/token"
    );
}
