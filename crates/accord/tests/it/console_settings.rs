//! The console's link-settings editor and notice publishing end to end: settings saved field
//! by field, problems and guardrail refusals shown at their field with nothing saved, every
//! flow step previewed in each language, theme and width with the draft's text while nothing
//! is written, and a notice version drafted, reviewed with its classification, and published
//! (viewers refused).

use crate::helpers::console::{audit_actions, csrf, member, signed_in};
use crate::helpers::{quietly, Page, TestApp};
use accord_domain::console::Role;
use scraper::Selector;
use std::collections::BTreeMap;

/// Every field a browser would send from the form matching `css`: inputs (checkboxes when
/// ticked), textareas and the selected option of each select.
fn form_fields(page: &Page, css: &str) -> BTreeMap<String, String> {
    quietly(|| {
        let doc = page.doc();
        let form = doc
            .select(&Selector::parse(css).unwrap())
            .next()
            .unwrap_or_else(|| panic!("no form {css} in:\n{}", page.body));
        let mut fields = BTreeMap::new();
        for e in form.select(&Selector::parse("input, textarea, select").unwrap()) {
            let v = e.value();
            let Some(name) = v.attr("name") else { continue };
            let value = match v.name() {
                "textarea" => e.text().collect::<String>(),
                "select" => e
                    .select(&Selector::parse("option[selected]").unwrap())
                    .next()
                    .or_else(|| e.select(&Selector::parse("option").unwrap()).next())
                    .and_then(|o| o.value().attr("value"))
                    .unwrap_or_default()
                    .to_owned(),
                _ if v.attr("type") == Some("checkbox") => {
                    if v.attr("checked").is_none() {
                        continue;
                    }
                    v.attr("value").unwrap_or("on").to_owned()
                }
                _ => v.attr("value").unwrap_or_default().to_owned(),
            };
            fields.insert(name.to_owned(), value);
        }
        fields
    })
}

fn set(fields: &mut BTreeMap<String, String>, pairs: &[(&str, &str)]) {
    for (k, v) in pairs {
        fields.insert((*k).to_owned(), (*v).to_owned());
    }
}

/// The input of a field (ids carry the document path, dots and all).
fn input(path: &str) -> String {
    format!("[id='f-{path}']")
}

async fn version_count(app: &TestApp) -> usize {
    app.state
        .settings()
        .link_settings_versions(app.tenant(), None, 100)
        .await
        .unwrap()
        .len()
}

#[tokio::test]
async fn settings_are_saved_field_by_field_and_refused_at_their_field() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    let editor = admin.get("/console/settings").await;
    assert_eq!(editor.status, 200, "{}", editor.body);
    assert!(editor
        .header("content-security-policy")
        .contains("frame-src 'self'"));
    for path in [
        "landing.title.en",
        "button_labels.decline.fr",
        "support.email",
        "categories.0.category",
    ] {
        assert!(
            editor.has(&format!("label[for='f-{path}']")),
            "{path} is labelled"
        );
    }
    let mut fields = form_fields(&editor, "form#fields-form");
    set(
        &mut fields,
        &[
            ("landing.title.en", "Welcome to Acme lending"),
            ("landing.title.fr", "Bienvenue chez Acme"),
            ("trust_statistics.0.en", "Trusted by 40 lenders"),
            ("third_parties.0", "Acme Credit Bureau"),
            ("consent_validity_days", "90"),
            ("categories.0.category", "banking"),
            ("categories.0.requirement", "required"),
        ],
    );
    let saved = admin.post("/console/settings", &fields).await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let tenant = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();
    let s = &tenant.settings;
    assert_eq!(s.landing.title.fr.as_deref(), Some("Bienvenue chez Acme"));
    assert_eq!(
        s.trust_statistics[0].en.as_deref(),
        Some("Trusted by 40 lenders")
    );
    assert_eq!(s.third_parties, ["Acme Credit Bureau"]);
    assert_eq!(s.consent_validity_days, Some(90));
    assert_eq!(
        s.categories.len(),
        1,
        "blank category rows are not categories"
    );
    assert!(
        s.landing_enabled && s.powered_by_badge,
        "ticked switches stay on"
    );
    let versions = version_count(&app).await;

    // The saved settings come back in their fields.
    let again = admin.get("/console/settings").await;
    assert_eq!(
        again.attrs(&input("landing.title.en"), "value"),
        ["Welcome to Acme lending"]
    );

    // A guardrail refusal, a bad URL and a number that is not one: each at its field, the
    // draft kept, nothing saved.
    let mut bad = form_fields(&again, "form#fields-form");
    set(
        &mut bad,
        &[
            ("button_labels.connect.en", "Continue"),
            ("button_labels.decline.en", "continue!"),
            ("privacy_policy_url", "ftp://lender.example/privacy"),
            ("consent_validity_days", "ninety"),
            ("landing.title.en", "A draft title"),
        ],
    );
    let refused = admin.post("/console/settings", &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let number = input("consent_validity_days");
    assert!(refused.has(&format!(
        "{number}[aria-invalid=true][aria-describedby='e-consent_validity_days']"
    )));
    assert!(refused.quiet_texts("[id='e-consent_validity_days']")[0].contains("whole number"));
    // The rules run once the draft is a document: the guardrail and URL rules.
    bad.insert("consent_validity_days".into(), "90".into());
    let refused = admin.post("/console/settings", &bad).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let decline = input("button_labels.decline.en");
    assert!(
        refused.has(&format!(
            "{decline}[aria-invalid=true][aria-describedby='e-button_labels.decline.en']"
        )),
        "{}",
        refused.body
    );
    let why = refused
        .quiet_texts("[id='e-button_labels.decline.en']")
        .join(" ");
    assert!(why.contains("guardrail"), "{why}");
    assert!(refused.has(&format!(
        "{}[aria-invalid=true]",
        input("privacy_policy_url")
    )));
    assert!(
        refused.has("#summary a[href='#f-button_labels.decline.en']"),
        "the summary links to the field"
    );
    assert_eq!(
        refused.attrs(&input("landing.title.en"), "value"),
        ["A draft title"]
    );
    assert_eq!(version_count(&app).await, versions, "nothing saved");

    // The JSON editor is still there, and a viewer cannot save from the form.
    assert!(again.has("details#advanced textarea#document"));
    let (viewer, _) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let mut theirs = fields.clone();
    theirs.insert("csrf".into(), csrf(&viewer).await);
    assert_eq!(viewer.post("/console/settings", &theirs).await.status, 403);
    assert_eq!(version_count(&app).await, versions);
}

