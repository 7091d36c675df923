//! The tenant console end to end: signing in (good, bad, unknown, locked out and let in again),
//! the TOTP second factor, a walk of every console route as each role (allowed or 403, and the
//! sign-in page when signed out), CSRF forgeries refused, sessions ending (idle, absolute,
//! sign-out, "sign out everywhere else"), single-use set-password links, API keys made and
//! revoked in the console, and the audit trail listing it all.

use crate::helpers::console::{
    assert_audited, audit_actions, code_for, csrf, fields, invited, member, open_link,
    set_password, sign_in, signed_in, PASSWORD,
};
use crate::helpers::{captured_logs, spawn_app, Browser, Page};
use accord_domain::console::Role;
use accord_domain::crypto::random_token;
use accord_domain::ids::{ConsentId, SupportRequestId, WebhookDeliveryId, WebhookEndpointId};
use accord_domain::tenant::{SupportRequest, SupportTopic};
use accord_domain::Clock;
use std::collections::BTreeMap;
use time::Duration;

#[tokio::test]
async fn signing_in_says_the_same_for_every_failure_and_locks_after_ten() {
    let (app, _, owner) = signed_in(Role::Owner).await;
    let b = app.browser();

    let wrong = sign_in(&b, "OWNER@lender.example", "not the password", "").await;
    let unknown = sign_in(&b, "nobody@lender.example", PASSWORD, "").await;
    assert_eq!(wrong.status, 401);
    assert_eq!(unknown.status, 401);
    let message = |p: &Page| p.quiet_texts("#form-error").join("");
    assert!(!message(&wrong).is_empty());
    assert_eq!(
        message(&wrong),
        message(&unknown),
        "the same words either way"
    );
    assert!(
        wrong.header("set-cookie").is_empty()
            || !wrong.header("set-cookie").contains("accord_console=")
    );

    // The address is matched whatever its case.
    let ok = sign_in(&b, "Owner@Lender.example", PASSWORD, "").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_eq!(ok.location(), "/console");
    let home = b.get("/console").await;
    assert_eq!(home.status, 200);
    assert!(home.body.contains("owner@lender.example"));

    // Ten failures in a row lock the account, the right password included, for 15 minutes.
    let other = app.browser();
    for _ in 0..10 {
        assert_eq!(
            sign_in(&other, "owner@lender.example", "guess", "")
                .await
                .status,
            401
        );
    }
    let locked = sign_in(&other, "owner@lender.example", PASSWORD, "").await;
    assert_eq!(locked.status, 401, "locked out");
    assert_eq!(message(&locked), message(&unknown));
    let stored = app.state.console().user(owner.id).await.unwrap().unwrap();
    assert!(stored.is_locked(app.clock.now()));
    app.clock.advance(Duration::minutes(15));
    assert_eq!(
        sign_in(&other, "owner@lender.example", PASSWORD, "")
            .await
            .status,
        303
    );

    let actions = audit_actions(&app).await;
    assert!(actions.iter().any(|a| a == "console.sign_in"));
    assert!(
        actions
            .iter()
            .filter(|a| *a == "console.sign_in_failed")
            .count()
            >= 12
    );
}

#[tokio::test]
async fn sign_in_attempts_are_rate_limited_per_account() {
    let app = spawn_app().await;
    member(&app, "target@lender.example", Role::Viewer).await;
    let b = app.browser();
    let mut statuses = Vec::new();
    for _ in 0..40 {
        statuses.push(
            sign_in(&b, "target@lender.example", "guess", "")
                .await
                .status,
        );
        // Past each lockout, so the limit is what answers.
        app.clock.advance(Duration::seconds(1));
    }
    assert!(statuses.contains(&429), "{statuses:?}");
}

