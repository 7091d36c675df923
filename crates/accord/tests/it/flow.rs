//! The hosted flow over HTTP, as a customer without JavaScript goes through it: every step's
//! real content in the customer's language, the page chrome (support contacts, guide, language
//! switch) on every page, several connections in one session, search, declining, the errors a
//! customer can meet, and support requests from every step.

use crate::helpers::{query_param, spawn_app, Browser, Page, TestApp};

/// What the demo tenant's pages say, per language.
struct Lang {
    code: &'static str,
    other: &'static str,
    landing_heading: &'static str,
    trust_message: &'static str,
    promise: &'static str,
    powered_by: &'static str,
    support_form: &'static str,
    select_heading: &'static str,
    consent_heading: &'static str,
    success_heading: &'static str,
}

const EN: Lang = Lang {
    code: "en",
    other: "fr",
    landing_heading: "Connect your accounts to Northwind Lending",
    trust_message: "Securely add your business accounts to get a decision in minutes.",
    promise: "You can disconnect at any time, and sharing stops at once.",
    powered_by: "Secured and powered by Accord",
    support_form: "Send a support request",
    select_heading: "Which platform do you use?",
    consent_heading: "Connect Accord Sandbox Books",
    success_heading: "Your Accord Sandbox Books account is connected",
};

const FR: Lang = Lang {
    code: "fr",
    other: "en",
    landing_heading: "Connectez vos comptes à Northwind Lending",
    trust_message: "Ajoutez vos comptes professionnels en toute sécurité pour obtenir une décision en quelques minutes.",
    promise: "Vous pouvez couper l’accès à tout moment : le partage s’arrête aussitôt.",
    powered_by: "Sécurisé par Accord",
    support_form: "Envoyer une demande d’assistance",
    select_heading: "Quelle plateforme utilisez-vous\u{202f}?",
    consent_heading: "Connecter votre compte Accord Sandbox Books",
    success_heading: "Votre compte Accord Sandbox Books est connecté",
};

const SUPPORT_PHONE_HREF: &str = "tel:+442079460000";
const SUPPORT_EMAIL_HREF: &str = "mailto:help@northwind-lending.example";

