//! The console's support inbox (open by default, filtered, paged; resolved and reopened by
//! admins with the audit trail told, seen but not changed by viewers; the reply link's
//! address and subject), a company's consents with their receipts and ledger positions, a TOTP
//! code accepted once, and the API keys page in pages.

use crate::helpers::console::{code_for, csrf, fields, member, sign_in, signed_in, PASSWORD};
use crate::helpers::{Page, TestApp};
use accord_domain::console::Role;
use accord_domain::ids::{CompanyId, SupportRequestId, TenantId};
use accord_domain::tenant::{SupportRequest, SupportStatus, SupportTopic};
use accord_domain::Clock as _;
use time::Duration;

/// A support request of `tenant` stored as the flow stores one (no e-mail job).
async fn request(app: &TestApp, tenant: TenantId, n: u32) -> SupportRequest {
    let r = SupportRequest {
        id: SupportRequestId::new(),
        tenant_id: tenant,
        company_id: Some(app.company_id.parse::<CompanyId>().unwrap()).filter(|_| n == 0),
        reference: format!("SR-{n:08}"),
        topic: SupportTopic::ConnectionFailed,
        message: format!("Request number {n}: the sign-in page never loads."),
        reply_to: "ana+shop@boulangerie.example".into(),
        diagnostics: serde_json::json!({ "step": "consent" }),
        created_at: app.clock.now(),
    };
    app.state
        .support()
        .create_support_request(&r, None)
        .await
        .unwrap();
    r
}

