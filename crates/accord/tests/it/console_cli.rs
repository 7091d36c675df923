//! `accord tenant create --owner-email`: the real binary makes the tenant, its API key and its
//! console owner without a password, and prints the owner's one-time set-password link; a bad or
//! taken address is refused before any tenant is made. And the sealed cookie that carries an
//! opened set-password link to its token-free page.

use crate::startup::{accord, run, Ran};
use accord_domain::console::{Role, SetPasswordPurpose, CLI_ACTOR};
use accord_domain::crypto::TokenHash;
use accord_store::{ConsoleStore, TenantStore};
use accord_store_sqlite::SqliteStore;
use std::path::Path;
use time::OffsetDateTime;

const PUBLIC_URL: &str = "https://connect.lender.example";

async fn create(data: &Path, name: &str, owner_email: &str) -> Ran {
    let mut cmd = accord();
    cmd.env("ACCORD_SERVER__PUBLIC_URL", PUBLIC_URL)
        .args([
            "tenant",
            "create",
            "--name",
            name,
            "--owner-email",
            owner_email,
        ])
        .arg("--data-dir")
        .arg(data);
    run(cmd).await
}

async fn store(data: &Path) -> SqliteStore {
    SqliteStore::open(&data.join("accord.db")).await.unwrap()
}

#[tokio::test]
async fn the_owner_is_made_without_a_password_and_their_link_printed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let before = OffsetDateTime::now_utc();
    let ran = create(tmp.path(), "Acme Lending", " Owner@Lender.Example ").await;
    assert_eq!(
        ran.code,
        Some(0),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert_eq!(
        ran.stdout
            .split_whitespace()
            .filter(|w| w.starts_with("acc_"))
            .count(),
        1,
        "the API key is still printed: {}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("Console owner: owner@lender.example"),
        "{}",
        ran.stdout
    );
    let prefix = format!("{PUBLIC_URL}/console/set-password/");
    let links: Vec<&str> = ran
        .stdout
        .split_whitespace()
        .filter(|w| w.starts_with(&prefix))
        .collect();
    assert_eq!(links.len(), 1, "one link: {}", ran.stdout);
    let secret = &links[0][prefix.len()..];
    assert_eq!(secret.len(), 43, "32 random bytes, base64url: {secret}");
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(ran.stdout.matches(secret).count(), 1, "printed once");
    assert!(!ran.stderr.contains(secret), "the link is not logged");

    let store = store(tmp.path()).await;
    let tenant = store.tenant_by_name("Acme Lending").await.unwrap().unwrap();
    let owner = store
        .user_by_email("owner@lender.example")
        .await
        .unwrap()
        .expect("the owner exists");
    assert_eq!(owner.tenant_id, tenant.id);
    assert_eq!(owner.role, Role::Owner);
    assert_eq!(owner.password_hash, None, "no password until they set one");
    assert_eq!(owner.totp_secret, None);
    assert_eq!(store.users(tenant.id).await.unwrap(), vec![owner.clone()]);

    let audit = store.audit(tenant.id, None, 10).await.unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].actor, CLI_ACTOR);
    assert_eq!(audit[0].action, "console.user_invited");
    assert_eq!(audit[0].target.as_deref(), Some("owner@lender.example"));
    assert!(!audit[0].detail.to_string().contains(secret));

    // Only the link's hash is stored: it opens once, within 7 days.
    let now = OffsetDateTime::now_utc();
    let used = store
        .use_set_password_token(&TokenHash::of(secret), now)
        .await
        .unwrap()
        .expect("the printed link is valid");
    assert_eq!(used.user_id, owner.id);
    assert_eq!(used.tenant_id, tenant.id);
    assert_eq!(used.purpose, SetPasswordPurpose::Invite);
    assert_eq!(used.expires_at - used.created_at, time::Duration::days(7));
    assert!(used.created_at >= before - time::Duration::seconds(1) && used.created_at <= now);
    assert_eq!(
        store
            .use_set_password_token(&TokenHash::of(secret), now)
            .await
            .unwrap(),
        None,
        "once"
    );
    let db = std::fs::read(tmp.path().join("accord.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret itself is nowhere in the database"
    );
}

#[tokio::test]
async fn a_bad_or_taken_owner_email_makes_no_tenant() {
    let tmp = tempfile::tempdir().unwrap();
    let ran = create(tmp.path(), "Acme Lending", "not an address").await;
    assert_eq!(
        ran.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stderr.contains("owner_email"), "{}", ran.stderr);
    assert!(!ran.stdout.contains("acc_"));
    assert_eq!(
        store(tmp.path())
            .await
            .tenant_by_name("Acme Lending")
            .await
            .unwrap(),
        None,
        "nothing was made"
    );

    let ran = create(tmp.path(), "Acme Lending", "owner@lender.example").await;
    assert_eq!(ran.code, Some(0), "stderr: {}", ran.stderr);
    let ran = create(tmp.path(), "Beta Credit", "OWNER@lender.example").await;
    assert_eq!(
        ran.code,
        Some(2),
        "stdout: {}\nstderr: {}",
        ran.stdout,
        ran.stderr
    );
    assert!(ran.stderr.contains("already exists"), "{}", ran.stderr);
    assert!(!ran.stdout.contains("/console/set-password/"));
    let store = store(tmp.path()).await;
    assert_eq!(store.tenant_by_name("Beta Credit").await.unwrap(), None);
    assert_eq!(store.tenants().await.unwrap().len(), 1);
}

/// The cookie that carries an opened set-password link to the token-free page: the secret
/// comes back while it is fresh, never from an altered cookie or after 30 minutes, and the
/// cookie is scoped to the set-password page, `HttpOnly` and `SameSite=Strict`.
#[tokio::test]
async fn an_opened_links_secret_travels_in_a_sealed_short_lived_cookie() {
    use accord_web::services::console::{set_password_cookie, set_password_cookie_secret};
    use axum::http::{header, HeaderMap, HeaderValue};
    use secrecy::ExposeSecret;

    let app = crate::helpers::spawn_app().await;
    let secret = accord_domain::crypto::random_token(32);
    let set = set_password_cookie(&app.state, &secret);
    let set = set.to_str().unwrap();
    assert!(!set.contains(&secret), "sealed: {set}");
    for attribute in [
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console/set-password",
        "Max-Age=1800",
    ] {
        assert!(set.contains(attribute), "{attribute}: {set}");
    }
    let sending = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(value).unwrap());
        headers
    };
    let pair = set.split(';').next().unwrap().to_owned();
    let back = set_password_cookie_secret(&app.state, &sending(&pair)).expect("fresh");
    assert_eq!(back.expose_secret(), secret);

    let (name, value) = pair.split_once('=').unwrap();
    let mut altered = value.to_owned().into_bytes();
    let last = altered.len() - 2;
    altered[last] = if altered[last] == b'A' { b'B' } else { b'A' };
    let altered = format!("{name}={}", String::from_utf8(altered).unwrap());
    assert!(set_password_cookie_secret(&app.state, &sending(&altered)).is_none());
    assert!(set_password_cookie_secret(&app.state, &HeaderMap::new()).is_none());

    app.clock.advance(time::Duration::minutes(30));
    assert!(
        set_password_cookie_secret(&app.state, &sending(&pair)).is_none(),
        "expired"
    );
}
