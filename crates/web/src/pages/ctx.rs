//! What every page handler starts from: the browser session (from its cookie), the tenant and
//! company it belongs to, the negotiated language, the CSP nonce and the page chrome (support
//! contacts, guide link, language switch — on every page, error pages included).

use crate::i18n::Tr;
use crate::pages::brand::{self, format_count, Placeholders};
use crate::pages::error::{PageError, PageErrorKind};
use crate::security::{csrf_token, CspNonce};
use crate::services::snapshot::TenantSnapshot;
use crate::state::AppState;
use accord_domain::crypto::TokenHash;
use accord_domain::flow::{BrowserSession, LinkSession, SessionKind};
use accord_domain::funnel::FlowPage;
use accord_domain::locale::Locale;
use accord_domain::tenant::{Company, Tenant};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Uri};
use std::sync::Arc;

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

/// The button labels of the flow: the tenant's (filled) or Accord's own.
#[derive(Clone, Debug)]
pub struct Labels {
    pub continue_: String,
    pub connect: String,
    pub decline: String,
    pub add_another: String,
    pub done: String,
    pub exit: String,
}

/// The mid-flow exit control of a hosted-flow page: a link to the confirm page (no JS), and
/// the same question in a dialog (JS).
#[derive(Clone, Debug)]
pub struct ExitControl {
    /// `/link/exit?from=<page>[&platform=<key>]`.
    pub href: String,
    pub step: FlowPage,
    pub platform: Option<String>,
    pub csrf: String,
    /// The question, as safe HTML (the tenant's Markdown or Accord's text).
    pub text_html: String,
}

impl ExitControl {
    /// The control names `step` as the page left from (a page whose path says otherwise, such
    /// as the declined page answering the consent form's post).
    pub fn set_step(&mut self, step: FlowPage) {
        self.step = step;
        self.href = exit_href(step, self.platform.as_deref());
    }
}

fn exit_href(step: FlowPage, platform: Option<&str>) -> String {
    match platform {
        Some(k) => format!("/link/exit?from={step}&platform={k}"),
        None => format!("/link/exit?from={step}"),
    }
}

/// Where a page is in the flow, from its path: the page (in the funnel's vocabulary, so an exit
/// is counted where it was made) and the platform it is about.
pub fn step_of(path: &str) -> Option<(FlowPage, Option<&str>)> {
    let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    Some(match parts.as_slice() {
        ["", "link", "start"] => (FlowPage::Landing, None),
        ["", "link", "platforms"] => (FlowPage::Select, None),
        ["", "link", "platforms", key, "consent"] => (FlowPage::Consent, Some(*key)),
        ["", "link", "connections", _]
        | ["", "link", "connections", _, "reconsented"]
        | ["", "link", "manage"] => (FlowPage::Success, None),
        ["", "link", "connections", _, "reconsent"] => (FlowPage::Reconsent, None),
        ["", "link", "connections", _, "retry"] => (FlowPage::Callback, None),
        ["", "link", "callback", key] => (FlowPage::Callback, Some(*key)),
        ["", "link", "nda"] => (FlowPage::Nda, None),
        ["", "link", "support"] => (FlowPage::Support, None),
        ["", "link", "receipts", ..] => (FlowPage::Receipt, None),
        _ => return None,
    })
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
    /// The tenant's terms of use (`terms_url`), linked beside its privacy policy.
    pub terms_url: Option<String>,
    pub powered_by: bool,
    /// The left-panel trust message: tenant Markdown rendered through the allow-list, or
    /// Accord's text escaped (safe HTML either way).
    pub trust_message_html: String,
    /// The trust statistics, each safe HTML.
    pub trust_stats_html: Vec<String>,
    /// The tenant's logo, served by Accord.
    pub logo_url: Option<String>,
    /// The brand colour's CSS variables (validated hex only), in a nonce'd `<style>`.
    pub brand_css: Option<String>,
    /// `light`, `dark` or `system` (on `<html data-theme>`).
    pub theme: &'static str,
    pub color_scheme: &'static str,
    pub labels: Labels,
    /// The exit control, on hosted-flow steps.
    pub exit: Option<ExitControl>,
    /// Fills the tenant's placeholders on this page.
    pub placeholders: Placeholders,
    /// Set when the page is shown in the embed SDK's iframe (see `pages::embed`).
    pub embed: Option<crate::pages::embed::EmbedChrome>,
}