#[tokio::test]
async fn a_second_factor_is_enrolled_with_a_verified_code_then_asked_at_sign_in() {
    let (app, b, user) = signed_in(Role::Admin).await;
    let account = b.get("/console/account").await;
    assert_eq!(account.status, 200);
    assert!(
        account.has("img.qr[src^='data:image/svg+xml;base64,']"),
        "QR code as SVG"
    );
    let secret = account.quiet_texts("code.secret").join("");
    let uri = account.quiet_texts("details code").join("");
    assert!(
        uri.starts_with("otpauth://totp/Accord:admin%40lender.example?"),
        "{uri}"
    );
    let (action, mut form) = account.quiet_form("form[action='/console/account/totp']");

    form.insert("code".into(), "000000".into());
    let wrong = b.post(&action, &form).await;
    assert_eq!(wrong.status, 422, "a wrong code enables nothing");
    let stored = app.state.console().user(user.id).await.unwrap().unwrap();
    assert!(stored.totp_secret.is_none());

    form.insert("code".into(), code_for(&app, &secret));
    let on = b.post(&action, &form).await;
    assert_eq!(on.status, 303, "{}", on.body);
    let stored = app.state.console().user(user.id).await.unwrap().unwrap();
    let sealed = stored.totp_secret.expect("secret stored");
    assert!(
        !sealed.contains(&secret.replace(' ', "")),
        "stored sealed, not as the key"
    );

    let other = app.browser();
    assert_eq!(
        sign_in(&other, &user.email, PASSWORD, "").await.status,
        401,
        "code needed"
    );
    assert_eq!(
        sign_in(&other, &user.email, PASSWORD, "123456")
            .await
            .status,
        401
    );
    // The code that confirmed enrolment is spent: the next step's code signs in.
    app.clock.advance(Duration::seconds(30));
    let ok = sign_in(&other, &user.email, PASSWORD, &code_for(&app, &secret)).await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert_audited(&app, &["console.totp_enabled"]).await;
}

/// A path of the route table with its parameters filled from `ids` (`{id}` by the section it
/// is in).
fn fill(path: &str, ids: &BTreeMap<&str, String>) -> String {
    let id = if path.starts_with("/console/companies/") {
        "company"
    } else if path.starts_with("/console/api-keys/") {
        "key"
    } else if path.starts_with("/console/notices/") {
        "notice"
    } else if path.starts_with("/console/support/") {
        "support"
    } else {
        "person"
    };
    path.replace("{id}", &ids[id])
        .replace("{token}", &ids["token"])
        .replace("{key}", &ids["platform"])
        .replace("{endpoint}", &ids["endpoint"])
        .replace("{delivery}", &ids["delivery"])
        .replace("{number}", "1")
        .replace("{consent}", &ids["consent"])
        .replace("{file}", "1.json")
}

#[tokio::test]
async fn every_console_route_answers_each_role_as_its_table_says() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let (admin, _) = member(&app, "admin@lender.example", Role::Admin).await;
    let (viewer, _) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let (target, _) = invited(&app, "target@lender.example", Role::Viewer).await;
    let key = app
        .state
        .tenants()
        .api_keys(app.tenant())
        .await
        .unwrap()
        .remove(0);
    let mut ids = BTreeMap::new();
    ids.insert("company", app.company_id.clone());
    ids.insert("key", key.id.to_string());
    ids.insert("person", target.id.to_string());
    ids.insert("token", random_token(32));
    let notices = app.state.notices().notices(app.tenant()).await.unwrap();
    ids.insert("notice", notices[0].id.to_string());
    ids.insert("platform", app.state.catalog.all()[0].key.to_string());
    ids.insert("endpoint", WebhookEndpointId::new().to_string());
    ids.insert("delivery", WebhookDeliveryId::new().to_string());
    ids.insert("consent", ConsentId::new().to_string());
    let request = SupportRequest {
        id: SupportRequestId::new(),
        tenant_id: app.tenant(),
        company_id: None,
        reference: "SR-WALK0001".into(),
        topic: SupportTopic::Other,
        message: "Hello".into(),
        reply_to: "ana@boulangerie.example".into(),
        diagnostics: serde_json::json!({}),
        created_at: app.clock.now(),
    };
    app.state
        .support()
        .create_support_request(&request, None)
        .await
        .unwrap();
    ids.insert("support", request.id.to_string());

    let routes = accord_web::console::routes(&app.state);
    let table = routes.table().to_vec();
    assert!(table.len() >= 20, "the whole console is in the table");
    let signed_out = app.browser();
    for (who, browser, role) in [
        ("viewer", &viewer, Role::Viewer),
        ("admin", &admin, Role::Admin),
        ("owner", &owner, Role::Owner),
    ] {
        let token = csrf(browser).await;
        for route in &table {
            let path = fill(route.path, &ids);
            let Some(least) = route.role else {
                if route.method == reqwest::Method::GET {
                    let page = browser.get(&path).await;
                    // Open to anyone: the page, a redirect home, or (the set-password page
                    // without an opened link) "this link cannot be used".
                    assert!(
                        [200, 303, 410].contains(&page.status),
                        "{who} GET {path}: {}",
                        page.status
                    );
                }
                continue;
            };
            // Signing out is walked last, below.
            if route.path == "/console/sign-out" {
                continue;
            }
            let page = if route.method == reqwest::Method::GET {
                browser.get(&path).await
            } else {
                browser.post(&path, &fields(&[("csrf", &token)])).await
            };
            if role.allows(least) {
                assert_ne!(
                    page.status, 403,
                    "{who} {} {path} is allowed: {}",
                    route.method, page.body
                );
                assert!(
                    page.status < 500,
                    "{who} {} {path}: {}",
                    route.method,
                    page.body
                );
            } else {
                assert_eq!(page.status, 403, "{who} {} {path} is refused", route.method);
                assert!(page.body.contains("role"), "the role page: {}", page.body);
            }
            // Signed out, every signed-in route leads to the sign-in page.
            let out = if route.method == reqwest::Method::GET {
                signed_out.get(&path).await
            } else {
                signed_out.post(&path, &fields(&[("csrf", &token)])).await
            };
            assert_eq!(out.status, 303, "signed out {} {path}", route.method);
            assert!(
                out.location().starts_with("/console/sign-in"),
                "{}",
                out.location()
            );
        }
        let out = browser
            .post("/console/sign-out", &fields(&[("csrf", &token)]))
            .await;
        assert_eq!(out.status, 303);
        assert_eq!(
            browser.get("/console").await.status,
            303,
            "{who} signed out"
        );
    }
}