/// All visible text of a page, whitespace collapsed (entities decoded).
fn text(page: &Page) -> String {
    page.quiet_texts("body")
        .join(" ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn heading(page: &Page) -> String {
    page.quiet_texts("h1")
        .first()
        .cloned()
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// The language switch links to this very page (`path`) in the other language, and marks the
/// current one.
fn assert_language_switch(page: &Page, path: &str, current: &str, other: &str) {
    let hrefs = page.attrs("nav.lang a", "href");
    assert_eq!(
        hrefs.len(),
        1,
        "one link per other language on {}:\n{}",
        page.url,
        page.body
    );
    let href = &hrefs[0];
    assert_eq!(
        href.split('?').next().unwrap(),
        path,
        "the switch keeps the path on {}",
        page.url
    );
    assert_eq!(query_param(href, "lang").as_deref(), Some(other), "{href}");
    assert_eq!(
        page.attrs("nav.lang [aria-current=page]", "lang"),
        vec![current.to_owned()],
        "{}",
        page.url
    );
}

/// The help footer: guide link always; the tenant's contacts when the browser has a session.
fn assert_help_footer(page: &Page) {
    assert!(
        page.has("footer.help a[href='/guide']"),
        "no help footer with the guide on {}:\n{}",
        page.url,
        page.body
    );
}

/// The tenant's phone and e-mail, without the support form: what a page shows when the tenant is
/// known but the browser has no session to file a request against.
fn assert_tenant_phone_and_email_only(page: &Page) {
    assert_tenant_phone_and_email(page);
    assert!(
        !page.has("footer.help a[href^='/link/support']"),
        "no support form without a session on {}",
        page.url
    );
}

fn assert_tenant_phone_and_email(page: &Page) {
    assert!(
        page.has(&format!("footer.help a[href='{SUPPORT_PHONE_HREF}']")),
        "phone on {}",
        page.url
    );
    assert!(
        page.has(&format!("footer.help a[href='{SUPPORT_EMAIL_HREF}']")),
        "e-mail on {}",
        page.url
    );
}

fn assert_tenant_contacts(page: &Page) {
    assert_tenant_phone_and_email(page);
    assert!(
        page.has("footer.help a[href^='/link/support']"),
        "support form on {}",
        page.url
    );
}

/// Landing → platforms → consent → sandbox sign-in → callback → success, checking each page's
/// content in `lang`. `opened` is the response to opening the link.
async fn walk_the_flow(app: &TestApp, browser: &Browser, opened: Page, lang: &Lang) {
    assert_eq!(opened.status, 303, "link opens: {}", opened.body);
    assert!(
        opened.location().starts_with("/link/start"),
        "{}",
        opened.location()
    );

    let landing = browser.get(&opened.location()).await;
    assert_eq!(landing.status, 200, "{}", landing.body);
    assert_eq!(landing.attrs("html", "lang"), vec![lang.code.to_owned()]);
    assert_eq!(heading(&landing), lang.landing_heading);
    let landing_text = text(&landing);
    assert!(landing_text.contains("Northwind Lending"), "tenant name");
    assert!(
        landing_text.contains(lang.trust_message),
        "trust message: {landing_text}"
    );
    assert!(
        landing_text.contains(lang.promise),
        "disconnect promise: {landing_text}"
    );
    assert!(
        landing_text.contains(lang.powered_by),
        "powered by: {landing_text}"
    );
    assert_eq!(
        landing.quiet_texts("footer.help a[href^='/link/support']"),
        vec![lang.support_form.to_owned()]
    );
    assert_tenant_contacts(&landing);
    assert_help_footer(&landing);
    assert_language_switch(&landing, "/link/start", lang.code, lang.other);

    let select = browser.get("/link/platforms").await;
    assert_eq!(select.status, 200, "{}", select.body);
    assert_eq!(heading(&select), lang.select_heading);
    assert!(select
        .quiet_texts(".platform .name")
        .contains(&"Accord Sandbox Books".to_owned()));
    assert_tenant_contacts(&select);
    assert_language_switch(&select, "/link/platforms", lang.code, lang.other);

    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(consent.status, 200, "{}", consent.body);
    assert_eq!(heading(&consent), lang.consent_heading);
    assert_eq!(consent.attrs("html", "lang"), vec![lang.code.to_owned()]);
    assert_tenant_contacts(&consent);
    assert_language_switch(
        &consent,
        "/link/platforms/sandbox/consent",
        lang.code,
        lang.other,
    );

    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    assert!(
        to_platform
            .location()
            .starts_with(&app.url("/sandbox/oauth/authorize?")),
        "{}",
        to_platform.location()
    );
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    assert_eq!(callback.status, 303, "{}", callback.body);
    assert!(
        callback
            .location()
            .starts_with(&app.url("/link/callback/sandbox?")),
        "{}",
        callback.location()
    );
    let done = browser.get(&callback.location()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let success_path = done.location();
    assert!(
        success_path.starts_with("/link/connections/"),
        "{success_path}"
    );

    let success = browser.get(&success_path).await;
    assert_eq!(success.status, 200, "{}", success.body);
    assert_eq!(heading(&success), lang.success_heading);
    assert_eq!(success.attrs("html", "lang"), vec![lang.code.to_owned()]);
    assert_tenant_contacts(&success);
    assert_language_switch(&success, &success_path, lang.code, lang.other);

    let connections = app.connections().await;
    assert_eq!(connections.len(), 1);
    assert_eq!(connections[0]["status"], "linked");
    let consents = app.consents().await;
    assert_eq!(consents.len(), 1);
    assert_eq!(
        consents[0]["locale"], lang.code,
        "the consent records the language it was given in"
    );
}

#[tokio::test]
async fn the_flow_runs_in_english_with_the_tenant_chrome_on_every_step() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&app.link_url).await;
    walk_the_flow(&app, &browser, opened, &EN).await;
}

#[tokio::test]
async fn the_flow_runs_in_french_when_the_link_asks_for_it() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&format!("{}?lang=fr", app.link_url)).await;
    walk_the_flow(&app, &browser, opened, &FR).await;
}

