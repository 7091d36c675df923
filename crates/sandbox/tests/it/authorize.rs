//! The authorization endpoint, its sign-in page and the metadata document.

use accord_sandbox::SandboxClient;
use secrecy::SecretString;

use crate::helpers::{
    header, location, parse_form, pkce, query_param, spawn_app, spawn_at, str_field, CLIENT_ID,
    REDIRECT_URI,
};

#[tokio::test]
async fn full_flow_with_pkce_through_the_sign_in_form() {
    let app = spawn_app().await;
    let (verifier, challenge) = pkce("flow");
    let scope = "invoices:read company-info:read offline_access";

    let page = app.get(&app.authorize_url(scope, "st-1", &challenge)).await;
    assert_eq!(page.status(), 200);
    assert_eq!(header(&page, "cache-control"), "no-store");
    assert_eq!(header(&page, "x-content-type-options"), "nosniff");
    assert_eq!(header(&page, "referrer-policy"), "no-referrer");
    let csp = header(&page, "content-security-policy").to_owned();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'nonce-"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("<html lang=\"en\">"));
    assert!(html.contains("Sign in to Accord Sandbox"));
    assert!(html.contains("Read your sales invoices"));
    assert!(html.contains("Stay connected"));
    assert!(html.contains("<label for=\"organisation\">"));
    assert!(html.contains(">Approve</button>") && html.contains(">Deny</button>"));
    assert!(!html.contains("<script"));
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .unwrap()
        .split('\'')
        .next()
        .unwrap();
    assert!(html.contains(&format!("<style nonce=\"{nonce}\">")));

    // The form posts back under the mount path, whatever it is.
    let form = parse_form(&html);
    assert_eq!(form.action, "/sandbox/oauth/authorize");
    let response = app.submit(&form, "approve", "Acme Widgets").await;
    assert_eq!(response.status(), 303);
    let back = location(&response);
    assert!(
        back.starts_with("http://127.0.0.1:9/callback?tenant=t1&code="),
        "{back}"
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-1"));
    let code = query_param(&back, "code").unwrap();
    assert!(code.len() >= 43);

    let response = app.exchange(&code, &verifier).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), "no-store");
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert_eq!(tokens["scope"], scope);
    assert!(tokens["refresh_token"].is_string());

    let access = str_field(&tokens, "access_token");
    let company: serde_json::Value = app.api("company-info", access).await.json().await.unwrap();
    assert_eq!(company["data"]["organisation"], "Acme Widgets");
    let invoices = app.api("invoices", access).await;
    assert_eq!(invoices.status(), 200);
    let invoices: serde_json::Value = invoices.json().await.unwrap();
    assert_eq!(invoices["data"].as_array().unwrap().len(), 20);
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_state() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("deny");
    let form = app
        .sign_in_form("invoices:read", "keep-me", &challenge)
        .await;
    // Deny needs no user name.
    let response = app.submit(&form, "deny", "").await;
    assert_eq!(response.status(), 303);
    let back = location(&response);
    assert!(
        back.starts_with("http://127.0.0.1:9/callback?tenant=t1&"),
        "{back}"
    );
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("keep-me"));
    assert_eq!(query_param(&back, "code"), None);
}

#[tokio::test]
async fn unregistered_redirect_uri_shows_an_error_page_and_never_redirects() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("evil");
    for evil in [
        "http://127.0.0.1:9/callback?tenant=t2",
        "http://127.0.0.1:9/callback",
        "http://attacker.example/callback?tenant=t1",
    ] {
        let url = app
            .authorize_url("invoices:read", "s", &challenge)
            .replace(&url_encode(REDIRECT_URI), &url_encode(evil));
        let response = app.get(&url).await;
        assert_eq!(response.status(), 400, "{evil}");
        assert!(response.headers().get("location").is_none());
        let html = response.text().await.unwrap();
        assert!(html.contains("not registered"), "{html}");
    }
    // An unknown client gets the page too.
    let url = app
        .authorize_url("invoices:read", "s", &challenge)
        .replace(CLIENT_ID, "someone-else");
    let response = app.get(&url).await;
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
}

