//! Server-side request forgery at registration and at send time, secret rotation, tenant
//! isolation of endpoints and deliveries.

use super::{connect_new_company, recorded, register, spawn, time_of, wait_deliveries, Receiver};
use crate::helpers::spawn_app_with;
use accord_domain::Clock as _;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ssrf_corpus_is_refused_at_registration() {
    let strict = spawn_app_with(&[], None).await;
    for url in [
        "https://127.0.0.1/hook",
        "https://2130706433/hook",
        "https://017700000001/hook",
        "https://0177.0.0.1/hook",
        "https://0x7f000001/hook",
        "https://0x7f.0.0.1/hook",
        "https://127.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[::ffff:7f00:1]/hook",
        "https://[::ffff:a9fe:a9fe]/hook",
        "https://[0:0:0:0:0:ffff:10.0.0.1]/hook",
        "https://10.0.0.5/hook",
        "https://172.16.3.4/hook",
        "https://192.168.1.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[fe80::1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://0/hook",
        "https://localhost/hook",
        "https://LOCALHOST./hook",
        "https://hooks.localhost/hook",
        "https://user:pw@hooks.lender.example/hook",
        "http://hooks.lender.example/hook",
        "http://127.0.0.1:9000/hook",
        "ftp://hooks.lender.example/hook",
        "not a url",
    ] {
        let (status, body) = strict
            .api_json(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(status, 422, "{url} must be refused: {body}");
        assert_eq!(body["errors"][0]["path"], "url", "{url}: {body}");
    }
    let (status, _) = strict
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "https://hooks.lender.example/accord"})),
        )
        .await;
    assert_eq!(status, 201, "a public https URL is fine");
    // The development setting allows loopback, and nothing else inward.
    let dev = spawn(&[]).await;
    for (url, ok) in [
        ("http://127.0.0.1:9000/hook", true),
        ("http://[::1]:9000/hook", true),
        ("http://10.0.0.1/hook", false),
        ("https://169.254.169.254/", false),
    ] {
        let (status, body) = dev
            .api_json(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(status == 201, ok, "{url}: {status} {body}");
    }
    // Other fields are checked too, with their paths.
    let (status, body) = dev
        .api_json(
            Method::POST,
            "/v1/webhook-endpoints",
            Some(json!({"url": "http://127.0.0.1:1/", "event_types": ["consent.given", "consent.maybe"]})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "event_types[1]");
    // Changing the URL is checked like registering it.
    let (id, _) = register(&dev, "http://127.0.0.1:1/", &[]).await;
    let (status, body) = dev
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"url": "http://192.168.0.1/"})),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "url");
}

