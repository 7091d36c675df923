//! The whole hosted flow, end to end, in one test: the harness itself is checked here.

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_whole_flow_connects_the_sandbox() {
    let app = spawn_app().await;
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    assert!(success.body.contains("is connected"), "{}", success.body);
    let res = app
        .api(
            reqwest::Method::GET,
            &format!("/v1/companies/{}/connections", app.company_id),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["data"][0]["status"], "linked");
}
