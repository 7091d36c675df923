//! Notice versions, re-consent and expiry: an editorial change leaves
//! connections alone; a material one marks them `reconsent_required`, and the customer's next
//! visit (manage page or hosted flow) shows what changed and asks again — agreeing records a new
//! consent on the same connection (`reconsented`), without a new sign-in at the platform.
//! A tenant's consent validity period ends consents with an `expired` event, run by the worker
//! on the injected clock.

use crate::helpers::{spawn_app, Browser, Page, TestApp};
use accord_domain::ledger::EventKind;
use reqwest::Method;
use serde_json::{json, Value};

const SANDBOX: &str = "Accord Sandbox Books";

/// The accounting notice in `locale`: its id and the content of its current version.
pub(crate) async fn current_notice(app: &TestApp, locale: &str) -> (String, Value) {
    let (status, list) = app.api_json(Method::GET, "/v1/notices", None).await;
    assert_eq!(status, 200, "{list}");
    let notice = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["category"] == "accounting" && n["locale"] == locale)
        .expect("the accounting notice")
        .clone();
    let id = notice["id"].as_str().unwrap().to_owned();
    let (status, versions) = app
        .api_json(Method::GET, &format!("/v1/notices/{id}/versions"), None)
        .await;
    assert_eq!(status, 200, "{versions}");
    let content = versions["data"].as_array().unwrap().last().unwrap()["content"].clone();
    (id, content)
}

pub(crate) async fn publish(app: &TestApp, locale: &str, content: &Value) -> Value {
    let (status, body) = app
        .api_json(
            Method::POST,
            "/v1/notices",
            Some(json!({"category": "accounting", "locale": locale, "content": content})),
        )
        .await;
    assert_eq!(status, 201, "publish: {body}");
    body
}

/// The material change of these tests: invoices are now also written to the platform, kept
/// 24 months instead of 12, and shared with a partner (whose name needs escaping).
pub(crate) fn material_change(mut content: Value) -> Value {
    let retention = content["retention"].as_str().unwrap().to_owned();
    assert!(retention.contains("12"), "{retention}");
    content["retention"] = json!(retention.replace("12", "24"));
    let sharing = content["third_party_sharing"]
        .as_str()
        .unwrap()
        .trim_end_matches('.')
        .to_owned();
    content["third_party_sharing"] = json!(format!("{sharing}, except <Partners & Co>."));
    content["data_uses"]
        .as_array_mut()
        .unwrap()
        .push(json!({"data_type": "invoices", "direction": "write"}));
    content
}

fn connection_id(success: &Page) -> String {
    success.url.rsplit('/').next().unwrap().to_owned()
}