#[tokio::test]
async fn forged_console_posts_change_nothing() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let keys_before = app
        .state
        .tenants()
        .api_keys(app.tenant())
        .await
        .unwrap()
        .len();
    let token = csrf(&owner).await;

    let no_token = owner
        .post("/console/api-keys", &fields(&[("name", "forged")]))
        .await;
    assert_eq!(no_token.status, 403);
    let wrong = owner
        .post(
            "/console/api-keys",
            &fields(&[("name", "forged"), ("csrf", "x")]),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let cross_site = owner
        .post_with(
            "/console/api-keys",
            &fields(&[("name", "forged"), ("csrf", &token)]),
            &[
                ("origin", "https://evil.example"),
                ("sec-fetch-site", "cross-site"),
            ],
        )
        .await;
    assert_eq!(cross_site.status, 403);
    // Another browser's token does not fit this session.
    let (admin, _) = member(&app, "admin@lender.example", Role::Admin).await;
    let theirs = csrf(&admin).await;
    let swapped = owner
        .post(
            "/console/api-keys",
            &fields(&[("name", "forged"), ("csrf", &theirs)]),
        )
        .await;
    assert_eq!(swapped.status, 403);
    assert_eq!(
        app.state
            .tenants()
            .api_keys(app.tenant())
            .await
            .unwrap()
            .len(),
        keys_before
    );

    // The signed-out forms carry a token of their own.
    let b = app.browser();
    let forged = b
        .post(
            "/console/sign-in",
            &fields(&[("email", "owner@lender.example"), ("password", PASSWORD)]),
        )
        .await;
    assert_eq!(forged.status, 403, "sign-in without the page's token");

    let made = owner
        .post(
            "/console/api-keys",
            &fields(&[("name", "real"), ("csrf", &token)]),
        )
        .await;
    assert_eq!(made.status, 201, "the genuine form works: {}", made.body);
}

