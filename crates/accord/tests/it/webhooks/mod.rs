//! Signed webhooks: every event of the real flow reaches a loopback receiver that
//! verifies it with an independent Standard Webhooks implementation (the `standardwebhooks`
//! crate) and fails the test on any request it cannot verify; the retry schedule runs on the
//! injected clock; `Retry-After`, 3xx and 410 are honoured; a crash between the commit and the
//! send still delivers, with the same `webhook-id`; server-side request forgery is refused at
//! registration and at send time; a rotated secret signs beside the new one during the overlap.

use crate::helpers::{spawn_app_with, TestApp};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use time::OffsetDateTime;

mod delivery;
mod retries;
mod security;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub id: String,
    pub signature: String,
    pub body: String,
    /// Which of the receiver's secrets verified it (indices).
    pub verified_by: Vec<usize>,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
    pub fn event_type(&self) -> String {
        self.json()["type"].as_str().unwrap().to_owned()
    }
}

/// What the receiver answers next: a status, headers, or hanging (never answering).
#[derive(Debug, Clone)]
pub enum Answer {
    Status(u16, Vec<(&'static str, String)>),
    Hang,
}

#[derive(Default)]
struct Inner {
    secrets: Vec<String>,
    received: Vec<Received>,
    unverified: Vec<String>,
    script: VecDeque<Answer>,
}

/// A loopback webhook receiver verifying every request with `standardwebhooks`.
#[derive(Clone)]
pub struct Receiver {
    inner: Arc<Mutex<Inner>>,
    pub url: String,
    pub port: u16,
}

async fn receive(
    State(r): State<Receiver>,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let answer = {
        let mut inner = r.inner.lock().unwrap();
        let h = |n: &str| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let verified_by: Vec<usize> = inner
            .secrets
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                standardwebhooks::Webhook::new(s)
                    .unwrap()
                    .verify(body.as_bytes(), &headers)
                    .is_ok()
            })
            .map(|(i, _)| i)
            .collect();
        if verified_by.is_empty() {
            inner.unverified.push(format!("{uri} {}", h("webhook-id")));
        }
        inner.received.push(Received {
            path: uri.path().to_owned(),
            id: h("webhook-id"),
            signature: h("webhook-signature"),
            body: body.clone(),
            verified_by,
        });
        inner.script.pop_front()
    };
    match answer {
        None => StatusCode::NO_CONTENT.into_response(),
        Some(Answer::Status(code, headers)) => {
            let mut res = StatusCode::from_u16(code).unwrap().into_response();
            for (k, v) in headers {
                res.headers_mut().insert(k, v.parse().unwrap());
            }
            res
        }
        Some(Answer::Hang) => std::future::pending().await,
    }
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let r = Receiver {
            inner: Arc::default(),
            url: format!("http://127.0.0.1:{port}/hooks/accord"),
            port,
        };
        let app = axum::Router::new().fallback(receive).with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }

    /// The secrets it verifies with (any one verifying is enough).
    pub fn trust(&self, secrets: &[&str]) {
        self.inner.lock().unwrap().secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Fails the test if any request could not be verified.
    pub fn assert_all_verified(&self) {
        let inner = self.inner.lock().unwrap();
        assert!(
            inner.unverified.is_empty(),
            "unverifiable webhooks: {:?}",
            inner.unverified
        );
    }

    /// Waits (bounded: 15 s) until at least `n` requests arrived; returns them all.
    pub async fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let got = self.received();
            if got.len() >= n {
                self.assert_all_verified();
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{} of {n} webhooks arrived: {:?}",
                got.len(),
                got.iter().map(Received::event_type).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The settings every webhook test runs with: loopback allowed (the receiver is on it), a
/// quick poll.
pub const DEV: [(&str, &str); 2] = [
    ("webhooks.allow_loopback", "true"),
    ("webhooks.poll_millis", "25"),
];

pub async fn spawn(extra: &[(&str, &str)]) -> TestApp {
    let mut all: Vec<(&str, &str)> = DEV.to_vec();
    all.extend_from_slice(extra);
    spawn_app_with(&all, None).await
}

/// Registers `url` for `types` (empty: all); returns the endpoint id and its secret.
pub async fn register(app: &TestApp, url: &str, types: &[&str]) -> (String, String) {
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": url, "event_types": types, "description": "Risk engine"})),
        )
        .await;
    assert_eq!(status, 201, "register: {body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (body["id"].as_str().unwrap().to_owned(), secret)
}

pub async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let (status, body) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}/deliveries?limit=100"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().unwrap().clone()
}

/// Waits (bounded: 15 s) until `pred` holds for the endpoint's deliveries.
pub async fn wait_deliveries(
    app: &TestApp,
    endpoint: &str,
    what: &str,
    pred: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let d = deliveries(app, endpoint).await;
        if pred(&d) {
            return d;
        }
        assert!(Instant::now() < deadline, "{what}: {d:#?}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Connects the sandbox for a new company of the app's tenant; returns the connection id.
pub async fn connect_new_company(app: &TestApp, name: &str) -> String {
    let company = app.new_company(name).await;
    let link = app.new_link_url(&company).await;
    let success = app.browser().connect(Some(&link), "sandbox").await;
    success.url.rsplit('/').next().unwrap().to_owned()
}

/// Whether the (only) delivery shows attempt `n` recorded. The list reads a delivery, then its
/// attempts: an attempt committed in between shows in the attempts but not yet in the
/// delivery, so wait until the delivery too has moved past the time attempt `n` was made.
pub fn recorded(d: &[Value], n: usize) -> bool {
    let Some(attempts) = d.first().and_then(|x| x["attempts"].as_array()) else {
        return false;
    };
    d.len() == 1 && attempts.len() == n && d[0]["next_attempt_at"] != attempts[n - 1]["at"]
}

pub fn time_of(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap()
}