#[tokio::test]
async fn the_flow_runs_in_french_for_a_french_browser() {
    let app = spawn_app().await;
    let browser = Browser::with_accept_language(&app.base, "fr-FR,fr;q=0.9,en;q=0.5");
    let opened = browser.get(&app.link_url).await;
    walk_the_flow(&app, &browser, opened, &FR).await;
}

#[tokio::test]
async fn the_language_switch_changes_the_language_of_the_same_page() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let select = browser.get("/link/platforms?q=sandbox").await;
    assert_eq!(heading(&select), EN.select_heading);
    let href = select.attrs("nav.lang a", "href").remove(0);
    assert_eq!(
        query_param(&href, "q").as_deref(),
        Some("sandbox"),
        "the switch keeps the query: {href}"
    );
    let french = browser.get(&href).await;
    assert_eq!(french.status, 200);
    assert_eq!(heading(&french), FR.select_heading);
    // The choice is remembered on the next pages.
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    assert_eq!(heading(&consent), FR.consent_heading);
}

#[tokio::test]
async fn several_platforms_can_be_connected_in_one_session() {
    let app = spawn_app().await;
    let browser = app.browser();
    let first = browser.connect(Some(&app.link_url), "sandbox").await;
    assert!(
        first.has("a[href='/link/platforms']"),
        "success offers to connect another platform"
    );

    let select = browser.get("/link/platforms").await;
    assert_eq!(select.status, 200);
    let status = select.quiet_texts("p.notice-ok[role=status]");
    assert_eq!(
        status,
        vec!["You have connected 1 platform in this session. You can add another.".to_owned()]
    );
    let books = select.quiet_texts("a.platform[href='/link/platforms/sandbox/consent'] .connected");
    assert_eq!(books, vec!["Connected ✓".to_owned()]);
    assert!(select
        .quiet_texts("a.platform[href='/link/platforms/sandbox-bank/consent'] .connected")
        .is_empty());

    let second = browser.connect(None, "sandbox-bank").await;
    assert_eq!(
        heading(&second),
        "Your Accord Sandbox Bank account is connected"
    );

    let select = browser.get("/link/platforms").await;
    let status = select.quiet_texts("p.notice-ok[role=status]");
    assert_eq!(
        status,
        vec!["You have connected 2 platforms in this session. You can add another.".to_owned()]
    );
    assert_eq!(select.quiet_texts("a.platform .connected").len(), 2);

    let mut linked: Vec<String> = app
        .connections()
        .await
        .iter()
        .filter(|c| c["status"] == "linked")
        .map(|c| c["platform_key"].as_str().unwrap().to_owned())
        .collect();
    linked.sort();
    assert_eq!(linked, ["sandbox", "sandbox-bank"]);
}

#[tokio::test]
async fn search_without_javascript_lists_only_matching_platforms() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let all = browser.get("/link/platforms").await;
    assert!(all.quiet_texts(".platform .name").len() > 1, "{}", all.body);

    let found = browser.get("/link/platforms?q=bank").await;
    assert_eq!(found.status, 200);
    assert_eq!(
        found.quiet_texts(".platform .name"),
        vec!["Accord Sandbox Bank".to_owned()]
    );
    assert_eq!(
        found.attrs("input#q", "value"),
        vec!["bank".to_owned()],
        "the query stays in the box"
    );
    assert!(!text(&found).contains("No platform matches"));
}

#[tokio::test]
async fn search_without_match_says_so() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let none = browser.get("/link/platforms?q=zzzz").await;
    assert_eq!(none.status, 200);
    assert!(none.quiet_texts(".platform .name").is_empty());
    assert_eq!(
        none.quiet_texts("p[role=status]"),
        vec!["No platform matches “zzzz”.".to_owned()]
    );
}