#[tokio::test]
async fn sessions_end_when_idle_at_twelve_hours_and_on_request() {
    let (app, b, user) = signed_in(Role::Viewer).await;
    assert_eq!(b.get("/console").await.status, 200);
    app.clock.advance(Duration::minutes(29));
    assert_eq!(
        b.get("/console").await.status,
        200,
        "29 minutes idle is fine"
    );
    app.clock.advance(Duration::minutes(31));
    let idle = b.get("/console/companies").await;
    assert_eq!(idle.status, 303, "30 minutes idle ends it");
    assert_eq!(
        idle.location(),
        "/console/sign-in?next=%2Fconsole%2Fcompanies"
    );

    // Active every 20 minutes, still ended 12 hours after signing in.
    assert_eq!(sign_in(&b, &user.email, PASSWORD, "").await.status, 303);
    for _ in 0..35 {
        app.clock.advance(Duration::minutes(20));
        assert_eq!(b.get("/console").await.status, 200);
    }
    app.clock.advance(Duration::minutes(20));
    assert_eq!(b.get("/console").await.status, 303, "12 hours in all");

    // "Sign out everywhere else" ends the other browser's session, not this one.
    assert_eq!(sign_in(&b, &user.email, PASSWORD, "").await.status, 303);
    let other = app.browser();
    assert_eq!(sign_in(&other, &user.email, PASSWORD, "").await.status, 303);
    let token = csrf(&b).await;
    let ended = b
        .post(
            "/console/account/sessions/end-others",
            &fields(&[("csrf", &token)]),
        )
        .await;
    assert_eq!(ended.status, 303);
    assert_eq!(b.get("/console").await.status, 200);
    assert_eq!(other.get("/console").await.status, 303);

    // Signing out ends the session on the server.
    let sessions = app
        .state
        .console()
        .user_sessions(user.id, app.clock.now())
        .await
        .unwrap();
    assert_eq!(sessions.len(), 1);
    let out = b
        .post("/console/sign-out", &fields(&[("csrf", &token)]))
        .await;
    assert_eq!(out.status, 303);
    assert!(out.header("set-cookie").contains("Max-Age=0"));
    assert!(app
        .state
        .console()
        .user_sessions(user.id, app.clock.now())
        .await
        .unwrap()
        .is_empty());
    assert_audited(&app, &["console.sign_out", "console.sessions_ended"]).await;
}

#[tokio::test]
async fn invitations_are_single_use_links_that_expire() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let token = csrf(&owner).await;
    let invited = owner
        .post(
            "/console/people",
            &fields(&[
                ("csrf", &token),
                ("email", "New.Person@Lender.example"),
                ("name", "New Person"),
                ("role", "admin"),
            ]),
        )
        .await;
    assert_eq!(invited.status, 201, "{}", invited.body);
    let link = invited.quiet_texts(".flash code").join("");
    assert!(link.contains("/console/set-password/"), "{link}");
    let path = link[link.find("/console/").unwrap()..].to_owned();

    // A password too short is refused and leaves the link usable.
    let b = app.browser();
    assert_eq!(
        b.get("/console/set-password").await.status,
        410,
        "no link opened yet"
    );
    let page = open_link(&b, &path).await;
    assert!(!page.url.contains(&path), "the secret left the address bar");
    let (action, mut form) = page.quiet_form("form");
    form.insert("password".into(), "short".into());
    form.insert("confirm".into(), "short".into());
    assert_eq!(b.post(&action, &form).await.status, 422);
    let done = set_password(&b, &path).await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(b.get("/console").await.status, 200);
    let again = set_password(&app.browser(), &path).await;
    assert_eq!(again.status, 410, "used once");
    assert_eq!(
        sign_in(&app.browser(), "new.person@lender.example", PASSWORD, "")
            .await
            .status,
        303
    );

    // The same address twice is refused; an old link expires.
    let dup = owner
        .post(
            "/console/people",
            &fields(&[
                ("csrf", &token),
                ("email", "new.person@lender.example"),
                ("name", "X"),
                ("role", "viewer"),
            ]),
        )
        .await;
    assert_eq!(dup.status, 409);
    let stale = invited_link(&owner, &token, "late@lender.example").await;
    app.clock.advance(Duration::days(8));
    assert_eq!(
        set_password(&app.browser(), &stale).await.status,
        410,
        "expired"
    );

    // The secret of a link is never logged.
    let secret = path.rsplit('/').next().unwrap();
    assert!(
        !captured_logs().contains(secret),
        "a set-password secret reached the logs"
    );
}

/// Invites `email` as a viewer through the console; returns the link's path.
async fn invited_link(owner: &Browser, token: &str, email: &str) -> String {
    let page = owner
        .post(
            "/console/people",
            &fields(&[
                ("csrf", token),
                ("email", email),
                ("name", "Late"),
                ("role", "viewer"),
            ]),
        )
        .await;
    assert_eq!(page.status, 201, "{}", page.body);
    let link = page.quiet_texts(".flash code").join("");
    link[link.find("/console/").unwrap()..].to_owned()
}

