//! Link settings in the flow: versions with their author, dark-pattern guardrails, the logo,
//! the brand colour's contrast, the exit confirmation, categories and platforms, copy with
//! placeholders, and the hostile corpus: every customizable field fed script tags, attribute
//! breakouts, `javascript:`/`data:` URLs, SVG with script, bidi controls, 1 MB strings and NUL
//! bytes, then every flow page checked inert.

use crate::helpers::{quietly, spawn_app, spawn_app_with, Browser, Page, TestApp};
use accord_domain::colour::{contrast, Rgb, AA_NORMAL, DARK_BG, LIGHT_BG};
use reqwest::Method;
use scraper::{Html, Selector};
use secrecy::ExposeSecret;
use serde_json::{json, Value};

async fn put_settings(app: &TestApp, key: &str, doc: &Value) -> (u16, Value, String) {
    let res = app
        .http
        .put(app.url("/v1/link-settings"))
        .bearer_auth(key)
        .json(doc)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let version = res
        .headers()
        .get("accord-settings-version")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = res.text().await.unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(Value::Null),
        version,
    )
}

/// The error paths and messages of a 422.
fn problems(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    (
                        e["path"].as_str().unwrap_or_default().to_owned(),
                        e["message"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The public id of the test app's API key (`acc_<key id>_<secret>`).
fn key_id(api_key: &str) -> String {
    accord_domain::crypto::ApiKey::parse(api_key).unwrap().0
}

#[tokio::test]
async fn every_change_is_a_version_with_its_author_and_changed_fields() {
    let app = spawn_app().await;
    let (_, current) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    let mut doc = current.clone();
    doc["brand"] = json!({"primary_colour": "#0b6e4f", "theme": "dark"});
    doc["landing"] = json!({"title": {"en": "Welcome, {companyName}"}});
    let (status, body, v1) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 200, "{body}");
    doc["powered_by_badge"] = json!(false);
    let (status, _, v2) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 200);
    let n1: i64 = v1.parse().unwrap();
    assert_eq!(v2.parse::<i64>().unwrap(), n1 + 1);

    // A refused change is not a version.
    doc["brand"]["primary_colour"] = json!("green");
    let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 422, "{body}");

    let (status, list) = app
        .api_json(Method::GET, "/v1/link-settings/versions?limit=1", None)
        .await;
    assert_eq!(status, 200, "{list}");
    let newest = &list["data"][0];
    assert_eq!(newest["number"], json!(n1 + 1));
    assert_eq!(newest["changed_fields"], json!(["powered_by_badge"]));
    assert_eq!(newest["changed_by"], json!(key_id(&app.api_key)));
    assert_eq!(newest["settings"]["powered_by_badge"], json!(false));
    assert!(!newest["changed_by"]
        .as_str()
        .unwrap()
        .contains(app.api_key.rsplit('_').next().unwrap()));
    let before = list["next_before"].as_i64().expect("an older page");
    let (_, older) = app
        .api_json(
            Method::GET,
            &format!("/v1/link-settings/versions?before={before}&limit=1"),
            None,
        )
        .await;
    assert_eq!(older["data"][0]["number"], json!(n1));
    assert_eq!(
        older["data"][0]["changed_fields"],
        json!(["brand", "landing"])
    );
    let (status, bad) = app
        .api_json(Method::GET, "/v1/link-settings/versions?limit=0", None)
        .await;
    assert_eq!(status, 422, "{bad}");
}

#[tokio::test]
async fn dark_patterns_are_refused_with_the_guardrails_reason() {
    let app = spawn_app().await;
    let (_, current) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    let cases = [
        (
            json!({"consent_prechecked": true}),
            "consent_prechecked",
            "unticked",
        ),
        (
            json!({"consent_checkbox_default": "checked"}),
            "consent_checkbox_default",
            "unticked",
        ),
        (json!({"hide_decline": true}), "hide_decline", "Decline"),
        (
            json!({"button_labels": {"decline_style": "link"}}),
            "button_labels.decline_style",
            "Decline",
        ),
        (
            json!({"show_disconnect_statement": false}),
            "show_disconnect_statement",
            "disconnect at any time",
        ),
        (
            json!({"withdrawal_text": {"en": " "}}),
            "withdrawal_text",
            "how-to-withdraw",
        ),
        (
            json!({"categories": [{"category": "banking", "requirement": "required", "required_data_types": ["balances"]}]}),
            "categories.0.required_data_types",
            "cannot make data",
        ),
        (
            json!({"button_labels": {"decline": {"en": "x"}}}),
            "button_labels.decline.en",
            "at least 2",
        ),
        (
            json!({"button_labels": {"decline": {"en": "✕ ✕"}}}),
            "button_labels.decline.en",
            "in words",
        ),
        (
            json!({"button_labels": {"connect": {"en": "Connect my accounts securely"}, "decline": {"en": "No"}}}),
            "button_labels.decline.en",
            "much shorter",
        ),
        (
            json!({"button_labels": {"connect": {"fr": "Connecter"}, "decline": {"fr": "connecter"}}}),
            "button_labels.decline.fr",
            "differ",
        ),
        // A label set alone stands beside Accord's own: both buttons would read the same.
        (
            json!({"button_labels": {"decline": {"en": "Agree and connect"}}}),
            "button_labels.decline.en",
            "“Agree and connect”",
        ),
        (
            json!({"button_labels": {"decline": {"fr": "Accepter et connecter"}}}),
            "button_labels.decline.fr",
            "differ",
        ),
        (
            json!({"button_labels": {"connect": {"en": "No thanks"}}}),
            "button_labels.connect.en",
            "differ",
        ),
        (
            json!({"button_labels": {"connect": {"fr": "non merci"}}}),
            "button_labels.connect.fr",
            "“Non merci”",
        ),
        // Much shorter than Accord's Connect ("Agree and connect", 17 characters).
        (
            json!({"button_labels": {"decline": {"en": "Nah"}}}),
            "button_labels.decline.en",
            "much shorter",
        ),
    ];
    for (patch, path, reason) in cases {
        let mut doc = current.clone();
        for (k, v) in patch.as_object().unwrap() {
            doc[k] = v.clone();
        }
        let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
        assert_eq!(status, 422, "{patch}: {body}");
        let found = problems(&body);
        assert!(
            found.iter().any(|(p, m)| p == path && m.contains(reason)),
            "{patch}: expected `{path}` with “{reason}”, got {found:?}"
        );
    }
    let (_, after) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(after, current, "nothing changed");

    // What the settings can change never reaches the consent box, Decline or the promise.
    let mut doc = current.clone();
    doc["button_labels"] =
        json!({"connect": {"en": "Link {platformName}"}, "decline": {"en": "Not now"}});
    doc["categories"] = json!([{"category": "accounting", "requirement": "required"}]);
    let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 200, "{body}");
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert!(consent.has("input#agree[type=checkbox]:not([checked])"));
    assert_eq!(
        consent.quiet_texts("form.consent-form button[value=connect]"),
        ["Link Accord Sandbox Books"]
    );
    assert_eq!(
        consent.quiet_texts("form.consent-form button[value=decline][type=submit]"),
        ["Not now"]
    );
    assert!(consent.has("p.promise"), "the disconnect promise stays");
    assert!(consent.has(".notice dd"), "the withdrawal text stays");
}