#[tokio::test]
async fn declining_shows_nothing_was_shared_and_records_no_consent() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    fields.insert("action".into(), "decline".into());
    let declined = browser.post(&action, &fields).await;
    assert_eq!(declined.status, 200, "{}", declined.body);
    assert_eq!(heading(&declined), "Nothing was shared");
    assert!(text(&declined).contains("You chose not to connect Accord Sandbox Books"));
    assert!(declined.has("a[href='/link/platforms']"));
    assert_help_footer(&declined);
    assert!(app.consents().await.is_empty(), "no consent recorded");
    assert!(app.connections().await.is_empty(), "no connection");
}

#[tokio::test]
async fn connecting_without_ticking_the_box_is_refused_and_records_nothing() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let refused = browser.consent("sandbox", false).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert_eq!(
        refused.quiet_texts("#agree-error[aria-live]"),
        vec!["To connect, tick the box to show you agree. Nothing has been shared.".to_owned()]
    );
    assert_eq!(
        refused.attrs("input#agree", "aria-invalid"),
        vec!["true".to_owned()]
    );
    assert!(
        refused.has("form.consent-form"),
        "the notice and form are shown again"
    );
    assert!(app.consents().await.is_empty(), "no consent recorded");
    assert!(app.connections().await.is_empty(), "no connection");
}

#[tokio::test]
async fn denying_at_the_platform_shows_a_friendly_page_whose_retry_works() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    let first_state = query_param(&to_platform.location(), "state").unwrap();
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    assert_eq!(
        query_param(&callback.location(), "error").as_deref(),
        Some("access_denied")
    );

    let page = browser.get(&callback.location()).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(heading(&page), "Accord Sandbox Books did not connect");
    let body = text(&page);
    assert!(
        body.contains(
            "You chose not to give access on Accord Sandbox Books's site. Nothing has been shared."
        ),
        "{body}"
    );
    assert!(body.contains("Error code: access_denied"), "{body}");
    let help = page.attrs(".actions a[href^='/link/support?']", "href");
    assert_eq!(help.len(), 1, "an Ask for help link: {}", page.body);
    assert_eq!(
        query_param(&help[0], "error").as_deref(),
        Some("access_denied")
    );
    assert_tenant_contacts(&page);

    let connections = app.connections().await;
    assert_eq!(connections[0]["status"], "pending_auth");
    assert_eq!(connections[0]["last_error"], "access_denied");

    let support = browser.get(&help[0]).await;
    assert_eq!(support.status, 200);
    assert!(
        support.quiet_texts("textarea#message")[0].contains("access_denied"),
        "the error code is prefilled"
    );

    let (action, fields) = page.quiet_form("form[action$='/retry']");
    let again = browser.post(&action, &fields).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert!(
        again
            .location()
            .starts_with(&app.url("/sandbox/oauth/authorize?")),
        "{}",
        again.location()
    );
    assert_ne!(
        query_param(&again.location(), "state").unwrap(),
        first_state,
        "a fresh state"
    );
    let callback = browser
        .sandbox_decide(&again.location(), "Bluebell", true)
        .await;
    let done = browser.get(&callback.location()).await;
    assert_eq!(done.status, 303, "{}", done.body);
    let success = browser.get(&done.location()).await;
    assert_eq!(
        heading(&success),
        "Your Accord Sandbox Books account is connected"
    );
    assert_eq!(
        app.consents().await.len(),
        1,
        "the retry used the consent already given"
    );
}

