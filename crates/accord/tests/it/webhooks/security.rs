//! Server-side request forgery at registration and at send time, secret rotation, tenant
//! isolation of endpoints and deliveries.

use super::{connect_new_company, recorded, register, spawn, time_of, wait_deliveries, Receiver};
use crate::helpers::{spawn_app_with, TestApp, PUBLIC_IP};
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
        "https://[fec0::1]/hook",
        "https://[ff02::1]/hook",
        "https://[::]/hook",
        "https://[::127.0.0.1]/hook",        // IPv4-compatible
        "https://[::a9fe:a9fe]/hook",        // IPv4-compatible 169.254.169.254
        "https://[::ffff:0:7f00:1]/hook",    // IPv4-translated
        "https://[64:ff9b::7f00:1]/hook",    // NAT64 of 127.0.0.1
        "https://[64:ff9b::a9fe:a9fe]/hook", // NAT64 of the metadata address
        "https://[64:ff9b:1::a00:1]/hook",   // NAT64 local-use prefix
        "https://[2002:7f00:1::1]/hook",     // 6to4 of 127.0.0.1
        "https://[2002:a9fe:a9fe::1]/hook",  // 6to4 of 169.254.169.254
        "https://[2002:c0a8:101::1]/hook",   // 6to4 of 192.168.1.1
        "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook", // Teredo (client 127.0.0.1)
        "https://[2001:db8::1]/hook",
        "https://[100::1]/hook",
        "https://100.64.0.1/hook",
        "https://0.0.0.0/hook",
        "https://0/hook",
        "https://localhost/hook",
        "https://LOCALHOST./hook",
        "https://localhost../hook",
        "https://%6Cocalhost/hook",
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
    // Transition forms that carry a public IPv4 address are judged by it.
    for url in [
        "https://[64:ff9b::5db8:d822]/hook",
        "https://[2002:5db8:d822::1]/hook",
        "https://[2606:4700:4700::1111]/hook",
    ] {
        let (status, body) = strict
            .api_json(
                Method::POST,
                "/v1/webhook-endpoints",
                Some(json!({"url": url})),
            )
            .await;
        assert_eq!(status, 201, "{url}: {body}");
    }
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