/// What a page knows beyond its tenant, for the placeholders and the exit control.
#[derive(Default)]
pub struct PagePlace<'a> {
    pub company_name: Option<&'a str>,
    /// The request path (gives the step and its platform).
    pub path: &'a str,
    /// The hosted-flow CSRF token, when the page has a link session (enables the exit control).
    pub link_csrf: Option<String>,
    pub connected_companies: Option<i64>,
    pub logo_sha256: Option<String>,
}

/// Accord's own text as HTML, for the places that otherwise hold rendered tenant copy.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

impl Chrome {
    pub fn for_tenant(
        tr: Tr,
        nonce: String,
        tenant: Option<&Tenant>,
        langs: Vec<LangLink>,
        kind: SessionKind,
    ) -> Self {
        Self::build(tr, nonce, tenant, langs, kind, None, &PagePlace::default())
    }

    /// The chrome of a page of `tenant`, with the placeholders, logo and exit control of
    /// `place`.
    pub fn build(
        tr: Tr,
        nonce: String,
        tenant: Option<&Tenant>,
        langs: Vec<LangLink>,
        kind: SessionKind,
        catalog: Option<&accord_domain::catalog::Catalog>,
        place: &PagePlace<'_>,
    ) -> Self {
        let locale = tr.locale;
        let Some(tenant) = tenant else {
            return Self::accord_own(tr, nonce, langs);
        };
        let s = &tenant.settings;
        let step = step_of(place.path).filter(|_| kind == SessionKind::Link);
        let platform = step
            .and_then(|(_, k)| k)
            .and_then(|k| catalog.and_then(|c| c.find(k)));
        let placeholders = Placeholders {
            company_name: place
                .company_name
                .map_or_else(|| tr.t("placeholder-company"), str::to_owned),
            platform_name: platform
                .map_or_else(|| tr.t("placeholder-platform"), |p| p.name.clone()),
            tenant_name: tenant.name.clone(),
            connected_companies: format_count(place.connected_companies.unwrap_or(0), locale),
        };
        let labels = Labels::of_tenant(&tr, s, &placeholders);
        let exit = match (step, &place.link_csrf) {
            (Some((step, key)), Some(csrf)) => {
                let platform = key.filter(|_| platform.is_some()).map(str::to_owned);
                Some(ExitControl::new(
                    &tr,
                    tenant,
                    &placeholders,
                    (step, platform),
                    csrf,
                ))
            }
            _ => None,
        };
        Self {
            trust_message_html: brand::rich(&s.trust_message, locale, &placeholders)
                .unwrap_or_else(|| {
                    escaped(&tr.a("trust-message-default-tenant", &[("tenant", &tenant.name)]))
                }),
            trust_stats_html: s
                .trust_statistics
                .iter()
                .filter_map(|l| brand::rich(l, locale, &placeholders))
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
            support_hours: brand::plain(&s.support.hours, locale, &placeholders),
            support_form: s.support.form_enabled.then(|| match kind {
                SessionKind::Link => "/link/support".to_owned(),
                SessionKind::Manage => "/manage/support".to_owned(),
            }),
            guide_url: s
                .guide_url_for(platform.map(|p| p.key.as_str()))
                .map_or_else(|| "/guide".to_owned(), str::to_owned),
            privacy_url: s.privacy_policy_url.clone(),
            terms_url: s.terms_url.clone(),
            powered_by: s.powered_by_badge,
            logo_url: place
                .logo_sha256
                .as_ref()
                .map(|sha| format!("/brand/{}/logo?v={}", tenant.id, &sha[..16.min(sha.len())])),
            brand_css: brand::brand_css(s),
            theme: s.brand.theme.as_str(),
            color_scheme: brand::color_scheme(s),
            labels,
            exit,
            placeholders,
            tr,
            nonce,
            langs,
            embed: None,
        }
    }
}

impl Chrome {
    /// Accord's own chrome, for a page without a tenant.
    fn accord_own(tr: Tr, nonce: String, langs: Vec<LangLink>) -> Self {
        Self {
            trust_message_html: escaped(&tr.t("trust-message-default")),
            tenant_name: "Accord".to_owned(),
            labels: Labels::builtin(&tr),
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
            terms_url: None,
            powered_by: true,
            trust_stats_html: Vec::new(),
            logo_url: None,
            brand_css: None,
            theme: "system",
            color_scheme: "light dark",
            exit: None,
            placeholders: Placeholders::default(),
            embed: None,
        }
    }
}