/// Two sign-ins completed for one connection (the "Try again" button pressed twice, two tabs
/// at the platform): the second grant replaces the first, and the first, which nothing holds
/// any more, is revoked at the platform rather than left alive there.
#[tokio::test]
async fn a_second_sign_in_revokes_the_grant_it_replaces_at_the_platform() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    let denied = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", false)
        .await;
    let page = browser.get(&denied.location()).await;
    let (action, fields) = page.quiet_form("form[action$='/retry']");
    let mut callbacks = Vec::new();
    for _ in 0..2 {
        let again = browser.post(&action, &fields).await;
        assert_eq!(again.status, 303, "{}", again.body);
        let callback = browser
            .sandbox_decide(&again.location(), "Bluebell", true)
            .await;
        callbacks.push(callback.location());
    }
    let id = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let mut grants = Vec::new();
    for callback in &callbacks {
        let done = browser.get(callback).await;
        assert_eq!(done.status, 303, "{}", done.body);
        grants.push(app.platform_tokens(&id).await.expect("tokens").access_token);
    }
    assert_ne!(grants[0], grants[1], "two grants");
    assert_eq!(app.connections().await[0]["status"], "linked");

    let jobs = app.revoke_jobs().await;
    assert_eq!(jobs.len(), 1, "the replaced grant's revocation");
    let job = app.wait_job_done(jobs[0].id).await;
    assert!(job.last_error.is_none(), "{:?}", job.last_error);
    assert_eq!(
        app.sandbox_api_status("invoices", &grants[0]).await,
        401,
        "the first grant is gone at the platform"
    );
    assert_eq!(
        app.sandbox_api_status("invoices", &grants[1]).await,
        200,
        "the grant Accord holds still works"
    );
}

#[tokio::test]
async fn a_tampered_notice_is_shown_again_and_nothing_is_recorded() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let (action, mut fields) = consent.quiet_form("form.consent-form");
    let genuine = fields["notice_sha256"].clone();
    fields.insert("notice_sha256".into(), "0".repeat(64));
    fields.insert("agree".into(), "yes".into());
    fields.insert("action".into(), "connect".into());
    let shown_again = browser.post(&action, &fields).await;
    assert_eq!(shown_again.status, 422, "{}", shown_again.body);
    assert_eq!(
        shown_again.quiet_texts("#agree-error"),
        vec!["This notice has just been updated. Please read it again before agreeing.".to_owned()]
    );
    assert!(
        shown_again.has("section.notice"),
        "the notice is shown again"
    );
    assert_eq!(
        shown_again.quiet_form("form.consent-form").1["notice_sha256"],
        genuine
    );
    assert!(app.consents().await.is_empty(), "no consent recorded");
    assert!(app.connections().await.is_empty(), "no connection");
}

#[tokio::test]
async fn a_link_opened_in_another_browser_is_gone_but_continues_in_the_first() {
    let app = spawn_app().await;
    let first = app.browser();
    assert_eq!(first.get(&app.link_url).await.status, 303);

    let other = app.browser();
    let gone = other.get(&app.link_url).await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(heading(&gone), "This link can no longer be used");
    let path = url::Url::parse(&app.link_url).unwrap().path().to_owned();
    assert_language_switch(&gone, &path, "en", "fr");
    assert_help_footer(&gone);
    // No session here, but the link names its tenant: whom to ask is on the page (the
    // company's name is not), without a form to file with.
    assert_tenant_phone_and_email_only(&gone);
    assert!(!gone.body.contains("Bluebell Bakery"), "{}", gone.body);

    let again = first.get(&app.link_url).await;
    assert_eq!(again.status, 303, "{}", again.body);
    assert_eq!(again.location(), "/link/start");
}

#[tokio::test]
async fn an_expired_link_is_gone() {
    let app = spawn_app().await;
    app.clock
        .advance(time::Duration::hours(24) + time::Duration::seconds(1));
    let gone = app.browser().get(&app.link_url).await;
    assert_eq!(gone.status, 410, "{}", gone.body);
    assert_eq!(heading(&gone), "This link can no longer be used");
    assert_help_footer(&gone);
}

// ---- Support requests ----

