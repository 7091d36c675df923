//! Signing in and out, and setting a password from an invitation or reset link.
//!
//! A failed sign-in says the same whether or not the account exists, is locked or has no
//! password yet, and costs the same work (a dummy password is hashed when there is no account
//! to check). An account is locked for [`LOCKOUT`] after [`MAX_FAILURES`] failures in a row:
//! the count and the lock are kept in the store, each failure counted by one statement, so
//! every instance sharing a PostgreSQL database counts into the same account and honours the
//! same lock. Sign-ins are also rate limited per client address and per account in each
//! instance's memory (`ratelimit.rs`): a brake on load and on spraying many accounts, which
//! N instances loosen N-fold, while the stored lock-out bounds password guessing per account
//! whatever the number of instances.

use crate::console::account::{accept_totp, totp_matches};
use crate::console::error::ConsoleError;
use crate::console::session::{self, Member, OpenForm, Visitor};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::services::console as passwords;
use crate::state::AppState;
use accord_domain::console::{console_email, ConsoleUser};
use accord_domain::crypto::TokenHash;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use secrecy::ExposeSecret;
use serde::Deserialize;
use time::Duration;

/// Failures in a row that lock an account.
pub const MAX_FAILURES: u32 = 10;
/// How long a locked account stays locked.
pub const LOCKOUT: Duration = Duration::minutes(15);
/// The shortest password accepted (NIST SP 800-63B asks for at least 8; a console holds
/// customers' consents, so more).
pub const MIN_PASSWORD: usize = 12;
const MIN_PASSWORD_I64: i64 = 12;
const MAX_PASSWORD: usize = 256;

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage {
    c: Chrome,
    csrf: String,
    email: String,
    next: String,
    error: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct SignInQuery {
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    done: Option<String>,
}

/// Where to go after signing in: a console path, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if (n == "/console" || n.starts_with("/console/") || n.starts_with("/console?"))
                && !n.contains("//")
                && !n.contains('\\') =>
        {
            n.to_owned()
        }
        _ => "/console".to_owned(),
    }
}

pub async fn sign_in_page(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    visitor: Visitor,
    Query(q): Query<SignInQuery>,
) -> Result<Response, ConsoleError> {
    if session::load(&state, &headers)
        .await
        .ok()
        .flatten()
        .is_some()
    {
        return Ok(Redirect::to("/console").into_response());
    }
    let page = SignInPage {
        notice: notice(&visitor.chrome.tr, q.done.as_deref()),
        c: visitor.chrome.clone(),
        csrf: visitor.csrf.clone(),
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
    };
    Ok(visitor.respond(html(&page)?))
}

#[derive(Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    next: Option<String>,
}

/// The one answer to every failed sign-in.
fn refused(visitor: &Visitor, email: &str, next: &str) -> Result<Response, ConsoleError> {
    let page = SignInPage {
        error: Some(visitor.chrome.tr.t("console-sign-in-failed")),
        c: visitor.chrome.clone(),
        csrf: visitor.csrf.clone(),
        email: email.to_owned(),
        next: next.to_owned(),
        notice: None,
    };
    html_status(StatusCode::UNAUTHORIZED, &page)
}