/// A 1×1 PNG.
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89\0\0\0\rIDATx\x9cc\xf8\x0f\0\0\x01\x01\0\x05\x18\xd8N\0\0\0\0IEND\xaeB`\x82";

async fn put_logo(app: &TestApp, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let res = app
        .api(Method::PUT, "/v1/link-settings/logo")
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_logo_is_recognised_by_its_bytes_and_served_inert() {
    let app = spawn_app().await;
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    assert_eq!(put_logo(&app, svg.clone(), "image/svg+xml").await.0, 415);
    // The declared type does not matter: SVG or HTML claimed as PNG is still refused.
    assert_eq!(put_logo(&app, svg, "image/png").await.0, 415);
    assert_eq!(
        put_logo(
            &app,
            b"<html><script>alert(1)</script>".to_vec(),
            "image/png"
        )
        .await
        .0,
        415
    );
    let mut big = PNG.to_vec();
    big.resize(256 * 1024 + 1, 0);
    assert_eq!(put_logo(&app, big, "image/png").await.0, 413);
    assert_eq!(put_logo(&app, Vec::new(), "image/png").await.0, 422);

    assert!(
        versions(&app).await.is_empty(),
        "a refused upload is no version"
    );
    let browser = app.browser();
    browser.get(&app.link_url).await;
    assert!(!browser.get("/link/start").await.has("img.logo"));

    let (status, logo) = put_logo(&app, PNG.to_vec(), "application/octet-stream").await;
    assert_eq!(status, 200, "{logo}");
    // Audited like any settings change: a version with the key that made it.
    let after_put = versions(&app).await;
    assert_eq!(after_put.len(), 1, "{after_put:?}");
    assert_eq!(after_put[0]["changed_fields"], json!(["logo"]));
    assert_eq!(after_put[0]["changed_by"], json!(key_id(&app.api_key)));
    assert_eq!(logo["content_type"], "image/png");
    let url = logo["url"].as_str().unwrap().to_owned();
    let served = app.http.get(&url).send().await.unwrap();
    assert_eq!(served.status(), 200);
    let h = served.headers();
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("default-src 'none'"));
    assert_eq!(served.bytes().await.unwrap().as_ref(), PNG);

    let page = browser.get("/link/start").await;
    let path = url.trim_start_matches(&app.base);
    assert_eq!(page.attrs("img.logo", "src"), [path]);

    let res = app
        .api(Method::DELETE, "/v1/link-settings/logo")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let number = res.headers()["accord-settings-version"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.http.get(&url).send().await.unwrap().status(), 404);
    assert!(!browser.get("/link/start").await.has("img.logo"));
    let after_delete = versions(&app).await;
    assert_eq!(after_delete.len(), 2);
    assert_eq!(after_delete[0]["number"].to_string(), number);
    assert_eq!(after_delete[0]["changed_fields"], json!(["logo"]));
    assert_eq!(after_delete[0]["changed_by"], json!(key_id(&app.api_key)));
    assert_eq!(
        after_delete[0]["settings"], after_put[0]["settings"],
        "the settings in force, unchanged"
    );
    let again = app
        .api(Method::DELETE, "/v1/link-settings/logo")
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    assert_eq!(versions(&app).await.len(), 2, "nothing removed, no version");
}

/// The settings versions, newest first.
async fn versions(app: &TestApp) -> Vec<Value> {
    let (status, list) = app
        .api_json(Method::GET, "/v1/link-settings/versions?limit=100", None)
        .await;
    assert_eq!(status, 200, "{list}");
    list["data"].as_array().unwrap().clone()
}

/// The brand colour's CSS on the page: every (text, background) pair it sets passes 4.5:1.
#[tokio::test]
async fn the_brand_colour_keeps_contrast_on_the_page() {
    let app = spawn_app().await;
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    for (colour, theme) in [
        ("#ffd700", "light"),
        ("#1d4ed8", "dark"),
        ("#777777", "system"),
        ("#00ff00", "system"),
    ] {
        doc["brand"] = json!({"primary_colour": colour, "theme": theme});
        let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
        assert_eq!(status, 200, "{body}");
        let page = browser.get("/link/start").await;
        assert_eq!(page.attrs("html", "data-theme"), [theme]);
        let css = page.quiet_texts("style#brand-colours").concat();
        let nonce = page.attrs("style#brand-colours", "nonce").concat();
        assert!(
            !nonce.is_empty()
                && page
                    .header("content-security-policy")
                    .contains(&format!("style-src 'self' 'nonce-{nonce}'")),
            "the style is allowed by its nonce only"
        );
        let var = |block: &str, name: &str| -> Rgb {
            let start = block.find(&format!("--{name}:")).unwrap() + name.len() + 3;
            Rgb::parse(&block[start..start + 7]).unwrap()
        };
        let blocks: Vec<&str> = css
            .split('}')
            .filter(|b| b.contains("--primary:"))
            .collect();
        assert_eq!(
            blocks.len(),
            3,
            "light, dark by preference, dark by choice: {css}"
        );
        for (i, block) in blocks.iter().enumerate() {
            let bg = if i == 0 { LIGHT_BG } else { DARK_BG };
            assert_eq!(
                var(block, "primary"),
                Rgb::parse(&colour.to_uppercase()).unwrap()
            );
            let pair = contrast(var(block, "primary"), var(block, "primary-fg"));
            let link = contrast(var(block, "link"), bg);
            assert!(
                pair >= AA_NORMAL && link >= AA_NORMAL,
                "{colour}: {pair} {link} in {block}"
            );
        }
    }
}

#[tokio::test]
async fn exit_asks_once_then_goes_through_finish() {
    let app = spawn_app().await;
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["exit_confirmation"] =
        json!({"en": "Leave **{companyName}**'s application?", "fr": "Quitter ?"});
    doc["button_labels"] = json!({"exit": {"en": "Close"}});
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    let browser = app.browser();
    browser.get(&app.link_url).await;
    for (path, from) in [
        ("/link/start", "/link/exit?from=landing"),
        ("/link/platforms", "/link/exit?from=select"),
        (
            "/link/platforms/sandbox/consent",
            "/link/exit?from=consent&platform=sandbox",
        ),
        ("/link/support", "/link/exit?from=support"),
        ("/link/platforms/nope/consent", "/link/exit?from=consent"),
    ] {
        let page = browser.get(path).await;
        assert_eq!(page.attrs("a.exit[data-exit]", "href"), [from], "{path}");
        assert_eq!(page.quiet_texts("a.exit"), ["Close"], "{path}");
        // The JS dialog holds the same question and a CSRF-protected form.
        assert!(page.has("dialog#exit-dialog[aria-labelledby] form[method=post][action='/link/exit'] input[name=csrf]"), "{path}");
        assert_eq!(
            page.quiet_texts("dialog#exit-dialog .exit-text strong"),
            ["Bluebell Bakery Ltd"]
        );
    }
    // No JS: the confirm page.
    let confirm = browser
        .get("/link/exit?from=consent&platform=sandbox")
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    assert!(!confirm.has("a.exit"), "no exit control on the exit page");
    assert_eq!(
        confirm.attrs(".actions a.button", "href"),
        ["/link/platforms/sandbox/consent"]
    );
    assert!(confirm
        .body
        .contains("Leave <strong>Bluebell Bakery Ltd</strong>"));
    // An unknown step is recorded as `other`, never echoed.
    let odd = browser.get("/link/exit?from=<script>").await;
    assert_eq!(odd.quiet_form("main form").1["from"], "other");
    let (action, fields) = confirm.quiet_form("main form");
    assert_eq!(action, "/link/exit");
    let mut forged = fields.clone();
    forged.insert("csrf".into(), "forged".into());
    assert_eq!(browser.post(&action, &forged).await.status, 403);
    let left = browser.post(&action, &fields).await;
    assert_eq!(left.status, 303);
    assert_eq!(
        left.location(),
        "/link/finish?exited=consent&platform=sandbox"
    );
    let finish = browser.get(&left.location()).await;
    assert_eq!(finish.status, 200);
    assert_eq!(finish.quiet_texts("h1"), ["You left before finishing"]);
    // Leaving ended the session: nobody at this browser goes on in the customer's name.
    assert_eq!(browser.get("/link/exit?from=consent").await.status, 403);
}

#[tokio::test]
async fn categories_platforms_copy_and_guides_shape_the_flow() {
    let app = spawn_app().await;
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["categories"] = json!([
        {"category": "banking", "requirement": "required"},
        {"category": "accounting"}
    ]);
    doc["allowed_platforms"] = json!(["sandbox", "sandbox-bank", "sandbox-shop"]);
    doc["platform_guide_urls"] = json!({"sandbox": "https://northwind.example/guides/sandbox"});
    doc["connection_guide_url"] = json!("https://northwind.example/guide");
    doc["landing"] = json!({
        "title": {"en": "Hello {companyName}", "fr": "Bonjour {companyName}"},
        "body": {"en": "**{tenantName}** needs *two* things. [Why?](https://northwind.example/why)"}
    });
    doc["button_labels"] =
        json!({"continue": {"en": "Let's go"}, "add_another": {"en": "Add one more"}});
    let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 200, "{body}");

    // Keys are checked against the catalog.
    let mut bad = doc.clone();
    bad["allowed_platforms"] = json!(["sandbox", "no-such-platform"]);
    bad["platform_guide_urls"] = json!({"nope": "https://x.example"});
    let (status, body, _) = put_settings(&app, &app.api_key, &bad).await;
    assert_eq!(status, 422);
    let paths: Vec<String> = problems(&body).into_iter().map(|p| p.0).collect();
    assert_eq!(paths, ["platform_guide_urls.nope", "allowed_platforms.1"]);

    let browser = app.browser();
    browser.get(&app.link_url).await;
    let landing = browser.get("/link/start").await;
    assert_eq!(landing.quiet_texts("h1"), ["Hello Bluebell Bakery Ltd"]);
    assert!(landing
        .body
        .contains("<strong>Northwind Lending</strong> needs <em>two</em> things."));
    assert_eq!(landing.quiet_texts("a.button.primary"), ["Let's go"]);
    let fr = browser.get("/link/start?lang=fr").await;
    assert_eq!(fr.quiet_texts("h1"), ["Bonjour Bluebell Bakery Ltd"]);
    assert!(
        !fr.body.contains("needs"),
        "no English body in French: falls back to Accord's text"
    );

    let select = browser.get("/link/platforms?lang=en").await;
    let headings = select.quiet_texts("section.category h2");
    assert_eq!(
        headings,
        [
            "Banking Requested by Northwind Lending",
            "Accounting Optional"
        ],
        "the tenant's order, commerce not offered"
    );
    assert_eq!(
        select.attrs("a.platform", "href"),
        [
            "/link/platforms/sandbox-bank/consent",
            "/link/platforms/sandbox/consent"
        ]
    );
    assert_eq!(
        browser
            .get("/link/platforms/sandbox-shop/consent")
            .await
            .status,
        404,
        "a category the tenant does not offer"
    );
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(
        consent.attrs("footer.help a", "href")[0],
        "https://northwind.example/guides/sandbox"
    );
    let bank = browser.get("/link/platforms/sandbox-bank/consent").await;
    assert_eq!(
        bank.attrs("footer.help a", "href")[0],
        "https://northwind.example/guide"
    );
    // "Required" never changes what the consent asks: the box, Decline and the same notice.
    assert!(bank.has("input#agree:not([checked])") && bank.has("button[value=decline]"));

    // A platform outside `allowed_platforms` is not offered.
    doc["allowed_platforms"] = json!(["sandbox-bank"]);
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    assert_eq!(
        browser.get("/link/platforms/sandbox/consent").await.status,
        404
    );
    assert_eq!(
        browser
            .get("/link/platforms")
            .await
            .attrs("a.platform", "href"),
        ["/link/platforms/sandbox-bank/consent"]
    );
}

/// The footer's items, as text with spaces collapsed.
fn footer_items(page: &Page) -> Vec<String> {
    page.quiet_texts("footer.help li")
        .iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The link settings that only switch or add something: every one shows on the pages.
#[tokio::test]
async fn policy_links_hours_labels_badge_and_landing_reach_the_pages() {
    let app = spawn_app().await;
    let browser = app.browser();
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["privacy_policy_url"] = json!("https://northwind.example/privacy");
    doc["terms_url"] = json!("https://northwind.example/terms");
    doc["support"]["hours"] =
        json!({"en": "Weekdays 8-20 for {companyName}", "fr": "En semaine, de 8 h à 20 h"});
    doc["button_labels"] = json!({
        "add_another": {"en": "Link one more", "fr": "Encore une"},
        "done": {"en": "All set", "fr": "C'est tout"}
    });
    doc["landing_enabled"] = json!(false);
    doc["powered_by_badge"] = json!(false);
    let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
    assert_eq!(status, 200, "{body}");

    // No landing: the link goes past it to the platform list, and no landing view is counted.
    let opened = browser.get(&app.link_url).await;
    assert_eq!(opened.status, 303);
    let past = browser.get(&opened.location()).await;
    assert_eq!(past.status, 303, "{}", past.body);
    assert_eq!(past.location(), "/link/platforms");
    let select = browser.get("/link/platforms?lang=en").await;
    assert_eq!(select.status, 200);

    for (lang, terms, privacy, hours) in [
        (
            "en",
            "Terms of use",
            "Privacy policy",
            "Weekdays 8-20 for Bluebell Bakery Ltd",
        ),
        (
            "fr",
            "Conditions d’utilisation",
            "Politique de confidentialité",
            "En semaine, de 8 h à 20 h",
        ),
    ] {
        for path in [
            "/link/platforms",
            "/link/platforms/sandbox/consent",
            "/link/nowhere/at/all",
        ] {
            let page = browser.get(&format!("{path}?lang={lang}")).await;
            let what = format!("{path} ({lang})");
            assert_eq!(
                page.quiet_texts("footer.help a[href='https://northwind.example/terms']"),
                [terms],
                "{what}"
            );
            assert_eq!(
                page.quiet_texts("footer.help a[href='https://northwind.example/privacy']"),
                [privacy],
                "{what}"
            );
            assert!(
                footer_items(&page).contains(&hours.to_owned()),
                "{what}: {:?}",
                footer_items(&page)
            );
            assert!(!page.has("footer .badge"), "{what}: the badge is off");
        }
    }

    // Back to English (the language switch is remembered), then connect.
    assert_eq!(browser.get("/link/platforms?lang=en").await.status, 200);
    let success = browser.connect(None, "sandbox").await;
    let actions = |p: &Page| p.quiet_texts("main .actions a.button");
    assert_eq!(actions(&success), ["Link one more", "All set"]);
    let fr = browser
        .get(&format!(
            "{}?lang=fr",
            success.url.trim_start_matches(&app.base)
        ))
        .await;
    assert_eq!(actions(&fr), ["Encore une", "C'est tout"]);

    let (_, funnel) = app
        .api_json(Method::GET, "/v1/analytics/funnel", None)
        .await;
    assert_eq!(
        funnel["steps"][0],
        json!({"step": "landing_viewed", "count": 0}),
        "{funnel}"
    );
    assert_eq!(
        funnel["steps"][1],
        json!({"step": "platform_selected", "count": 1})
    );

    // The badge and the landing come back with their settings; without a terms URL, no link.
    doc["powered_by_badge"] = json!(true);
    doc["landing_enabled"] = json!(true);
    doc.as_object_mut().unwrap().remove("terms_url");
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    let landing = browser.get("/link/start?lang=en").await;
    assert_eq!(landing.status, 200);
    assert_eq!(
        landing.quiet_texts("footer .badge"),
        ["Secured and powered by Accord"]
    );
    assert!(!landing.has("footer.help a[href='https://northwind.example/terms']"));
}

/// `{connectedCompanies}` has its live value in any copy, not only the trust panel.
#[tokio::test]
async fn the_live_count_fills_the_landing_title_too() {
    let app = spawn_app().await;
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["landing"] = json!({"title": {"en": "Join {connectedCompanies} businesses", "fr": "Rejoignez {connectedCompanies} entreprises"}});
    doc["exit_confirmation"] = json!({"en": "Leave {connectedCompanies} behind?"});
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    let browser = app.browser();
    browser.get(&app.link_url).await;
    browser.connect(None, "sandbox").await;
    let landing = browser.get("/link/start?lang=en").await;
    assert_eq!(landing.quiet_texts("h1"), ["Join 1 businesses"]);
    assert_eq!(
        landing
            .quiet_texts("dialog#exit-dialog .exit-text")
            .concat()
            .trim(),
        "Leave 1 behind?"
    );
    let fr = browser.get("/link/start?lang=fr").await;
    assert_eq!(fr.quiet_texts("h1"), ["Rejoignez 1 entreprises"]);
}

// ---- The hostile corpus ----

const MB: usize = 1 << 20;

fn corpus() -> Vec<(&'static str, String)> {
    vec![
        ("script", "<script>window.__pwned=1</script>".into()),
        ("img-onerror", "\"><img src=x onerror=alert(1)>".into()),
        ("attr-breakout", "' onmouseover='alert(1)' x='".into()),
        ("style-breakout", "</style><script>alert(1)</script>".into()),
        ("md-javascript", "[click](javascript:alert(1))".into()),
        (
            "md-data",
            "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)".into(),
        ),
        ("md-image", "![x](https://tracker.example/p.png)".into()),
        (
            "svg-script",
            "<svg onload=alert(1)><script>alert(1)</script></svg>".into(),
        ),
        ("javascript-url", "javascript:alert(1)".into()),
        (
            "data-url",
            "data:text/html,<script>alert(1)</script>".into(),
        ),
        (
            "url-breakout",
            "https://ok.example/\" onmouseover=\"alert(1)".into(),
        ),
        (
            "bidi",
            "Pay \u{202E}gnp.exe\u{202C} now \u{2066}x\u{2069}".into(),
        ),
        ("nul", "abc\u{0}def".into()),
        ("huge", "x".repeat(MB)),
        ("long", "y".repeat(100_000)),
        (
            "template",
            "{{ 7*7 }} {% raw %} ${7*7} {companyName} {unknown}".into(),
        ),
    ]
}

/// Every customizable text or URL field, as a JSON path: each localised field in both
/// languages, and the MNDA's template and signatory.
const FIELDS: [&str; 37] = [
    "legal_name",
    "trust_message.en",
    "trust_message.fr",
    "trust_statistics.0.en",
    "trust_statistics.0.fr",
    "privacy_policy_url",
    "terms_url",
    "connection_guide_url",
    "platform_guide_urls.sandbox",
    "support.phone",
    "support.email",
    "support.hours.en",
    "support.hours.fr",
    "landing.title.en",
    "landing.title.fr",
    "landing.body.en",
    "landing.body.fr",
    "exit_confirmation.en",
    "exit_confirmation.fr",
    "button_labels.continue.en",
    "button_labels.continue.fr",
    "button_labels.connect.en",
    "button_labels.connect.fr",
    "button_labels.decline.en",
    "button_labels.decline.fr",
    "button_labels.add_another.en",
    "button_labels.add_another.fr",
    "button_labels.done.en",
    "button_labels.done.fr",
    "button_labels.exit.en",
    "button_labels.exit.fr",
    "brand.primary_colour",
    "allowed_platforms.0",
    "mnda.template.en",
    "mnda.template.fr",
    "mnda.signatory_name",
    "mnda.signatory_title",
];

fn set(doc: &mut Value, path: &str, value: Value) {
    let mut value = Some(value);
    let mut cur = doc;
    let parts: Vec<&str> = path.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i == parts.len() - 1;
        if let Ok(n) = part.parse::<usize>() {
            if !cur.is_array() {
                *cur = json!([]);
            }
            let arr = cur.as_array_mut().unwrap();
            while arr.len() <= n {
                arr.push(json!({}));
            }
            cur = &mut arr[n];
        } else {
            if !cur.is_object() {
                *cur = json!({});
            }
            cur = cur
                .as_object_mut()
                .unwrap()
                .entry(part.to_string())
                .or_insert(Value::Null);
        }
        if last {
            *cur = value.take().unwrap_or_default();
            return;
        }
    }
}

/// The pages of one session the corpus test renders beyond fixed paths.
struct Places {
    /// The linked sandbox connection's success page, and its receipt.
    success: String,
    receipt: String,
    /// The sandbox bank connection, waiting for agreement to changed terms.
    reconsent: String,
    /// The manage page's confirmation before disconnecting the sandbox.
    disconnect: String,
}

/// `path` with `lang` set (the language switch's way; it is remembered in a cookie, so the
/// posted pages after it speak that language too).
fn in_lang(path: &str, lang: &str) -> String {
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}lang={lang}")
}

/// Every page of the flow a session can see, in both languages: landing, selection, consent,
/// declined, callback error, success, receipt, NDA, re-consent, support form and its "done"
/// page, an error page, manage, the manage confirmation, exit, finish, guide and privacy.
async fn render_all(app: &TestApp, browser: &Browser, places: &Places) -> Vec<(String, Page)> {
    let mut pages = Vec::new();
    for lang in ["en", "fr"] {
        for path in [
            "/link/start",
            places.receipt.as_str(),
            "/link/platforms",
            "/link/platforms/sandbox/consent",
            places.success.as_str(),
            "/link/nda?platform=sandbox",
            places.reconsent.as_str(),
            "/link/support?step=consent&platform=sandbox",
            "/link/platforms/does-not-exist/consent",
            "/manage",
            places.disconnect.as_str(),
            "/link/exit?from=consent&platform=sandbox",
            "/guide",
            "/privacy",
        ] {
            let url = in_lang(path, lang);
            let page = browser.get(&url).await;
            assert!(page.status < 500, "{url}: {}", page.status);
            if [
                places.reconsent.as_str(),
                places.disconnect.as_str(),
                "/link/nda?platform=sandbox",
            ]
            .contains(&path)
            {
                assert_eq!(page.status, 200, "{url}: {}", page.body);
            }
            pages.push((url, page));
        }
        // "No thanks" on the consent step.
        let consent = browser
            .get(&in_lang("/link/platforms/sandbox/consent", lang))
            .await;
        let (action, mut fields) = consent.quiet_form("form.consent-form");
        fields.insert("action".into(), "decline".into());
        let declined = browser.post(&action, &fields).await;
        assert_eq!(declined.status, 200, "declined: {}", declined.body);
        pages.push((format!("declined ({lang})"), declined));
        // Agreed, then denied at the platform: the callback-error page.
        let to_platform = browser.consent("sandbox", true).await;
        assert_eq!(to_platform.status, 303, "{}", to_platform.body);
        let callback = browser
            .sandbox_decide(&to_platform.location(), "Bluebell", false)
            .await;
        let failed = browser.get(&callback.location()).await;
        assert_eq!(failed.status, 200, "callback error: {}", failed.body);
        pages.push((format!("callback error ({lang})"), failed));
        // A support request sent: its "done" page.
        let form = browser
            .get(&in_lang(
                "/link/support?step=consent&platform=sandbox",
                lang,
            ))
            .await;
        let (action, mut fields) = form.quiet_form("form.support-form");
        fields.insert("topic".into(), "other".into());
        fields.insert("message".into(), "Help, please.".into());
        fields.insert("reply_to".into(), "owner@bluebell.example".into());
        let done = browser.post(&action, &fields).await;
        assert_eq!(done.status, 200, "support done: {}", done.body);
        assert!(
            done.has("main [role=status]"),
            "support done: {}",
            done.body
        );
        pages.push((format!("support done ({lang})"), done));
    }
    // Finishing ends its session, so the finish page is seen through a link of its own.
    for lang in ["en", "fr"] {
        let leaving = app.browser();
        let link = app.new_link_url(&app.company_id).await;
        assert_eq!(leaving.get(&link).await.status, 303);
        let finish = in_lang("/link/finish?exited=consent", lang);
        let page = leaving.get(&finish).await;
        assert_eq!(page.status, 200, "{finish}: {}", page.body);
        pages.push((finish, page));
    }
    pages
}

/// Hostile text that would be markup if it reached a page unescaped.
const MARKUP: [&str; 6] = [
    "<script>window.__pwned",
    "<script>alert",
    "<img src=x",
    "<svg",
    "</style><script>",
    "onerror=alert(1)>",
];

/// The consent step keeps what settings can never take away, whatever they hold: the Decline
/// button beside Connect, the "disconnect at any time" promise, and the help footer with the
/// support form.
fn assert_consent_honest(what: &str, path: &str, page: &Page) {
    if !path.starts_with("/link/platforms/sandbox/consent") {
        return;
    }
    let promise = if path.ends_with("lang=fr") {
        "Vous pouvez couper l’accès à tout moment\u{a0}: le partage s’arrête aussitôt."
    } else {
        "You can disconnect at any time, and sharing stops at once."
    };
    assert_eq!(page.status, 200, "{what} {path}");
    assert!(
        page.has("form.consent-form .actions button[type=submit][name=action][value=decline]"),
        "{what} {path}: Decline"
    );
    assert!(
        page.has("form.consent-form .actions button[type=submit][name=action][value=connect]"),
        "{what} {path}: Connect"
    );
    assert!(
        page.has("input#agree[type=checkbox]:not([checked])"),
        "{what} {path}: the box"
    );
    assert_eq!(
        page.quiet_texts("main p.promise-inline"),
        [promise],
        "{what} {path}: the promise"
    );
    assert_eq!(
        page.quiet_texts("aside p.promise"),
        [promise],
        "{what} {path}"
    );
    assert!(
        page.has("footer.help h2") && page.has("footer.help a[href^='/link/support?step=consent']"),
        "{what} {path}: the support footer"
    );
}

/// The page is inert: the only script is Accord's, no event-handler attribute, no
/// `javascript:`/`data:` URL, no SVG or foreign image, the only style block the validated
/// brand colours, no NUL or bidi control.
fn assert_inert(what: &str, path: &str, page: &Page) {
    let body = &page.body;
    assert!(!body.contains('\u{0}'), "{what} {path}: NUL byte");
    for marker in MARKUP {
        assert!(
            !body.contains(marker),
            "{what} {path}: {marker:?} unescaped"
        );
    }
    for c in [
        '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
        '\u{2068}', '\u{2069}',
    ] {
        assert!(
            !body.contains(c),
            "{what} {path}: bidi control U+{:04X}",
            c as u32
        );
    }
    quietly(|| {
        let doc = Html::parse_document(body);
        let all = Selector::parse("*").unwrap();
        for el in doc.select(&all) {
            let v = el.value();
            let name = v.name();
            assert!(
                !matches!(
                    name,
                    "svg" | "iframe" | "object" | "embed" | "base" | "math"
                ),
                "{what} {path}: <{name}>"
            );
            if name == "script" {
                assert_eq!(
                    v.attr("src"),
                    Some("/assets/accord.js"),
                    "{what} {path}: a script"
                );
                assert!(
                    el.text().collect::<String>().trim().is_empty(),
                    "{what} {path}: inline script"
                );
            }
            if name == "style" {
                assert_eq!(
                    v.attr("id"),
                    Some("brand-colours"),
                    "{what} {path}: a style block"
                );
                let css: String = el.text().collect();
                assert!(
                    css.chars()
                        .all(|c| c.is_ascii_alphanumeric() || ":;{}()#-,[]=_ @".contains(c)),
                    "{what} {path}: style {css}"
                );
            }
            if name == "img" {
                let src = v.attr("src").unwrap_or_default();
                assert!(
                    src.starts_with("/assets/marks/") || src.starts_with("/brand/"),
                    "{what} {path}: img {src}"
                );
            }
            for (attr, value) in v.attrs() {
                assert!(!attr.starts_with("on"), "{what} {path}: <{name} {attr}>");
                let lower: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect::<String>()
                    .to_ascii_lowercase();
                if matches!(attr, "href" | "src" | "action" | "formaction" | "srcset") {
                    assert!(
                        !lower.starts_with("javascript:")
                            && !lower.starts_with("data:")
                            && !lower.starts_with("vbscript:"),
                        "{what} {path}: {attr}={value}"
                    );
                }
            }
        }
    });
}

/// Publishes a material change of the English banking notice (a longer retention), so linked
/// bank connections need the customer's agreement again.
async fn publish_banking_change(app: &TestApp) {
    let (_, list) = app.api_json(Method::GET, "/v1/notices", None).await;
    let notice = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["category"] == "banking" && n["locale"] == "en")
        .expect("the banking notice")
        .clone();
    let (_, versions) = app
        .api_json(
            Method::GET,
            &format!("/v1/notices/{}/versions", notice["id"].as_str().unwrap()),
            None,
        )
        .await;
    let mut content = versions["data"].as_array().unwrap().last().unwrap()["content"].clone();
    let retention = content["retention"].as_str().unwrap().to_owned();
    content["retention"] = json!(format!("{retention} Kept a year longer for audits."));
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/notices",
            Some(json!({"category": "banking", "locale": "en", "content": content})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn hostile_input_in_every_field_is_refused_or_rendered_inert() {
    // Every render sends a support request and several form posts: no limits here.
    let app = spawn_app_with(
        &[
            ("rate_limits.support_per_ip", "0"),
            ("rate_limits.support_per_session", "0"),
            ("rate_limits.posts_per_ip", "0"),
        ],
        None,
    )
    .await;
    // The base document offers an NDA, so its page and fields are in the corpus too.
    let (_, mut base) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    base["mnda"] = json!({
        "template": {"en": "Between {tenantLegalName} and {companyName}.", "fr": "Entre {tenantLegalName} et {companyName}."},
        "signatory_name": "Ada Lovelace",
        "signatory_title": "Director"
    });
    let (status, body, _) = put_settings(&app, &app.api_key, &base).await;
    assert_eq!(status, 200, "{body}");
    let base = body;
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let success_path = success.url.trim_start_matches(&app.base).to_owned();
    let receipt_path = success.attrs("a[href^='/link/receipts/']", "href")[0].clone();
    let sandbox_id = success_path.rsplit('/').next().unwrap().to_owned();
    // A bank connection whose terms then change materially: its re-consent page.
    let bank = browser.connect(None, "sandbox-bank").await;
    let bank_id = bank.url.rsplit('/').next().unwrap().to_owned();
    publish_banking_change(&app).await;
    let reconsent = format!("/link/connections/{bank_id}/reconsent");
    assert_eq!(browser.get(&reconsent).await.status, 200);
    assert!(browser.get(&app.manage_url).await.status < 400);
    let places = Places {
        success: success_path,
        receipt: receipt_path,
        reconsent,
        disconnect: format!("/manage/connections/{sandbox_id}/disconnect"),
    };

    let mut accepted_somewhere = 0;
    for (name, input) in corpus() {
        // Each field alone: refused with its own path (and nothing saved), or accepted.
        let mut accepted = Vec::new();
        for field in FIELDS {
            let mut doc = base.clone();
            set(&mut doc, field, json!(input));
            let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
            match status {
                200 => accepted.push(field),
                422 => {
                    let paths: Vec<String> = problems(&body).into_iter().map(|p| p.0).collect();
                    assert!(
                        paths.iter().any(|p| p == field),
                        "{name} in {field}: refused at {paths:?}"
                    );
                }
                // A megabyte is over the API's request-size limit before any field is read.
                413 if name == "huge" => {}
                other => panic!("{name} in {field}: status {other}: {body}"),
            }
        }
        // The corpus entries no text may contain are refused everywhere.
        if matches!(name, "nul" | "bidi" | "huge" | "long") {
            assert!(accepted.is_empty(), "{name} accepted in {accepted:?}");
        }
        for url_field in [
            "privacy_policy_url",
            "terms_url",
            "connection_guide_url",
            "platform_guide_urls.sandbox",
        ] {
            assert!(
                !accepted.contains(&url_field),
                "{name} accepted as a URL in {url_field}"
            );
        }
        // Everything accepted at once (Decline apart: the same text as Connect is refused by
        // a guardrail), then every page.
        accepted_somewhere += usize::from(!accepted.is_empty());
        let (decline, rest): (Vec<&str>, Vec<&str>) = accepted
            .iter()
            .partition(|f| f.starts_with("button_labels.decline."));
        for group in [rest, decline] {
            if group.is_empty() {
                continue;
            }
            let mut doc = base.clone();
            for field in &group {
                set(&mut doc, field, json!(input));
            }
            let (status, body, _) = put_settings(&app, &app.api_key, &doc).await;
            assert_eq!(status, 200, "{name}: {body}");
            for (path, page) in render_all(&app, &browser, &places).await {
                assert_inert(name, &path, &page);
                assert_consent_honest(name, &path, &page);
            }
        }
    }
    assert!(accepted_somewhere >= 8, "the corpus reached the pages");

    // The script tag as trust message is shown as text, not run.
    let mut doc = base.clone();
    set(
        &mut doc,
        "trust_message.en",
        json!("<script>window.__pwned=1</script> MARKER-A-5e1"),
    );
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    let landing = browser.get("/link/start?lang=en").await;
    assert_eq!(
        landing.quiet_texts(".trust-message").concat().trim(),
        "<script>window.__pwned=1</script> MARKER-A-5e1"
    );

    // A second tenant's pages never show the first tenant's text.
    let (other, other_key) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Second Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let key = other_key.expose_secret().to_owned();
    let res = app
        .http
        .post(app.url("/v1/companies"))
        .bearer_auth(&key)
        .json(&json!({"name": "Other Co"}))
        .send()
        .await
        .unwrap();
    let company: Value = res.json().await.unwrap();
    let res = app
        .http
        .post(app.url(&format!(
            "/v1/companies/{}/link-sessions",
            company["id"].as_str().unwrap()
        )))
        .bearer_auth(&key)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    let link: Value = res.json().await.unwrap();
    let theirs = app.browser();
    assert_eq!(theirs.get(link["url"].as_str().unwrap()).await.status, 303);
    for path in [
        "/link/start",
        "/link/platforms",
        "/link/exit?from=landing",
        "/link/support",
        "/guide",
    ] {
        let page = theirs.get(path).await;
        assert!(page.status < 500, "{path}");
        assert!(
            !page.body.contains("MARKER-A-5e1"),
            "{path} shows the first tenant's text"
        );
        assert!(
            !page.body.contains("Northwind"),
            "{path} names the first tenant"
        );
    }
    assert_ne!(other.id.to_string(), app.tenant_id);
}

#[tokio::test]
async fn the_live_statistic_counts_connected_companies() {
    let app = spawn_app().await;
    let (_, mut doc) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    doc["trust_statistics"] = json!([{
        "en": "**{connectedCompanies}** businesses connected to {tenantName}",
        "fr": "{connectedCompanies} entreprises connectées"
    }]);
    assert_eq!(put_settings(&app, &app.api_key, &doc).await.0, 200);
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let stats = |p: &Page| p.quiet_texts(".trust .stats li").concat().trim().to_owned();
    assert_eq!(
        stats(&browser.get("/link/start").await),
        "0 businesses connected to Northwind Lending"
    );
    browser.connect(None, "sandbox").await;
    let page = browser.get("/link/platforms").await;
    assert_eq!(stats(&page), "1 businesses connected to Northwind Lending");
    assert!(page.body.contains("<strong>1</strong>"));
    assert_eq!(
        stats(&browser.get("/link/platforms?lang=fr").await),
        "1 entreprises connectées"
    );
}
