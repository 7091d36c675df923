//! What every page handler starts from: the browser session (from its cookie), the tenant and
//! company it belongs to, the negotiated language, the CSP nonce and the page chrome (support
//! contacts, guide link, language switch — on every page, error pages included).

use crate::i18n::Tr;
use crate::pages::error::{PageError, PageErrorKind};
use crate::security::{csrf_token, CspNonce};
use crate::state::AppState;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, SessionKind};
use accord_domain::locale::Locale;
use accord_domain::tenant::{Company, Tenant};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};

pub const LINK_COOKIE: &str = "accord_link";
pub const MANAGE_COOKIE: &str = "accord_manage";
pub const LANG_COOKIE: &str = "accord_lang";

pub fn cookie_name(kind: SessionKind) -> &'static str {
    match kind {
        SessionKind::Link => LINK_COOKIE,
        SessionKind::Manage => MANAGE_COOKIE,
    }
}

/// A cookie from the request, by name.
pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

/// Language: `?lang=`, then the language cookie, then the link session's locale, then
/// `Accept-Language`, then English.
pub fn negotiate_locale(uri: &Uri, headers: &HeaderMap, session_default: Option<Locale>) -> Locale {
    let from_query = uri.query().and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "lang")
            .and_then(|(_, v)| v.parse::<Locale>().ok())
    });
    from_query
        .or_else(|| read_cookie(headers, LANG_COOKIE).and_then(|v| v.parse().ok()))
        .or(session_default)
        .or_else(|| {
            let accept = headers.get(header::ACCEPT_LANGUAGE)?.to_str().ok()?;
            fluent_langneg::accepted_languages::parse(accept)
                .iter()
                .find_map(|l| Locale::from_tag(l.language.as_str()))
        })
        .unwrap_or_default()
}

/// A link of the language switch.
#[derive(Debug, Clone)]
pub struct LangLink {
    pub code: &'static str,
    pub name: &'static str,
    pub href: String,
    pub current: bool,
}

/// The same page in each language: the current path with `lang` set (keeps the customer's place).
pub fn lang_links(uri: &Uri, current: Locale, is_get: bool, fallback_path: &str) -> Vec<LangLink> {
    let path = if is_get { uri.path() } else { fallback_path };
    Locale::ALL
        .into_iter()
        .map(|l| {
            let mut ser = url::form_urlencoded::Serializer::new(String::new());
            if is_get {
                if let Some(q) = uri.query() {
                    for (k, v) in url::form_urlencoded::parse(q.as_bytes()) {
                        if k != "lang" {
                            ser.append_pair(&k, &v);
                        }
                    }
                }
            }
            ser.append_pair("lang", l.as_str());
            LangLink {
                code: l.as_str(),
                name: l.endonym(),
                href: format!("{path}?{}", ser.finish()),
                current: l == current,
            }
        })
        .collect()
}

/// The parts of every page around its content.
#[derive(Clone)]
pub struct Chrome {
    pub tr: Tr,
    pub nonce: String,
    pub tenant_name: String,
    pub langs: Vec<LangLink>,
    pub support_phone: Option<String>,
    pub support_phone_href: Option<String>,
    pub support_email: Option<String>,
    pub support_hours: Option<String>,
    /// The support-request form for this surface, when the tenant offers it.
    pub support_form: Option<String>,
    pub guide_url: String,
    pub privacy_url: Option<String>,
    pub powered_by: bool,
    pub trust_message: String,
    pub trust_stats: Vec<String>,
    /// Set when the page is shown in the embed SDK's iframe (see `pages::embed`).
    pub embed: Option<crate::pages::embed::EmbedChrome>,
}

impl Chrome {
    pub fn for_tenant(
        tr: Tr,
        nonce: String,
        tenant: Option<&Tenant>,
        langs: Vec<LangLink>,
        kind: SessionKind,
    ) -> Self {
        let locale = tr.locale;
        let Some(tenant) = tenant else {
            return Self {
                trust_message: tr.t("trust-message-default"),
                tenant_name: "Accord".to_owned(),
                tr,
                nonce,
                langs,
                support_phone: None,
                support_phone_href: None,
                support_email: None,
                support_hours: None,
                support_form: None,
                guide_url: "/guide".to_owned(),
                privacy_url: None,
                powered_by: true,
                trust_stats: Vec::new(),
                embed: None,
            };
        };
        let s = &tenant.settings;
        Self {
            trust_message: s.trust_message.get(locale).map_or_else(
                || tr.a("trust-message-default-tenant", &[("tenant", &tenant.name)]),
                str::to_owned,
            ),
            trust_stats: s
                .trust_statistics
                .iter()
                .filter_map(|l| l.get(locale).map(str::to_owned))
                .collect(),
            tenant_name: tenant.name.clone(),
            support_phone_href: s.support.phone.as_ref().map(|p| {
                format!(
                    "tel:{}",
                    p.chars()
                        .filter(|c| c.is_ascii_digit() || *c == '+')
                        .collect::<String>()
                )
            }),
            support_phone: s.support.phone.clone(),
            support_email: s.support.email.clone(),
            support_hours: s.support.hours.get(locale).map(str::to_owned),
            support_form: s.support.form_enabled.then(|| match kind {
                SessionKind::Link => "/link/support".to_owned(),
                SessionKind::Manage => "/manage/support".to_owned(),
            }),
            guide_url: s
                .connection_guide_url
                .clone()
                .unwrap_or_else(|| "/guide".to_owned()),
            privacy_url: s.privacy_policy_url.clone(),
            powered_by: s.powered_by_badge,
            tr,
            nonce,
            langs,
            embed: None,
        }
    }
}

