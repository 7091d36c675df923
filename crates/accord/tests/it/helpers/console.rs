//! Signing in to the tenant console as a person does, for every test that needs a console
//! user: an invitation stored for the demo tenant, its set-password link opened and a password
//! chosen through the real pages, the sign-in form posted, the session's CSRF token read from
//! a page, and TOTP codes computed as an authenticator app would.

use super::{spawn_app, Browser, Page, TestApp};
use accord_domain::console::{ConsoleUser, Role, SetPasswordPurpose, SetPasswordToken, UserId};
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::Clock as _;
use std::collections::BTreeMap;

/// The password every test user chooses.
pub const PASSWORD: &str = "correct horse battery staple";

/// A console user of the demo tenant with `role` and no password yet, and a set-password link
/// for them (its path).
pub async fn invited(app: &TestApp, email: &str, role: Role) -> (ConsoleUser, String) {
    let now = app.clock.now();
    let user = ConsoleUser {
        id: UserId::new(),
        tenant_id: app.tenant(),
        email: email.to_owned(),
        name: format!("{role} of the demo"),
        role,
        password_hash: None,
        totp_secret: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        disabled_at: None,
    };
    app.state.console().create_user(&user).await.unwrap();
    let secret = random_token(32);
    app.state
        .console()
        .add_set_password_token(&SetPasswordToken {
            token_hash: TokenHash::of(&secret),
            user_id: user.id,
            tenant_id: user.tenant_id,
            purpose: SetPasswordPurpose::Invite,
            created_at: now,
            expires_at: now + SetPasswordToken::INVITE_TTL,
            used_at: None,
        })
        .await
        .unwrap();
    (user, format!("/console/set-password/{secret}"))
}

/// Opens a set-password link in `browser`: the page moves on to the token-free form by itself.
pub async fn open_link(browser: &Browser, link: &str) -> Page {
    let opened = browser.get(link).await;
    assert_eq!(opened.status, 200, "opened link: {}", opened.body);
    assert!(opened.has("meta[http-equiv=refresh][content$='/console/set-password']"));
    assert!(opened
        .headers
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().unwrap().contains("Path=/console/set-password")));
    browser.get("/console/set-password").await
}

/// Opens a set-password link in `browser` and chooses [`PASSWORD`]; returns the answer.
pub async fn set_password(browser: &Browser, link: &str) -> Page {
    let page = open_link(browser, link).await;
    assert_eq!(page.status, 200, "set-password page: {}", page.body);
    let (action, mut fields) = page.quiet_form("form");
    fields.insert("password".into(), PASSWORD.into());
    fields.insert("confirm".into(), PASSWORD.into());
    browser.post(&action, &fields).await
}

/// A signed-in browser of a new user with `role`.
pub async fn member(app: &TestApp, email: &str, role: Role) -> (Browser, ConsoleUser) {
    let (user, link) = invited(app, email, role).await;
    let browser = app.browser();
    let done = set_password(&browser, &link).await;
    assert_eq!(done.status, 303, "password set: {}", done.body);
    assert_eq!(done.location(), "/console?done=password-set");
    (browser, user)
}

/// A fresh application with one signed-in console user of the demo tenant, `role` by name
/// (`admin@lender.example` for an admin).
pub async fn signed_in(role: Role) -> (TestApp, Browser, ConsoleUser) {
    let app = spawn_app().await;
    let (browser, user) = member(&app, &format!("{role}@lender.example"), role).await;
    (app, browser, user)
}

/// Posts the sign-in form from a fresh sign-in page.
pub async fn sign_in(browser: &Browser, email: &str, password: &str, code: &str) -> Page {
    let page = browser.get("/console/sign-in").await;
    assert_eq!(page.status, 200, "sign-in page: {}", page.body);
    let (action, mut fields) = page.quiet_form("form");
    fields.insert("email".into(), email.into());
    fields.insert("password".into(), password.into());
    fields.insert("code".into(), code.into());
    browser.post(&action, &fields).await
}

/// The CSRF token of a signed-in browser's forms (from the sign-out form on every page).
pub async fn csrf(browser: &Browser) -> String {
    let page = browser.get("/console/account").await;
    assert_eq!(page.status, 200, "account page: {}", page.body);
    page.quiet_form("form[action='/console/sign-out']").1["csrf"].clone()
}

/// A form's fields as a browser posts them.
pub fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The current RFC 6238 code of a base32 secret as the account page shows it (grouped by 4).
pub fn code_for(app: &TestApp, secret_text: &str) -> String {
    let secret = totp_rs::Secret::Encoded(secret_text.replace(' ', ""))
        .to_bytes()
        .unwrap();
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        None,
        String::new(),
    )
    .unwrap();
    totp.generate(u64::try_from(app.clock.now().unix_timestamp()).unwrap())
}

/// The console's audit actions of the demo tenant, newest first.
pub async fn audit_actions(app: &TestApp) -> Vec<String> {
    app.state
        .console()
        .audit(app.tenant(), None, 500)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

/// Asserts that each of `expected` is among the demo tenant's audit actions.
pub async fn assert_audited(app: &TestApp, expected: &[&str]) {
    let actions = audit_actions(app).await;
    for a in expected {
        assert!(actions.iter().any(|x| x == a), "{a} in {actions:?}");
    }
}