#[tokio::test]
async fn roles_bound_what_people_may_do_to_each_other() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let (admin, _) = member(&app, "admin@lender.example", Role::Admin).await;
    let (viewer_b, viewer) = member(&app, "viewer@lender.example", Role::Viewer).await;
    let admin_token = csrf(&admin).await;
    // An admin cannot invite an owner.
    let refused = admin
        .post(
            "/console/people",
            &fields(&[
                ("csrf", &admin_token),
                ("email", "boss@lender.example"),
                ("name", "Boss"),
                ("role", "owner"),
            ]),
        )
        .await;
    assert_eq!(refused.status, 422);
    assert!(app
        .state
        .console()
        .user_by_email("boss@lender.example")
        .await
        .unwrap()
        .is_none());

    // The owner makes the viewer an admin, then removes them: signed out at once.
    let token = csrf(&owner).await;
    let changed = owner
        .post(
            &format!("/console/people/{}/role", viewer.id),
            &fields(&[("csrf", &token), ("role", "admin")]),
        )
        .await;
    assert_eq!(changed.status, 303);
    assert_eq!(
        viewer_b.get("/console/api-keys").await.status,
        200,
        "now an admin"
    );
    let removed = owner
        .post(
            &format!("/console/people/{}/remove", viewer.id),
            &fields(&[("csrf", &token)]),
        )
        .await;
    assert_eq!(removed.status, 303);
    assert_eq!(viewer_b.get("/console").await.status, 303, "signed out");
    assert_eq!(
        sign_in(&app.browser(), &viewer.email, PASSWORD, "")
            .await
            .status,
        401
    );
    assert_audited(&app, &["console.role_changed", "console.user_removed"]).await;
}