/// The text each step must show from the draft (in English and French).
const STEP_TEXT: [(&str, &str, &str); 8] = [
    ("landing", "Welcome to Acme lending", "Bienvenue chez Acme"),
    ("platforms", "Open 9 to 5", "Ouvert de 9 h à 17 h"),
    ("consent", "Agree and link", "Accepter et lier"),
    ("success", "Link one more", "Lier une autre"),
    ("error", "Open 9 to 5", "Ouvert de 9 h à 17 h"),
    ("exit", "Leaving Acme already", "Vous quittez Acme"),
    ("finished", "Open 9 to 5", "Ouvert de 9 h à 17 h"),
    ("manage", "Open 9 to 5", "Ouvert de 9 h à 17 h"),
];

#[tokio::test]
async fn every_step_is_previewed_in_each_language_theme_and_width_and_nothing_is_written() {
    let (app, viewer, _) = signed_in(Role::Viewer).await;
    let (other, _) = member(&app, "other@lender.example", Role::Viewer).await;
    let editor = viewer.get("/console/settings").await;
    let mut fields = form_fields(&editor, "form#fields-form");
    set(
        &mut fields,
        &[
            ("landing.title.en", "Welcome to Acme lending"),
            ("landing.title.fr", "Bienvenue chez Acme"),
            ("support.hours.en", "Open 9 to 5"),
            ("support.hours.fr", "Ouvert de 9 h à 17 h"),
            ("button_labels.connect.en", "Agree and link"),
            ("button_labels.connect.fr", "Accepter et lier"),
            ("button_labels.add_another.en", "Link one more"),
            ("button_labels.add_another.fr", "Lier une autre"),
            ("exit_confirmation.en", "Leaving Acme already?"),
            ("exit_confirmation.fr", "Vous quittez Acme ?"),
            ("locale", "fr"),
            ("theme", "dark"),
            ("width", "phone"),
        ],
    );
    let (versions, audits) = (version_count(&app).await, audit_actions(&app).await.len());
    let before = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();

    let preview = viewer.post("/console/settings/preview", &fields).await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    assert!(preview
        .header("content-security-policy")
        .contains("frame-src 'self'"));
    assert!(preview.has("iframe[width='390'][sandbox='allow-same-origin'][title]"));
    let src = preview.attrs("iframe", "src").remove(0);
    assert!(
        src.starts_with("/console/settings/preview/frame?draft="),
        "{src}"
    );
    assert!(!src.contains("Acme"), "the draft travels sealed");
    let draft = crate::helpers::query_param(&src, "draft").unwrap();

    for (step, en, fr) in STEP_TEXT {
        for (lang, text) in [("en", en), ("fr", fr)] {
            for theme in ["light", "dark"] {
                let url = format!(
                    "/console/settings/preview/frame?draft={}&step={step}&locale={lang}&theme={theme}",
                    urlencoding(&draft)
                );
                let frame = viewer.get(&url).await;
                assert_eq!(frame.status, 200, "{step} {lang} {theme}: {}", frame.body);
                assert!(
                    frame.body.contains(text),
                    "{step} {lang}: {text} in {}",
                    frame.body
                );
                assert!(
                    frame.has(&format!("html[lang={lang}][data-theme={theme}]")),
                    "{step}"
                );
                let csp = frame.header("content-security-policy");
                assert!(csp.contains("frame-ancestors 'self'"), "{csp}");
                assert_eq!(
                    frame.header("x-frame-options"),
                    "",
                    "framed by the console only"
                );
            }
        }
        // The preview page of each step, at each width, through its links.
        for (width, px) in [("phone", "390"), ("desktop", "1024")] {
            let page = viewer
                .get(&format!(
                    "/console/settings/preview?draft={}&step={step}&locale=en&width={width}",
                    urlencoding(&draft)
                ))
                .await;
            assert_eq!(page.status, 200, "{step}: {}", page.body);
            assert!(page.has(&format!("iframe[width='{px}']")), "{step} {width}");
            assert!(page.has(".preview-steps a[aria-current=page]"));
        }
    }
    // A draft sealed for someone else, or tampered with, shows nothing.
    let theirs = other
        .get(&format!(
            "/console/settings/preview/frame?draft={}",
            urlencoding(&draft)
        ))
        .await;
    assert_eq!(theirs.status, 404);
    let forged = viewer
        .get("/console/settings/preview/frame?draft=v1.k0.AAAA")
        .await;
    assert_eq!(forged.status, 404);

    // The editor opens again on the draft; nothing was written.
    let back = viewer
        .get(&format!("/console/settings?draft={}", urlencoding(&draft)))
        .await;
    assert_eq!(
        back.attrs(&input("landing.title.fr"), "value"),
        ["Bienvenue chez Acme"]
    );
    assert_eq!(version_count(&app).await, versions, "no version");
    assert_eq!(audit_actions(&app).await.len(), audits, "no audit entry");
    let after = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.settings, before.settings,
        "the settings are unchanged"
    );

    // A refused draft is shown in the editor at its field, not previewed.
    set(&mut fields, &[("support.email", "not an address")]);
    let refused = viewer.post("/console/settings/preview", &fields).await;
    assert_eq!(refused.status, 422);
    assert!(refused.has(&format!("{}[aria-invalid=true]", input("support.email"))));
}