/// A name of this machine that resolves to an address Accord must not reach, if there is one
/// (its own host name usually resolves to loopback or a private address).
async fn inward_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()?
        .trim()
        .to_owned();
    let addrs: Vec<_> = tokio::net::lookup_host((name.as_str(), 0))
        .await
        .ok()?
        .collect();
    (!addrs.is_empty()
        && addrs
            .iter()
            .all(|a| !accord_domain::netguard::is_public(a.ip(), false)))
    .then_some(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_resolving_inward_is_refused_at_send_time() {
    let Some(name) = inward_name().await else {
        eprintln!("skipped: this machine's host name does not resolve inward");
        return;
    };
    let app = spawn_app_with(&[("webhooks.poll_millis", "25")], None).await;
    let receiver = Receiver::start().await;
    // The name is not a literal address: registration accepts it (DNS may change later).
    let url = format!("https://{name}:{}/hooks/accord", receiver.port);
    let (endpoint, _) = register(&app, &url, &["connection.linked"]).await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let d = wait_deliveries(&app, &endpoint, "attempt refused", |d| recorded(d, 1)).await;
    let error = d[0]["attempts"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("address refused"), "{error}");
    assert_eq!(d[0]["attempts"][0]["response_status"], Value::Null);
    assert!(
        receiver.received().is_empty(),
        "nothing reached the address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotated_secret_signs_beside_the_new_one_during_the_overlap() {
    let app = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, old) = register(&app, &receiver.url, &["connection.linked"]).await;
    let (status, rotated) = app
        .api_json(
            Method::POST,
            &format!("/v1/webhook-endpoints/{endpoint}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    let until = time_of(&rotated["previous_secret_expires_at"]);
    let hours = (until - app.clock.now()).whole_minutes();
    assert!(
        (24 * 60 - 1..=24 * 60).contains(&hours),
        "24 h overlap: {hours} min"
    );
    // The secret is shown once: never in a later answer.
    let (_, got) = app
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(got["secret"], Value::Null);
    assert!(!got.to_string().contains(&new[6..]));

    receiver.trust(&[&old, &new]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let during = receiver.wait_for(1).await.remove(0);
    assert_eq!(
        during.verified_by,
        [0, 1],
        "both secrets verify during the overlap"
    );
    assert_eq!(during.signature.split(' ').count(), 2);

    app.clock.set(until + time::Duration::seconds(1));
    connect_new_company(&app, "After Overlap Ltd").await;
    let after = receiver.wait_for(2).await.remove(1);
    assert_eq!(
        after.verified_by,
        [1],
        "only the new secret after the overlap"
    );
    assert_eq!(after.signature.split(' ').count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_are_managed_and_another_tenants_ids_are_not_found() {
    let app = spawn(&[]).await;
    let (id, secret) = register(&app, "http://127.0.0.1:1/a", &["consent.given"]).await;
    // At rest the secret is an AEAD ciphertext: neither it nor its key is in any file.
    let key = &secret["whsec_".len()..];
    for (file, bytes) in app.data_files() {
        assert!(
            !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
            "the secret is readable in {file}"
        );
    }
    let (status, list) = app
        .api_json(Method::GET, "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["secret"], Value::Null);
    let (status, patched) = app
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"event_types": [], "enabled": false, "description": ""})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["event_types"], json!([]));
    assert_eq!(patched["enabled"], false);
    assert_eq!(patched["description"], Value::Null);
    let (status, body) = app
        .api_json(
            Method::PATCH,
            &format!("/v1/webhook-endpoints/{id}"),
            Some(json!({"colour": "red"})),
        )
        .await;
    assert!(status == 422 || status == 400, "{status} {body}");

    let (_, key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let other = secrecy::ExposeSecret::expose_secret(&key).to_owned();
    let delivery = accord_domain::ids::WebhookDeliveryId::new();
    for (method, path) in [
        (Method::GET, format!("/v1/webhook-endpoints/{id}")),
        (Method::PATCH, format!("/v1/webhook-endpoints/{id}")),
        (Method::DELETE, format!("/v1/webhook-endpoints/{id}")),
        (
            Method::POST,
            format!("/v1/webhook-endpoints/{id}/rotate-secret"),
        ),
        (
            Method::GET,
            format!("/v1/webhook-endpoints/{id}/deliveries"),
        ),
        (
            Method::POST,
            format!("/v1/webhook-endpoints/{id}/deliveries/{delivery}/replay"),
        ),
        (Method::GET, "/v1/webhook-endpoints/not-a-uuid".to_owned()),
    ] {
        let res = app
            .http
            .request(method.clone(), app.url(&path))
            .bearer_auth(&other)
            .json(&json!({"enabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), 404, "{method} {path}");
        assert!(res
            .headers()
            .get("content-type")
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("application/problem+json"));
    }
    let res = app
        .http
        .get(app.url("/v1/webhook-endpoints"))
        .bearer_auth(&other)
        .send()
        .await
        .unwrap();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["data"], json!([]), "the other tenant lists none");

    let (status, _) = app
        .api_json(Method::DELETE, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = app
        .api_json(Method::GET, &format!("/v1/webhook-endpoints/{id}"), None)
        .await;
    assert_eq!(status, 404);
}