#[tokio::test]
async fn api_keys_are_shown_once_work_and_stop_when_revoked() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    let token = csrf(&admin).await;
    let made = admin
        .post(
            "/console/api-keys",
            &fields(&[("csrf", &token), ("name", "billing job")]),
        )
        .await;
    assert_eq!(made.status, 201, "{}", made.body);
    let key = made.quiet_texts(".flash code").join("");
    assert!(key.starts_with("acc_"), "{key}");
    assert_eq!(made.header("cache-control"), "no-store");
    let list = admin.get("/console/api-keys").await;
    assert!(list.body.contains("billing job"));
    assert!(!list.body.contains(&key), "shown once only");

    let call = |k: String| {
        let http = app.http.clone();
        let url = app.url("/v1/companies");
        async move {
            http.get(url)
                .bearer_auth(k)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(call(key.clone()).await, 200);
    let record = app
        .state
        .tenants()
        .api_keys(app.tenant())
        .await
        .unwrap()
        .into_iter()
        .find(|k| k.name == "billing job")
        .unwrap();
    let revoked = admin
        .post(
            &format!("/console/api-keys/{}/revoke", record.id),
            &fields(&[("csrf", &token)]),
        )
        .await;
    assert_eq!(revoked.status, 303);
    assert_eq!(call(key).await, 401, "a revoked key is refused");
    assert_audited(&app, &["api_key.created", "api_key.revoked"]).await;
}

#[tokio::test]
async fn the_audit_trail_lists_console_actions_newest_first() {
    let (app, owner, _) = signed_in(Role::Owner).await;
    let token = csrf(&owner).await;
    // Entries of one instant would tie: the company is made a second later.
    app.clock.advance(Duration::seconds(1));
    let created = owner
        .post(
            "/console/companies",
            &fields(&[("csrf", &token), ("name", "Acme Bakery"), ("then", "link")]),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let url = created.quiet_texts(".flash code").join("");
    assert!(url.contains("/link/"), "a link to send: {url}");
    let audit = owner.get("/console/audit").await;
    assert_eq!(audit.status, 200);
    let actions = audit.quiet_texts("tbody tr td code:not(.wrap)");
    assert_eq!(
        actions.first().map(String::as_str),
        Some("company.created"),
        "{actions:?}"
    );
    assert!(actions.iter().any(|a| a == "console.password_set"));
    assert!(audit.body.contains("owner@lender.example"));
    // French, with the same entries.
    let fr = owner.get("/console/audit?lang=fr").await;
    assert!(fr.body.contains("Journal d’audit"));
}

#[tokio::test]
async fn console_pages_carry_the_security_headers_and_work_without_script() {
    let (_app, owner, _) = signed_in(Role::Owner).await;
    for path in [
        "/console",
        "/console/companies",
        "/console/people",
        "/console/account",
        "/console/sign-in",
    ] {
        let page = owner.get(path).await;
        assert_eq!(
            page.status,
            if path == "/console/sign-in" { 303 } else { 200 },
            "{path}"
        );
        if page.status != 200 {
            continue;
        }
        let csp = page.header("content-security-policy");
        assert!(
            csp.contains("script-src 'nonce-") && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert!(csp.contains("frame-ancestors 'none'"));
        assert_eq!(page.header("x-frame-options"), "DENY");
        assert_eq!(page.header("referrer-policy"), "no-referrer");
        assert!(!page.has("script"), "{path}: no script needed");
        assert!(
            page.has("main#main") && page.has("nav.console-nav"),
            "{path}: landmarks"
        );
    }
    let overview = owner.get("/console").await;
    assert!(
        overview.has("figure.chart svg[role=img]"),
        "the funnel chart"
    );
    let bad = owner.get("/console?from=2026-12-01&to=2020-01-01").await;
    assert_eq!(bad.status, 200);
    assert!(bad.has("#form-error"));
}

#[tokio::test]
async fn link_settings_are_previewed_checked_saved_and_restored() {
    let (app, admin, _) = signed_in(Role::Admin).await;
    let page = admin.get("/console/settings").await;
    assert_eq!(page.status, 200);
    let doc_text = page.quiet_texts("textarea#document").join("");
    let mut doc: serde_json::Value = serde_json::from_str(&doc_text).expect("the document as JSON");
    let token = csrf(&admin).await;

    // A dark pattern is refused with the guardrail's reason, at its field; nothing is saved.
    let mut hostile = doc.clone();
    hostile["consent_prechecked"] = serde_json::json!(true);
    let refused = admin
        .post(
            "/console/settings",
            &fields(&[("csrf", &token), ("document", &hostile.to_string())]),
        )
        .await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    let problems = refused.quiet_texts("#problems code");
    assert!(
        problems.iter().any(|p| p.contains("consent_prechecked")),
        "{problems:?}"
    );
    assert!(
        refused.body.contains("consent_prechecked"),
        "the draft is kept"
    );

    // A draft is previewed by the flow's own template before it is saved.
    doc["landing"]["title"] =
        serde_json::json!({ "en": "Welcome to Acme lending", "fr": "Bienvenue chez Acme" });
    let draft = doc.to_string();
    let preview = admin
        .post(
            "/console/settings/preview",
            &fields(&[
                ("csrf", &token),
                ("document", &draft),
                ("locale", "fr"),
                ("theme", "dark"),
            ]),
        )
        .await;
    assert_eq!(preview.status, 200, "{}", preview.body);
    let frame = admin.get(&preview.attrs("iframe", "src")[0]).await;
    assert_eq!(frame.status, 200, "{}", frame.body);
    assert!(frame.body.contains("Bienvenue chez Acme"), "{}", frame.body);
    assert!(frame.has("html[data-theme=dark][lang=fr]"));
    let before = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();
    assert!(
        before.settings.landing.title.en.is_none(),
        "a preview saves nothing"
    );

    let saved = admin
        .post(
            "/console/settings",
            &fields(&[("csrf", &token), ("document", &draft)]),
        )
        .await;
    assert_eq!(saved.status, 303, "{}", saved.body);
    let after = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        after.settings.landing.title.en.as_deref(),
        Some("Welcome to Acme lending")
    );
    let versions = app
        .state
        .settings()
        .link_settings_versions(app.tenant(), None, 10)
        .await
        .unwrap();
    let newest = &versions[0];
    assert_eq!(newest.changed_by, "admin@lender.example");
    assert!(newest.changed_fields.iter().any(|f| f == "landing"));

    // The history lists it; an earlier version comes back as a new one.
    let listed = admin.get("/console/settings").await;
    assert!(listed.body.contains("admin@lender.example"));
    doc["landing"]["title"] = serde_json::json!({ "en": "Second thoughts" });
    let second = admin
        .post(
            "/console/settings",
            &fields(&[("csrf", &token), ("document", &doc.to_string())]),
        )
        .await;
    assert_eq!(second.status, 303, "{}", second.body);
    let restored = admin
        .post(
            &format!("/console/settings/versions/{}/restore", newest.number),
            &fields(&[("csrf", &token)]),
        )
        .await;
    assert_eq!(restored.status, 303, "{}", restored.body);
    let now = app
        .state
        .tenants()
        .tenant(app.tenant())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        now.settings.landing.title.en.as_deref(),
        Some("Welcome to Acme lending"),
        "restored"
    );
    let latest = app
        .state
        .settings()
        .link_settings_versions(app.tenant(), None, 1)
        .await
        .unwrap();
    assert_eq!(
        latest[0].number,
        newest.number + 2,
        "a restore is a new version"
    );
    assert_audited(&app, &["settings.saved", "settings.restored"]).await;
}
