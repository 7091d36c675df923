//! Test harness: a sandbox served on a loopback port with a manual clock, and one helper per
//! endpoint, driven over real HTTP.

use std::sync::Arc;

use accord_domain::clock::ManualClock;
use accord_sandbox::{Sandbox, SandboxClient, SandboxConfig};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use reqwest::header::LOCATION;
use reqwest::redirect::Policy;
use secrecy::SecretString;
use sha2::{Digest as _, Sha256};
use time::macros::datetime;
use url::Url;

pub const CLIENT_ID: &str = "accord-test";
pub const CLIENT_SECRET: &str = "s3cret+with:odd&chars";
/// A redirect URI that already has a query, to check parameters are appended.
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback?tenant=t1";

pub struct TestApp {
    /// Base URL including the mount path, e.g. `http://127.0.0.1:1234/sandbox`.
    pub base: String,
    pub clock: ManualClock,
    pub sandbox: Sandbox,
    pub http: reqwest::Client,
}

/// A sandbox nested under `/sandbox`, as `accord demo` mounts it.
pub async fn spawn_app() -> TestApp {
    spawn_at("/sandbox").await
}

/// A sandbox mounted at `prefix` (`""` for the root, as `accord sandbox` serves it).
pub async fn spawn_at(prefix: &str) -> TestApp {
    let clock = ManualClock::new(datetime!(2025-06-01 09:00 UTC));
    let config = SandboxConfig {
        clients: vec![SandboxClient {
            client_id: CLIENT_ID.to_owned(),
            client_secret: SecretString::from(CLIENT_SECRET),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
        }],
        ..SandboxConfig::default()
    };
    let sandbox = Sandbox::new(config, Arc::new(clock.clone()));
    let router = if prefix.is_empty() {
        sandbox.router()
    } else {
        axum::Router::new().nest(prefix, sandbox.router())
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let http = reqwest::Client::builder()
        .redirect(Policy::none())
        .no_proxy()
        .build()
        .unwrap();
    TestApp {
        base: format!("http://{addr}{prefix}"),
        clock,
        sandbox,
        http,
    }
}

/// A PKCE pair (RFC 7636 §4.1–§4.2).
pub fn pkce(seed: &str) -> (String, String) {
    let verifier = format!("{seed}-{}", "v".repeat(60));
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// The hidden and named fields of the sign-in form, and the form's action.
pub struct SignInForm {
    pub action: String,
    pub fields: Vec<(String, String)>,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&#x2F;", "/")
        .replace("&#60;", "<")
        .replace("&#62;", ">")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
        .replace("&#38;", "&")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(unescape(&tag[start..end]))
}

/// Reads the sign-in form out of the page, as a browser would.
pub fn parse_form(html: &str) -> SignInForm {
    let form_tag = &html[html.find("<form").expect("a form")..];
    let action = attribute(&form_tag[..form_tag.find('>').unwrap()], "action").unwrap();
    let fields = html
        .split("<input")
        .skip(1)
        .map(|rest| &rest[..rest.find('>').unwrap()])
        .filter(|tag| tag.contains("type=\"hidden\""))
        .map(|tag| {
            (
                attribute(tag, "name").unwrap(),
                attribute(tag, "value").unwrap(),
            )
        })
        .collect();
    SignInForm { action, fields }
}

pub fn query_param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The origin (scheme, host, port) the form action is relative to.
    pub fn origin(&self) -> String {
        let url = Url::parse(&self.base).unwrap();
        url.origin().ascii_serialization()
    }

    pub fn authorize_url(&self, scope: &str, state: &str, challenge: &str) -> String {
        let mut url = Url::parse(&self.url("/oauth/authorize")).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", CLIENT_ID)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", scope)
            .append_pair("state", state)
            .append_pair("code_challenge", challenge)
            .append_pair("code_challenge_method", "S256");
        url.into()
    }

    pub async fn get(&self, url: &str) -> reqwest::Response {
        self.http.get(url).send().await.unwrap()
    }

    /// Loads the sign-in page for a request and returns its form.
    pub async fn sign_in_form(&self, scope: &str, state: &str, challenge: &str) -> SignInForm {
        let response = self.get(&self.authorize_url(scope, state, challenge)).await;
        assert_eq!(response.status(), 200);
        parse_form(&response.text().await.unwrap())
    }

    /// Submits the form with a decision, as the browser does; returns the raw response.
    pub async fn submit(
        &self,
        form: &SignInForm,
        decision: &str,
        organisation: &str,
    ) -> reqwest::Response {
        let mut fields = form.fields.clone();
        fields.push(("decision".into(), decision.into()));
        fields.push(("organisation".into(), organisation.into()));
        let action = format!("{}{}", self.origin(), form.action);
        self.http.post(action).form(&fields).send().await.unwrap()
    }

    /// Runs the browser part of the flow and returns the `Location` the user is sent back to.
    pub async fn approve(&self, scope: &str, organisation: &str, challenge: &str) -> String {
        let form = self.sign_in_form(scope, "st-1", challenge).await;
        let response = self.submit(&form, "approve", organisation).await;
        assert_eq!(response.status(), 303);
        location(&response)
    }

    /// Signs in and returns an authorization code and its verifier.
    pub async fn code(&self, scope: &str, organisation: &str) -> (String, String) {
        let (verifier, challenge) = pkce(organisation.split_whitespace().next().unwrap_or("x"));
        let location = self.approve(scope, organisation, &challenge).await;
        (query_param(&location, "code").expect("a code"), verifier)
    }

    /// `POST /oauth/token` with `client_secret_basic`.
    pub async fn token(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/token"))
            .basic_auth(form_encode(CLIENT_ID), Some(form_encode(CLIENT_SECRET)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    pub async fn exchange(&self, code: &str, verifier: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// Signs in and exchanges the code: the token response as JSON.
    pub async fn tokens(&self, scope: &str, organisation: &str) -> serde_json::Value {
        let (code, verifier) = self.code(scope, organisation).await;
        let response = self.exchange(&code, &verifier).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    /// `POST /oauth/revoke` with `client_secret_post`.
    pub async fn revoke(&self, token: &str) -> reqwest::Response {
        self.http
            .post(self.url("/oauth/revoke"))
            .form(&[
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("token", token),
            ])
            .send()
            .await
            .unwrap()
    }

    pub async fn api(&self, resource: &str, token: &str) -> reqwest::Response {
        self.http
            .get(self.url(&format!("/api/{resource}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers()[LOCATION].to_str().unwrap().to_owned()
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers()[name].to_str().unwrap()
}

pub fn str_field<'a>(json: &'a serde_json::Value, name: &str) -> &'a str {
    json[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {json}"))
}

/// RFC 6749 §2.3.1: Basic credentials are form-encoded first.
pub fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
