//! The tenant API (`/v1/...`), endpoint by endpoint, against its fixed public contract (listed
//! in `docs/DESIGN.md`; integrations depend on it): status codes, shapes, RFC 9457
//! problem+json errors with field paths, tenant isolation, headers, and the OpenAPI document
//! (committed `openapi.json` = generated = served).

mod companies;
mod connections;
mod errors;
mod explains;
mod isolation;
mod notices;
mod openapi;
mod platforms;
mod sessions;
mod settings;

use crate::helpers::TestApp;
use accord_domain::ids::TenantId;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// One API answer: status, headers and the body as JSON (`Null` when empty).
struct Answer {
    status: u16,
    headers: HeaderMap,
    text: String,
    json: Value,
}

impl Answer {
    async fn of(res: reqwest::Response) -> Self {
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::Null)
        };
        Self {
            status,
            headers,
            text,
            json,
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", |v| v.to_str().unwrap())
    }

    /// The field paths of a 422 problem.
    fn paths(&self) -> Vec<String> {
        self.json["errors"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts an RFC 9457 problem document with this status.
    #[track_caller]
    fn assert_problem(&self, status: u16) {
        assert_eq!(self.status, status, "status; body: {}", self.text);
        assert!(
            self.header("content-type")
                .starts_with("application/problem+json"),
            "content-type {:?}; body: {}",
            self.header("content-type"),
            self.text
        );
        assert_eq!(self.json["status"], status, "problem status: {}", self.text);
        assert!(
            self.json["title"].as_str().is_some_and(|t| !t.is_empty()),
            "problem title: {}",
            self.text
        );
        assert!(
            self.json["type"].as_str().is_some_and(|t| !t.is_empty()),
            "problem type: {}",
            self.text
        );
    }

    /// Asserts a 422 problem whose errors name `path`.
    #[track_caller]
    fn assert_invalid(&self, path: &str) {
        self.assert_problem(422);
        assert!(
            self.paths().iter().any(|p| p == path),
            "expected an error at `{path}`, got {:?}: {}",
            self.paths(),
            self.text
        );
    }
}

async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Answer {
    call_as(app, &app.api_key, method, path, body).await
}

async fn call_as(
    app: &TestApp,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    Answer::of(req.send().await.unwrap()).await
}

/// Sends a raw body with a given content type.
async fn raw(app: &TestApp, method: Method, path: &str, content_type: &str, body: &str) -> Answer {
    let res = app
        .api(method, path)
        .header("content-type", content_type)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    Answer::of(res).await
}

fn ts(v: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(
        v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")),
        &Rfc3339,
    )
    .unwrap()
}

async fn create_company(app: &TestApp, name: &str) -> String {
    let res = call(
        app,
        Method::POST,
        "/v1/companies",
        Some(json!({ "name": name })),
    )
    .await;
    assert_eq!(res.status, 201, "{}", res.text);
    res.json["id"].as_str().unwrap().to_owned()
}

async fn link_session(app: &TestApp, company: &str, body: Value) -> Answer {
    call(
        app,
        Method::POST,
        &format!("/v1/companies/{company}/link-sessions"),
        Some(body),
    )
    .await
}

/// Connects the sandbox for the demo company through the real hosted flow, and returns the
/// connection (as the API shows it).
async fn connect_demo(app: &TestApp) -> Value {
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let list = call(
        app,
        Method::GET,
        &format!("/v1/companies/{}/connections", app.company_id),
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.text);
    let linked: Vec<&Value> = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["status"] == "linked")
        .collect();
    assert_eq!(linked.len(), 1, "{}", list.text);
    linked[0].clone()
}

fn now(app: &TestApp) -> OffsetDateTime {
    accord_domain::Clock::now(&app.clock)
}

fn tenant_id(app: &TestApp) -> TenantId {
    app.tenant_id.parse().unwrap()
}