async fn connection(app: &TestApp, id: &str) -> Value {
    let (status, body) = app
        .api_json(
            Method::GET,
            &format!("/v1/companies/{}/connections/{id}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn ledger_kinds(app: &TestApp, connection: &str) -> Vec<EventKind> {
    app.state
        .store
        .ledger_events(app.tenant(), 0, 1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| {
            e.event
                .body
                .connection_id
                .is_some_and(|c| c.to_string() == connection)
        })
        .map(|e| e.event.body.kind)
        .collect()
}

fn normalised(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

/// The re-consent screen shows the changed fields with `<del>`/`<ins>` (escaped) and the added
/// data use in words; `added` is "Invoices written to …" in the page's language.
fn assert_shows_diff(page: &Page, added: &str, retention_label: &str) {
    assert_eq!(page.status, 200, "{}", page.body);
    let dels = page.quiet_texts("dl.diff del");
    let inss = page.quiet_texts("dl.diff ins");
    assert!(dels.contains(&"12".to_owned()), "removed words: {dels:?}");
    assert!(inss.contains(&"24".to_owned()), "added words: {inss:?}");
    assert!(
        inss.iter().any(|t| t.contains("<Partners & Co>")),
        "added words: {inss:?}"
    );
    assert!(!page.body.contains("<Partners"), "tenant text is escaped");
    assert!(
        page.body.contains("&#60;Partners &#38; Co&#62;")
            || page.body.contains("&lt;Partners &amp; Co&gt;"),
        "tenant text is escaped"
    );
    let labels = normalised(&page.quiet_texts("dl.diff dt"));
    assert!(labels.contains(&retention_label.to_owned()), "{labels:?}");
    let uses = normalised(&page.quiet_texts("ul.uses-added li"));
    assert_eq!(
        uses,
        [added],
        "the added data use, in words with its direction"
    );
    // The same unticked checkbox, with its label, and Agree / Not now.
    assert!(page.has("form.reconsent-form input#agree[type=checkbox]:not([checked])"));
    assert!(page.has("label[for=agree]"));
    assert!(page.has("form.reconsent-form button[value=agree]"));
    assert!(page.has("form.reconsent-form button[value=decline]"));
    assert!(page.has("#agree-error[aria-live]"));
    let (_, fields) = page.quiet_form("form.reconsent-form");
    assert!(!fields["csrf"].is_empty(), "the form carries a CSRF token");
}

/// Ticks (or not) and presses Agree on the re-consent screen `page`.
async fn agree(browser: &Browser, page: &Page, tick: bool) -> Page {
    let (action, mut fields) = page.quiet_form("form.reconsent-form");
    if tick {
        fields.insert("agree".into(), "yes".into());
    }
    fields.insert("action".into(), "agree".into());
    browser.post(&action, &fields).await
}

#[tokio::test]
async fn an_editorial_change_leaves_connections_alone() {
    let app = spawn_app().await;
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = connection_id(&success);
    let (_, mut content) = current_notice(&app, "en").await;
    content["withdrawal"] =
        json!("Disconnect whenever you like from the page listing your connections.");
    content["privacy_policy_url"] = json!("https://lender.example/privacy-v2");
    let published = publish(&app, "en", &content).await;
    assert_eq!(published["version"], 2);
    assert_eq!(published["change"]["class"], "editorial");
    assert_eq!(
        published["change"]["fields"],
        json!(["withdrawal", "privacy_policy_url"])
    );
    assert_eq!(published["reconsent_required_connections"], json!([]));
    assert_eq!(connection(&app, &id).await["status"], "linked");

    // A material change to the French notice concerns only consents given to it.
    let mut fr = current_notice(&app, "fr").await.1;
    fr["purpose"] = json!("Évaluer votre demande de prêt.");
    let published = publish(&app, "fr", &fr).await;
    assert_eq!(published["change"]["class"], "material");
    assert_eq!(
        published["reconsent_required_connections"],
        json!([]),
        "no connection agreed to the French notice"
    );
    assert_eq!(connection(&app, &id).await["status"], "linked");
}

#[tokio::test]
async fn a_material_change_asks_again_on_the_manage_page_and_agreeing_keeps_the_connection() {
    let app = spawn_app().await;
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = connection_id(&success);
    let token = app.platform_tokens(&id).await.expect("tokens").access_token;
    let first = app.consents().await;
    assert_eq!(first.len(), 1);
    let agreed_text = first[0]["notice_text"].as_str().unwrap().to_owned();

    let (_, content) = current_notice(&app, "en").await;
    let published = publish(&app, "en", &material_change(content)).await;
    assert_eq!(published["change"]["class"], "material");
    assert_eq!(
        published["change"]["fields"],
        json!(["data_uses", "retention", "third_party_sharing"])
    );
    assert_eq!(
        published["change"]["data_uses_added"],
        json!([{"data_type": "invoices", "direction": "write"}])
    );
    assert_eq!(published["reconsent_required_connections"], json!([id]));
    assert_eq!(
        connection(&app, &id).await["status"],
        "reconsent_required",
        "visible in the API"
    );

    // The manage page: "Your agreement is needed again", with a button to review.
    let browser = app.browser();
    assert_eq!(browser.get(&app.manage_url).await.status, 303);
    let manage = browser.get("/manage").await;
    assert_eq!(manage.status, 200, "{}", manage.body);
    assert_eq!(
        manage.quiet_texts(".status-reconsent_required"),
        ["Your agreement is needed again"]
    );
    let review = format!("/manage/connections/{id}/reconsent");
    assert_eq!(
        manage.attrs("article.connection a.button.primary", "href"),
        std::slice::from_ref(&review)
    );
    assert_eq!(
        manage.quiet_texts("article.connection a.button.primary"),
        ["Review and agree again"]
    );

    let screen = browser.get(&review).await;
    assert_shows_diff(
        &screen,
        &format!("Invoices written to {SANDBOX}"),
        "How long it is kept",
    );
    assert!(screen.quiet_texts("h1")[0].contains(SANDBOX));
    assert!(
        screen.has(&format!(
            "a.danger[href='/manage/connections/{id}/disconnect']"
        )),
        "disconnect instead"
    );

    // Without the CSRF token: refused, nothing recorded.
    let (action, mut fields) = screen.quiet_form("form.reconsent-form");
    fields.remove("csrf");
    fields.insert("agree".into(), "yes".into());
    fields.insert("action".into(), "agree".into());
    assert_eq!(browser.post(&action, &fields).await.status, 403);
    // Unticked: asked again, nothing recorded.
    let unticked = agree(&browser, &screen, false).await;
    assert_eq!(unticked.status, 422, "{}", unticked.body);
    assert!(unticked.has("#agree[aria-invalid=true]"));
    assert!(!unticked.quiet_texts("#agree-error")[0].trim().is_empty());
    assert_eq!(app.consents().await.len(), 1);

    let agreed = agree(&browser, &screen, true).await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);
    assert_eq!(
        agreed.location(),
        format!("/manage/connections/{id}/reconsented")
    );
    let done = browser.get(&agreed.location()).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        done.quiet_texts("h1"),
        [format!("{SANDBOX} is connected again")]
    );

    // Linked again, on the same connection, with a second consent to the new version.
    let conn = connection(&app, &id).await;
    assert_eq!(conn["status"], "linked");
    let consents = app.consents().await;
    assert_eq!(consents.len(), 2);
    let old = consents.iter().find(|k| k["id"] == first[0]["id"]).unwrap();
    let new = consents.iter().find(|k| k["id"] != first[0]["id"]).unwrap();
    assert_eq!(new["connection_id"], id);
    assert_eq!(conn["consent_id"], new["id"]);
    assert_eq!(new["notice_version"], 2);
    assert_eq!(new["notice_version_id"], published["id"]);
    assert!(new["withdrawn_at"].is_null());
    let new_text = new["notice_text"].as_str().unwrap();
    assert_ne!(new_text, agreed_text);
    assert!(
        new_text.contains("24 months") && new_text.contains("written to"),
        "{new_text}"
    );
    assert!(conn["data_uses"]
        .as_array()
        .unwrap()
        .contains(&json!({"data_type": "invoices", "direction": "write"})));
    // The old consent keeps the text that was agreed, and ended when the new one was given.
    assert_eq!(old["notice_text"], agreed_text.as_str());
    assert_eq!(old["notice_version"], 1);
    assert!(!old["withdrawn_at"].is_null());
    let (status, fetched) = app
        .api_json(
            Method::GET,
            &format!("/v1/consents/{}", first[0]["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(fetched["notice_text"], agreed_text.as_str());

    assert_eq!(
        ledger_kinds(&app, &id).await,
        // The consent agreed again replaces the one in force: that one ends with its
        // `superseded` event, chained just before the `reconsented` one.
        [
            EventKind::Given,
            EventKind::Superseded,
            EventKind::Reconsented
        ]
    );
    // No new sign-in: the platform access is the one held before, and it still works.
    assert_eq!(
        app.platform_tokens(&id)
            .await
            .expect("tokens kept")
            .access_token,
        token
    );
    assert_eq!(app.sandbox_api_status("invoices", &token).await, 200);

    // Agreeing twice (another tab) changes nothing more.
    let again = agree(&browser, &screen, true).await;
    assert_eq!(again.status, 303);
    assert_eq!(app.consents().await.len(), 2);
    let manage = browser.get("/manage").await;
    assert!(manage.quiet_texts(".status-reconsent_required").is_empty());
}

#[tokio::test]
async fn the_hosted_flow_shows_the_re_consent_screen_in_french() {
    let app = spawn_app().await;
    let browser = Browser::with_accept_language(&app.base, "fr");
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let id = connection_id(&success);
    assert_eq!(app.consents().await[0]["locale"], "fr");

    // A consent page opened before the change (connecting again)…
    let stale = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(stale.status, 200, "{}", stale.body);
    let (stale_action, mut stale_fields) = stale.quiet_form("form.consent-form");

    let (_, content) = current_notice(&app, "fr").await;
    let published = publish(&app, "fr", &material_change(content)).await;
    assert_eq!(published["reconsent_required_connections"], json!([id]));

    // …posted afterwards asks on the re-consent screen instead of starting a second connection.
    stale_fields.insert("agree".into(), "yes".into());
    stale_fields.insert("action".into(), "connect".into());
    let answered = browser.post(&stale_action, &stale_fields).await;
    assert_eq!(answered.status, 200, "{}", answered.body);
    assert!(answered.has("form.reconsent-form"));
    assert_eq!(app.connections().await.len(), 1);

    // The platform list says so and leads to the review.
    let list = browser.get("/link/platforms").await;
    assert_eq!(list.status, 200, "{}", list.body);
    let review = format!("/link/connections/{id}/reconsent");
    assert_eq!(
        list.attrs(".reconsent-needed a", "href"),
        std::slice::from_ref(&review)
    );
    assert_eq!(
        list.quiet_texts(".reconsent-needed a"),
        [format!("Consulter les conditions pour {SANDBOX}")]
    );
    assert_eq!(
        list.quiet_texts("a.platform .reconsent"),
        ["Votre accord est de nouveau nécessaire"]
    );

    // The consent step of that platform is the re-consent screen, not a fresh consent.
    let step = browser.get("/link/platforms/sandbox/consent").await;
    assert_shows_diff(
        &step,
        &format!("Factures clients en écriture vers {SANDBOX}"),
        "Durée de conservation",
    );
    assert_eq!(
        step.quiet_texts("h1"),
        [format!(
            "Consulter les nouvelles conditions pour votre compte {SANDBOX}"
        )]
    );
    assert!(!step.has("form[action='/link/platforms/sandbox/consent']"));
    let screen = browser.get(&review).await;
    assert_shows_diff(
        &screen,
        &format!("Factures clients en écriture vers {SANDBOX}"),
        "Durée de conservation",
    );
    assert_eq!(screen.quiet_form("form.reconsent-form").0, review);

    // "Not now": nothing changes, and the customer can still disconnect from the manage page.
    let (action, mut fields) = screen.quiet_form("form.reconsent-form");
    fields.insert("action".into(), "decline".into());
    let declined = browser.post(&action, &fields).await;
    assert_eq!(declined.status, 200, "{}", declined.body);
    assert_eq!(declined.quiet_texts("h1"), ["Rien n’a changé"]);
    assert_eq!(connection(&app, &id).await["status"], "reconsent_required");
    assert_eq!(app.consents().await.len(), 1);

    let agreed = agree(&browser, &screen, true).await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);
    assert_eq!(
        agreed.location(),
        format!("/link/connections/{id}/reconsented")
    );
    let done = browser.get(&agreed.location()).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(
        done.quiet_texts("h1"),
        [format!("Votre compte {SANDBOX} est de nouveau connecté")]
    );
    assert_eq!(connection(&app, &id).await["status"], "linked");
    let consents = app.consents().await;
    let new = consents
        .iter()
        .find(|k| k["withdrawn_at"].is_null())
        .unwrap();
    assert_eq!(new["locale"], "fr");
    assert!(new["notice_text"].as_str().unwrap().contains("24 mois"));
    assert_eq!(
        ledger_kinds(&app, &id).await,
        // The consent agreed again replaces the one in force: that one ends with its
        // `superseded` event, chained just before the `reconsented` one.
        [
            EventKind::Given,
            EventKind::Superseded,
            EventKind::Reconsented
        ]
    );
    // Back on the list: connected, nothing waiting.
    let list = browser.get("/link/platforms").await;
    assert!(!list.has(".reconsent-needed"));
}

#[tokio::test]
async fn consents_expire_after_the_validity_period_and_can_be_confirmed_again() {
    let app = spawn_app().await;
    let success = app.browser().connect(Some(&app.link_url), "sandbox").await;
    let id = connection_id(&success);

    let (status, mut settings) = app.api_json(Method::GET, "/v1/link-settings", None).await;
    assert_eq!(status, 200);
    settings["consent_validity_days"] = json!(90);
    let (status, body) = app
        .api_json(Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");

    let worker = accord_worker::Worker::new(
        app.state.platforms.clone(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
        std::time::Duration::from_hours(1),
    );
    // Just before the deadline: nothing happens.
    app.clock
        .advance(time::Duration::days(90) - time::Duration::minutes(5));
    assert_eq!(worker.run_expiry().await.unwrap(), 0);
    assert_eq!(connection(&app, &id).await["status"], "linked");
    assert_eq!(ledger_kinds(&app, &id).await, [EventKind::Given]);

    // Past it. (The app's own worker runs the same check on the same clock, so either may
    // be the one that ends it; exactly one `expired` event is written.)
    app.clock.advance(time::Duration::minutes(10));
    let n = worker.run_expiry().await.unwrap();
    assert!(n <= 1, "{n}");
    assert_eq!(connection(&app, &id).await["status"], "reconsent_required");
    assert_eq!(
        ledger_kinds(&app, &id).await,
        [EventKind::Given, EventKind::Expired]
    );
    assert_eq!(
        worker.run_expiry().await.unwrap(),
        0,
        "an ended consent does not expire twice"
    );
    let consent = &app.consents().await[0];
    assert!(!consent["withdrawn_at"].is_null());

    // The customer's next visit asks for confirmation; the terms did not change.
    let (status, body) = app
        .api_json(
            Method::POST,
            &format!("/v1/companies/{}/manage-sessions", app.company_id),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let browser = app.browser();
    assert_eq!(browser.get(body["url"].as_str().unwrap()).await.status, 303);
    let screen = browser
        .get(&format!("/manage/connections/{id}/reconsent"))
        .await;
    assert_eq!(screen.status, 200, "{}", screen.body);
    let lead = screen.quiet_texts("p.lead").join(" ");
    assert!(lead.contains("end of its validity period"), "{lead}");
    assert!(screen
        .quiet_texts("section.changes p")
        .join(" ")
        .contains("The terms are the same"));
    assert!(!screen.has("dl.diff"));
    let agreed = agree(&browser, &screen, true).await;
    assert_eq!(agreed.status, 303, "{}", agreed.body);
    assert_eq!(connection(&app, &id).await["status"], "linked");
    assert_eq!(
        ledger_kinds(&app, &id).await,
        [EventKind::Given, EventKind::Expired, EventKind::Reconsented]
    );
}
