//! Consent receipts: each ledger event of a consent yields a receipt signed
//! as a compact JWS (EdDSA, Ed25519) that an independent JOSE implementation verifies against
//! `/.well-known/jwks.json`; the tenant reads them from the API, the customer from the success
//! and manage pages (a readable page in its language and the receipt file); a withdrawal adds a
//! `withdrawn` receipt; `accord keys rotate` keeps old receipts verifiable. Beside each receipt
//! goes the proof of its event's inclusion in a signed checkpoint of the tenant's log, and a
//! fresh proof against the latest checkpoint; `accord receipt verify` checks both offline, and so
//! does an independent verifier.

use crate::helpers::{spawn_app, spawn_app_with, Browser, Page, TestApp};
use accord_domain::ledger::ChainVerifier;
use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const CHILD_TIMEOUT: Duration = Duration::from_mins(1);

// ---- helpers ----

/// Validates a Kantara Consent Receipt v1.1 export against the specification's JSON schema.
fn assert_kantara_valid(k: &Value) {
    let schema: Value = serde_json::from_str(include_str!(
        "../fixtures/kantara-consent-receipt-v1.1.schema.json"
    ))
    .unwrap();
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the schema compiles");
    let errors: Vec<String> = validator.iter_errors(k).map(|e| e.to_string()).collect();
    assert!(
        errors.is_empty(),
        "Kantara v1.1 export invalid: {errors:?}\n{k:#}"
    );
}

/// The receipts of a consent, from the tenant API.
async fn receipts(app: &TestApp, consent_id: &str) -> Vec<Value> {
    let (status, body) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/consents/{consent_id}/receipt"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["consent_id"], consent_id);
    body["data"].as_array().cloned().unwrap_or_default()
}

