//! Canaries: the secrets a real flow handles — platform tokens, the link-session token, the
//! OAuth `state` and `code`, the browser-session cookie, the tenant API key — must never be
//! written in clear to the data directory (database, WAL, key file) nor to the logs.

use crate::helpers::{captured_logs, query_param, spawn_app, TestApp};

/// Named secrets of one flow.
struct Secrets(Vec<(&'static str, String)>);

impl Secrets {
    fn assert_absent_from(&self, place: &str, haystack: &[u8]) {
        for (name, secret) in &self.0 {
            assert!(secret.len() >= 16, "{name} is a real secret");
            let found = haystack
                .windows(secret.len())
                .any(|w| w == secret.as_bytes());
            assert!(!found, "the {name} appears in {place}");
        }
    }

    fn assert_absent_from_text(&self, place: &str, haystack: &str) {
        for (name, secret) in &self.0 {
            assert!(
                !haystack.contains(secret.as_str()),
                "the {name} appears in {place}"
            );
        }
    }

    fn assert_nowhere(&self, app: &TestApp) {
        let files = app.data_files();
        let names: Vec<&str> = files
            .iter()
            .map(|(p, _)| p.rsplit('/').next().unwrap())
            .collect();
        assert!(
            names.contains(&"accord.db"),
            "the database is checked: {names:?}"
        );
        for (path, bytes) in &files {
            self.assert_absent_from(path, bytes);
        }
        self.assert_absent_from_text("the logs", &accord_logs());
    }
}

/// Crates only the test's own browser uses (its cookie jar, its HTML parser): their log lines
/// show what the customer's browser holds, which is not Accord writing a secret down.
const BROWSER_SIDE: [&str; 4] = ["cookie_store", "html5ever", "markup5ever", "selectors"];

/// The captured logs without the test browser's own lines.
fn accord_logs() -> String {
    captured_logs()
        .lines()
        .filter(|line| {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                return true;
            };
            let target = v["fields"]["log.target"]
                .as_str()
                .or_else(|| v["target"].as_str())
                .unwrap_or_default();
            !BROWSER_SIDE.iter().any(|c| target.starts_with(c))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the whole flow by hand, keeping every secret seen on the way.
async fn flow_with_secrets(app: &TestApp) -> (Secrets, String) {
    let browser = app.browser();
    let link_token = app.link_url.rsplit('/').next().unwrap().to_owned();
    let opened = browser.get(&app.link_url).await;
    assert_eq!(opened.status, 303);
    let cookie = opened
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .find_map(|c| c.strip_prefix("accord_link="))
        .map(|c| c.split(';').next().unwrap().to_owned())
        .expect("session cookie");

    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let state =
        query_param(&to_platform.location(), "state").expect("state in the authorization URL");
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    let code = query_param(&callback.location(), "code").expect("code in the callback URL");
    assert_eq!(
        query_param(&callback.location(), "state").as_deref(),
        Some(state.as_str())
    );
    let done = browser.get(&callback.location()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let success = browser.get(&done.location()).await;
    assert_eq!(success.status, 200);

    let id = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tokens = app.platform_tokens(&id).await.expect("tokens stored");
    let refresh = tokens
        .refresh_token
        .clone()
        .expect("the sandbox issues a refresh token");
    let secrets = Secrets(vec![
        ("platform access token", tokens.access_token.clone()),
        ("platform refresh token", refresh),
        ("link-session token", link_token),
        ("browser-session cookie", cookie),
        ("OAuth state", state),
        ("OAuth code", code),
        ("tenant API key", app.api_key.clone()),
    ]);
    (secrets, id)
}

#[tokio::test]
async fn flow_secrets_never_reach_the_data_directory_or_the_logs() {
    let app = spawn_app().await;
    let (secrets, _) = flow_with_secrets(&app).await;
    secrets.assert_nowhere(&app);
}

#[tokio::test]
async fn flow_secrets_stay_out_after_disconnect_and_revocation() {
    let app = spawn_app().await;
    let (secrets, id) = flow_with_secrets(&app).await;
    let (status, _) = app
        .api_json(
            reqwest::Method::DELETE,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let jobs = app.revoke_jobs().await;
    assert_eq!(jobs.len(), 1);
    app.wait_job_done(jobs[0].id).await;
    secrets.assert_nowhere(&app);
}
