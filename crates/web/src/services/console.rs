//! Console accounts: hashing and checking passwords, set-password links, and the owner made
//! with a tenant on the command line.
//!
//! Passwords are hashed with argon2id (the `argon2` crate of `RustCrypto`, its default
//! parameters, OWASP's recommended minimum: 19 MiB, 2 passes, 1 lane) into a PHC string that
//! carries its own salt and parameters, so stronger parameters later still verify old hashes.
//! Verification compares in constant time inside the crate.
//!
//! A set-password link is `{public_url}/console/set-password/{secret}`: 32 random bytes,
//! base64url, of which only the SHA-256 is stored ([`SetPasswordToken::token_hash`]), spent
//! once ([`accord_store::ConsoleStore::use_set_password_token`]). The secret is in the path, so
//! it must leave the address bar (and with it the history and any `Referer`) as soon as the
//! link is opened, the way the hosted flow's link pages do with their token
//! (`pages::link::open`): opening the link puts the secret in a short-lived sealed cookie
//! scoped to the set-password page ([`set_password_cookie`]) and redirects to
//! `/console/set-password`, which reads it back ([`set_password_cookie_secret`]); the link is
//! spent only when the form is sent, so a mail scanner fetching it spends nothing. Request logs
//! and metrics carry route templates (`/console/set-password/{token}`), never the secret.

use crate::state::AppState;
use accord_domain::console::{
    console_email, AuditEntry, AuditId, ConsoleUser, Role, SetPasswordPurpose, SetPasswordToken,
    UserId, CLI_ACTOR,
};
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::ids::TenantId;
use accord_domain::validate::{text_field, Invalid};
use accord_store::StoreError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;
use time::OffsetDateTime;

/// Hashing failed: only with a password beyond argon2's limits (gigabytes), which the console's
/// own length limit keeps out.
#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub struct HashError(String);

/// The argon2id PHC string of a password, with a fresh random salt.
pub fn hash_password(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the stored PHC string (constant-time comparison in the crate).
/// A stored value that is not a PHC string matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|hash| {
        Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok()
    })
}

/// A hash of a random password, computed once: what [`verify_dummy`] checks against.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hash_password(&random_token(16)).expect("a short random password always hashes")
});

/// The same work as [`verify_password`] when there is no account to check (unknown e-mail,
/// no password yet, disabled), so the time of a refused sign-in tells nothing about accounts.
pub fn verify_dummy(password: &str) {
    let _ = verify_password(password, &DUMMY_HASH);
}

/// A new set-password link for `user`: the row to store and the secret for the URL (shown or
/// sent once, never stored). Valid [`SetPasswordToken::INVITE_TTL`] for an invitation,
/// [`SetPasswordToken::RESET_TTL`] for a reset.
pub fn new_set_password_token(
    user: &ConsoleUser,
    purpose: SetPasswordPurpose,
    now: OffsetDateTime,
) -> (SetPasswordToken, SecretString) {
    let secret = random_token(32);
    let ttl = match purpose {
        SetPasswordPurpose::Invite => SetPasswordToken::INVITE_TTL,
        SetPasswordPurpose::Reset => SetPasswordToken::RESET_TTL,
    };
    let token = SetPasswordToken {
        token_hash: TokenHash::of(&secret),
        user_id: user.id,
        tenant_id: user.tenant_id,
        purpose,
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    (token, SecretString::from(secret))
}

/// The full URL of a set-password link.
pub fn set_password_url(state: &AppState, secret: &SecretString) -> String {
    state
        .config
        .url(&format!("/console/set-password/{}", secret.expose_secret()))
}

const SET_PASSWORD_COOKIE: &str = "accord_set_password";
/// Bound to its purpose: a ciphertext sealed for anything else does not open here.
const SET_PASSWORD_AAD: &[u8] = b"accord console set-password link";
/// How long an opened link's form can be sent from the cookie.
pub const SET_PASSWORD_COOKIE_FOR: time::Duration = time::Duration::minutes(30);

/// The cookie that carries an opened link's secret to the token-free set-password page:
/// sealed with the key ring (it cannot be read or forged in the browser) with its expiry
/// inside, `HttpOnly`, `SameSite=Strict`, scoped to `/console/set-password`, 30 minutes.
pub fn set_password_cookie(state: &AppState, secret: &str) -> axum::http::HeaderValue {
    let until = (state.clock.now() + SET_PASSWORD_COOKIE_FOR).unix_timestamp();
    let sealed = state
        .keyring
        .encrypt(format!("{until}:{secret}").as_bytes(), SET_PASSWORD_AAD);
    let c = cookie::Cookie::build((SET_PASSWORD_COOKIE, sealed))
        .path("/console/set-password")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(
            SET_PASSWORD_COOKIE_FOR.whole_seconds(),
        ))
        .build();
    axum::http::HeaderValue::from_str(&c.to_string()).expect("a sealed cookie is ASCII")
}