fn urlencoding(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn a_notice_version_is_reviewed_with_its_classification_then_published() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    let notices = app.state.notices().notices(app.tenant()).await.unwrap();
    let notice = &notices[0];
    let (category, locale) = (notice.category.as_str(), notice.locale.as_str());
    let draft = admin
        .get(&format!(
            "/console/notices/draft?category={category}&locale={locale}"
        ))
        .await;
    assert_eq!(draft.status, 200, "{}", draft.body);
    let mut fields = form_fields(&draft, "form[action='/console/notices/review']");
    assert!(
        !fields["purpose"].is_empty(),
        "prefilled with the version in force"
    );

    // An editorial change: the withdrawal wording.
    set(
        &mut fields,
        &[("withdrawal", "Disconnect at any time from the manage page.")],
    );
    let review = admin.post("/console/notices/review", &fields).await;
    assert_eq!(review.status, 200, "{}", review.body);
    let class = review.quiet_texts("#classification").join(" ");
    assert!(
        class.contains("editorial change") && class.contains("withdrawal"),
        "{class}"
    );
    assert_eq!(
        app.state
            .notices()
            .notice(app.tenant(), notice.id)
            .await
            .unwrap()
            .unwrap()
            .current_version,
        notice.current_version,
        "a review publishes nothing"
    );

    // A material change: the purpose.
    set(
        &mut fields,
        &[(
            "purpose",
            "To assess your application and monitor the loan.",
        )],
    );
    let review = admin.post("/console/notices/review", &fields).await;
    let class = review.quiet_texts("#classification").join(" ");
    assert!(
        class.contains("material change") && class.contains("agree again"),
        "{class}"
    );
    assert!(review.has("#classification ins"), "the word diff");

    // A refused draft: at its field.
    let mut empty = fields.clone();
    empty.insert("purpose".into(), String::new());
    let refused = admin.post("/console/notices/review", &empty).await;
    assert_eq!(refused.status, 422);
    assert!(refused.has("#n-purpose[aria-invalid=true][aria-describedby=e-purpose]"));

    // Publishing: a viewer is refused, an admin publishes, audited.
    let publish = form_fields(&review, "form[action='/console/notices/publish']");
    let (viewer, _) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let mut theirs = publish.clone();
    theirs.insert("csrf".into(), csrf(&viewer).await);
    assert_eq!(
        viewer
            .post("/console/notices/publish", &theirs)
            .await
            .status,
        403
    );
    assert_eq!(viewer.get("/console/notices/draft").await.status, 403);
    let done = admin.post("/console/notices/publish", &publish).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        format!("/console/notices/{}?done=notice-published", notice.id)
    );
    let now = app
        .state
        .notices()
        .notice(app.tenant(), notice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.current_version, notice.current_version + 1);
    let newest = app
        .state
        .notices()
        .current_notice_version(app.tenant(), notice.category, notice.locale)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        newest.content.purpose,
        "To assess your application and monitor the loan."
    );
    let audit = app
        .state
        .console()
        .audit(app.tenant(), None, 50)
        .await
        .unwrap();
    assert!(audit.iter().any(|e| e.action == "notice.published"));

    // The same review again is stale: shown again, not published twice.
    let stale = admin.post("/console/notices/publish", &publish).await;
    assert_eq!(stale.status, 409, "{}", stale.body);
    let again = app
        .state
        .notices()
        .notice(app.tenant(), notice.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.current_version, now.current_version);
}