pub async fn sign_in(
    State(state): State<AppState>,
    OpenForm { visitor, form, ip }: OpenForm<SignInForm>,
) -> Result<Response, ConsoleError> {
    let next = safe_next(form.next.as_deref());
    let email = console_email("email", &form.email).unwrap_or_default();
    if let Err(limited) = state.limits.sign_in(ip, &email) {
        tracing::info!("console sign-in refused: rate limit");
        return Err(ConsoleError::TooMany(limited.retry_after_secs));
    }
    let now = state.clock.now();
    let user = match email.as_str() {
        "" => None,
        e => state.console().user_by_email(e).await?,
    };
    let Some(user) = user.filter(|u| u.disabled_at.is_none() && u.password_hash.is_some()) else {
        // The same work as checking a real password, so timing tells nothing either.
        passwords::verify_dummy(&form.password);
        tracing::info!("console sign-in failed");
        return refused(&visitor, &form.email, &next);
    };
    let password_ok = passwords::verify_password(
        &form.password,
        user.password_hash.as_deref().unwrap_or_default(),
    );
    let locked = user.is_locked(now);
    let code = check_code(&state, &user, &form.code, password_ok && !locked).await?;
    if locked || !password_ok || code.is_err() {
        let locked_until = if locked {
            user.locked_until
        } else {
            state
                .console()
                .record_sign_in_failure(user.id, now, MAX_FAILURES, LOCKOUT)
                .await?
        };
        let reason = if locked {
            "locked"
        } else if password_ok {
            code.err().unwrap_or("code")
        } else {
            "password"
        };
        crate::console::audit::record(
            &state,
            user.tenant_id,
            &user.email,
            "console.sign_in_failed",
            None,
            serde_json::json!({
                "reason": reason,
                "locked": locked_until.is_some_and(|t| t > now),
            }),
        )
        .await?;
        return refused(&visitor, &form.email, &next);
    }
    state.console().clear_sign_in_failures(user.id).await?;
    let set = session::start(&state, &user, visitor.meta.user_agent.as_deref()).await?;
    crate::console::audit::record(
        &state,
        user.tenant_id,
        &user.email,
        "console.sign_in",
        None,
        serde_json::json!({ "second_factor": user.totp_secret.is_some() }),
    )
    .await?;
    let mut res = Redirect::to(&next).into_response();
    res.headers_mut().append(header::SET_COOKIE, set);
    Ok(res)
}

/// The second factor of a sign-in: `Ok` when the user has none or `code` is theirs, else why
/// not (`code`, or `code_reused` for a code already spent). With `spend` (the password was
/// right and the account is not locked) a good code's time step is spent, so the same code
/// cannot sign in again, here or on another instance; otherwise it is only checked.
async fn check_code(
    state: &AppState,
    user: &ConsoleUser,
    code: &str,
    spend: bool,
) -> Result<Result<(), &'static str>, ConsoleError> {
    if user.totp_secret.is_none() {
        return Ok(Ok(()));
    }
    if !totp_matches(state, user, code).await {
        return Ok(Err("code"));
    }
    if spend && !accept_totp(state, user, code).await? {
        return Ok(Err("code_reused"));
    }
    Ok(Ok(()))
}

#[derive(Deserialize, Default)]
pub struct NoFields {}

pub async fn sign_out(
    State(state): State<AppState>,
    form: session::ConsoleForm<NoFields>,
) -> Result<Response, ConsoleError> {
    let m: Member = form.member;
    let now = state.clock.now();
    state.console().end_session(&m.session.id_hash, now).await?;
    m.audit(&state, "console.sign_out", None, serde_json::json!({}))
        .await?;
    let mut res = Redirect::to("/console/sign-in?done=signed-out").into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session::cleared_cookie(&state));
    Ok(res)
}

#[derive(Template)]
#[template(path = "console/set_password.html")]
struct SetPasswordPage {
    c: Chrome,
    csrf: String,
    /// Whether the browser holds an opened link (else the page only says it cannot be used).
    has_link: bool,
    error: Option<String>,
    notice: Option<String>,
    min: i64,
}

#[derive(Template)]
#[template(path = "console/set_password_open.html")]
struct OpenedLinkPage {
    c: Chrome,
}

/// Opening an invitation or reset link: its secret goes into a sealed cookie scoped to the
/// set-password page (`services::console::set_password_cookie`) and leaves the address bar.
/// The answer is a page that moves on to `/console/set-password` by itself (a meta refresh,
/// and a link): a navigation Accord's own page starts is same-site, so the `SameSite=Strict`
/// cookie goes with it even when the link was clicked in a webmail, where a redirect would
/// keep the click's cross-site context and lose the cookie. Nothing is spent here, so a mail
/// scanner fetching the link spends nothing; the request log names the route template only.
pub async fn open_link(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(token): Path<String>,
) -> Result<Response, ConsoleError> {
    if token.len() > 100 {
        return Err(ConsoleError::NotFound);
    }
    let page = OpenedLinkPage {
        c: visitor.chrome.clone(),
    };
    let mut res = visitor.respond(html(&page)?);
    res.headers_mut().append(
        header::SET_COOKIE,
        passwords::set_password_cookie(&state, &token),
    );
    Ok(res)
}

