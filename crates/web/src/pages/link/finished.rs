//! The closing page after the session ended. Finishing the flow ends the browser session (the
//! next person at this computer cannot go on consenting for the company), yet the page it
//! shows must still switch language like every other page. What the page showed travels in a
//! sealed cookie (AEAD with the instance's keyring: it cannot be read or forged in the
//! browser), scoped to the flow's paths and short-lived, so the same page can be shown again in
//! the other language with the tenant's contacts, and nothing else can be done with it.

use crate::i18n::Tr;
use crate::pages::ctx::{lang_links, load_chrome, negotiate_locale, read_cookie, PagePlace};
use crate::pages::error::PageError;
use crate::pages::templates::FinishedPage;
use crate::state::AppState;
use accord_domain::flow::SessionKind;
use accord_domain::ids::{CompanyId, TenantId};
use axum::http::{HeaderMap, HeaderValue, Uri};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

const COOKIE: &str = "accord_finished";
/// Bound to its purpose: a ciphertext sealed for anything else does not open here.
const AAD: &[u8] = b"accord finished page";
/// How long the closing page can be shown again.
pub const SHOWN_FOR: time::Duration = time::Duration::hours(1);

/// What the closing page showed.
#[derive(Serialize, Deserialize)]
pub struct Shown {
    pub tenant_id: TenantId,
    pub company_id: CompanyId,
    pub connected: Vec<String>,
    pub exited: bool,
    #[serde(with = "time::serde::timestamp")]
    pub until: OffsetDateTime,
}

/// The sealed cookie holding `shown`.
pub fn cookie(state: &AppState, shown: &Shown) -> HeaderValue {
    let json = serde_json::to_vec(shown).expect("the closing page's state serialises");
    let sealed = state.keyring.encrypt(&json, AAD);
    let c = cookie::Cookie::build((COOKIE, sealed))
        .path("/link")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(SHOWN_FOR.whole_seconds()))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

/// The closing page again (in the language asked for), when the browser holds a valid sealed
/// cookie; `None` otherwise.
pub async fn again(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    nonce: String,
) -> Result<Option<Response>, PageError> {
    let Some(shown) = read_cookie(headers, COOKIE)
        .and_then(|sealed| state.keyring.decrypt(&sealed, AAD).ok())
        .and_then(|json| serde_json::from_slice::<Shown>(&json).ok())
        .filter(|s| s.until > state.clock.now())
    else {
        return Ok(None);
    };
    let Some(tenant) = crate::pages::ctx::tenant(state, shown.tenant_id).await? else {
        return Ok(None);
    };
    let company = state
        .companies()
        .company(tenant.id, shown.company_id)
        .await?;
    let locale = negotiate_locale(uri, headers, None);
    let tr = Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(uri, locale, true, uri.path());
    let place = PagePlace {
        company_name: company.as_ref().map(|c| c.name.as_str()),
        path: uri.path(),
        ..PagePlace::default()
    };
    let mut chrome = load_chrome(state, tr, nonce, &tenant, langs, SessionKind::Link, place).await;
    chrome.support_form = None;
    let page = FinishedPage {
        connected: shown.connected,
        exited: shown.exited,
        chrome,
    };
    super::html(&page).map(Some)
}
