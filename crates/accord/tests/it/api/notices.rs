//! Notices: versions are immutable, new consents use the newest, invalid content names its paths.

use super::{call, link_session};
use crate::helpers::spawn_app;
use reqwest::Method;
use serde_json::json;
use serde_json::Value;
use std::collections::BTreeSet;

fn notice_body(purpose: &str) -> Value {
    json!({
        "category": "accounting",
        "locale": "en",
        "content": {
            "purpose": purpose,
            "data_uses": [{"data_type": "invoices", "direction": "read"}, {"data_type": "bills", "direction": "read"}],
            "retention": "We keep your data for 12 months after a decision.",
            "third_party_sharing": "Never shared with third parties.",
            "withdrawal": "Disconnect at any time from the manage page.",
            "privacy_policy_url": "https://lender.example/privacy"
        }
    })
}

#[tokio::test]
async fn notices_are_versioned_and_new_consents_use_the_new_version() {
    let app = spawn_app().await;
    let list = call(&app, Method::GET, "/v1/notices", None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    let notices = list.json["data"].as_array().unwrap();
    assert_eq!(
        notices.len(),
        6,
        "3 categories × 2 locales seeded: {}",
        list.text
    );
    assert!(notices.iter().all(|n| n["current_version"] == 1));
    let acc_en = notices
        .iter()
        .find(|n| n["category"] == "accounting" && n["locale"] == "en")
        .unwrap();
    let notice_id = acc_en["id"].as_str().unwrap().to_owned();
    let versions_path = format!("/v1/notices/{notice_id}/versions");
    let v1 = call(&app, Method::GET, &versions_path, None).await;
    assert_eq!(v1.status, 200, "{}", v1.text);
    assert_eq!(v1.json["data"].as_array().unwrap().len(), 1);
    let original = v1.json["data"][0].clone();

    let p2 = call(
        &app,
        Method::POST,
        "/v1/notices",
        Some(notice_body("Purpose two: to assess your loan.")),
    )
    .await;
    assert_eq!(p2.status, 201, "{}", p2.text);
    assert_eq!(p2.json["version"], 2);
    assert_eq!(p2.json["notice_id"], notice_id.as_str());
    let p3 = call(
        &app,
        Method::POST,
        "/v1/notices",
        Some(notice_body("Purpose three: to monitor your loan.")),
    )
    .await;
    assert_eq!(p3.status, 201, "{}", p3.text);
    assert_eq!(p3.json["version"], 3);
    assert_eq!(
        p3.json["content"]["purpose"],
        "Purpose three: to monitor your loan."
    );
    assert_eq!(
        p3.json["content"]["data_uses"],
        json!([{"data_type": "invoices", "direction": "read"}, {"data_type": "bills", "direction": "read"}])
    );

    let all = call(&app, Method::GET, &versions_path, None).await;
    let versions = all.json["data"].as_array().unwrap();
    assert_eq!(
        versions
            .iter()
            .map(|v| v["version"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        [1, 2, 3]
    );
    // A publish answers with the version and how it differs from the previous one.
    assert_eq!(
        p3.json["change"],
        json!({"class": "material", "fields": ["purpose"], "data_uses_added": [], "data_uses_removed": []})
    );
    assert_eq!(p3.json["reconsent_required_connections"], json!([]));
    let as_version = |published: &Value| {
        let mut v = published.clone();
        let fields = v.as_object_mut().unwrap();
        fields.remove("change");
        fields.remove("reconsent_required_connections");
        v
    };
    assert_eq!(versions[0], original, "version 1 unchanged");
    assert_eq!(versions[1], as_version(&p2.json), "version 2 unchanged");
    assert_eq!(versions[2], as_version(&p3.json));
    let list = call(&app, Method::GET, "/v1/notices", None).await;
    let acc_en = list.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == notice_id.as_str())
        .unwrap()
        .clone();
    assert_eq!(acc_en["current_version"], 3);
    assert_eq!(
        list.json["data"].as_array().unwrap().len(),
        6,
        "no new notice, a new version"
    );

    // A consent given now records version 3 and its words.
    let session = link_session(&app, &app.company_id, json!({"locale": "en"})).await;
    app.browser()
        .connect(Some(session.json["url"].as_str().unwrap()), "sandbox")
        .await;
    let consents = call(
        &app,
        Method::GET,
        &format!("/v1/companies/{}/consents", app.company_id),
        None,
    )
    .await;
    let c = &consents.json["data"][0];
    assert_eq!(c["notice_version"], 3, "{}", consents.text);
    assert_eq!(c["notice_version_id"], p3.json["id"]);
    let text = c["notice_text"].as_str().unwrap();
    assert!(
        text.contains("Purpose three: to monitor your loan."),
        "{text}"
    );
    assert!(!text.contains("Purpose two"), "{text}");
    let types: BTreeSet<&str> = c["data_uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["data_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        types,
        BTreeSet::from(["invoices", "bills"]),
        "the consent covers the notice's data uses"
    );
}

#[tokio::test]
async fn invalid_notices_are_refused_with_paths_and_publish_nothing() {
    let app = spawn_app().await;
    let mut cases: Vec<(Value, &str)> = Vec::new();
    let mut b = notice_body("p");
    b["content"]["privacy_policy_url"] = json!("http://lender.example/privacy");
    cases.push((b, "content.privacy_policy_url"));
    let mut b = notice_body("p");
    b["content"]["data_uses"][0]["direction"] = json!("sideways");
    cases.push((b, "content.data_uses.0.direction"));
    let mut b = notice_body("p");
    b["content"]["data_uses"][1]["data_type"] = json!("horoscopes");
    cases.push((b, "content.data_uses.1.data_type"));
    let mut b = notice_body("p");
    b["content"]["data_uses"] = json!([]);
    cases.push((b, "content.data_uses"));
    let mut b = notice_body("p");
    b["content"]["data_uses"] = json!([{"data_type": "invoices", "direction": "read"}, {"data_type": "invoices", "direction": "read"}]);
    cases.push((b, "content.data_uses.1"));
    let mut b = notice_body("p");
    b["content"]["purpose"] = json!("  ");
    cases.push((b, "content.purpose"));
    let mut b = notice_body("p");
    b["category"] = json!("payroll");
    cases.push((b, "category"));
    let mut b = notice_body("p");
    b["locale"] = json!("de");
    cases.push((b, "locale"));
    let mut b = notice_body("p");
    b["content"]["data_uses"][0]["direction"] = json!(3);
    cases.push((b, "content.data_uses.0.direction"));
    let mut b = notice_body("p");
    b["content"].as_object_mut().unwrap().remove("retention");
    cases.push((b, "content.retention"));
    for (body, path) in cases {
        let res = call(&app, Method::POST, "/v1/notices", Some(body.clone())).await;
        res.assert_invalid(path);
    }
    // Errors name the entries as sent, even when an earlier entry did not parse.
    let mut b = notice_body("p");
    b["content"]["data_uses"] = json!([
        {"data_type": "horoscopes", "direction": "read"},
        {"data_type": "invoices", "direction": "read"},
        {"data_type": "invoices", "direction": "read"}
    ]);
    let res = call(&app, Method::POST, "/v1/notices", Some(b)).await;
    res.assert_problem(422);
    assert_eq!(
        res.paths(),
        ["content.data_uses.0.data_type", "content.data_uses.2"],
        "{}",
        res.text
    );
    let mut b = notice_body("p");
    b["content"]["data_uses"] = json!([{"data_type": "horoscopes", "direction": "read"}]);
    let res = call(&app, Method::POST, "/v1/notices", Some(b)).await;
    res.assert_problem(422);
    assert_eq!(
        res.paths(),
        ["content.data_uses.0.data_type"],
        "{}",
        res.text
    );

    let mut b = notice_body("p");
    b["content"]["pre_ticked"] = json!(true);
    call(&app, Method::POST, "/v1/notices", Some(b))
        .await
        .assert_invalid("content.pre_ticked");

    let list = call(&app, Method::GET, "/v1/notices", None).await;
    assert!(
        list.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["current_version"] == 1),
        "{}",
        list.text
    );
    call(
        &app,
        Method::GET,
        "/v1/notices/0190a0b0-0000-7000-8000-000000000000/versions",
        None,
    )
    .await
    .assert_problem(404);
}
