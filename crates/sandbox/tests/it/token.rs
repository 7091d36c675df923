//! The token and revocation endpoints.

use crate::helpers::{header, pkce, spawn_app, str_field, CLIENT_ID, REDIRECT_URI};

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.unwrap();
    (status, str_field(&body, "error").to_owned())
}

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_burns_the_code() {
    let app = spawn_app().await;
    let (code, verifier) = app.code("invoices:read", "Org").await;
    let (wrong, _) = pkce("someone-else");
    assert_eq!(
        error_of(app.exchange(&code, &wrong).await).await,
        (400, "invalid_grant".into())
    );
    // A verifier outside the RFC 7636 alphabet is refused as well.
    assert_eq!(
        error_of(app.exchange(&code, "short").await).await,
        (400, "invalid_grant".into())
    );
    // The code was burnt by the failed attempt.
    assert_eq!(
        error_of(app.exchange(&code, &verifier).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn code_reuse_is_refused_and_revokes_its_tokens() {
    let app = spawn_app().await;
    let (code, verifier) = app.code("invoices:read offline_access", "Org").await;
    let first: serde_json::Value = app.exchange(&code, &verifier).await.json().await.unwrap();
    let access = str_field(&first, "access_token");
    let refresh = str_field(&first, "refresh_token");
    assert_eq!(app.api("invoices", access).await.status(), 200);

    let replay = app.exchange(&code, &verifier).await;
    assert_eq!(error_of(replay).await, (400, "invalid_grant".into()));
    // RFC 6749 §4.1.2: the tokens issued from the code are revoked.
    let response = app.api("invoices", access).await;
    assert_eq!(response.status(), 401);
    assert!(header(&response, "www-authenticate").contains("error=\"invalid_token\""));
    assert_eq!(
        error_of(app.refresh(refresh).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn a_code_expires_after_its_lifetime() {
    let app = spawn_app().await;
    let (code, verifier) = app.code("invoices:read", "Org").await;
    app.clock.advance(time::Duration::seconds(61));
    assert_eq!(
        error_of(app.exchange(&code, &verifier).await).await,
        (400, "invalid_grant".into())
    );
    // Just inside the lifetime it still works.
    let (code, verifier) = app.code("invoices:read", "Org").await;
    app.clock.advance(time::Duration::seconds(59));
    assert_eq!(app.exchange(&code, &verifier).await.status(), 200);
}

#[tokio::test]
async fn the_code_is_bound_to_its_redirect_uri_and_client() {
    let app = spawn_app().await;
    let (code, verifier) = app.code("invoices:read", "Org").await;
    let response = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/callback"),
            ("code_verifier", &verifier),
        ])
        .await;
    assert_eq!(error_of(response).await, (400, "invalid_grant".into()));

    let (code, verifier) = app.code("invoices:read", "Org").await;
    app.sandbox.register_client(accord_sandbox::SandboxClient {
        client_id: "other".into(),
        client_secret: secrecy::SecretString::from("other-secret"),
        redirect_uris: vec![REDIRECT_URI.into()],
    });
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth("other", Some("other-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (400, "invalid_grant".into()));
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_revokes_the_family() {
    let app = spawn_app().await;
    let tokens = app.tokens("invoices:read offline_access", "Org").await;
    let first = str_field(&tokens, "refresh_token");

    let response = app.refresh(first).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let rotated: serde_json::Value = response.json().await.unwrap();
    let second = str_field(&rotated, "refresh_token");
    assert_ne!(first, second);
    let access = str_field(&rotated, "access_token");
    assert_eq!(app.api("invoices", access).await.status(), 200);

    // The spent token is presented again: refused, and the whole family goes.
    assert_eq!(
        error_of(app.refresh(first).await).await,
        (400, "invalid_grant".into())
    );
    assert_eq!(app.api("invoices", access).await.status(), 401);
    assert_eq!(
        error_of(app.refresh(second).await).await,
        (400, "invalid_grant".into())
    );
}

#[tokio::test]
async fn refresh_can_narrow_but_not_widen_the_scope() {
    let app = spawn_app().await;
    let tokens = app
        .tokens("invoices:read bills:read offline_access", "Org")
        .await;
    let refresh = str_field(&tokens, "refresh_token");
    let wider = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "invoices:read payouts:read"),
        ])
        .await;
    assert_eq!(error_of(wider).await, (400, "invalid_scope".into()));
    let narrower: serde_json::Value = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("scope", "bills:read"),
        ])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(narrower["scope"], "bills:read");
    let access = str_field(&narrower, "access_token");
    assert_eq!(app.api("bills", access).await.status(), 200);
    assert_eq!(app.api("invoices", access).await.status(), 403);
}

#[tokio::test]
async fn revocation_cuts_data_api_access() {
    let app = spawn_app().await;
    let tokens = app.tokens("invoices:read offline_access", "Org").await;
    let access = str_field(&tokens, "access_token");
    let refresh = str_field(&tokens, "refresh_token");
    assert_eq!(app.api("invoices", access).await.status(), 200);

    // Revoking the refresh token revokes its access tokens too (RFC 7009 §2.1).
    assert_eq!(app.revoke(refresh).await.status(), 200);
    assert_eq!(app.api("invoices", access).await.status(), 401);
    assert_eq!(app.refresh(refresh).await.status(), 400);
    // Revoking again, or revoking garbage, still answers 200 (RFC 7009 §2.2).
    assert_eq!(app.revoke(refresh).await.status(), 200);
    assert_eq!(app.revoke("not-a-token").await.status(), 200);

    // An access token can be revoked on its own.
    let tokens = app.tokens("invoices:read", "Org").await;
    let access = str_field(&tokens, "access_token");
    assert_eq!(app.revoke(access).await.status(), 200);
    assert_eq!(app.api("invoices", access).await.status(), 401);
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let app = spawn_app().await;
    let (code, verifier) = app.code("invoices:read", "Org").await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT_URI),
        ("code_verifier", verifier.as_str()),
    ];
    let basic = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    assert!(header(&basic, "www-authenticate").starts_with("Basic"));
    assert_eq!(error_of(basic).await, (401, "invalid_client".into()));

    let mut post = form.to_vec();
    post.extend([("client_id", CLIENT_ID), ("client_secret", "wrong")]);
    let response = app
        .http
        .post(app.url("/oauth/token"))
        .form(&post)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(response).await, (401, "invalid_client".into()));

    let unknown = app
        .http
        .post(app.url("/oauth/revoke"))
        .basic_auth("nobody", Some("x"))
        .form(&[("token", "t")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(unknown).await, (401, "invalid_client".into()));

    // The failed attempts did not consume the code.
    assert_eq!(app.exchange(&code, &verifier).await.status(), 200);
}

#[tokio::test]
async fn malformed_token_requests_get_rfc_errors() {
    let app = spawn_app().await;
    assert_eq!(
        error_of(app.token(&[("grant_type", "password")]).await).await,
        (400, "unsupported_grant_type".into())
    );
    assert_eq!(
        error_of(app.token(&[("grant_type", "authorization_code")]).await).await,
        (400, "invalid_request".into())
    );
    assert_eq!(
        error_of(app.token(&[("code", "x")]).await).await,
        (400, "invalid_request".into())
    );
    let repeated = app
        .token(&[
            ("grant_type", "refresh_token"),
            ("grant_type", "refresh_token"),
        ])
        .await;
    assert_eq!(error_of(repeated).await, (400, "invalid_request".into()));
    let json = app
        .http
        .post(app.url("/oauth/token"))
        .basic_auth(CLIENT_ID, Some("x"))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(json).await, (400, "invalid_request".into()));
}
