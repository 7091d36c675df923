//! The fuzz targets: each takes arbitrary bytes, feeds them to one of Accord's parsers or
//! validators, and panics only when Accord would (a crash) or when an invariant breaks.

use accord_domain::guardrails::BuiltinLabels;
use accord_domain::integration::{return_redirect, IntegrationSettings, ReturnParams};
use accord_domain::netguard::check_url;
use accord_domain::receipt::{verify_compact, SigningKeys};
use accord_domain::settings::LinkSettings;
use accord_domain::validate::{url_field, Invalid};
use accord_web::services::connect::CallbackQuery;
use std::collections::BTreeMap;

pub struct Target {
    pub name: &'static str,
    /// Valid and nearly valid inputs the mutator starts from.
    pub seeds: &'static [&'static str],
    pub run: fn(&[u8]),
}

pub const TARGETS: &[Target] = &[
    Target {
        name: "callback_params",
        seeds: &[
            "state=abc&code=xyz",
            "error=access_denied&state=s&error_description=No%20thanks",
            "code=a&state=b&realmId=123&scope=openid%20email",
            "state=%FF%FE&code=&code=dup",
        ],
        run: callback_params,
    },
    Target {
        name: "return_url",
        seeds: &[
            "https://lender.example/back?x=1",
            "http://localhost:3000/done",
            "https://lender.example/back#frag",
            "https://user:pw@lender.example:8443/a/../b?q=%20",
        ],
        run: return_url,
    },
    Target {
        name: "webhook_url",
        seeds: &[
            "https://hooks.example/accord",
            "http://127.0.0.1:8080/hook",
            "https://[::ffff:10.0.0.1]/x",
            "https://0x7f.1/hook",
            "https://169.254.169.254/latest/meta-data",
        ],
        run: webhook_url,
    },
    Target {
        name: "markdown",
        seeds: &[
            "Hello **world**, see [our policy](https://example.com/privacy).",
            "<script>alert(1)</script>\n\n* a\n* [x](javascript:alert(1))",
            "![img](https://t.example/p.gif) `code` _em_ <a href=x>y</a>",
            "[a](<https://x.example/a b>) [b][r]\n\n[r]: mailto:a@b.example",
        ],
        run: markdown,
    },
    Target {
        name: "link_settings",
        seeds: &[
            "{}",
            r#"{"legal_name":"Bluebell Bakery Ltd","support":{"email":"help@example.com"}}"#,
            r#"{"integration":{"return_urls":["https://a.example/"],"embedding_origins":["https://a.example"]}}"#,
            r#"{"button_labels":{"decline":{"en":"Agree and connect"}},"trust_message":{"en":"**Hi** {company}"}}"#,
        ],
        run: link_settings,
    },
    Target {
        name: "receipt_verify",
        seeds: &[
            "eyJhbGciOiJFZERTQSIsImtpZCI6InMxIn0.e30.AAAA",
            "eyJhbGciOiJub25lIn0.e30.",
            "a.b.c",
            "..",
        ],
        run: receipt_verify,
    },
];

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The OAuth callback's query string, parsed as the callback handler's extractor does.
fn callback_params(data: &[u8]) {
    if let Ok(q) = serde_urlencoded::from_bytes::<CallbackQuery>(data) {
        // The state is looked up only when it is present, non-empty and at most 512 bytes.
        let _ = q
            .state
            .as_deref()
            .filter(|s| !s.is_empty() && s.len() <= 512);
        let _ = (q.code.as_deref(), q.error.as_deref(), q.extra.len());
    }
}

/// A registered return URL: validation, exact matching, and the redirect built from it.
fn return_url(data: &[u8]) {
    let raw = text(data);
    let settings = IntegrationSettings {
        embedding_origins: vec![raw.clone()],
        return_urls: vec![raw.clone()],
    };
    let mut invalid = Invalid::default();
    settings.validate(true, &mut invalid);
    let valid = invalid.into_result().is_ok();
    assert_eq!(settings.return_url(&raw), Some(raw.as_str()));
    let params = ReturnParams {
        company_id: "0191e0a2-0000-7000-8000-000000000000".into(),
        connection_id: Some(raw.clone()),
        platform: Some("sandbox".into()),
        status: "linked".into(),
        error_code: None,
    };
    if let Some(redirect) = return_redirect(&raw, &params) {
        if valid {
            // A valid return URL keeps its origin in the redirect.
            let prefix: String = raw.split(['?', '#']).next().unwrap_or_default().into();
            assert!(
                redirect.starts_with(&prefix),
                "{redirect} does not start with {prefix}"
            );
        }
    }
}

/// A webhook endpoint URL: the field validator and the network guard (no private addresses).
fn webhook_url(data: &[u8]) {
    let raw = text(data);
    let _ = url_field("url", &raw, false);
    if let Ok(url) = check_url(&raw, false) {
        assert!(
            matches!(url.scheme(), "https" | "http"),
            "accepted scheme {}",
            url.scheme()
        );
    }
}

/// Tenant Markdown: the output never carries markup the allow-list does not produce.
fn markdown(data: &[u8]) {
    let html = accord_web::markdown::render(&text(data));
    let lower = html.to_ascii_lowercase();
    for bad in [
        "<script",
        "<img",
        "<iframe",
        "javascript:",
        " on",
        "<a href=\"data:",
    ] {
        if bad == " on" {
            // An event handler attribute would be ` on…=` inside a tag.
            for tag in lower.split('<').skip(1) {
                let inside = tag.split('>').next().unwrap_or_default();
                assert!(
                    !inside.contains(" on"),
                    "attribute in rendered tag <{inside}>"
                );
            }
            continue;
        }
        if bad == "javascript:" {
            assert!(
                !lower.contains("href=\"javascript:"),
                "script link in {html}"
            );
            continue;
        }
        assert!(!lower.contains(bad), "{bad} in {html}");
    }
}

/// The link-settings document as the API receives it, then every validation and diff.
fn link_settings(data: &[u8]) {
    let Ok(settings) = serde_json::from_slice::<LinkSettings>(data) else {
        return;
    };
    let _ = settings.validate(true, &BuiltinLabels::default());
    let _ = settings.validate(false, &BuiltinLabels::default());
    let _ = settings.changed_fields(&LinkSettings::default());
    let _ = settings.offered_categories();
    // What was accepted serialises and reads back the same.
    let json = serde_json::to_vec(&settings).expect("settings serialise");
    let back: LinkSettings = serde_json::from_slice(&json).expect("settings read back");
    assert_eq!(back, settings);
}

/// A receipt's compact JWS, verified against a real key set: never a panic, and bytes that
/// were not signed by the key never verify.
fn receipt_verify(data: &[u8]) {
    let keys =
        SigningKeys::new("s1", BTreeMap::from([("s1".to_owned(), [7u8; 32])])).expect("a key set");
    let jwks = keys.jwks();
    let raw = text(data);
    if verify_compact(&raw, &jwks).is_ok() {
        panic!("an unsigned input verified: {raw:?}");
    }
}