fn references(page: &Page) -> Vec<String> {
    page.quiet_texts("article.card h2")
        .into_iter()
        .map(|h| h.split(' ').next().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn the_support_inbox_lists_open_requests_and_admins_resolve_and_reopen_them() {
    let (app, admin, admin_user) = signed_in(Role::Admin).await;
    let (viewer, _) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let first = request(&app, app.tenant(), 0).await;
    let second = request(&app, app.tenant(), 1).await;

    // Viewers see the inbox, newest first, with a reply link, and no buttons.
    let seen = viewer.get("/console/support").await;
    assert_eq!(seen.status, 200, "{}", seen.body);
    assert_eq!(references(&seen), ["SR-00000001", "SR-00000000"]);
    assert!(!seen.has("form[action$='/resolve']"), "viewers cannot act");
    assert_eq!(
        seen.attrs("a[href^='mailto:']", "href")[0],
        "mailto:ana%2Bshop@boulangerie.example?subject=Your%20support%20request%20SR-00000001",
        "the address and the reference, percent-encoded"
    );
    let token = csrf(&viewer).await;
    let refused = viewer
        .post(
            &format!("/console/support/{}/resolve", first.id),
            &fields(&[("csrf", &token), ("status", "open")]),
        )
        .await;
    assert_eq!(refused.status, 403);

    // An admin resolves the first: it leaves the open list and shows among the resolved.
    let inbox = admin.get("/console/support").await;
    let form = format!("form[action='/console/support/{}/resolve']", first.id);
    let (action, f) = inbox.quiet_form(&form);
    let done = admin.post(&action, &f).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(
        done.location(),
        "/console/support?status=open&done=support-resolved"
    );
    let open = admin.get(&done.location()).await;
    assert_eq!(references(&open), ["SR-00000001"]);
    assert!(open.has(".flash.ok"), "the change is confirmed");
    let resolved = admin.get("/console/support?status=resolved").await;
    assert_eq!(references(&resolved), ["SR-00000000"]);
    assert!(
        resolved.body.contains("Resolved by admin@lender.example"),
        "{}",
        resolved.body
    );
    let all = admin.get("/console/support?status=all").await;
    assert_eq!(references(&all), ["SR-00000001", "SR-00000000"]);
    let stored = app
        .state
        .support()
        .support_inbox(app.tenant(), Some(SupportStatus::Resolved), None, 10)
        .await
        .unwrap();
    let resolution = stored[0].resolved.clone().expect("resolved");
    assert_eq!(
        (stored[0].request.id, resolution.by.as_str()),
        (first.id, admin_user.email.as_str())
    );

    // Resolving again changes nothing; reopening brings it back.
    let token = csrf(&admin).await;
    let again = admin
        .post(
            &action,
            &fields(&[("csrf", &token), ("status", "resolved")]),
        )
        .await;
    assert_eq!(again.status, 303);
    let reopened = admin
        .post(
            &format!("/console/support/{}/reopen", first.id),
            &fields(&[("csrf", &token), ("status", "resolved")]),
        )
        .await;
    assert_eq!(
        reopened.location(),
        "/console/support?status=resolved&done=support-reopened"
    );
    assert_eq!(
        references(&admin.get("/console/support").await),
        ["SR-00000001", "SR-00000000"]
    );
    let actions: Vec<String> = app
        .state
        .console()
        .audit(app.tenant(), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.action.starts_with("support."))
        .map(|e| format!("{} {}", e.action, e.target.unwrap_or_default()))
        .collect();
    assert_eq!(
        actions,
        [
            format!("support.reopened {}", first.id),
            format!("support.resolved {}", first.id)
        ],
        "each change once, newest first"
    );

    // Bad input: an unknown filter, another tenant's request, a malformed id.
    assert_eq!(
        admin.get("/console/support?status=closed").await.status,
        400
    );
    let (other, _) = accord_web::services::tenants::create_tenant(
        &app.state,
        "Other Lender",
        accord_domain::settings::LinkSettings::default(),
    )
    .await
    .unwrap();
    let theirs = request(&app, other.id, 5).await;
    for id in [theirs.id.to_string(), "not-an-id".to_owned()] {
        let answer = admin
            .post(
                &format!("/console/support/{id}/resolve"),
                &fields(&[("csrf", &token), ("status", "open")]),
            )
            .await;
        assert_eq!(answer.status, 404, "{id}");
    }
    assert_eq!(second.tenant_id, app.tenant());
}

#[tokio::test]
async fn the_support_inbox_is_paged_by_fifty() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    for n in 0..52 {
        request(&app, app.tenant(), n).await;
    }
    let first = admin.get("/console/support").await;
    let refs = references(&first);
    assert_eq!(refs.len(), 50);
    assert_eq!(refs[0], "SR-00000051", "newest first");
    let older = first.attrs("a[href^='/console/support?status=open&before=']", "href");
    assert_eq!(older.len(), 1, "a link to the older requests");
    let rest = admin.get(&older[0]).await;
    assert_eq!(references(&rest), ["SR-00000001", "SR-00000000"]);
    assert!(!rest.body.contains("Older requests"), "the last page");
    assert_eq!(
        admin.get("/console/support?before=nonsense").await.status,
        400
    );
}

#[tokio::test]
async fn a_companys_consents_link_their_receipts_and_ledger_positions() {
    let app = crate::helpers::spawn_app().await;
    app.browser().connect(Some(&app.link_url), "sandbox").await;
    let (viewer, _) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let company = viewer
        .get(&format!("/console/companies/{}", app.company_id))
        .await;
    assert_eq!(company.status, 200, "{}", company.body);
    let consents = app
        .state
        .consents()
        .company_consents(app.tenant(), app.company_id.parse().unwrap())
        .await
        .unwrap();
    let consent = &consents[0];
    let events = app
        .state
        .ledger()
        .consent_events(app.tenant(), consent.id)
        .await
        .unwrap();
    let seq = events[0].event.seq;
    assert!(company.body.contains("In force"), "{}", company.body);
    assert!(
        company
            .quiet_texts("a[href='/console/ledger']")
            .iter()
            .any(|t| t == &format!("position {seq}")),
        "the given event's ledger position links to the ledger"
    );
    let base = format!(
        "/console/companies/{}/consents/{}",
        app.company_id, consent.id
    );
    let json_href = format!("{base}/receipts/{seq}.json");
    assert!(company.has(&format!("a[href='{base}']")));
    assert!(company.has(&format!("a[href='{json_href}']")));

    let receipt = viewer.get(&base).await;
    assert_eq!(receipt.status, 200, "{}", receipt.body);
    assert!(receipt.body.contains(&events[0].hash), "the event's hash");
    let document = viewer.get(&json_href).await;
    assert_eq!(document.status, 200, "{}", document.body);
    assert_eq!(document.header("content-type"), "application/json");
    assert!(document
        .header("content-disposition")
        .contains("attachment"));
    let document: serde_json::Value = serde_json::from_str(&document.body).unwrap();
    let jws = viewer.get(&format!("{base}/receipts/{seq}.jws")).await;
    assert_eq!(jws.status, 200);
    assert_eq!(document["jws"], jws.body.as_str(), "{document}");
    // The same receipt the API signs.
    let (status, api) = app
        .api_json(
            reqwest::Method::GET,
            &format!("/v1/consents/{}/receipt", consent.id),
            None,
        )
        .await;
    assert_eq!(status, 200, "{api}");
    assert!(api.to_string().contains(&jws.body), "{api}");

    // Another company's path, an unknown position or file: not found.
    let other = app.new_company("Other Ltd").await;
    for path in [
        format!("/console/companies/{other}/consents/{}", consent.id),
        format!("{base}/receipts/9999.json"),
        format!("{base}/receipts/{seq}.txt"),
    ] {
        assert_eq!(viewer.get(&path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn a_totp_code_is_accepted_once() {
    let (app, b, user) = signed_in(Role::Admin).await;
    let account = b.get("/console/account").await;
    let secret = account.quiet_texts("code.secret").join("");
    let (action, mut form) = account.quiet_form("form[action='/console/account/totp']");
    let enrolled_with = code_for(&app, &secret);
    form.insert("code".into(), enrolled_with.clone());
    assert_eq!(b.post(&action, &form).await.status, 303);

    // The code that confirmed enrolment is spent: it does not sign in.
    let other = app.browser();
    let replay = sign_in(&other, &user.email, PASSWORD, &enrolled_with).await;
    assert_eq!(replay.status, 401, "a spent code");

    app.clock.advance(Duration::seconds(30));
    let code = code_for(&app, &secret);
    let first = sign_in(&other, &user.email, PASSWORD, &code).await;
    assert_eq!(first.status, 303, "{}", first.body);
    // The same code again, from another browser, within its window: refused.
    let third = app.browser();
    let again = sign_in(&third, &user.email, PASSWORD, &code).await;
    assert_eq!(again.status, 401, "replayed");
    let failed = app
        .state
        .console()
        .audit(app.tenant(), None, 5)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == "console.sign_in_failed")
        .expect("the replay is audited");
    assert_eq!(failed.detail["reason"], "code_reused");

    app.clock.advance(Duration::seconds(30));
    let next = sign_in(&third, &user.email, PASSWORD, &code_for(&app, &secret)).await;
    assert_eq!(next.status, 303, "the next step's code signs in");
}

#[tokio::test]
async fn the_api_keys_page_lists_fifty_keys_a_page() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    for n in 0..50 {
        let key = accord_domain::crypto::ApiKey::generate();
        app.state
            .tenants()
            .add_api_key(&accord_domain::tenant::ApiKeyRecord {
                id: accord_domain::ids::ApiKeyId::new(),
                tenant_id: app.tenant(),
                name: format!("key {n:02}"),
                key_id: key.key_id.clone(),
                secret_hash: key.secret_hash.clone(),
                created_at: app.clock.now(),
                last_used_at: None,
                revoked_at: None,
            })
            .await
            .unwrap();
    }
    let first = admin.get("/console/api-keys").await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.quiet_texts("tbody tr").len(), 50);
    let next = first.attrs("a[href^='/console/api-keys?after=']", "href");
    assert_eq!(next.len(), 1, "{}", first.body);
    let rest = admin.get(&next[0]).await;
    let names = rest.quiet_texts("tbody tr td:first-child");
    assert_eq!(
        names,
        ["key 49"],
        "the oldest first: the demo key, then 00…"
    );
    assert!(rest.has("a[href='/console/api-keys']"), "back to the first");
    assert_eq!(
        admin.get("/console/api-keys?after=nonsense").await.status,
        400
    );
}
