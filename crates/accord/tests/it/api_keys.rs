//! API keys through the API: named keys made (the whole key shown once), listed without
//! secrets with their last use (recorded at most once a minute), revoked (refused from then
//! on, the calling key included), another tenant's key not found, each change in the audit
//! trail.

use crate::helpers::spawn_app;
use accord_domain::ids::TenantId;
use accord_domain::Clock as _;
use reqwest::Method;
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use time::Duration;

/// A request with a key other than the app's own.
async fn call_with(app: &crate::helpers::TestApp, key: &str, path: &str) -> u16 {
    app.http
        .get(app.url(path))
        .bearer_auth(key)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn by_name<'a>(list: &'a Value, name: &str) -> &'a Value {
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == name)
        .unwrap_or_else(|| panic!("no key named {name}: {list}"))
}

#[tokio::test]
async fn keys_are_made_listed_used_and_revoked() {
    let app = spawn_app().await;
    let (status, made) = app
        .api_json(
            Method::POST,
            "/v1/api-keys",
            Some(json!({ "name": "  billing job " })),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    assert_eq!(made["name"], "billing job", "the name is trimmed");
    let key = made["key"].as_str().unwrap().to_owned();
    let key_id = made["key_id"].as_str().unwrap();
    assert!(key.starts_with(&format!("acc_{key_id}_")), "{made}");
    assert!(made["last_used_at"].is_null() && made["revoked_at"].is_null());

    // Listed, never with a secret; the app's own key is the tenant's first, "default".
    let (status, list) = app.api_json(Method::GET, "/v1/api-keys", None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["data"].as_array().unwrap().len(), 2, "{list}");
    assert!(!list.to_string().contains(&key[key_id.len() + 5..]));
    assert!(list["data"]
        .as_array()
        .unwrap()
        .iter()
        .all(|k| k.get("key").is_none() && k.get("secret_hash").is_none()));
    assert_eq!(by_name(&list, "billing job")["id"], made["id"]);
    let own = by_name(&list, "default");
    assert!(
        !own["last_used_at"].is_null(),
        "the calls above used it: {own}"
    );

    // The new key works, and its use is recorded, at most once a minute.
    assert_eq!(call_with(&app, &key, "/v1/platforms").await, 200);
    // Stored to the microsecond.
    let first_use = app.clock.now();
    let first_use = first_use
        .replace_nanosecond(first_use.nanosecond() / 1000 * 1000)
        .unwrap();
    app.clock.advance(Duration::seconds(30));
    assert_eq!(call_with(&app, &key, "/v1/platforms").await, 200);
    let (_, list) = app.api_json(Method::GET, "/v1/api-keys", None).await;
    let used = by_name(&list, "billing job");
    assert_eq!(
        used["last_used_at"],
        json!(first_use
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()),
        "a use within the minute is not written again"
    );
    app.clock.advance(Duration::seconds(31));
    assert_eq!(call_with(&app, &key, "/v1/platforms").await, 200);
    let (_, list) = app.api_json(Method::GET, "/v1/api-keys", None).await;
    assert_ne!(
        by_name(&list, "billing job")["last_used_at"],
        used["last_used_at"]
    );

    // Revoked: refused from then on; revoking again changes nothing.
    let path = format!("/v1/api-keys/{}", made["id"].as_str().unwrap());
    let (status, revoked) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{revoked}");
    assert!(!revoked["revoked_at"].is_null());
    assert_eq!(call_with(&app, &key, "/v1/platforms").await, 401);
    app.clock.advance(Duration::seconds(5));
    let (status, again) = app.api_json(Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        again["revoked_at"], revoked["revoked_at"],
        "the first revocation stays"
    );

    // Each change is in the audit trail, by the calling key.
    let trail = app
        .state
        .console()
        .audit(app.tenant(), None, 10)
        .await
        .unwrap();
    let actions: Vec<_> = trail
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(
        actions,
        [
            ("api_key.revoked", "api key default"),
            ("api_key.created", "api key default")
        ]
    );
    assert_eq!(trail[1].detail["name"], "billing job");
    assert!(!serde_json::to_string(&trail[1].detail)
        .unwrap()
        .contains(&key[key_id.len() + 5..]));
}

#[tokio::test]
async fn a_tenant_may_revoke_the_key_it_calls_with_by_its_public_key_id() {
    let app = spawn_app().await;
    // `acc_<key id>_<secret>`: whoever holds a key can name it.
    let key_id = app.api_key.split('_').nth(1).unwrap().to_owned();
    let (status, body) = app
        .api_json(Method::DELETE, &format!("/v1/api-keys/{key_id}"), None)
        .await;
    assert_eq!(status, 200, "the revoking call is answered: {body}");
    assert_eq!(body["key_id"], key_id.as_str());
    assert_eq!(body["name"], "default");
    let (status, _) = app.api_json(Method::GET, "/v1/api-keys", None).await;
    assert_eq!(status, 401, "and is the key's last");
}

#[tokio::test]
async fn another_tenants_key_and_bad_names_are_refused() {
    let app = spawn_app().await;
    let (other, other_key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let theirs = app
        .state
        .tenants()
        .api_keys(other.id)
        .await
        .unwrap()
        .remove(0);
    let (status, body) = app
        .api_json(Method::DELETE, &format!("/v1/api-keys/{}", theirs.id), None)
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["resource"], "api_key", "{body}");
    assert_eq!(
        call_with(&app, other_key.expose_secret(), "/v1/platforms").await,
        200,
        "their key still works"
    );
    let (status, _) = app
        .api_json(
            Method::DELETE,
            &format!("/v1/api-keys/{}", TenantId::new()),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api_json(Method::DELETE, "/v1/api-keys/not-a-uuid", None)
        .await;
    assert_eq!(status, 404);

    let before = app.state.tenants().api_keys(app.tenant()).await.unwrap();
    for body in [
        json!({ "name": "" }),
        json!({ "name": "x".repeat(101) }),
        json!({}),
        json!({ "name": "ok", "scopes": ["all"] }),
    ] {
        let (status, problem) = app.api_json(Method::POST, "/v1/api-keys", Some(body)).await;
        assert_eq!(status, 422, "{problem}");
    }
    assert_eq!(
        app.state.tenants().api_keys(app.tenant()).await.unwrap(),
        before,
        "a refused request makes no key"
    );
    assert!(app
        .state
        .console()
        .audit(app.tenant(), None, 10)
        .await
        .unwrap()
        .is_empty());
}