/// Follows a support link, sends a valid request, returns the reference shown.
pub(crate) async fn send_support_request(browser: &Browser, link: &str) -> String {
    let form = browser.get(link).await;
    assert_eq!(form.status, 200, "{}", form.body);
    assert_eq!(heading(&form), "Ask for help");
    assert_help_footer(&form);
    let (action, mut fields) = form.quiet_form("form.support-form");
    // The <select> is not an <input>: send what a browser sends, the selected option.
    let selected = form.attrs("select#topic option[selected]", "value");
    fields.insert(
        "topic".into(),
        selected.first().cloned().unwrap_or_else(|| "other".into()),
    );
    fields.insert("message".into(), "I cannot find my bank.".into());
    fields.insert("reply_to".into(), "owner@bluebell.example".into());
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(heading(&done), "Request sent");
    reference_in(&done).unwrap_or_else(|| panic!("no reference on {}", done.body))
}

/// `SR-` and 8 characters of the unambiguous alphabet.
fn reference_in(page: &Page) -> Option<String> {
    let body = text(page);
    let at = body.find("SR-")?;
    let reference: String = body[at..].chars().take(11).collect();
    let ok = reference[3..].chars().count() == 8
        && reference[3..]
            .chars()
            .all(|c| "ABCDEFGHJKLMNPQRSTUVWXYZ23456789".contains(c));
    ok.then_some(reference)
}

async fn stored_request(app: &TestApp, reference: &str) -> serde_json::Value {
    app.support_requests()
        .await
        .into_iter()
        .find(|r| r["reference"] == reference)
        .unwrap_or_else(|| panic!("{reference} not stored"))
}

#[tokio::test]
async fn a_support_request_from_the_landing_is_stored_with_diagnostics() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&app.link_url).await;
    let landing = browser.get(&opened.location()).await;
    let link = landing
        .attrs("footer.help a[href^='/link/support']", "href")
        .remove(0);
    let reference = send_support_request(&browser, &link).await;
    let stored = stored_request(&app, &reference).await;
    assert_eq!(stored["company_id"], app.company_id.as_str());
    assert_eq!(stored["message"], "I cannot find my bank.");
    assert_eq!(stored["reply_to"], "owner@bluebell.example");
    let d = &stored["diagnostics"];
    assert_eq!(d["step"], "landing", "{d}");
    assert_eq!(d["locale"], "en");
    assert_eq!(d["user_agent"], "AccordTest/1.0");
}

#[tokio::test]
async fn a_support_request_from_the_platform_list_is_stored_with_diagnostics() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let select = browser.get("/link/platforms").await;
    let link = select.attrs("p.missing a", "href").remove(0);
    let reference = send_support_request(&browser, &link).await;
    let stored = stored_request(&app, &reference).await;
    assert_eq!(stored["topic"], "platform_missing");
    assert_eq!(
        stored["diagnostics"]["step"], "select",
        "{}",
        stored["diagnostics"]
    );
    assert_eq!(stored["diagnostics"]["locale"], "en");
    assert_eq!(stored["diagnostics"]["user_agent"], "AccordTest/1.0");
}

#[tokio::test]
async fn a_support_request_from_the_consent_step_is_stored_with_diagnostics() {
    let app = spawn_app().await;
    let browser = Browser::with_accept_language(&app.base, "fr");
    browser.get(&app.link_url).await;
    let consent = browser.get("/link/platforms/sandbox/consent").await;
    let link = consent
        .attrs("footer.help a[href^='/link/support']", "href")
        .remove(0);
    let form = browser.get(&link).await;
    let (action, mut fields) = form.quiet_form("form.support-form");
    fields.insert("topic".into(), "privacy_question".into());
    fields.insert("message".into(), "Qui voit mes factures ?".into());
    fields.insert("reply_to".into(), "+33 1 23 45 67 89".into());
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 200, "{}", done.body);
    let reference = reference_in(&done).unwrap();
    let stored = stored_request(&app, &reference).await;
    let d = &stored["diagnostics"];
    assert_eq!(d["step"], "consent", "{d}");
    assert_eq!(d["platform"], "sandbox", "{d}");
    assert_eq!(d["locale"], "fr");
    assert_eq!(d["user_agent"], "AccordTest/1.0");
}

