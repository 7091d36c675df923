//! The mutual NDA: a tenant option offered beside the consent as a separate,
//! optional action. Signing records the document with an `nda_accepted` ledger event; both
//! parties download the same PDF; the receipt verifies against the published keys; the NDA never
//! blocks a connection; signer input stays text.

use crate::helpers::{spawn_app, Browser, Page, TestApp};
use accord_domain::crypto::sha256_hex;
use accord_domain::ledger::EventKind;
use serde_json::{json, Value};

const TEMPLATE_EN: &str = "**Mutual non-disclosure agreement** between {tenantLegalName} ({tenantName}) and {companyName}.\n\n\
Each party keeps the other's confidential information secret.\n\n\
Signed for {tenantLegalName} by {tenantSignatoryName}, {tenantSignatoryTitle}; for {companyName} by {signerName}, {signerTitle}, on {date}.";
const TEMPLATE_FR: &str =
    "**Accord de confidentialité mutuel** entre {tenantLegalName} et {companyName}.\n\n\
Signé pour {companyName} par {signerName}, {signerTitle}, le {date}.";

async fn put_settings(app: &TestApp, mnda: Value) -> (u16, Value) {
    let (status, mut settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    assert_eq!(status, 200);
    settings["mnda"] = mnda;
    app.api_json(reqwest::Method::PUT, "/v1/link-settings", Some(settings))
        .await
}

pub(crate) async fn configure(app: &TestApp) {
    let (status, body) = put_settings(
        app,
        json!({"template": {"en": TEMPLATE_EN, "fr": TEMPLATE_FR}, "signatory_name": "Ada Lovelace", "signatory_title": "Chief Risk Officer"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["mnda"]["signatory_name"], "Ada Lovelace");
}

/// A browser with the demo link opened.
async fn opened(app: &TestApp) -> Browser {
    let b = app.browser();
    assert_eq!(b.get(&app.link_url).await.status, 303);
    b
}

async fn ndas(app: &TestApp) -> Vec<Value> {
    let (status, body) = app.api_json(reqwest::Method::GET, "/v1/ndas", None).await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().cloned().unwrap()
}

async fn nda_events(app: &TestApp) -> Vec<accord_domain::ledger::ChainedEvent> {
    let events = app
        .state
        .store
        .ledger_events(app.tenant(), 0, 1000)
        .await
        .unwrap();
    events
        .into_iter()
        .filter(|e| e.event.body.kind == EventKind::NdaAccepted)
        .collect()
}

/// Fills and posts the NDA form.
pub(crate) async fn sign(b: &Browser, name: &str, title: &str, tick: bool) -> Page {
    let page = b.get("/link/nda?platform=sandbox").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let (action, mut fields) = page.form("form.nda-form");
    assert_eq!(action, "/link/nda");
    fields.insert("signer_name".into(), name.into());
    fields.insert("signer_title".into(), title.into());
    if tick {
        fields.insert("accept".into(), "yes".into());
    }
    b.post(&action, &fields).await
}

/// A PDF's text as a reader extracts it (`lopdf`), runs of ASCII whitespace (line and page
/// breaks) made one space; every other character, U+00A0 and U+202F included, as extracted.
fn pdf_text(pdf: &[u8]) -> String {
    let doc = lopdf::Document::load_mem(pdf).expect("a PDF");
    let pages: Vec<u32> = doc.get_pages().keys().copied().collect();
    let text = doc.extract_text(&pages).expect("its text extracts");
    text.split(|c: char| c.is_ascii_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The subset tag of each font the PDF names (`ABCDEF+DejaVuSans` → `ABCDEF`), or the whole
/// name of a font that has none.
fn font_names(pdf: &[u8]) -> Vec<String> {
    let doc = lopdf::Document::load_mem(pdf).expect("a PDF");
    doc.objects
        .values()
        .filter_map(|o| o.as_dict().ok())
        .filter(|d| d.get(b"Type").and_then(lopdf::Object::as_name).ok() == Some(b"Font"))
        .filter_map(|d| d.get(b"BaseFont").and_then(lopdf::Object::as_name).ok())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

async fn bytes(res: reqwest::Response) -> (u16, String, Vec<u8>) {
    let status = res.status().as_u16();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, res.bytes().await.unwrap().to_vec())
}

#[tokio::test]
async fn without_an_mnda_no_nda_is_offered() {
    let app = spawn_app().await;
    let b = opened(&app).await;
    let consent = b.get("/link/platforms/sandbox/consent").await;
    assert_eq!(consent.status, 200);
    assert!(
        !consent.body.contains("/link/nda"),
        "no NDA link: {}",
        consent.body
    );
    assert_eq!(b.get("/link/nda").await.status, 404);
    let (_, settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    assert!(
        settings.get("mnda").is_none(),
        "omitted when unset: {settings}"
    );
}

#[tokio::test]
async fn unknown_placeholders_are_refused_with_their_path() {
    let app = spawn_app().await;
    let (status, body) =
        put_settings(&app, json!({"template": {"en": "Between {tenantName} and {customer}."}, "signatory_name": "A", "signatory_title": "B"})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["errors"][0]["path"], "mnda.template.en", "{body}");
    assert!(body["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("{customer}"));
}

#[tokio::test]
async fn the_nda_is_a_separate_optional_action_and_connecting_works_without_it() {
    let app = spawn_app().await;
    configure(&app).await;
    let b = opened(&app).await;
    let consent = b.get("/link/platforms/sandbox/consent").await;
    assert_eq!(consent.status, 200);
    let links = consent.attrs("a[href^=\"/link/nda\"]", "href");
    assert_eq!(links, ["/link/nda?platform=sandbox"]);
    assert!(consent.texts("a[href^=\"/link/nda\"]")[0]
        .contains("Read and sign Northwind Lending's mutual confidentiality agreement (optional)"));
    assert!(
        !consent.has("form.consent-form a[href^=\"/link/nda\"]"),
        "not inside the consent form"
    );
    let (_, fields) = consent.form("form.consent-form");
    assert!(
        fields.keys().all(|k| !k.contains("nda") && k != "accept"),
        "nothing NDA in the consent form: {fields:?}"
    );
    // Connecting without signing anything.
    let success = b.connect(None, "sandbox").await;
    assert_eq!(success.status, 200);
    assert_eq!(app.connections().await[0]["status"], "linked");
    assert!(ndas(&app).await.is_empty());
    assert!(nda_events(&app).await.is_empty());
}

#[tokio::test]
async fn an_unticked_or_incomplete_signature_is_refused_and_nothing_is_recorded() {
    let app = spawn_app().await;
    configure(&app).await;
    let b = opened(&app).await;
    let unticked = sign(&b, "Zoé Dupont", "Directrice", false).await;
    assert_eq!(unticked.status, 422, "{}", unticked.body);
    assert!(unticked.has("#accept[aria-invalid=\"true\"]"));
    assert!(unticked.texts("#accept-error[aria-live]")[0].contains("tick the box"));
    assert_eq!(
        unticked.attrs("#signer_name", "value"),
        ["Zoé Dupont"],
        "what was typed is kept"
    );
    let empty = sign(&b, " ", "", true).await;
    assert_eq!(empty.status, 422);
    assert!(
        empty.has("#signer_name-error[aria-live]") && empty.has("#signer_title-error[aria-live]")
    );
    // A post without the CSRF token is refused outright.
    let mut forged = std::collections::BTreeMap::new();
    forged.insert("signer_name".to_owned(), "X".to_owned());
    forged.insert("signer_title".to_owned(), "Y".to_owned());
    forged.insert("accept".to_owned(), "yes".to_owned());
    assert_eq!(b.post("/link/nda", &forged).await.status, 403);
    assert!(ndas(&app).await.is_empty());
    assert!(nda_events(&app).await.is_empty());
}

#[tokio::test]
async fn signing_records_the_document_with_its_event_pdf_and_receipt() {
    let app = spawn_app().await;
    configure(&app).await;
    let b = opened(&app).await;
    let signed = sign(&b, "Zoé Dupont", "Directrice générale", true).await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let done_url = signed.location();
    let id = done_url
        .trim_start_matches("/link/nda/")
        .split('?')
        .next()
        .unwrap()
        .to_owned();
    let done = b.get(&done_url).await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(done.body.contains("Zoé Dupont"));
    let pdf_url = format!("/link/nda/{id}.pdf");
    let jws_url = format!("/link/nda/{id}.jws");
    assert_eq!(
        done.attrs("a[download]", "href"),
        [pdf_url.clone(), jws_url.clone()]
    );

    // The tenant lists it.
    let list = ndas(&app).await;
    assert_eq!(list.len(), 1);
    let n = &list[0];
    assert_eq!(
        (n["id"].as_str(), n["company_id"].as_str()),
        (Some(id.as_str()), Some(app.company_id.as_str()))
    );
    assert_eq!(
        (n["signer_name"].as_str(), n["signer_title"].as_str()),
        (Some("Zoé Dupont"), Some("Directrice générale"))
    );
    assert!(n["accepted_at"].is_string());

    // Its ledger event carries the SHA-256 of the stored document.
    let stored = app
        .state
        .store
        .nda(app.tenant(), id.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    for party in [
        "Northwind Lending Ltd",
        "Bluebell Bakery Ltd",
        "Ada Lovelace",
        "Zoé Dupont",
        "Directrice générale",
    ] {
        assert!(
            stored.document_text.contains(party),
            "{party} in {}",
            stored.document_text
        );
    }
    let events = nda_events(&app).await;
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        e.event.body.text_sha256,
        sha256_hex(stored.document_text.as_bytes())
    );
    assert_eq!(n["document_sha256"], e.event.body.text_sha256.as_str());
    assert_eq!(n["ledger_position"], e.event.seq);
    assert_eq!(e.event.body.consent_id.to_string(), id);
    assert_eq!(e.event.body.purpose, "mutual non-disclosure agreement");
    assert_eq!(e.event.body.method, "hosted_flow_signature");

    // The PDF: the customer's and the tenant's are the same bytes; its text, as a reader
    // extracts it, names the signer as typed and carries the document's hash.
    let (status, ct, customer_pdf) = bytes(
        b.client
            .get(b.base.clone() + &pdf_url)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    assert!(customer_pdf.starts_with(b"%PDF-"));
    let text = pdf_text(&customer_pdf);
    assert!(text.contains("Zoé Dupont"), "the signer's name: {text}");
    assert!(
        text.contains(&e.event.body.text_sha256),
        "the document hash is in the signature block: {text}"
    );
    let (status, ct, tenant_pdf) = bytes(
        app.api(reqwest::Method::GET, &format!("/v1/ndas/{id}/pdf"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    assert_eq!(tenant_pdf, customer_pdf);

    // The receipt verifies against the published keys.
    let (status, _, jws) = bytes(
        b.client
            .get(b.base.clone() + &jws_url)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    let keys: Value = reqwest::get(app.url("/.well-known/jwks.json"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let payload = accord_domain::receipt::verify_compact(std::str::from_utf8(&jws).unwrap(), &keys)
        .expect("the receipt verifies");
    assert_eq!(payload["event"]["type"], "nda_accepted");
    assert_eq!(
        payload["notice"]["text_sha256"],
        e.event.body.text_sha256.as_str()
    );
    assert_eq!(payload["ledger"]["position"], e.event.seq);

    // The manage page lists it with the same downloads.
    let m = app.browser();
    assert_eq!(m.get(&app.manage_url).await.status, 303);
    let manage = m.get("/manage").await;
    assert_eq!(manage.status, 200);
    assert!(
        manage
            .attrs(".nda-list a[download]", "href")
            .contains(&format!("/manage/nda/{id}.pdf")),
        "{}",
        manage.body
    );
    let (status, _, manage_pdf) = bytes(
        m.client
            .get(m.base.clone() + &format!("/manage/nda/{id}.pdf"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, manage_pdf), (200, customer_pdf));

    // Another tenant's id, or a bad one, is not found.
    let (status, _) = app
        .api_json(
            reqwest::Method::GET,
            &format!(
                "/v1/ndas/{}/pdf",
                accord_domain::ids::NdaAcceptanceId::new()
            ),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn hostile_signer_input_stays_text() {
    let app = spawn_app().await;
    configure(&app).await;
    let b = opened(&app).await;
    let signed = sign(
        &b,
        "<script>alert(1)</script>",
        "[boss](https://evil.example)",
        true,
    )
    .await;
    assert_eq!(signed.status, 303, "{}", signed.body);
    let done = b.get(&signed.location()).await;
    assert_eq!(done.status, 200);
    assert!(
        !done.body.contains("<script>alert"),
        "no script element: {}",
        done.body
    );
    assert!(!done.has("a[href=\"https://evil.example\"]"), "no link");
    let text = done.texts(".nda-document").join(" ");
    assert!(
        text.contains("<script>alert(1)</script>") && text.contains("[boss](https://evil.example)"),
        "{text}"
    );
    // Refused input is echoed back as text too.
    let refused = sign(&b, "<script>alert(2)</script>", "CEO", false).await;
    assert_eq!(refused.status, 422);
    assert!(!refused.body.contains("<script>alert(2)"));
}

#[tokio::test]
async fn the_nda_speaks_french() {
    let app = spawn_app().await;
    configure(&app).await;
    let b = opened(&app).await;
    let consent = b.get("/link/platforms/sandbox/consent?lang=fr").await;
    assert!(
        consent.body.contains(
            "Lire et signer l’accord de confidentialité mutuel de Northwind Lending (facultatif)"
        ),
        "{}",
        consent.body
    );
    let page = b.get("/link/nda?lang=fr").await;
    assert_eq!(page.status, 200);
    assert!(page.doc().root_element().value().attr("lang") == Some("fr"));
    for s in [
        "Accord de confidentialité mutuel",
        "Vos nom et prénom",
        "Votre fonction",
        "Signer",
        "Pas maintenant",
    ] {
        assert!(page.body.contains(s), "{s}: {}", page.body);
    }
    let month = [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ];
    assert!(
        month
            .iter()
            .any(|m| page.texts(".nda-document")[0].contains(m)),
        "the date is written in French"
    );
    let refused = sign(&b, "Zoé", "Gérante", false).await;
    assert!(refused.body.contains("cochez la case"), "{}", refused.body);
}

/// Parties whose names are outside Latin-1: the signed PDF prints and extracts each exactly,
/// in the one embedded, subset font (no `?` in place of a letter, no standard Helvetica).
#[tokio::test]
async fn names_in_every_script_are_kept_in_the_pdf() {
    let app = spawn_app().await;
    configure(&app).await;
    let parties = [
        (
            "Łódź Foods Sp. z o.o.",
            "Łukasz Żółć",
            "Prezes Zarządu",
            "en",
        ),
        ("Çağrı Gıda Sanayi A.Ş.", "Çağrı Şahin", "Genel Müdür", "en"),
        (
            "Ελληνικά Τρόφιμα Α.Ε.",
            "Γιώργος Παπαδόπουλος",
            "Διευθύνων Σύμβουλος",
            "en",
        ),
        (
            "Công ty TNHH Thực phẩm Việt",
            "Nguyễn Thị Hương",
            "Giám đốc",
            "en",
        ),
        (
            "Bœuf & Cœur SARL",
            "Zoé Lœvenbruck",
            "Directrice « générale »\u{202f}!",
            "fr",
        ),
    ];
    for (company, signer, title, lang) in parties {
        let company_id = app.new_company(company).await;
        let b = app.browser();
        let link = app.new_link_url(&company_id).await;
        assert_eq!(b.get(&format!("{link}?lang={lang}")).await.status, 303);
        let signed = sign(&b, signer, title, true).await;
        assert_eq!(signed.status, 303, "{company}: {}", signed.body);
        let id = signed
            .location()
            .trim_start_matches("/link/nda/")
            .split('?')
            .next()
            .unwrap()
            .to_owned();
        let (status, _, pdf) = bytes(
            app.api(reqwest::Method::GET, &format!("/v1/ndas/{id}/pdf"))
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, 200);
        let text = pdf_text(&pdf);
        for expected in [
            company,
            signer,
            title,
            "Northwind Lending Ltd",
            "Ada Lovelace",
        ] {
            assert!(text.contains(expected), "{expected:?} in the PDF: {text}");
        }
        if lang == "fr" {
            assert!(text.contains("Accord de confidentialité mutuel"), "{text}");
        }
        let fonts = font_names(&pdf);
        assert!(!fonts.is_empty());
        for name in &fonts {
            let (tag, family) = name.split_once('+').expect("a subset tag");
            assert!(
                tag.len() == 6 && tag.bytes().all(|b| b.is_ascii_uppercase()),
                "{name}"
            );
            assert_eq!(family, "DejaVuSans");
        }
        assert!(pdf.len() < 64 * 1024, "{company}: {} bytes", pdf.len());
    }
}