/// The secret the browser's set-password cookie carries, while it has not expired; `None`
/// without one, or with one forged, altered or too old.
pub fn set_password_cookie_secret(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Option<SecretString> {
    let sealed = crate::pages::ctx::read_cookie(headers, SET_PASSWORD_COOKIE)?;
    let plain = state.keyring.decrypt(&sealed, SET_PASSWORD_AAD).ok()?;
    let text = String::from_utf8(plain).ok()?;
    let (until, secret) = text.split_once(':')?;
    let until = OffsetDateTime::from_unix_timestamp(until.parse().ok()?).ok()?;
    (until > state.clock.now()).then(|| SecretString::from(secret.to_owned()))
}

/// The header that removes the set-password cookie (once the link is spent).
pub fn clear_set_password_cookie() -> axum::http::HeaderValue {
    let c = cookie::Cookie::build((SET_PASSWORD_COOKIE, ""))
        .path("/console/set-password")
        .http_only(true)
        .same_site(cookie::SameSite::Strict)
        .max_age(cookie::time::Duration::ZERO)
        .build();
    axum::http::HeaderValue::from_str(&c.to_string()).expect("a cookie is ASCII")
}

/// A new console user without a password: the e-mail checked and lower-cased, the name checked
/// (1 to 200 characters; the e-mail stands for it when empty).
pub fn new_user(
    tenant: TenantId,
    email: &str,
    name: &str,
    role: Role,
    now: OffsetDateTime,
) -> Result<ConsoleUser, Invalid> {
    let email = console_email("email", email).map_err(|e| Invalid(vec![e]))?;
    let name = match name.trim() {
        "" => email.clone(),
        n => text_field("name", n, 200).map_err(|e| Invalid(vec![e]))?,
    };
    Ok(ConsoleUser {
        id: UserId::new(),
        tenant_id: tenant,
        email,
        name,
        role,
        password_hash: None,
        totp_secret: None,
        failed_sign_ins: 0,
        locked_until: None,
        created_at: now,
        disabled_at: None,
    })
}

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The e-mail already has an account on this Accord instance (`Conflict`), or another
    /// store failure.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a user without a password and their invitation link, and records
/// `console.user_invited` in the tenant's audit trail as `actor`. Returns the user and the
/// link's full URL, to hand over once.
pub async fn invite_user(
    state: &AppState,
    user: ConsoleUser,
    actor: &str,
) -> Result<(ConsoleUser, SecretString), InviteError> {
    let now = state.clock.now();
    let (token, secret) = new_set_password_token(&user, SetPasswordPurpose::Invite, now);
    let store = state.console();
    store.create_user(&user).await?;
    store.add_set_password_token(&token).await?;
    store
        .record_audit(&AuditEntry {
            id: AuditId::new(),
            tenant_id: user.tenant_id,
            actor: actor.to_owned(),
            action: "console.user_invited".into(),
            target: Some(user.email.clone()),
            detail: serde_json::json!({ "role": user.role.as_str(), "user_id": user.id }),
            at: now,
        })
        .await?;
    let url = SecretString::from(set_password_url(state, &secret));
    Ok((user, url))
}

/// An e-mail checked, lower-cased and not yet taken by a console account on this Accord
/// instance: checked before a tenant is created for its owner, so a refused address leaves no
/// tenant behind.
pub async fn available_email(state: &AppState, email: &str) -> Result<String, InviteError> {
    let email = console_email("owner_email", email).map_err(|e| Invalid(vec![e]))?;
    if state.console().user_by_email(&email).await?.is_some() {
        return Err(StoreError::Conflict(
            "a console account with this e-mail address already exists".into(),
        )
        .into());
    }
    Ok(email)
}

/// The owner of a tenant made on the command line (`accord tenant create --owner-email`):
/// invited by [`CLI_ACTOR`].
pub async fn invite_owner(
    state: &AppState,
    tenant: TenantId,
    email: &str,
) -> Result<(ConsoleUser, SecretString), InviteError> {
    let user = new_user(tenant, email, "", Role::Owner, state.clock.now())?;
    invite_user(state, user, CLI_ACTOR).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let phc = hash_password("correct horse battery staple").unwrap();
        assert!(phc.starts_with("$argon2id$"), "{phc}");
        assert!(verify_password("correct horse battery staple", &phc));
        assert!(!verify_password("correct horse battery stapler", &phc));
        assert!(!verify_password("anything", "not a phc string"));
        assert_ne!(
            phc,
            hash_password("correct horse battery staple").unwrap(),
            "a fresh salt each time"
        );
        verify_dummy("anything");
    }

    #[test]
    fn set_password_links_store_only_the_hash() {
        let now = time::macros::datetime!(2030-01-01 00:00 UTC);
        let user = new_user(TenantId::new(), "Ana@Example.com", "", Role::Owner, now).unwrap();
        assert_eq!(user.email, "ana@example.com");
        assert_eq!(user.name, "ana@example.com");
        let (token, secret) = new_set_password_token(&user, SetPasswordPurpose::Invite, now);
        assert_eq!(secret.expose_secret().len(), 43, "32 bytes, base64url");
        assert_eq!(token.token_hash, TokenHash::of(secret.expose_secret()));
        assert_eq!(token.expires_at, now + time::Duration::days(7));
        let (reset, _) = new_set_password_token(&user, SetPasswordPurpose::Reset, now);
        assert_eq!(reset.expires_at, now + SetPasswordToken::RESET_TTL);
        assert!(new_user(TenantId::new(), "nope", "", Role::Owner, now).is_err());
    }
}