#[tokio::test]
async fn a_support_request_from_the_manage_page_is_stored_with_diagnostics() {
    let app = spawn_app().await;
    let browser = app.browser();
    let opened = browser.get(&app.manage_url).await;
    assert_eq!(opened.status, 303, "{}", opened.body);
    let manage = browser.get(&opened.location()).await;
    assert_eq!(manage.status, 200, "{}", manage.body);
    let link = manage
        .attrs("footer.help a[href^='/manage/support']", "href")
        .remove(0);
    let reference = send_support_request(&browser, &link).await;
    let stored = stored_request(&app, &reference).await;
    let d = &stored["diagnostics"];
    assert_eq!(d["step"], "manage", "{d}");
    assert_eq!(d["surface"], "manage", "{d}");
    assert_eq!(d["locale"], "en");
    assert_eq!(d["user_agent"], "AccordTest/1.0");
}

#[tokio::test]
async fn an_invalid_support_request_lists_its_errors_with_links_to_the_fields() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let form = browser.get("/link/support").await;
    let (action, mut fields) = form.quiet_form("form.support-form");
    fields.insert("topic".into(), "nonsense".into());
    fields.insert("message".into(), String::new());
    fields.insert("reply_to".into(), "not a way to reply".into());
    let invalid = browser.post(&action, &fields).await;
    assert_eq!(invalid.status, 422, "{}", invalid.body);
    let links = invalid.attrs(".error-summary[role=alert] a", "href");
    assert_eq!(links, ["#topic", "#message", "#reply_to"]);
    for target in &links {
        assert!(
            invalid.has(&format!("form.support-form {target}")),
            "{target} names a field"
        );
    }
    assert_eq!(
        invalid.attrs("input#reply_to", "value"),
        vec!["not a way to reply".to_owned()],
        "input is kept"
    );
    assert!(app.support_requests().await.is_empty());
}

#[tokio::test]
async fn a_support_request_with_the_honeypot_filled_is_thanked_but_not_stored() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let form = browser.get("/link/support").await;
    let (action, mut fields) = form.quiet_form("form.support-form");
    fields.insert("topic".into(), "other".into());
    fields.insert("message".into(), "Buy cheap watches".into());
    fields.insert("reply_to".into(), "bot@spam.example".into());
    fields.insert("website".into(), "https://spam.example".into());
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(reference_in(&done).is_some(), "the bot sees a confirmation");
    assert!(app.support_requests().await.is_empty(), "nothing stored");
}

// ---- Pages without a session, and error pages ----

#[tokio::test]
async fn the_guide_renders_with_the_chrome() {
    let app = spawn_app().await;
    let page = app.browser().get("/guide").await;
    assert_eq!(page.status, 200);
    assert_eq!(heading(&page), "Connection guide");
    assert!(text(&page).contains("Do you see my password?"));
    assert_help_footer(&page);
    assert_language_switch(&page, "/guide", "en", "fr");
    assert!(text(&page).contains("Secured and powered by Accord"));

    let french = app.browser().get("/guide?lang=fr").await;
    assert_eq!(heading(&french), "Guide de connexion");
}

#[tokio::test]
async fn the_guide_shows_the_tenant_contacts_during_the_flow() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let page = browser.get("/guide").await;
    assert_eq!(page.status, 200);
    assert_tenant_contacts(&page);
}

#[tokio::test]
async fn the_privacy_page_renders_with_the_chrome() {
    let app = spawn_app().await;
    let page = app.browser().get("/privacy").await;
    assert_eq!(page.status, 200);
    assert_eq!(heading(&page), "How your data is handled");
    assert_help_footer(&page);
    assert_language_switch(&page, "/privacy", "en", "fr");
}