impl Labels {
    /// Accord's own button labels.
    fn builtin(tr: &Tr) -> Self {
        Self {
            continue_: tr.t("landing-start"),
            connect: tr.t(crate::i18n::CONNECT_LABEL),
            decline: tr.t(crate::i18n::DECLINE_LABEL),
            add_another: tr.t("success-add-another"),
            done: tr.t("success-done"),
            exit: tr.t("exit-button"),
        }
    }

    /// The tenant's labels (filled), each falling back to Accord's own.
    fn of_tenant(
        tr: &Tr,
        s: &accord_domain::settings::LinkSettings,
        placeholders: &Placeholders,
    ) -> Self {
        let builtin = Self::builtin(tr);
        let b = &s.button_labels;
        let label = |l: &accord_domain::settings::Localized, builtin: String| {
            brand::plain(l, tr.locale, placeholders).unwrap_or(builtin)
        };
        Self {
            continue_: label(&b.continue_, builtin.continue_),
            connect: label(&b.connect, builtin.connect),
            decline: label(&b.decline, builtin.decline),
            add_another: label(&b.add_another, builtin.add_another),
            done: label(&b.done, builtin.done),
            exit: label(&b.exit, builtin.exit),
        }
    }
}

impl ExitControl {
    /// The control of a page at `place` (its step, and its platform when in the catalog).
    fn new(
        tr: &Tr,
        tenant: &Tenant,
        placeholders: &Placeholders,
        place: (FlowPage, Option<String>),
        csrf: &str,
    ) -> Self {
        let (step, platform) = place;
        Self {
            href: exit_href(step, platform.as_deref()),
            step,
            platform,
            csrf: csrf.to_owned(),
            text_html: brand::rich(&tenant.settings.exit_confirmation, tr.locale, placeholders)
                .unwrap_or_else(|| escaped(&tr.a1("exit-question", "tenant", &tenant.name))),
        }
    }
}

/// The tenant with its configuration, from memory when this instance holds it
/// (`services::snapshot`).
pub async fn tenant_config(
    state: &AppState,
    id: accord_domain::ids::TenantId,
) -> Result<Option<Arc<TenantSnapshot>>, accord_store::StoreError> {
    state.snapshots.tenant(&*state.store, id).await
}

/// The tenant, from memory when this instance holds it.
pub async fn tenant(
    state: &AppState,
    id: accord_domain::ids::TenantId,
) -> Result<Option<Arc<Tenant>>, accord_store::StoreError> {
    Ok(tenant_config(state, id).await?.map(|c| c.tenant.clone()))
}

/// The chrome of a tenant's page, with the lookups it needs (logo, live count).
pub async fn load_chrome(
    state: &AppState,
    tr: Tr,
    nonce: String,
    tenant: &Tenant,
    langs: Vec<LangLink>,
    kind: SessionKind,
    mut place: PagePlace<'_>,
) -> Chrome {
    // Lookups that fail leave the page plain rather than failing it: branding is not worth an
    // error page.
    place.logo_sha256 = tenant_config(state, tenant.id)
        .await
        .ok()
        .flatten()
        .and_then(|c| c.logo_sha256.clone());
    // The live count costs a query: made only when some copy shown on the pages uses it.
    let wants_count = tenant.settings.uses_placeholder("{connectedCompanies}");
    if wants_count {
        place.connected_companies = state
            .settings()
            .connected_company_count(tenant.id)
            .await
            .ok();
    }
    Chrome::build(
        tr,
        nonce,
        Some(tenant),
        langs,
        kind,
        Some(&state.catalog),
        &place,
    )
}

/// A signed-in page request: session, tenant, company, language, chrome and CSRF token.
pub struct PageCtx {
    pub state: AppState,
    pub session: BrowserSession,
    pub tenant: Arc<Tenant>,
    /// The tenant's configuration the page was built from (its platforms, its notices).
    pub config: Arc<TenantSnapshot>,
    pub company: Company,
    /// The link session the browser session came from, read once per request.
    pub link: Option<LinkSession>,
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
) -> Result<Option<(BrowserSession, Arc<Tenant>, Company)>, PageError> {
    Ok(session_with_config(state, headers, kind)
        .await?
        .map(|(session, config, company)| (session, config.tenant.clone(), company)))
}

