//! The signed-in person's own account: the second factor (TOTP, RFC 6238) and their sessions.
//!
//! Enrolment shows a fresh secret as text, as an `otpauth://` URI and as a QR code (SVG); the
//! secret travels to the confirming post sealed with the key ring (bound to this user), and is
//! stored — sealed again under the user's own associated data — only once a code from it was
//! verified. Codes are 6 digits, 30-second steps, SHA-1 (what authenticator apps read from an
//! `otpauth` URI by default), one step of clock drift accepted either way; a code is accepted
//! once: its step must be later than the last one the user spent (kept in the store).

use crate::console::error::ConsoleError;
use crate::console::session::{ConsoleForm, Member};
use crate::console::view::{html, html_status, notice, Chrome};
use crate::state::AppState;
use accord_domain::console::{totp_aad, ConsoleUser};
use askama::Template;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use rand::RngCore;
use serde::Deserialize;
use totp_rs::{Algorithm, TOTP};

/// 160 bits, the size RFC 4226 recommends for HMAC-SHA-1 secrets.
const SECRET_BYTES: usize = 20;

fn totp(secret: Vec<u8>, email: &str) -> Option<TOTP> {
    // Authenticator apps read `issuer:account`; a colon in the account name would break it.
    let account = email.replace(':', "");
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        secret,
        Some("Accord".to_owned()),
        account,
    )
    .ok()
}

fn unix_now(state: &AppState) -> u64 {
    u64::try_from(state.clock.now().unix_timestamp()).unwrap_or(0)
}

/// The RFC 6238 time step (`T`, unix time / 30 s) whose code `code` is under the user's
/// secret: the current step or one either side (clock drift), latest first; `None` if it is
/// none of them.
async fn totp_step(state: &AppState, user: &ConsoleUser, code: &str) -> Option<i64> {
    let sealed = user.totp_secret.as_ref()?;
    let Ok(secret) = state
        .secrets()
        .open(user.tenant_id, sealed, &totp_aad(user))
        .await
    else {
        tracing::warn!("console: a TOTP secret did not decrypt");
        return None;
    };
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 {
        return None;
    }
    // No skew here: each step is checked on its own (in constant time, by `check`), so the one
    // that matched is known and can be spent.
    let exact = TOTP::new(Algorithm::SHA1, 6, 0, 30, secret, None, String::new()).ok()?;
    let now = i64::try_from(unix_now(state)).ok()? / 30;
    [now + 1, now, now - 1]
        .into_iter()
        .find(|&step| u64::try_from(step * 30).is_ok_and(|at| exact.check(&code, at)))
}

/// Whether `code` is a valid TOTP code of the user not used before: its time step must be
/// later than the last one accepted from this user, and becomes the last (RFC 6238 §5.2: the
/// verifier must not accept a second attempt of an OTP once it was accepted). The step is
/// kept in the store, so every instance refuses the replay.
pub async fn accept_totp(
    state: &AppState,
    user: &ConsoleUser,
    code: &str,
) -> Result<bool, ConsoleError> {
    let Some(step) = totp_step(state, user, code).await else {
        return Ok(false);
    };
    Ok(state.console().accept_totp_step(user.id, step).await?)
}

/// Whether `code` is one of the user's codes of now (one step either side), used or not.
pub async fn totp_matches(state: &AppState, user: &ConsoleUser, code: &str) -> bool {
    totp_step(state, user, code).await.is_some()
}

/// The associated data of a secret being enrolled (not yet the user's).
fn pending_aad(user: &ConsoleUser) -> Vec<u8> {
    accord_domain::crypto::aad(&user.tenant_id, &user.id, "console-totp-pending")
}

/// A secret offered for enrolment: what the page shows.
struct Enrolment {
    sealed: String,
    secret_text: String,
    uri: String,
    qr_data_uri: String,
}

fn enrolment(state: &AppState, user: &ConsoleUser, secret: Vec<u8>) -> Option<Enrolment> {
    let sealed = state.keyring.encrypt(&secret, &pending_aad(user));
    let t = totp(secret, &user.email)?;
    let uri = t.get_url();
    let svg = qrcode::QrCode::new(uri.as_bytes())
        .ok()?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .build();
    let base32 = t.get_secret_base32();
    // Groups of four, easier to type into an app.
    let secret_text = base32
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    Some(Enrolment {
        sealed,
        secret_text,
        uri,
        qr_data_uri: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
    })
}

/// A live session as listed.
struct SessionRow {
    started: String,
    last_seen: String,
    user_agent: String,
    this_one: bool,
}

#[derive(Template)]
#[template(path = "console/account.html")]
struct AccountPage {
    c: Chrome,
    csrf: String,
    email: String,
    name: String,
    role: String,
    totp_on: bool,
    enrolment: Option<Enrolment>,
    sessions: Vec<SessionRow>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize, Default)]