/// The set-password form of the link this browser opened (its secret in the sealed cookie);
/// without one, or once it is too old, the page says the link cannot be used.
pub async fn set_password_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    visitor: Visitor,
) -> Result<Response, ConsoleError> {
    let has_link = passwords::set_password_cookie_secret(&state, &headers).is_some();
    let page = SetPasswordPage {
        c: visitor.chrome.clone(),
        csrf: visitor.csrf.clone(),
        has_link,
        error: (!has_link).then(|| visitor.chrome.tr.t("console-set-password-unusable")),
        notice: None,
        min: MIN_PASSWORD_I64,
    };
    let status = if has_link {
        StatusCode::OK
    } else {
        StatusCode::GONE
    };
    Ok(visitor.respond(html_status(status, &page)?))
}

#[derive(Deserialize)]
pub struct SetPasswordForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
}

/// Why a chosen password is refused (a Fluent id), if it is.
fn password_problem(password: &str, confirm: &str) -> Option<&'static str> {
    let n = password.chars().count();
    if n < MIN_PASSWORD {
        Some("console-password-short")
    } else if n > MAX_PASSWORD {
        Some("console-password-long")
    } else if password != confirm {
        Some("console-password-mismatch")
    } else {
        None
    }
}

/// Sets the password of the opened link's account (the secret from the sealed cookie): the
/// password is checked first, so a refused one leaves the link usable; then the link is spent.
pub async fn set_password(
    State(state): State<AppState>,
    headers: HeaderMap,
    OpenForm { visitor, form, .. }: OpenForm<SetPasswordForm>,
) -> Result<Response, ConsoleError> {
    let secret = passwords::set_password_cookie_secret(&state, &headers);
    let again = |error: String| SetPasswordPage {
        c: visitor.chrome.clone(),
        csrf: visitor.csrf.clone(),
        has_link: secret.is_some(),
        error: Some(error),
        notice: None,
        min: MIN_PASSWORD_I64,
    };
    if let Some(problem) = password_problem(&form.password, &form.confirm) {
        let msg = visitor.chrome.tr.n(problem, "min", MIN_PASSWORD_I64);
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &again(msg));
    }
    let now = state.clock.now();
    let store = state.console();
    let spent = match &secret {
        Some(secret) => {
            store
                .use_set_password_token(&TokenHash::of(secret.expose_secret()), now)
                .await?
        }
        None => None,
    };
    let owner = match spent {
        Some(t) => store
            .user(t.user_id)
            .await?
            .filter(|u| u.tenant_id == t.tenant_id && u.disabled_at.is_none()),
        None => None,
    };
    let Some(mut user) = owner else {
        let msg = visitor.chrome.tr.t("console-set-password-unusable");
        return html_status(StatusCode::GONE, &again(msg));
    };
    user.password_hash =
        Some(passwords::hash_password(&form.password).map_err(|e| ConsoleError::internal(&e))?);
    user.failed_sign_ins = 0;
    user.locked_until = None;
    store.update_user(&user).await?;
    // Whoever was signed in with the old password is signed out.
    store.end_user_sessions(user.id, now).await?;
    crate::console::audit::record(
        &state,
        user.tenant_id,
        &user.email,
        "console.password_set",
        None,
        serde_json::json!({}),
    )
    .await?;
    let set = session::start(&state, &user, visitor.meta.user_agent.as_deref()).await?;
    let mut res = Redirect::to("/console?done=password-set").into_response();
    res.headers_mut().append(header::SET_COOKIE, set);
    res.headers_mut()
        .append(header::SET_COOKIE, passwords::clear_set_password_cookie());
    Ok(res)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_console_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/console/people")), "/console/people");
        assert_eq!(safe_next(Some("/console?x=1")), "/console?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/consolex",
            "/console//evil",
            "/link/x",
            "/console/\\evil",
        ] {
            assert_eq!(safe_next(Some(bad)), "/console", "{bad}");
        }
        assert_eq!(safe_next(None), "/console");
    }

    #[test]
    fn passwords_are_checked_for_length_and_confirmation() {
        assert_eq!(
            password_problem("short", "short"),
            Some("console-password-short")
        );
        assert_eq!(
            password_problem("long enough pass", "other"),
            Some("console-password-mismatch")
        );
        assert_eq!(
            password_problem("long enough pass", "long enough pass"),
            None
        );
    }
}