/// A signed-in page request: session, tenant, company, language, chrome and CSRF token.
pub struct PageCtx {
    pub state: AppState,
    pub session: BrowserSession,
    pub tenant: Tenant,
    pub company: Company,
    pub tr: Tr,
    pub chrome: Chrome,
    pub csrf: String,
    pub kind: SessionKind,
}

impl PageCtx {
    pub fn locale(&self) -> Locale {
        self.tr.locale
    }
}

/// Loads the session of `kind` from its cookie, with tenant and company.
pub async fn load_session(
    state: &AppState,
    headers: &HeaderMap,
    kind: SessionKind,
) -> Result<Option<(BrowserSession, Tenant, Company)>, PageError> {
    let Some(token) = read_cookie(headers, cookie_name(kind)) else {
        return Ok(None);
    };
    let Some(session) = state
        .store
        .browser_session(&TokenHash::of(&token), kind, state.clock.now())
        .await?
    else {
        return Ok(None);
    };
    let Some(tenant) = state.store.tenant(session.tenant_id).await? else {
        return Ok(None);
    };
    let Some(company) = state
        .store
        .company(session.tenant_id, session.company_id)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((session, tenant, company)))
}

async fn extract(parts: &Parts, state: &AppState, kind: SessionKind) -> Result<PageCtx, PageError> {
    let Some((session, tenant, company)) = load_session(state, &parts.headers, kind).await? else {
        return Err(PageError::new(PageErrorKind::SessionMissing));
    };
    let link_locale = match session.link_session_id {
        Some(id) => state
            .store
            .link_session(session.tenant_id, id)
            .await?
            .and_then(|l| l.locale),
        None => None,
    };
    let locale = negotiate_locale(&parts.uri, &parts.headers, link_locale);
    let tr = Tr::new(state.i18n.clone(), locale);
    let nonce = parts
        .extensions
        .get::<CspNonce>()
        .map(|n| n.0.clone())
        .unwrap_or_default();
    // A page answering a form post offers the same path (its GET page) in the other language.
    let langs = lang_links(
        &parts.uri,
        locale,
        parts.method == axum::http::Method::GET,
        parts.uri.path(),
    );
    let mut chrome = Chrome::for_tenant(tr.clone(), nonce, Some(&tenant), langs, kind);
    chrome.embed = crate::pages::embed::EmbedChrome::of(&parts.extensions);
    Ok(PageCtx {
        csrf: csrf_token(&state.keyring, &session.token_hash),
        state: state.clone(),
        session,
        tenant,
        company,
        tr,
        chrome,
        kind,
    })
}

/// A hosted-flow page request (`accord_link` cookie).
pub struct LinkCtx(pub PageCtx);
/// A manage page request (`accord_manage` cookie).
pub struct ManageCtx(pub PageCtx);

impl FromRequestParts<AppState> for LinkCtx {
    type Rejection = PageError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        extract(parts, state, SessionKind::Link).await.map(LinkCtx)
    }
}

impl FromRequestParts<AppState> for ManageCtx {
    type Rejection = PageError;
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        extract(parts, state, SessionKind::Manage)
            .await
            .map(ManageCtx)
    }
}

/// Chrome for a page without a session (the guide, the privacy page, some errors): the tenant's
/// when a session cookie of either kind is present, else Accord's own.
pub async fn anonymous_chrome(
    state: &AppState,
    parts_uri: &Uri,
    headers: &HeaderMap,
    is_get: bool,
    nonce: String,
) -> Chrome {
    let mut found = None;
    for kind in [SessionKind::Link, SessionKind::Manage] {
        if let Ok(Some((_, tenant, _))) = load_session(state, headers, kind).await {
            found = Some((tenant, kind));
            break;
        }
    }
    let locale = negotiate_locale(parts_uri, headers, None);
    let tr = Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(parts_uri, locale, is_get, parts_uri.path());
    match found {
        Some((tenant, kind)) => Chrome::for_tenant(tr, nonce, Some(&tenant), langs, kind),
        None => Chrome::for_tenant(tr, nonce, None, langs, SessionKind::Link),
    }
}