async fn jwks(base: &str) -> Value {
    let res = reqwest::get(format!("{base}/.well-known/jwks.json"))
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// Verifies a compact JWS with `jsonwebtoken` (ring's Ed25519), not with the code that signed
/// it: the key is chosen by the header's `kid` in the published JWKS. Returns the payload.
fn verify_independently(jws: &str, key_set: &Value) -> Result<Value, jsonwebtoken::errors::Error> {
    let header = jsonwebtoken::decode_header(jws)?;
    assert_eq!(header.alg, Algorithm::EdDSA);
    assert_eq!(header.typ.as_deref(), Some("accord-receipt+jws"));
    let kid = header.kid.expect("the header names its key");
    let jwk = key_set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .unwrap_or_else(|| panic!("key {kid} is published in {key_set}"));
    assert_eq!(
        (jwk["kty"].as_str(), jwk["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    let key = DecodingKey::from_ed_components(jwk["x"].as_str().unwrap())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    Ok(jsonwebtoken::decode::<Value>(jws, &key, &validation)?.claims)
}

/// The consents of a company, from the tenant API.
async fn consents_of(app: &TestApp, company_id: &str) -> Vec<Value> {
    let (status, body) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{company_id}/consents"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].as_array().cloned().unwrap()
}

/// Disconnects a connection as the customer does: manage link, one click, one confirmation.
async fn disconnect_on_manage_page(app: &TestApp, connection_id: &str) -> Browser {
    let browser = app.browser();
    assert_eq!(browser.get(&app.manage_url).await.status, 303);
    let confirm = browser
        .get(&format!("/manage/connections/{connection_id}/disconnect"))
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let (action, fields) = confirm.quiet_form("main form[method=post]");
    let done = browser.post(&action, &fields).await;
    assert_eq!(done.status, 303, "{}", done.body);
    browser
}

/// A tenant's whole chain, verified with the domain's `ChainVerifier`; returns (position, hash).
async fn verified_chain(app: &TestApp) -> Vec<(i64, String)> {
    let events = app
        .state
        .store
        .ledger_events(app.tenant(), 0, 1000)
        .await
        .unwrap();
    let mut verifier = ChainVerifier::default();
    for e in &events {
        verifier.push(e).unwrap();
    }
    assert_eq!(verifier.count(), i64::try_from(events.len()).unwrap());
    events
        .iter()
        .map(|e| (e.event.seq, e.hash.clone()))
        .collect()
}

// ---- the tenant API and the independent verifier ----

#[tokio::test]
async fn a_consent_receipt_verifies_with_an_independent_jose_implementation() {
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let consent = app.consents().await.remove(0);
    let consent_id = consent["id"].as_str().unwrap();

    let list = receipts(&app, consent_id).await;
    assert_eq!(list.len(), 1, "one event so far: {list:?}");
    let r = &list[0];
    assert_eq!(r["event"], "given");

    let key_set = jwks(&app.base).await;
    let payload = verify_independently(r["jws"].as_str().unwrap(), &key_set).expect("verifies");
    assert_eq!(
        payload, r["receipt"],
        "the JWS signs exactly the receipt shown"
    );
    // The signer's own verifier agrees.
    assert!(accord_domain::receipt::verify_compact(r["jws"].as_str().unwrap(), &key_set).is_ok());

    // The receipt (ISO/IEC TS 27560 aligned).
    let rec = &r["receipt"];
    assert_eq!(rec["schema"], "accord-receipt/1");
    assert_eq!(rec["controller"]["legal_name"], "Northwind Lending Ltd");
    assert_eq!(rec["controller"]["name"], "Northwind Lending");
    assert_eq!(rec["controller"]["email"], "help@northwind-lending.example");
    assert_eq!(rec["controller"]["phone"], "+44 20 7946 0000");
    let (status, company) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/companies/{}", app.company_id),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(rec["principal"]["company_id"], app.company_id.as_str());
    assert_eq!(rec["principal"]["name"], company["name"]);
    let ev = &rec["event"];
    assert_eq!(ev["type"], "given");
    assert_eq!(ev["consent_id"], consent_id);
    assert_eq!(ev["method"], "hosted_flow_checkbox");
    assert_eq!(ev["language"], "en");
    assert_eq!(ev["connection_id"], consent["connection_id"]);
    assert_eq!(ev["platform"]["key"], "sandbox");
    assert_eq!(ev["platform"]["name"], "Accord Sandbox Books");
    assert_eq!(ev["category"], "accounting");
    assert!(time::OffsetDateTime::parse(
        ev["time"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339
    )
    .is_ok());
    assert_eq!(rec["purposes"].as_array().unwrap().len(), 1);
    let purpose = &rec["purposes"][0];
    let purpose_text = purpose["purpose"].as_str().unwrap();
    assert!(!purpose_text.is_empty());
    assert!(
        consent["notice_text"]
            .as_str()
            .unwrap()
            .contains(purpose_text),
        "the purpose is the one of the notice agreed: {purpose_text}"
    );
    let data: Vec<(String, String)> = purpose["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["type"].as_str().unwrap().to_owned(),
                u["direction"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let agreed: Vec<(String, String)> = consent["data_uses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            (
                u["data_type"].as_str().unwrap().to_owned(),
                u["direction"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(data, agreed, "data types and directions as agreed");
    assert_eq!(data.len(), 7);
    assert!(
        data.contains(&("invoices".to_owned(), "read".to_owned())),
        "{data:?}"
    );
    assert_eq!(rec["notice"]["version"], consent["notice_version"]);
    assert_eq!(rec["notice"]["version_id"], consent["notice_version_id"]);
    assert_eq!(rec["notice"]["text_sha256"], consent["notice_sha256"]);
    assert_eq!(
        consent["notice_sha256"].as_str().unwrap(),
        accord_domain::crypto::sha256_hex(consent["notice_text"].as_str().unwrap().as_bytes()),
        "the hash is the exact text's"
    );
    assert!(
        !rec["withdrawal"]["how"].as_str().unwrap().is_empty(),
        "how to withdraw"
    );
    assert_eq!(rec["ledger"]["position"], r["ledger_position"]);
    assert_eq!(rec["ledger"]["hash"], r["ledger_hash"]);
    assert_eq!(rec["ledger"]["tenant_id"], app.tenant_id.as_str());
    let chain = verified_chain(&app).await;
    assert_eq!(
        (Value::from(chain[0].0), Value::from(chain[0].1.clone())),
        (r["ledger_position"].clone(), r["ledger_hash"].clone()),
        "the receipt names its event in the ledger"
    );

    // The Kantara Consent Receipt v1.1 export and its required fields, checked against the
    // specification's schema (written from its field tables) by an independent validator.
    let k = &r["kantara_v1_1"];
    assert_kantara_valid(k);
    assert_eq!(k["jurisdiction"], "GB");
    assert_eq!(
        k["consentTimestamp"],
        time::OffsetDateTime::parse(
            ev["time"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339
        )
        .unwrap()
        .unix_timestamp(),
        "seconds since the epoch"
    );
    assert_eq!(
        k["services"][0]["purposes"][0]["thirdPartyDisclosure"], false,
        "the demo tenant declares no third party: a sentence about sharing is no disclosure"
    );
    assert_eq!(rec["event"]["status"], "dpv:ConsentGiven");
    assert_eq!(rec["event"]["initiator"], "customer");
    assert_eq!(k["version"], "KI-CR-v1.1.0");
    assert_eq!(k["consentReceiptID"], rec["receipt_id"]);
    assert!(!k["consentReceiptID"].as_str().unwrap().is_empty());
    assert_eq!(k["collectionMethod"], "hosted_flow_checkbox");
    assert!(k["jurisdiction"].is_string());
    assert_eq!(k["language"], "en");
    assert_eq!(k["piiPrincipalId"], app.company_id.as_str());
    assert_eq!(
        k["piiControllers"][0]["piiController"],
        "Northwind Lending Ltd"
    );
    assert_eq!(
        k["piiControllers"][0]["email"],
        "help@northwind-lending.example"
    );
    assert_eq!(k["piiControllers"][0]["phone"], "+44 20 7946 0000");
    assert!(k["policyUrl"]
        .as_str()
        .is_some_and(|u| u.starts_with("http")));
    assert_eq!(k["services"][0]["service"], "Accord Sandbox Books");
    let kp = &k["services"][0]["purposes"][0];
    assert_eq!(kp["purpose"], purpose_text);
    assert_eq!(kp["consentType"], "EXPLICIT");
    assert_eq!(kp["purposeCategory"], serde_json::json!(["accounting"]));
    assert_eq!(kp["piiCategory"].as_array().unwrap().len(), 7);
    assert!(kp["termination"].is_string());
    assert!(kp["thirdPartyDisclosure"].is_boolean());
    assert_eq!(k["sensitive"], false);

    // The independent verifier does check: a changed payload or another key is refused.
    let jws = r["jws"].as_str().unwrap();
    let parts: Vec<&str> = jws.split('.').collect();
    let mut forged = r["receipt"].clone();
    forged["event"]["type"] = "withdrawn".into();
    let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&forged).unwrap());
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert!(
        verify_independently(&forged, &key_set).is_err(),
        "altered payload refused"
    );
    let mut other_keys = key_set.clone();
    other_keys["keys"][0]["x"] = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into();
    assert!(
        verify_independently(jws, &other_keys).is_err(),
        "another key refused"
    );
}

#[tokio::test]
async fn withdrawal_yields_a_withdrawn_receipt_and_the_chain_stays_consecutive() {
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let connection_id = app.connections().await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let consent_id = app.consents().await[0]["id"].as_str().unwrap().to_owned();
    disconnect_on_manage_page(&app, &connection_id).await;

    let list = receipts(&app, &consent_id).await;
    let kinds: Vec<&str> = list.iter().map(|r| r["event"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["given", "withdrawn"]);
    let key_set = jwks(&app.base).await;
    for r in &list {
        let payload = verify_independently(r["jws"].as_str().unwrap(), &key_set).unwrap();
        assert_eq!(payload, r["receipt"]);
        assert_eq!(payload["event"]["consent_id"], consent_id.as_str());
    }
    let withdrawn = &list[1]["receipt"];
    assert_eq!(withdrawn["event"]["type"], "withdrawn");
    assert_eq!(withdrawn["event"]["method"], "manage_page");
    assert_eq!(withdrawn["event"]["status"], "dpv:ConsentWithdrawn");
    assert_eq!(withdrawn["event"]["initiator"], "customer");
    assert!(withdrawn["event"]["reason"].is_string());
    assert_eq!(
        withdrawn["notice"], list[0]["receipt"]["notice"],
        "the same notice agreed"
    );
    assert_eq!(list[1]["kantara_v1_1"]["collectionMethod"], "manage_page");
    assert_eq!(
        withdrawn["ledger"]["prev_hash"], list[0]["ledger_hash"],
        "the withdrawal is chained to the consent"
    );

    // Another company connects, and the tenant disconnects it through the API.
    let other = app.new_company("Crocus Cafe Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
    let theirs = consents_of(&app, &other).await.remove(0);
    let (status, body) = app
        .api_json(
            reqwest::Method::DELETE,
            &format!(
                "/v1/companies/{other}/connections/{}",
                theirs["connection_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let their_list = receipts(&app, theirs["id"].as_str().unwrap()).await;
    let kinds: Vec<&str> = their_list
        .iter()
        .map(|r| r["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["given", "withdrawn"]);
    assert_eq!(their_list[1]["receipt"]["event"]["method"], "tenant_api");
    for r in &their_list {
        verify_independently(r["jws"].as_str().unwrap(), &key_set).unwrap();
    }

    // The tenant's chain verifies, positions 1..=4 without gaps, and the receipts name them.
    let chain = verified_chain(&app).await;
    let positions: Vec<i64> = chain.iter().map(|(p, _)| *p).collect();
    assert_eq!(positions, [1, 2, 3, 4]);
    let named: Vec<(i64, String)> = list
        .iter()
        .chain(&their_list)
        .map(|r| {
            (
                r["ledger_position"].as_i64().unwrap(),
                r["ledger_hash"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(named, chain);
    let jwks = app.state.keyring.signing_keys().jwks();
    let report =
        accord::proof::verify_chain(app.state.store.as_ref(), app.tenant(), &jwks, &[], &|_| {})
            .await;
    assert!(report.broken.is_none(), "{:?}", report.broken);
    assert_eq!(
        (report.events, report.head.as_str()),
        (4, chain[3].1.as_str())
    );
}

// ---- the customer's pages ----

/// The receipt page linked from `page` (success or manage), opened in `browser`.
async fn receipt_page_from(browser: &Browser, page: &Page, prefix: &str, consent_id: &str) -> Page {
    let href = format!("{prefix}/receipts/{consent_id}");
    assert!(
        page.attrs("a", "href").contains(&href),
        "a link to {href} on {}:\n{}",
        page.url,
        page.body
    );
    let receipt = browser.get(&href).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    receipt
}

/// Downloads each receipt document (`.json`: the JWS and its inclusion proof) linked from a
/// receipt page; checks the headers and that a fresh proof is offered beside each; returns the
/// compact JWS of each.
async fn downloads(browser: &Browser, page: &Page) -> Vec<String> {
    let mut out = Vec::new();
    let links = page.attrs("ul.receipt-events a[download]", "href");
    for href in links.iter().filter(|h| !h.ends_with(".proof.json")) {
        assert!(href.to_ascii_lowercase().ends_with(".json"), "{href}");
        let fresh = href.replace(".json", ".proof.json");
        assert!(links.contains(&fresh), "{fresh} offered beside {href}");
        let file = browser.get(href).await;
        assert_eq!(file.status, 200, "{}", file.body);
        assert_eq!(file.header("content-type"), "application/json");
        let disposition = file.header("content-disposition");
        assert!(disposition.starts_with("attachment"), "{disposition}");
        assert!(disposition.contains(".json"), "{disposition}");
        assert_eq!(file.header("cache-control"), "no-store");
        let doc: Value = serde_json::from_str(&file.body).unwrap();
        assert_eq!(doc["format"], "accord-receipt-document/1");
        out.push(doc["jws"].as_str().unwrap().to_owned());
    }
    out
}

fn one_line(texts: &[String]) -> Vec<String> {
    texts
        .iter()
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect()
}

#[tokio::test]
async fn the_customer_reads_and_downloads_its_receipts_from_the_success_and_manage_pages() {
    let app = spawn_app().await;
    let browser = app.browser();
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let consent = app.consents().await.remove(0);
    let consent_id = consent["id"].as_str().unwrap();
    let key_set = jwks(&app.base).await;

    // From the success page.
    let page = receipt_page_from(&browser, &success, "/link", consent_id).await;
    assert_eq!(page.quiet_texts("h1"), ["Your record of consent"]);
    let events = one_line(&page.quiet_texts("ul.receipt-events li strong"));
    assert_eq!(events, ["Consent given"]);
    assert_eq!(
        page.quiet_texts("pre.notice-text"),
        [consent["notice_text"].as_str().unwrap()],
        "the exact text agreed"
    );
    assert!(page
        .body
        .contains(consent["notice_sha256"].as_str().unwrap()));
    let api = receipts(&app, consent_id).await;
    assert!(page.body.contains(api[0]["ledger_hash"].as_str().unwrap()));
    assert_eq!(page.header("cache-control"), "no-store");
    let files = downloads(&browser, &page).await;
    assert_eq!(files.len(), 1);
    assert_eq!(
        files[0],
        api[0]["jws"].as_str().unwrap(),
        "the same receipt as the tenant's"
    );
    let payload = verify_independently(&files[0], &key_set).unwrap();
    assert_eq!(payload["event"]["consent_id"], consent_id);

    // From the manage page, after the disconnect: both events, both downloadable.
    let connection_id = consent["connection_id"].as_str().unwrap();
    let manager = disconnect_on_manage_page(&app, connection_id).await;
    let manage = manager.get("/manage").await;
    assert_eq!(manage.status, 200, "{}", manage.body);
    let page = receipt_page_from(&manager, &manage, "/manage", consent_id).await;
    let events = one_line(&page.quiet_texts("ul.receipt-events li strong"));
    assert_eq!(events, ["Consent given", "Consent withdrawn"]);
    assert_eq!(
        page.quiet_texts("pre.notice-text"),
        [consent["notice_text"].as_str().unwrap()],
        "the text agreed, still"
    );
    let files = downloads(&manager, &page).await;
    assert_eq!(files.len(), 2);
    let kinds: Vec<Value> = files
        .iter()
        .map(|f| verify_independently(f, &key_set).unwrap()["event"]["type"].clone())
        .collect();
    assert_eq!(kinds, ["given", "withdrawn"]);

    // A receipt of the same tenant's other company is not found, on either page and file;
    // nor is an unknown position or a malformed id.
    let other = app.new_company("Crocus Cafe Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
    let theirs = consents_of(&app, &other).await.remove(0);
    let theirs = theirs["id"].as_str().unwrap();
    for url in [
        format!("/manage/receipts/{theirs}"),
        format!("/manage/receipts/{theirs}/1.jws"),
        format!("/manage/receipts/{consent_id}/99.jws"),
        "/manage/receipts/not-an-id".to_owned(),
    ] {
        let refused = manager.get(&url).await;
        assert_eq!(refused.status, 404, "{url}: {}", refused.body);
        assert!(
            !refused.body.contains("eyJ"),
            "{url}: no JWS in the error page"
        );
    }
    for url in [
        format!("/link/receipts/{theirs}"),
        format!("/link/receipts/{theirs}/3.jws"),
    ] {
        assert_eq!(browser.get(&url).await.status, 404, "{url}");
    }
    // Without a session, nothing.
    let stranger = app.browser();
    assert_ne!(
        stranger
            .get(&format!("/link/receipts/{consent_id}"))
            .await
            .status,
        200
    );
    assert_ne!(
        stranger
            .get(&format!("/manage/receipts/{consent_id}/1.jws"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn the_receipt_page_speaks_french_and_shows_the_french_text_agreed() {
    let app = spawn_app().await;
    let browser = Browser::with_accept_language(&app.base, "fr-FR,fr;q=0.9");
    let success = browser.connect(Some(&app.link_url), "sandbox").await;
    let consent = app.consents().await.remove(0);
    assert_eq!(consent["locale"], "fr");
    let consent_id = consent["id"].as_str().unwrap();
    let page = receipt_page_from(&browser, &success, "/link", consent_id).await;
    assert_eq!(
        page.quiet_texts("h1"),
        ["Votre justificatif de consentement"]
    );
    assert_eq!(
        one_line(&page.quiet_texts("ul.receipt-events li strong")),
        ["Consentement donné"]
    );
    assert_eq!(
        page.quiet_texts("pre.notice-text"),
        [consent["notice_text"].as_str().unwrap()]
    );
    assert!(
        page.quiet_texts("ul.receipt-events a")
            .contains(&"Télécharger le justificatif signé".to_owned()),
        "{}",
        page.body
    );
    let files = downloads(&browser, &page).await;
    let payload = verify_independently(&files[0], &jwks(&app.base).await).unwrap();
    assert_eq!(payload["event"]["language"], "fr");
    assert_eq!(payload["notice"]["text_sha256"], consent["notice_sha256"]);
}

// ---- the JWKS and key rotation ----

/// The `accord` binary with no `ACCORD_*` variables inherited from the test's environment.
pub fn accord() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_accord"));
    for (k, _) in std::env::vars() {
        if k.starts_with("ACCORD_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    cmd
}

pub struct Ran {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl std::fmt::Display for Ran {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?}\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `accord ARGS` to completion (bounded in time).
pub async fn run(args: &[&str]) -> Ran {
    run_with_env(args, &[]).await
}

/// Runs `accord ARGS` with environment variables, to completion (bounded in time).
pub async fn run_with_env(args: &[&str], env: &[(&str, &str)]) -> Ran {
    let child = accord()
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("accord runs");
    let out = tokio::time::timeout(CHILD_TIMEOUT, child.wait_with_output())
        .await
        .expect("accord exits in time")
        .unwrap();
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// The demo app on an existing data directory (database and key file).
async fn app_on(dir: &Path) -> TestApp {
    spawn_app_with(&[("database.data_dir", path_str(dir))], None).await
}

#[tokio::test]
async fn the_jwks_lists_an_ed25519_key_and_rotation_keeps_old_receipts_verifiable() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let created = run(&[
        "tenant",
        "create",
        "--name",
        "Acme Capital",
        "--data-dir",
        path_str(dir),
    ])
    .await;
    assert_eq!(created.code, Some(0), "{created}");
    assert!(created.stdout.contains("Tenant: Acme Capital"), "{created}");

    // Before: one key; a receipt signed with it.
    let app = app_on(dir).await;
    let before = jwks(&app.base).await;
    let keys = before["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "{before}");
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
    assert_eq!(keys[0]["use"], "sig");
    assert!(keys[0]["d"].is_null(), "no private part published");
    let old_kid = keys[0]["kid"].as_str().unwrap().to_owned();
    assert!(old_kid.starts_with("sig-"), "{old_kid}");
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let consent_id = app.consents().await[0]["id"].as_str().unwrap().to_owned();
    let old = receipts(&app, &consent_id).await.remove(0);
    let old_jws = old["jws"].as_str().unwrap().to_owned();
    assert_eq!(
        jsonwebtoken::decode_header(&old_jws)
            .unwrap()
            .kid
            .as_deref(),
        Some(old_kid.as_str())
    );
    let receipt_file = dir.join("old-receipt.jws");
    std::fs::write(&receipt_file, &old_jws).unwrap();
    let old_jwks_file = dir.join("old-jwks.json");
    std::fs::write(&old_jwks_file, before.to_string()).unwrap();
    drop(app);

    // Rotate.
    let key_file = dir.join("keys.toml");
    let old_text = std::fs::read_to_string(&key_file).unwrap();
    let rotated = run(&["keys", "rotate", "--data-dir", path_str(dir)]).await;
    assert_eq!(rotated.code, Some(0), "{rotated}");
    let new_text = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_text, new_text);
    let ring = accord_domain::crypto::Keyring::from_file_text(&new_text).unwrap();
    let new_kid = format!("sig-{}", ring.current_key_id());
    assert!(
        rotated.stdout.contains(ring.current_key_id()),
        "prints the new key id: {rotated}"
    );
    assert!(rotated.stdout.contains(&new_kid), "{rotated}");
    assert_ne!(new_kid, old_kid);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file stays private");
    }
    let leftovers: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.to_ascii_lowercase().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // After a restart: two keys published, new receipts signed with the new one.
    let app = app_on(dir).await;
    let after = jwks(&app.base).await;
    let mut kids: Vec<&str> = after["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    kids.sort_unstable();
    let mut expected = vec![old_kid.as_str(), new_kid.as_str()];
    expected.sort_unstable();
    assert_eq!(kids, expected);
    verify_independently(&old_jws, &after).expect("an old receipt verifies with the new JWKS");
    let again = receipts(&app, &consent_id).await.remove(0);
    let again_jws = again["jws"].as_str().unwrap();
    assert_eq!(
        jsonwebtoken::decode_header(again_jws)
            .unwrap()
            .kid
            .as_deref(),
        Some(new_kid.as_str())
    );
    verify_independently(again_jws, &after).unwrap();

    // `accord receipt verify`: with the JWKS URL, a JWKS file, and the data dir's key file.
    let url = format!("{}/.well-known/jwks.json", app.base);
    let file = path_str(&receipt_file);
    for args in [
        vec!["receipt", "verify", file, "--jwks", url.as_str()],
        vec![
            "receipt",
            "verify",
            file,
            "--jwks",
            path_str(&old_jwks_file),
        ],
        vec!["receipt", "verify", file, "--data-dir", path_str(dir)],
    ] {
        let ran = run(&args).await;
        assert_eq!(ran.code, Some(0), "{args:?}: {ran}");
        assert!(ran.stdout.contains(&format!("key {old_kid}")), "{ran}");
        assert!(ran.stdout.contains("event:      given"), "{ran}");
        assert!(ran.stdout.contains(&consent_id), "{ran}");
        assert!(ran.stdout.contains("Northwind Lending Ltd"), "{ran}");
        assert!(
            ran.stdout.contains(old["ledger_hash"].as_str().unwrap()),
            "{ran}"
        );
        assert!(ran.stdout.contains("position 1"), "{ran}");
    }
    // The new receipt is unknown to the old key set, and a forged one is refused.
    let new_file = dir.join("new-receipt.jws");
    std::fs::write(&new_file, again_jws).unwrap();
    let ran = run(&[
        "receipt",
        "verify",
        path_str(&new_file),
        "--jwks",
        path_str(&old_jwks_file),
    ])
    .await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stderr.contains(&new_kid) && ran.stderr.contains("not in the JWKS"),
        "{ran}"
    );
    let mut forged = old_jws.clone().into_bytes();
    let i = old_jws.find('.').unwrap() + 10;
    forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
    let forged_file = dir.join("forged.jws");
    std::fs::write(&forged_file, forged).unwrap();
    let ran = run(&[
        "receipt",
        "verify",
        path_str(&forged_file),
        "--jwks",
        url.as_str(),
    ])
    .await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stderr.contains("signature does not verify"), "{ran}");
    // A JWKS on a non-loopback http URL is not fetched.
    let ran = run(&[
        "receipt",
        "verify",
        file,
        "--jwks",
        "http://accord.invalid/.well-known/jwks.json",
    ])
    .await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stderr.contains("only https"), "{ran}");
}

/// A receipt is built from its ledger events, which froze the controller and the consent's
/// validity at the time of consent: renaming the tenant's legal entity, its contacts,
/// jurisdiction or validity period afterwards changes no past receipt, the withdrawal's
/// included.
#[tokio::test]
async fn changing_the_link_settings_changes_no_past_receipt() {
    let app = spawn_app().await;
    let (status, mut settings) = app
        .api_json(reqwest::Method::GET, "/v1/link-settings", None)
        .await;
    assert_eq!(status, 200, "{settings}");
    settings["consent_validity_days"] = 90.into();
    let (status, body) = app
        .api_json(
            reqwest::Method::PUT,
            "/v1/link-settings",
            Some(settings.clone()),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let consent = app.consents().await.remove(0);
    let consent_id = consent["id"].as_str().unwrap().to_owned();
    disconnect_on_manage_page(&app, consent["connection_id"].as_str().unwrap()).await;
    let before = receipts(&app, &consent_id).await;
    assert_eq!(before.len(), 2);
    for r in &before {
        assert!(
            r["receipt"]["event"]["valid_until"].is_string(),
            "{}",
            r["receipt"]
        );
    }

    settings["consent_validity_days"] = 30.into();
    settings["legal_name"] = "Renamed Holdings plc".into();
    settings["jurisdiction"] = "FR".into();
    settings["support"]["email"] = "new@renamed.example".into();
    settings["third_parties"] = serde_json::json!(["Credit Bureau Ltd"]);
    let (status, body) = app
        .api_json(reqwest::Method::PUT, "/v1/link-settings", Some(settings))
        .await;
    assert_eq!(status, 200, "{body}");

    let after = receipts(&app, &consent_id).await;
    for (a, b) in after.iter().zip(&before) {
        assert_eq!(
            a["receipt"], b["receipt"],
            "the {} receipt is unchanged",
            b["event"]
        );
        assert_eq!(a["jws"], b["jws"], "and so is its signature");
        assert_eq!(a["kantara_v1_1"], b["kantara_v1_1"]);
    }
    assert_eq!(
        after[0]["receipt"]["controller"]["legal_name"],
        "Northwind Lending Ltd"
    );

    // A consent given after the change names the new controller and its declared disclosure.
    let other = app.new_company("Crocus Cafe Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
    let theirs = consents_of(&app, &other).await.remove(0);
    let fresh = receipts(&app, theirs["id"].as_str().unwrap()).await;
    let k = &fresh[0]["kantara_v1_1"];
    assert_kantara_valid(k);
    assert_eq!(k["jurisdiction"], "FR");
    assert_eq!(
        k["piiControllers"][0]["piiController"],
        "Renamed Holdings plc"
    );
    let p = &k["services"][0]["purposes"][0];
    assert_eq!(p["thirdPartyDisclosure"], true);
    assert_eq!(p["thirdPartyName"], "Credit Bureau Ltd");
}

// ---- the evidence beside a receipt: inclusion, fresh proofs, offline verification ----

/// The receipts of a consent once a sealed checkpoint covers each of its events (the sealer
/// runs every second in tests; bounded wait).
async fn proven_receipts(app: &TestApp, consent_id: &str) -> Vec<Value> {
    for _ in 0..100 {
        let list = receipts(app, consent_id).await;
        if list.iter().all(|r| !r["proof"].is_null()) {
            return list;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint covered the receipts of {consent_id} within 10 s");
}

/// The fresh proof of a consent, once the latest checkpoint is larger than `beyond`.
async fn fresh_proof_beyond(app: &TestApp, consent_id: &str, beyond: u64) -> Value {
    let path = format!("/v1/consents/{consent_id}/receipt/proof");
    for _ in 0..100 {
        let (status, body) = app.api_json(reqwest::Method::GET, &path, None).await;
        assert_eq!(status, 200, "{body}");
        if body["tree_size"].as_u64().unwrap() > beyond {
            return body;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no checkpoint beyond {beyond} entries within 10 s");
}

/// `accord receipt verify` on files, with a saved copy of the key set (nothing online).
async fn verify_files(dir: &Path, receipt: &Value, proof: Option<&Value>) -> Ran {
    let receipt_file = dir.join("receipt.json");
    std::fs::write(&receipt_file, receipt.to_string()).unwrap();
    let jwks_file = dir.join("jwks.json");
    let mut args = vec![
        "receipt".to_owned(),
        "verify".to_owned(),
        path_str(&receipt_file).to_owned(),
        "--jwks".to_owned(),
        path_str(&jwks_file).to_owned(),
    ];
    if let Some(p) = proof {
        let proof_file = dir.join("proof.json");
        std::fs::write(&proof_file, p.to_string()).unwrap();
        args.extend(["--proof".to_owned(), path_str(&proof_file).to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args).await
}

fn other_hash() -> Value {
    Value::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]))
}

/// Runs the independent Python verifier (no code shared with Accord) when `python3` and its
/// `cryptography` package are there; `None` when they are not.
fn python_verify(vkey: &str, request: &Value) -> Option<(bool, String)> {
    use std::io::Write as _;
    let available = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        println!("independent verification skipped: python3 with `cryptography` not available");
        return None;
    }
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/verifier/tlog_verify.py");
    let mut child = std::process::Command::new("python3")
        .args([script, vkey])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    Some((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

#[tokio::test]
async fn a_receipt_carries_its_inclusion_proof_and_a_fresh_proof_extends_it_offline() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let consent = app.consents().await.remove(0);
    let consent_id = consent["id"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("jwks.json"), jwks(&app.base).await.to_string()).unwrap();

    // The receipt carries its event's inclusion in the first checkpoint that covers it.
    let receipt = proven_receipts(&app, &consent_id).await.remove(0);
    let position = receipt["ledger_position"].as_u64().unwrap();
    let own = receipt["proof"].clone();
    assert_eq!(own["leaf_index"], position - 1);
    let own_size = own["tree_size"].as_u64().unwrap();
    assert!(own_size >= position, "{own}");
    let note = own["checkpoint"].as_str().unwrap();
    assert!(
        note.contains(&format!("/ledger/{}\n{own_size}\n", app.tenant_id)),
        "{note}"
    );
    let ran = verify_files(dir, &receipt, None).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("receipt signature valid"), "{ran}");
    assert!(
        ran.stdout.contains(&format!(
            "inclusion:  event {position} is in the log 127.0.0.1"
        )),
        "{ran}"
    );
    assert!(
        ran.stdout.contains(&format!("of {own_size} entries")),
        "{ran}"
    );

    // The ledger grows (a disconnect, another company's consent): a later checkpoint, and a
    // fresh proof against it. The receipt's own evidence stays what it was.
    let connection_id = consent["connection_id"].as_str().unwrap();
    disconnect_on_manage_page(&app, connection_id).await;
    let other = app.new_company("Crocus Cafe Ltd").await;
    let link = app.new_link_url(&other).await;
    app.browser().connect(Some(&link), "sandbox").await;
    let fresh = fresh_proof_beyond(&app, &consent_id, own_size + 1).await;
    assert_eq!(fresh["format"], "accord-receipt-proof/1");
    assert_eq!(fresh["consent_id"], consent_id.as_str());
    let latest_size = fresh["tree_size"].as_u64().unwrap();
    let entry = fresh["events"][0].clone();
    assert_eq!(entry["event"], "given");
    assert_eq!(entry["ledger_position"], position);
    assert_eq!(entry["ledger_hash"], receipt["ledger_hash"]);
    assert_eq!(entry["consistency"]["from_size"], own_size);
    assert_eq!(
        fresh["events"][1]["event"], "withdrawn",
        "the withdrawal's receipt is proven too"
    );
    let again = proven_receipts(&app, &consent_id).await.remove(0);
    assert_eq!(
        again["proof"], own,
        "the receipt's evidence does not change"
    );
    assert_eq!(again["jws"], receipt["jws"]);

    let ran = verify_files(dir, &receipt, Some(&fresh)).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(
        ran.stdout.contains(&format!(
            "latest:     event {position} is in the log 127.0.0.1"
        )),
        "{ran}"
    );
    assert!(
        ran.stdout.contains(&format!(
            "consistency: the log of {latest_size} entries extends the receipt's checkpoint of {own_size}"
        )),
        "{ran}"
    );

    // Tampered evidence fails, saying which proof and why.
    let mut bad = fresh.clone();
    bad["events"][0]["inclusion"][0] = other_hash();
    let ran = verify_files(dir, &receipt, Some(&bad)).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stderr.contains("--proof") && ran.stderr.contains("not proven in the log"),
        "{ran}"
    );
    let mut bad = fresh.clone();
    let c = &mut bad["events"][0]["consistency"]["proof"];
    assert!(!c.as_array().unwrap().is_empty(), "{fresh}");
    c[0] = other_hash();
    let ran = verify_files(dir, &receipt, Some(&bad)).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stderr.contains("does not extend the receipt's"),
        "{ran}"
    );
    let mut bad = receipt.clone();
    bad["proof"]["checkpoint"] = note
        .replacen(&format!("\n{own_size}\n"), "\n99\n", 1)
        .into();
    let ran = verify_files(dir, &bad, None).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(
        ran.stderr.contains("inclusion proof is not")
            && ran.stderr.contains("signature does not verify"),
        "{ran}"
    );
    // Unknown, malformed and other instances' consent ids name no proof.
    for id in [
        "6f1c2e4a-9b3d-4c5e-8f70-1a2b3c4d5e6f",
        "not-a-uuid",
        app.company_id.as_str(),
    ] {
        let (status, body) = app
            .api_json(
                reqwest::Method::GET,
                &format!("/v1/consents/{id}/receipt/proof"),
                None,
            )
            .await;
        assert_eq!(status, 404, "{id}: {body}");
        assert_eq!(body["resource"], "consent", "{body}");
    }
    // Another consent's fresh proof has no entry for this receipt.
    let theirs = consents_of(&app, &other).await.remove(0);
    let theirs_fresh = fresh_proof_beyond(&app, theirs["id"].as_str().unwrap(), 0).await;
    let ran = verify_files(dir, &receipt, Some(&theirs_fresh)).await;
    assert_eq!(ran.code, Some(1), "{ran}");
    assert!(ran.stderr.contains("no entry for position"), "{ran}");

    // The independent verifier agrees, and refuses the tampered proofs.
    let vkey = app
        .http
        .get(app.url(&format!("/ledger/{}/key", app.tenant_id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let vkey = vkey.lines().next().unwrap();
    let request = |inclusion: &Value, consistency: &Value| {
        serde_json::json!({
            "checkpoint": fresh["checkpoint"],
            "inclusion": [
                { "leaf_hash": own["leaf_hash"], "leaf_index": own["leaf_index"],
                  "tree_size": latest_size, "hashes": inclusion,
                  "leaf_data_hex": receipt["ledger_hash"] },
            ],
            "consistency": [
                { "from_note": own["checkpoint"], "first": own_size, "second": latest_size,
                  "hashes": consistency },
            ],
        })
    };
    let good = request(&entry["inclusion"], &entry["consistency"]["proof"]);
    if let Some((ok, out)) = python_verify(vkey, &good) {
        assert!(ok, "the independent verifier refused: {out}");
        let mut inclusion = entry["inclusion"].clone();
        inclusion[0] = other_hash();
        let (ok, out) =
            python_verify(vkey, &request(&inclusion, &entry["consistency"]["proof"])).unwrap();
        assert!(!ok, "a tampered inclusion proof was accepted: {out}");
        let mut consistency = entry["consistency"]["proof"].clone();
        consistency[0] = other_hash();
        let (ok, out) = python_verify(vkey, &request(&entry["inclusion"], &consistency)).unwrap();
        assert!(!ok, "a tampered consistency proof was accepted: {out}");
        let mut wrong_leaf = good.clone();
        wrong_leaf["inclusion"][0]["leaf_data_hex"] = theirs["notice_sha256"].clone();
        let (ok, out) = python_verify(vkey, &wrong_leaf).unwrap();
        assert!(!ok, "another entry's data was accepted: {out}");
    }
}

#[tokio::test]
async fn the_customer_downloads_the_receipt_with_its_proof_and_a_fresh_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let app = spawn_app().await;
    let browser = app.browser();
    browser.connect(Some(&app.link_url), "sandbox").await;
    let consent_id = app.consents().await[0]["id"].as_str().unwrap().to_owned();
    std::fs::write(dir.join("jwks.json"), jwks(&app.base).await.to_string()).unwrap();
    let api = proven_receipts(&app, &consent_id).await.remove(0);

    assert_eq!(browser.get(&app.manage_url).await.status, 303);
    let page = browser.get(&format!("/manage/receipts/{consent_id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let links = page.attrs("ul.receipt-events a[download]", "href");
    let base = format!("/manage/receipts/{consent_id}/1");
    assert_eq!(
        links,
        [format!("{base}.json"), format!("{base}.proof.json")]
    );

    let doc = browser.get(&links[0]).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.header("content-type"), "application/json");
    assert!(doc
        .header("content-disposition")
        .contains(&format!("accord-receipt-{consent_id}-1.json")));
    let doc: Value = serde_json::from_str(&doc.body).unwrap();
    assert_eq!(doc["format"], "accord-receipt-document/1");
    assert_eq!(
        doc["jws"], api["jws"],
        "the tenant's receipt and the customer's"
    );
    assert_eq!(doc["proof"], api["proof"]);

    let fresh = browser.get(&links[1]).await;
    assert_eq!(fresh.status, 200, "{}", fresh.body);
    assert!(fresh.header("content-disposition").contains(".proof.json"));
    let fresh: Value = serde_json::from_str(&fresh.body).unwrap();
    assert_eq!(fresh["events"].as_array().unwrap().len(), 1);
    let ran = verify_files(dir, &doc, Some(&fresh)).await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("inclusion:  event 1"), "{ran}");
    assert!(ran.stdout.contains("latest:     event 1"), "{ran}");
    assert!(ran.stdout.contains("consistency: the log of"), "{ran}");

    // A bare JWS still verifies, and says what it does not prove.
    let jws = browser.get(&format!("{base}.jws")).await;
    assert_eq!(jws.header("content-type"), "application/jose");
    let jws_file = dir.join("receipt.jws");
    std::fs::write(&jws_file, &jws.body).unwrap();
    let ran = run(&[
        "receipt",
        "verify",
        path_str(&jws_file),
        "--jwks",
        path_str(&dir.join("jwks.json")),
    ])
    .await;
    assert_eq!(ran.code, Some(0), "{ran}");
    assert!(ran.stdout.contains("inclusion:  not in this file"), "{ran}");
    // Someone else's browser gets none of it.
    for url in [&links[0], &links[1]] {
        assert_ne!(app.browser().get(url).await.status, 200, "{url}");
    }
}