#[tokio::test]
async fn an_unknown_page_is_a_404_with_help_and_language_switch() {
    let app = spawn_app().await;
    let browser = app.browser();
    let page = browser.get("/link/nowhere/at/all").await;
    assert_eq!(page.status, 404);
    assert_eq!(heading(&page), "Page not found");
    assert_help_footer(&page);
    assert_language_switch(&page, "/link/nowhere/at/all", "en", "fr");

    // With a session, the tenant's contacts are there too.
    browser.get(&app.link_url).await;
    let page = browser.get("/link/nowhere/at/all").await;
    assert_eq!(page.status, 404);
    assert_tenant_contacts(&page);
}

#[tokio::test]
async fn a_flow_page_without_a_session_is_a_403_with_help_and_language_switch() {
    let app = spawn_app().await;
    let page = app.browser().get("/link/platforms").await;
    assert_eq!(page.status, 403);
    assert_eq!(heading(&page), "Your session has ended");
    assert_help_footer(&page);
    assert_language_switch(&page, "/link/platforms", "en", "fr");

    let french = Browser::with_accept_language(&app.base, "fr")
        .get("/link/platforms")
        .await;
    assert_eq!(french.status, 403);
    assert_eq!(heading(&french), "Votre session a expiré");
    assert_language_switch(&french, "/link/platforms", "fr", "en");
}

#[tokio::test]
async fn the_finish_page_lists_what_was_connected() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.connect(Some(&app.link_url), "sandbox").await;
    let page = browser.get("/link/finish").await;
    assert_eq!(page.status, 200);
    assert_eq!(heading(&page), "All done");
    assert!(page
        .quiet_texts("main li")
        .contains(&"Accord Sandbox Books".to_owned()));
    // The session ended with this page: the tenant's phone and e-mail, no form to file with.
    assert_tenant_phone_and_email_only(&page);
    // Its language switch still works (the page is shown again from its sealed cookie), and
    // nothing else does: the flow's pages refuse this browser now.
    let french = browser.get("/link/finish?lang=fr").await;
    assert_eq!(french.status, 200, "{}", french.body);
    assert_ne!(heading(&french), "All done", "in French");
    assert!(french
        .quiet_texts("main li")
        .contains(&"Accord Sandbox Books".to_owned()));
    assert_eq!(browser.get("/link/platforms").await.status, 403);
}

/// The OAuth state rows in the app's database, read straight from its file.
fn oauth_flow_rows(app: &TestApp) -> i64 {
    let db = app.data_dir.path().join("accord.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    conn.query_row("select count(*) from oauth_flows", [], |r| r.get(0))
        .unwrap()
}

/// A sign-in started and abandoned at the platform leaves its OAuth state (with the encrypted
/// PKCE verifier) only until it expires: housekeeping deletes it then, and a late callback
/// finds nothing to use.
#[tokio::test]
async fn an_abandoned_sign_in_leaves_no_oauth_state_behind() {
    let app = spawn_app().await;
    let browser = app.browser();
    browser.get(&app.link_url).await;
    let to_platform = browser.consent("sandbox", true).await;
    assert_eq!(to_platform.status, 303, "{}", to_platform.body);
    let callback = browser
        .sandbox_decide(&to_platform.location(), "Bluebell", true)
        .await;
    assert_eq!(oauth_flow_rows(&app), 1);

    // The app's own worker runs the same housekeeping on the same clock; either may delete it.
    let worker = accord_worker::Worker::new(
        app.state.platforms.clone(),
        std::sync::Arc::new(tokio::sync::Notify::new()),
        std::time::Duration::from_hours(1),
    );
    app.clock.advance(time::Duration::minutes(9));
    worker.run_housekeeping().await.unwrap();
    assert_eq!(oauth_flow_rows(&app), 1, "still usable for a minute");
    app.clock.advance(time::Duration::minutes(2));
    worker.run_housekeeping().await.unwrap();
    assert_eq!(oauth_flow_rows(&app), 0, "gone once expired");

    let late = browser.get(&callback.location()).await;
    assert_eq!(late.status, 400, "{}", late.body);
    assert_eq!(app.connections().await[0]["status"], "pending_auth");
}