#[tokio::test]
async fn other_errors_go_back_to_the_client() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("errors");
    let good = app.authorize_url("invoices:read", "s1", &challenge);
    let cases = [
        (
            good.replace("invoices%3Aread", "payroll%3Aread"),
            "invalid_scope",
        ),
        (
            good.replace("response_type=code", "response_type=token"),
            "unsupported_response_type",
        ),
        (
            good.replace("code_challenge_method=S256", "code_challenge_method=plain"),
            "invalid_request",
        ),
        (good.replace(&challenge, "short"), "invalid_request"),
        (format!("{good}&state=again"), "invalid_request"),
    ];
    for (url, error) in cases {
        let response = app.get(&url).await;
        assert_eq!(response.status(), 302, "{url}");
        let back = location(&response);
        assert!(back.starts_with("http://127.0.0.1:9/callback?tenant=t1&"));
        assert_eq!(query_param(&back, "error").as_deref(), Some(error), "{url}");
        assert!(query_param(&back, "error_description").is_some());
    }
    let no_pkce = good.split("&code_challenge=").next().unwrap().to_owned();
    let back = location(&app.get(&no_pkce).await);
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_request")
    );
    assert_eq!(query_param(&back, "state").as_deref(), Some("s1"));
}

#[tokio::test]
async fn the_sign_in_form_is_single_use_and_cannot_be_edited() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("csrf");
    let form = app.sign_in_form("invoices:read", "s", &challenge).await;
    assert_eq!(app.submit(&form, "approve", "Org").await.status(), 303);
    // The same form again: its nonce is spent.
    let again = app.submit(&form, "approve", "Org").await;
    assert_eq!(again.status(), 400);
    assert!(again.headers().get("location").is_none());

    // A form whose hidden scope was widened is refused.
    let mut form = app.sign_in_form("invoices:read", "s", &challenge).await;
    for field in &mut form.fields {
        if field.0 == "scope" {
            field.1 = "invoices:read bills:read".into();
        }
    }
    let edited = app.submit(&form, "approve", "Org").await;
    assert_eq!(edited.status(), 400);

    // And a nonce expires with ten code lifetimes.
    let form = app.sign_in_form("invoices:read", "s", &challenge).await;
    app.clock.advance(time::Duration::minutes(11));
    assert_eq!(app.submit(&form, "approve", "Org").await.status(), 400);
}

#[tokio::test]
async fn an_empty_user_name_shows_the_form_again() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("empty");
    let form = app.sign_in_form("invoices:read", "s", &challenge).await;
    let response = app.submit(&form, "approve", "   ").await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("role=\"alert\""));
    assert!(html.contains("aria-invalid=\"true\""));
    // The new page carries a fresh nonce that works.
    let retry = parse_form(&html);
    assert_eq!(app.submit(&retry, "approve", "Org").await.status(), 303);
}

#[tokio::test]
async fn metadata_names_the_endpoints_under_the_mount_path() {
    for prefix in ["/sandbox", ""] {
        let app = spawn_at(prefix).await;
        let response = app
            .get(&app.url("/.well-known/oauth-authorization-server"))
            .await;
        assert_eq!(response.status(), 200);
        let metadata: serde_json::Value = response.json().await.unwrap();
        assert_eq!(metadata["issuer"], app.base);
        assert_eq!(metadata["token_endpoint"], app.url("/oauth/token"));
        assert_eq!(metadata["code_challenge_methods_supported"][0], "S256");
        let scopes = metadata["scopes_supported"].as_array().unwrap();
        assert!(scopes.iter().any(|s| s == "bills:write"));
    }
}

#[tokio::test]
async fn the_flow_works_at_the_root_too() {
    let app = spawn_at("").await;
    let (_, challenge) = pkce("root");
    let form = app.sign_in_form("invoices:read", "s", &challenge).await;
    assert_eq!(form.action, "/oauth/authorize");
    let tokens = app.tokens("invoices:read", "Root Org").await;
    assert!(tokens.get("refresh_token").is_none());
}

#[tokio::test]
async fn clients_can_be_registered_at_run_time() {
    let app = spawn_app().await;
    let (_, challenge) = pkce("late");
    let url = app
        .authorize_url("invoices:read", "s", &challenge)
        .replace(CLIENT_ID, "late-client");
    assert_eq!(app.get(&url).await.status(), 400);
    app.sandbox.register_client(SandboxClient {
        client_id: "late-client".into(),
        client_secret: SecretString::from("x"),
        redirect_uris: vec![REDIRECT_URI.into()],
    });
    assert_eq!(app.get(&url).await.status(), 200);
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