/// Registers `url`; the status and the error on `url` (empty on success).
async fn try_register(app: &TestApp, method: Method, path: &str, url: &str) -> (u16, String) {
    let (status, body) = app.api_json(method, path, Some(json!({"url": url}))).await;
    if status == 422 {
        assert_eq!(body["errors"][0]["path"], "url", "{url}: {body}");
        assert!(
            body["type"].is_string() && body["title"].is_string(),
            "problem+json: {body}"
        );
    }
    let error = body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, error)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_resolving_inward_or_nowhere_are_refused_at_registration() {
    let strict = spawn_app_with(&[], None).await;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    strict
        .resolver
        .set("inward.lender.example", &[ip("127.0.0.1")]);
    strict.resolver.set("v6.lender.example", &[ip("::1")]);
    strict
        .resolver
        .set("metadata.lender.example", &[ip("169.254.169.254")]);
    strict
        .resolver
        .set("office.lender.example", &[ip("192.168.10.4")]);
    // One inward address among public ones is enough to refuse.
    strict
        .resolver
        .set("split.lender.example", &[ip(PUBLIC_IP), ip("10.0.0.8")]);
    strict
        .resolver
        .set("nat64.lender.example", &[ip("64:ff9b::7f00:1")]);
    for name in [
        "inward", "INWARD", "v6", "metadata", "office", "split", "nat64",
    ] {
        let url = format!("https://{name}.lender.example./hooks/accord");
        let (status, error) =
            try_register(&strict, Method::POST, "/v1/webhook-endpoints", &url).await;
        assert_eq!(status, 422, "{url}: {error}");
        assert!(
            error.contains("resolves to a private, loopback or link-local address"),
            "{url}: {error}"
        );
        assert!(
            !error.contains("127.0.0.1") && !error.contains("10.0.0.8"),
            "the answer does not map the network: {error}"
        );
    }
    let (status, error) = try_register(
        &strict,
        Method::POST,
        "/v1/webhook-endpoints",
        "https://nowhere.lender.example/hooks/accord",
    )
    .await;
    assert_eq!(status, 422, "{error}");
    assert!(error.contains("does not resolve"), "{error}");
    let (status, list) = strict
        .api_json(Method::GET, "/v1/webhook-endpoints", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(list["data"], json!([]), "nothing was registered");

    // Changing the URL is checked the same way, and a refused change changes nothing.
    let (id, _) = register(&strict, "https://hooks.lender.example/accord", &[]).await;
    let path = format!("/v1/webhook-endpoints/{id}");
    for url in [
        "https://inward.lender.example/accord",
        "https://nowhere.lender.example/accord",
    ] {
        let (status, error) = try_register(&strict, Method::PATCH, &path, url).await;
        assert_eq!(status, 422, "{url}: {error}");
    }
    let (_, got) = strict.api_json(Method::GET, &path, None).await;
    assert_eq!(got["url"], "https://hooks.lender.example/accord");

    // Development: a name on loopback is accepted; private and link-local stay refused.
    let dev = spawn(&[]).await;
    dev.resolver
        .set("inward.lender.example", &[ip("127.0.0.1")]);
    dev.resolver
        .set("office.lender.example", &[ip("192.168.10.4")]);
    dev.resolver
        .set("metadata.lender.example", &[ip("169.254.169.254")]);
    for (name, ok) in [("inward", true), ("office", false), ("metadata", false)] {
        let url = format!("https://{name}.lender.example/hooks/accord");
        let (status, error) = try_register(&dev, Method::POST, "/v1/webhook-endpoints", &url).await;
        assert_eq!(status == 201, ok, "{url}: {status} {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loopback_allowed_at_registration_is_refused_at_send_time_once_disallowed() {
    // Registered while the development setting allowed loopback…
    let dev = spawn(&[]).await;
    let receiver = Receiver::start().await;
    let (endpoint, secret) = register(&dev, &receiver.url, &["connection.linked"]).await;
    receiver.trust(&[&secret]);
    // …then the operator restarts Accord on the same data without it.
    let strict = dev.restart_with(&[("webhooks.poll_millis", "25")]).await;
    let (status, got) = strict
        .api_json(
            Method::GET,
            &format!("/v1/webhook-endpoints/{endpoint}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "the endpoint is still registered: {got}");
    strict
        .browser()
        .connect(Some(&strict.link_url), "sandbox")
        .await;
    let d = wait_deliveries(&strict, &endpoint, "attempt refused", |d| recorded(d, 1)).await;
    let attempt = &d[0]["attempts"][0];
    let error = attempt["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "address refused: the URL points to a private, loopback or link-local address"
        ),
        "{error}"
    );
    assert_eq!(attempt["response_status"], Value::Null);
    assert_eq!(d[0]["status"], "pending", "retried later: {d:#?}");
    assert!(
        receiver.received().is_empty(),
        "nothing reached the address"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_re_pointed_inward_after_registration_is_refused_at_send_time() {
    let app = spawn_app_with(&[("webhooks.poll_millis", "25")], None).await;
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    app.resolver.set("rebind.lender.example", &[ip(PUBLIC_IP)]);
    let (endpoint, _) = register(
        &app,
        "https://rebind.lender.example/hooks/accord",
        &["connection.linked"],
    )
    .await;
    // DNS rebinding: the name answers inward once Accord has accepted it.
    app.resolver.set("rebind.lender.example", &[ip("10.0.0.8")]);
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let d = wait_deliveries(&app, &endpoint, "attempt refused", |d| recorded(d, 1)).await;
    let attempt = &d[0]["attempts"][0];
    let error = attempt["error"].as_str().unwrap();
    assert_eq!(
        error,
        "address refused: rebind.lender.example resolves to a private, loopback or link-local address"
    );
    assert!(
        !serde_json::to_string(&d).unwrap().contains("10.0.0.8"),
        "the deliveries never name the address: {d:?}"
    );
    assert_eq!(attempt["response_status"], Value::Null);
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