pub struct DoneQuery {
    #[serde(default)]
    pub done: Option<String>,
}

async fn page(
    state: &AppState,
    m: &Member,
    secret: Option<Vec<u8>>,
    error: Option<String>,
    done: Option<&str>,
) -> Result<AccountPage, ConsoleError> {
    let now = state.clock.now();
    let sessions = state
        .console()
        .user_sessions(m.user.id, now)
        .await?
        .into_iter()
        .map(|s| SessionRow {
            started: m.chrome.when(s.created_at),
            last_seen: m.chrome.when(s.last_seen_at),
            this_one: s.id_hash == m.session.id_hash,
            user_agent: s.user_agent,
        })
        .collect();
    let totp_on = m.user.totp_secret.is_some();
    let enrolment = if totp_on {
        None
    } else {
        let secret = secret.unwrap_or_else(|| {
            let mut s = vec![0u8; SECRET_BYTES];
            rand::rngs::OsRng.fill_bytes(&mut s);
            s
        });
        enrolment(state, &m.user, secret)
    };
    Ok(AccountPage {
        c: m.chrome.clone(),
        csrf: m.csrf.clone(),
        email: m.user.email.clone(),
        name: m.user.name.clone(),
        role: m.chrome.role(m.user.role),
        totp_on,
        enrolment,
        sessions,
        notice: notice(&m.chrome.tr, done),
        error,
    })
}

pub async fn show(
    State(state): State<AppState>,
    m: Member,
    Query(q): Query<DoneQuery>,
) -> Result<Response, ConsoleError> {
    html(&page(&state, &m, None, None, q.done.as_deref()).await?)
}

#[derive(Deserialize)]
pub struct EnableForm {
    #[serde(default)]
    sealed: String,
    #[serde(default)]
    code: String,
}

pub async fn enable_totp(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<EnableForm>,
) -> Result<Response, ConsoleError> {
    let secret = state
        .keyring
        .decrypt(&form.sealed, &pending_aad(&m.user))
        .map_err(|_| ConsoleError::BadRequest)?;
    let mut candidate = m.user.clone();
    candidate.totp_secret = Some(
        state
            .secrets()
            .seal(m.user.tenant_id, &secret, &totp_aad(&m.user))
            .await
            .map_err(accord_store::StoreError::from)?,
    );
    if !accept_totp(&state, &candidate, &form.code).await? {
        let error = Some(m.chrome.tr.t("console-totp-wrong-code"));
        let p = page(&state, &m, Some(secret), error, None).await?;
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    state.console().update_user(&candidate).await?;
    m.audit(
        &state,
        "console.totp_enabled",
        Some(m.user.email.clone()),
        serde_json::json!({}),
    )
    .await?;
    Ok(Redirect::to("/console/account?done=totp-on").into_response())
}

#[derive(Deserialize)]
pub struct DisableForm {
    #[serde(default)]
    code: String,
}

pub async fn disable_totp(
    State(state): State<AppState>,
    ConsoleForm { member: m, form }: ConsoleForm<DisableForm>,
) -> Result<Response, ConsoleError> {
    if m.user.totp_secret.is_none() {
        return Ok(Redirect::to("/console/account").into_response());
    }
    if !accept_totp(&state, &m.user, &form.code).await? {
        let error = Some(m.chrome.tr.t("console-totp-wrong-code"));
        let p = page(&state, &m, None, error, None).await?;
        return html_status(StatusCode::UNPROCESSABLE_ENTITY, &p);
    }
    let mut user = m.user.clone();
    user.totp_secret = None;
    state.console().update_user(&user).await?;
    m.audit(
        &state,
        "console.totp_disabled",
        Some(m.user.email.clone()),
        serde_json::json!({}),
    )
    .await?;
    Ok(Redirect::to("/console/account?done=totp-off").into_response())
}

/// Ends every session of this user but the one making the request.
pub async fn end_other_sessions(
    State(state): State<AppState>,
    ConsoleForm { member: m, .. }: ConsoleForm<crate::console::auth::NoFields>,
) -> Result<Response, ConsoleError> {
    let now = state.clock.now();
    let store = state.console();
    let mut ended = 0u32;
    for s in store.user_sessions(m.user.id, now).await? {
        if s.id_hash != m.session.id_hash {
            store.end_session(&s.id_hash, now).await?;
            ended += 1;
        }
    }
    m.audit(
        &state,
        "console.sessions_ended",
        Some(m.user.email.clone()),
        serde_json::json!({ "ended": ended }),
    )
    .await?;
    Ok(Redirect::to("/console/account?done=sessions-ended").into_response())
}
