//! The personal manage link the callback created, carried to the success page. The callback
//! stores the link (by its hash) in the transaction that links the connection; the token
//! itself exists only in this cookie: sealed with the instance's keyring (AEAD, it cannot be
//! read or forged in the browser), bound to the browser session and company it was made for,
//! scoped to the flow's connection pages and short-lived. The success page then shows the link
//! with a read instead of a write of its own.

use crate::pages::ctx::read_cookie;
use crate::state::AppState;
use accord_domain::flow::BrowserSession;
use accord_domain::ids::{BrowserSessionId, CompanyId};
use axum::http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const COOKIE: &str = "accord_personal_link";
/// Bound to its purpose: a ciphertext sealed for anything else does not open here.
const AAD: &[u8] = b"accord personal manage link";
/// How long the success page shows the link the callback made (then it makes a fresh one).
const SHOWN_FOR: time::Duration = time::Duration::hours(1);

/// What the cookie holds.
#[derive(Serialize, Deserialize)]
struct Carried {
    session: BrowserSessionId,
    company: CompanyId,
    token: String,
    #[serde(with = "time::serde::timestamp")]
    until: OffsetDateTime,
}

/// The sealed cookie carrying `token`, the link made for `session`'s company.
pub fn cookie(state: &AppState, session: &BrowserSession, token: String) -> HeaderValue {
    let carried = Carried {
        session: session.id,
        company: session.company_id,
        token,
        until: state.clock.now() + SHOWN_FOR,
    };
    let json = serde_json::to_vec(&carried).expect("the carried link serialises");
    let sealed = state.keyring.encrypt(&json, AAD);
    let c = cookie::Cookie::build((COOKIE, sealed))
        .path("/link/connections")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(SHOWN_FOR.whole_seconds()))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

/// The token this browser carries for `session`'s company, when its cookie opens, names this
/// session and company and has not expired; `None` otherwise.
pub fn carried(state: &AppState, headers: &HeaderMap, session: &BrowserSession) -> Option<String> {
    read_cookie(headers, COOKIE)
        .and_then(|sealed| state.keyring.decrypt(&sealed, AAD).ok())
        .and_then(|json| serde_json::from_slice::<Carried>(&json).ok())
        .filter(|c| {
            c.session == session.id
                && c.company == session.company_id
                && c.until > state.clock.now()
        })
        .map(|c| c.token)
}