/// The session of `kind`, with its tenant's configuration and its company.
async fn session_with_config(
    state: &AppState,
    headers: &HeaderMap,
    kind: SessionKind,
) -> Result<Option<(BrowserSession, Arc<TenantSnapshot>, Company)>, PageError> {
    let Some(token) = read_cookie(headers, cookie_name(kind)) else {
        return Ok(None);
    };
    let Some(session) = state
        .flow()
        .browser_session(&TokenHash::of(&token), kind, state.clock.now())
        .await?
    else {
        return Ok(None);
    };
    let Some(config) = tenant_config(state, session.tenant_id).await? else {
        return Ok(None);
    };
    let Some(company) = state
        .companies()
        .company(session.tenant_id, session.company_id)
        .await?
    else {
        return Ok(None);
    };
    Ok(Some((session, config, company)))
}

pub(crate) async fn extract(
    parts: &Parts,
    state: &AppState,
    kind: SessionKind,
) -> Result<PageCtx, PageError> {
    let Some((session, config, company)) = session_with_config(state, &parts.headers, kind).await?
    else {
        return Err(PageError::new(PageErrorKind::SessionMissing));
    };
    let tenant = config.tenant.clone();
    let link = match session.link_session_id {
        Some(id) => state.flow().link_session(session.tenant_id, id).await?,
        None => None,
    };
    let locale = negotiate_locale(
        &parts.uri,
        &parts.headers,
        link.as_ref().and_then(|l| l.locale),
    );
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
    let csrf = csrf_token(&state.keyring, &session.token_hash);
    let mut chrome = load_chrome(
        state,
        tr.clone(),
        nonce,
        &tenant,
        langs,
        kind,
        PagePlace {
            company_name: Some(&company.name),
            path: parts.uri.path(),
            link_csrf: (kind == SessionKind::Link).then(|| csrf.clone()),
            ..PagePlace::default()
        },
    )
    .await;
    chrome.embed = crate::pages::embed::EmbedChrome::of(&parts.extensions, parts.uri.path());
    if chrome.embed.is_some() {
        crate::pages::embed::embedded_exit_text(&mut chrome, &tenant);
    }
    Ok(PageCtx {
        csrf,
        state: state.clone(),
        session,
        tenant,
        config,
        company,
        link,
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
        if let Ok(Some((session, tenant, company))) = load_session(state, headers, kind).await {
            found = Some((session, tenant, company, kind));
            break;
        }
    }
    let locale = negotiate_locale(parts_uri, headers, None);
    let tr = Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(parts_uri, locale, is_get, parts_uri.path());
    match found {
        Some((session, tenant, company, kind)) => {
            let place = PagePlace {
                company_name: Some(&company.name),
                path: parts_uri.path(),
                link_csrf: (kind == SessionKind::Link)
                    .then(|| csrf_token(&state.keyring, &session.token_hash)),
                ..PagePlace::default()
            };
            load_chrome(state, tr, nonce, &tenant, langs, kind, place).await
        }
        None => match tenant_of_link(state, parts_uri).await {
            // No session, but the URL is a link someone was sent (used or expired): its
            // tenant's contacts, so the customer who hit the error knows whom to ask.
            Some((tenant, kind)) => {
                let place = PagePlace {
                    path: parts_uri.path(),
                    ..PagePlace::default()
                };
                let mut chrome = load_chrome(state, tr, nonce, &tenant, langs, kind, place).await;
                // No session to file a request against: the phone and e-mail remain.
                chrome.support_form = None;
                chrome
            }
            None => Chrome::for_tenant(tr, nonce, None, langs, SessionKind::Link),
        },
    }
}

/// The tenant of the link in a `/link/{token}` or `/manage/{token}` URL, whatever its state.
async fn tenant_of_link(state: &AppState, uri: &Uri) -> Option<(Arc<Tenant>, SessionKind)> {
    let (kind, token) = match uri.path().split('/').collect::<Vec<_>>()[..] {
        ["", "link", token] => (SessionKind::Link, token),
        ["", "manage", token] => (SessionKind::Manage, token),
        _ => return None,
    };
    // Only the shape a link token has: the other one-segment pages never reach the store.
    if token.len() != 43
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return None;
    }
    let link = state
        .flow()
        .link_session_by_token(&TokenHash::of(token))
        .await
        .ok()
        .flatten()?;
    let tenant = tenant(state, link.tenant_id).await.ok().flatten()?;
    Some((tenant, kind))
}
