//! The hosted flow: open the link → landing → platform selection → consent → platform sign-in
//! → callback → success (→ add another). Server-rendered; every step works without JavaScript.

use crate::pages::ctx::{cookie_name, load_session, LinkCtx, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::{LinkForm, NoFields};
mod finished;
mod personal;

use crate::pages::templates::{
    CallbackErrorPage, CategoryGroup, ConnectionRow, ConsentPage, DeclinedPage, FinishedPage,
    LandingPage, PlatformTile, SelectPage, SuccessPage,
};
use crate::security::FormActionSources;
use crate::services::connect::{
    self, CallbackError, CallbackFor, CallbackQuery, Completed, ConsentAction,
};
use crate::services::funnel;
use crate::services::notice::NoticeView;
use crate::state::AppState;
use accord_domain::catalog::Platform;
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::{ConsentEvidence, ConsentMethod};
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::{BrowserSession, SessionKind};
use accord_domain::funnel::{FlowPage, FunnelStep};
use accord_domain::ids::{BrowserSessionId, CompanyId, ConnectionId, TenantId};
use accord_domain::notice::NoticeVersion;
use accord_domain::settings::Requirement;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;

/// `Set-Cookie` for a browser session: HttpOnly, SameSite=Lax (sent on the platform's top-level
/// redirect back to the callback, never on cross-site posts), Secure over TLS.
pub fn session_cookie(state: &AppState, kind: SessionKind, token: &str) -> HeaderValue {
    let c = cookie::Cookie::build((cookie_name(kind), token.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::seconds(
            state.config.browser_session_ttl.whole_seconds(),
        ))
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

/// `Set-Cookie` that removes the browser session's cookie.
pub fn cleared_session_cookie(state: &AppState, kind: SessionKind) -> HeaderValue {
    let c = cookie::Cookie::build((cookie_name(kind), ""))
        .path("/")
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(state.config.secure_cookies())
        .max_age(cookie::time::Duration::ZERO)
        .build();
    HeaderValue::from_str(&c.to_string()).expect("cookie is ASCII")
}

pub(crate) fn html(page: &impl Template) -> Result<Response, PageError> {
    Ok(Html(page.render()?).into_response())
}

#[derive(Deserialize, Default)]
pub struct OpenQuery {
    /// The host page's origin when the embed SDK opens the link in its iframe.
    embed: Option<String>,
}

/// Opens a link session: consumes its single-use URL token and starts a browser session (in
/// the embed SDK's iframe, one carried without cookies: see `pages::embed`).
pub async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<OpenQuery>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    nonce: Option<axum::Extension<crate::security::CspNonce>>,
) -> Result<Response, PageError> {
    if let Some(origin) = q.embed {
        let nonce = nonce.map(|n| n.0 .0.clone()).unwrap_or_default();
        return crate::pages::embed::open(&state, &token, &origin, &uri, &headers, &nonce).await;
    }
    open_session(&state, &token, &headers, SessionKind::Link, "/link/start").await
}

/// Consumes a link token: the link session and the new browser session's token, or `None`
/// when the token is malformed, unknown, used or expired.
pub async fn consume(
    state: &AppState,
    token: &str,
    kind: SessionKind,
) -> Result<Option<(accord_domain::flow::LinkSession, String)>, PageError> {
    let shaped = token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return Ok(None);
    }
    let now = state.clock.now();
    let cookie_token = random_token(32);
    // The store fills tenant, company and link session from the consumed link session.
    let browser = BrowserSession {
        id: BrowserSessionId::new(),
        tenant_id: TenantId(uuid::Uuid::nil()),
        company_id: CompanyId(uuid::Uuid::nil()),
        kind,
        link_session_id: None,
        token_hash: TokenHash::of(&cookie_token),
        created_at: now,
        expires_at: now + state.config.browser_session_ttl,
    };
    Ok(state
        .flow()
        .consume_link_session(&TokenHash::of(token), now, &browser)
        .await?
        .map(|link| (link, cookie_token)))
}

/// Shared by the link and manage entry URLs.
pub async fn open_session(
    state: &AppState,
    token: &str,
    headers: &HeaderMap,
    kind: SessionKind,
    landing: &str,
) -> Result<Response, PageError> {
    if let Some((link, cookie_token)) = consume(state, token, kind).await? {
        let to = match link.locale {
            Some(l) => format!("{landing}?lang={l}"),
            None => landing.to_owned(),
        };
        let mut res = Redirect::to(&to).into_response();
        res.headers_mut().append(
            header::SET_COOKIE,
            session_cookie(state, kind, &cookie_token),
        );
        return Ok(res);
    }
    // Reloading an already-opened link in the same browser simply continues.
    if load_session(state, headers, kind).await?.is_some() {
        return Ok(Redirect::to(landing).into_response());
    }
    Err(PageError::new(PageErrorKind::LinkUnusable))
}

pub async fn landing(LinkCtx(ctx): LinkCtx) -> Result<Response, PageError> {
    if !ctx.tenant.settings.landing_enabled {
        return Ok(Redirect::to("/link/platforms").into_response());
    }
    funnel::count(&ctx.state, &ctx.session, None, &[FunnelStep::LandingViewed]).await;
    let landing = &ctx.tenant.settings.landing;
    let (locale, fill) = (ctx.locale(), &ctx.chrome.placeholders);
    html(&LandingPage {
        company_name: ctx.company.name.clone(),
        csrf: ctx.csrf.clone(),
        title: crate::pages::brand::plain(&landing.title, locale, fill),
        body_html: crate::pages::brand::rich(&landing.body, locale, fill),
        chrome: ctx.chrome,
    })
}

/// The platforms this tenant enabled, its link settings allow (platforms and categories) and
/// this link session offers, in catalog order.
pub fn offered_platforms(ctx: &PageCtx) -> Vec<Platform> {
    let categories = ctx.link.as_ref().map_or(&[][..], |l| &l.categories[..]);
    ctx.state
        .catalog
        .all()
        .iter()
        .filter(|p| ctx.config.enabled(&p.key))
        .filter(|p| categories.is_empty() || categories.contains(&p.category))
        .filter(|p| ctx.tenant.settings.offers(p.key.as_str(), p.category))
        // Per-store platforms need the store's name first; the flow does not ask for it yet.
        .filter(|p| !p.needs_shop())
        .cloned()
        .collect()
}

#[derive(Deserialize, Default)]
pub struct SelectQuery {
    #[serde(default)]
    q: String,
}

pub async fn select(
    LinkCtx(ctx): LinkCtx,
    Query(query): Query<SelectQuery>,
) -> Result<Response, PageError> {
    let platforms = offered_platforms(&ctx);
    let connections = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?;
    let linked = |p: &Platform| {
        connections
            .iter()
            .any(|c| c.platform_key == p.key && c.status == ConnectionStatus::Linked)
    };
    let waiting = |p: &Platform| {
        connections
            .iter()
            .any(|c| c.platform_key == p.key && c.status == ConnectionStatus::ReconsentRequired)
    };
    let ended = |p: &Platform| {
        connections
            .iter()
            .any(|c| c.platform_key == p.key && c.status == ConnectionStatus::Deauthorized)
    };
    // Connections waiting for the customer's agreement again (notice changed, or expired).
    let reconsent = connections
        .iter()
        .filter(|c| c.status == ConnectionStatus::ReconsentRequired)
        .map(|c| {
            let name = ctx
                .state
                .catalog
                .get(&c.platform_key)
                .map_or_else(|| c.platform_key.to_string(), |p| p.name.clone());
            (name, format!("/link/connections/{}/reconsent", c.id))
        })
        .collect();
    let q: String = query.q.trim().chars().take(80).collect();
    let needle = q.to_lowercase();
    let mut groups = Vec::new();
    // The tenant's order; "required" only says what the tenant asks for (never makes data
    // required, never stops the customer from leaving).
    let configured = !ctx.tenant.settings.categories.is_empty();
    for setting in ctx.tenant.settings.offered_categories() {
        let category = setting.category;
        let tiles: Vec<PlatformTile> = platforms
            .iter()
            .filter(|p| p.category == category)
            .filter(|p| {
                needle.is_empty()
                    || p.name.to_lowercase().contains(&needle)
                    || p.key.as_str().contains(&needle)
            })
            .map(|p| PlatformTile {
                key: p.key.to_string(),
                name: p.name.clone(),
                connected: linked(p),
                reconsent: waiting(p),
                deauthorized: ended(p),
            })
            .collect();
        if !tiles.is_empty() {
            groups.push(CategoryGroup {
                key: category.to_string(),
                label: ctx.tr.t(&format!("category-{category}")),
                requirement: configured.then(|| match setting.requirement {
                    Requirement::Required => {
                        ctx.tr.a1("category-requested", "tenant", &ctx.tenant.name)
                    }
                    Requirement::Optional => ctx.tr.t("category-optional"),
                }),
                platforms: tiles,
            });
        }
    }
    let connected_count = i64::try_from(
        connections
            .iter()
            .filter(|c| c.status == ConnectionStatus::Linked)
            .count(),
    )
    .unwrap_or(i64::MAX);
    html(&SelectPage {
        no_results: groups.is_empty() && !q.is_empty(),
        groups,
        query: q,
        connected_count,
        reconsent,
        chrome: ctx.chrome,
    })
}

/// The platform of a flow URL, if offered to this session.
fn offered(ctx: &PageCtx, key: &str) -> Result<Platform, PageError> {
    offered_platforms(ctx)
        .into_iter()
        .find(|p| p.key.as_str() == key)
        .ok_or(PageError::new(PageErrorKind::NotFound))
}

/// Where [`notice_for`] reads the notice in force.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Read {
    /// The tenant's configuration in memory: what the page shows.
    Kept,
    /// The store itself: what a consent is recorded against, so that it is never recorded
    /// against a version another instance has just replaced.
    Fresh,
}

/// The notice in force for the platform's category in the customer's language (else English).
async fn notice_for(
    ctx: &PageCtx,
    platform: &Platform,
    read: Read,
) -> Result<(Arc<NoticeVersion>, NoticeView), PageError> {
    let store = &*ctx.state.store;
    let in_force = |locale| async move {
        match read {
            Read::Kept => ctx.config.notice(store, platform.category, locale).await,
            Read::Fresh => Ok(store
                .current_notice_version(ctx.tenant.id, platform.category, locale)
                .await?
                .map(Arc::new)),
        }
    };
    let version = match in_force(ctx.locale()).await? {
        Some(v) => v,
        None => in_force(accord_domain::locale::Locale::En)
            .await?
            .ok_or_else(|| PageError::internal(&"tenant has no notice for this category"))?,
    };
    let view = NoticeView::build(&ctx.tr, &ctx.tenant.name, platform, &version);
    if view.data_uses.is_empty() {
        return Err(PageError::new(PageErrorKind::NotFound));
    }
    Ok((version, view))
}

fn consent_page(
    ctx: &PageCtx,
    platform: &Platform,
    version: &NoticeVersion,
    view: NoticeView,
    error: Option<String>,
    already: bool,
) -> Result<Response, PageError> {
    let sha = view.render(&ctx.tr).sha256;
    let page = ConsentPage {
        chrome: ctx.chrome.clone(),
        csrf: ctx.csrf.clone(),
        platform_key: platform.key.to_string(),
        notice: view,
        notice_sha256: sha,
        version_id: version.id.to_string(),
        error,
        already_connected: already,
        nda_url: ctx
            .tenant
            .settings
            .mnda
            .is_some()
            .then(|| format!("/link/nda?platform={}", platform.key)),
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let mut res = (status, Html(page.render()?)).into_response();
    // The form's post is answered with a redirect to the platform; allow that origin.
    let authorize = ctx
        .state
        .config
        .urls
        .endpoint(&platform.authorize_url, None);
    if let Ok(u) = url::Url::parse(&authorize) {
        res.extensions_mut()
            .insert(FormActionSources(vec![u.origin().ascii_serialization()]));
    }
    Ok(res)
}

async fn is_linked(ctx: &PageCtx, platform: &Platform) -> Result<bool, PageError> {
    Ok(ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?
        .iter()
        .any(|c| c.platform_key == platform.key && c.status == ConnectionStatus::Linked))
}

pub async fn consent(
    LinkCtx(ctx): LinkCtx,
    Path(key): Path<String>,
) -> Result<Response, PageError> {
    let platform = offered(&ctx, &key)?;
    // A connection to this platform waiting for the customer's agreement again: the re-consent
    // screen, not a fresh consent (which would start a second connection).
    if let Some(res) = crate::pages::reconsent::screen_for_platform(&ctx, &platform).await? {
        let selected = [FunnelStep::PlatformSelected];
        funnel::count(&ctx.state, &ctx.session, Some(&platform.key), &selected).await;
        return Ok(res);
    }
    let (version, view) = notice_for(&ctx, &platform, Read::Kept).await?;
    let already = is_linked(&ctx, &platform).await?;
    let steps = [FunnelStep::PlatformSelected, FunnelStep::ConsentViewed];
    funnel::count(&ctx.state, &ctx.session, Some(&platform.key), &steps).await;
    consent_page(&ctx, &platform, &version, view, None, already)
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(default)]
    agree: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    notice_version_id: String,
    #[serde(default)]
    notice_sha256: String,
}

pub async fn consent_submit(
    Path(key): Path<String>,
    LinkForm { ctx, meta, form }: LinkForm<ConsentForm>,
) -> Result<Response, PageError> {
    let platform = offered(&ctx, &key)?;
    if form.action == "decline" {
        let declined = [FunnelStep::Declined];
        funnel::count(&ctx.state, &ctx.session, Some(&platform.key), &declined).await;
        // The page answers the consent form's post, but leaving from it is leaving from the
        // declined page, not from the consent step.
        let mut chrome = ctx.chrome;
        if let Some(exit) = chrome.exit.as_mut() {
            exit.set_step(FlowPage::Declined);
        }
        return html(&DeclinedPage {
            platform_name: platform.name.clone(),
            chrome,
        });
    }
    if form.action != "connect" {
        return Err(PageError::new(PageErrorKind::BadRequest));
    }
    // A consent page opened before the connection needed re-consent: ask on the re-consent
    // screen rather than start a second connection to the same platform.
    if let Some(res) = crate::pages::reconsent::screen_for_platform(&ctx, &platform).await? {
        return Ok(res);
    }
    let (version, view) = notice_for(&ctx, &platform, Read::Fresh).await?;
    if form.agree.as_deref() != Some("yes") {
        let msg = ctx.tr.t("consent-error-unticked");
        return consent_page(&ctx, &platform, &version, view, Some(msg), false);
    }
    let rendered = view.render(&ctx.tr);
    // The customer agreed to what they saw: if the notice changed meanwhile, show the new one.
    if form.notice_version_id != version.id.to_string() || form.notice_sha256 != rendered.sha256 {
        let msg = ctx.tr.t("consent-error-changed");
        return consent_page(&ctx, &platform, &version, view, Some(msg), false);
    }
    let action = ConsentAction {
        tenant: ctx.tenant.id,
        company: ctx.company.id,
        platform: &platform,
        version: &version,
        view: &view,
        rendered,
        locale: ctx.locale(),
        evidence: ConsentEvidence {
            method: ConsentMethod::HostedFlowCheckbox,
            checkbox_ticked: true,
            ip: meta.ip,
            user_agent: meta.user_agent,
        },
    };
    match connect::consent_and_authorize(&ctx.state, action, &ctx.session).await {
        Ok((url, _)) => {
            // Counted after the consent transaction committed, never inside it.
            let steps = [FunnelStep::Consented, FunnelStep::SentToPlatform];
            funnel::count(&ctx.state, &ctx.session, Some(&platform.key), &steps).await;
            Ok(Redirect::to(&url).into_response())
        }
        Err(e) => {
            tracing::error!(platform = %platform.key, error = %e, "could not start authorization");
            Err(PageError::from_service(&e))
        }
    }
}

pub async fn callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(key): Path<String>,
    Query(query): Query<CallbackQuery>,
    uri: axum::http::Uri,
    nonce: Option<axum::Extension<crate::security::CspNonce>>,
) -> Result<Response, PageError> {
    let Some(platform) = state.catalog.find(&key).cloned() else {
        return Err(PageError::new(PageErrorKind::BadState));
    };
    // An authorization the tenant started through the API has its own session, found from the
    // state itself (`services::byo`), whatever cookie this browser holds; it always returns to
    // the tenant.
    if let Some(session) = crate::services::byo::session_for_state(&state, &query).await? {
        return byo_callback(&state, &session, &platform, &query).await;
    }
    if crate::services::byo::expired_authorization(&state, &query).await? {
        return Err(PageError::new(PageErrorKind::AuthorizationOver));
    }
    // Without this browser's session the state cannot be bound to it: refuse before any token request.
    let Some((session, tenant, company)) =
        load_session(&state, &headers, SessionKind::Link).await?
    else {
        return Err(PageError::new(PageErrorKind::BadState));
    };
    let window = crate::pages::embed::callback_window(&headers);
    // The success page shows the personal link only when the flow comes back to it here.
    let answer = CallbackFor {
        ask: true,
        personal_link: window.is_none(),
    };
    let result = connect::complete_callback(&state, &session, &platform, &query, answer).await;
    count_callback(&state, &session, &platform, &query, &result).await;
    if let Err(CallbackError::OrganisationChanged(question)) = &result {
        let place = ErrorPlace {
            state: &state,
            session: &session,
            tenant: &tenant,
            company: &company,
            uri: &uri,
            headers: &headers,
            nonce: nonce.map(|n| n.0 .0.clone()).unwrap_or_default(),
        };
        return crate::pages::organisation::question(place, &platform, question).await;
    }
    if let Some(window) = window.as_deref() {
        // The framed flow's platform sign-in, in a popup or at the top level.
        let (id, status, code) = match &result {
            Ok(done) => (
                done.connection.id,
                done.connection.status.as_str().to_owned(),
                String::new(),
            ),
            Err(CallbackError::Platform {
                code, connection, ..
            }) => (*connection, "error".to_owned(), code.clone()),
            Err(CallbackError::BadState | CallbackError::OrganisationChanged(_)) => {
                return Err(PageError::new(PageErrorKind::BadState))
            }
            Err(CallbackError::Store(e)) => return Err(PageError::of_store(e)),
        };
        if window == "popup" {
            let locale = crate::pages::ctx::negotiate_locale(&uri, &headers, None);
            let tr = crate::i18n::Tr::new(state.i18n.clone(), locale);
            let nonce = nonce.map(|n| n.0 .0.clone()).unwrap_or_default();
            return Ok(crate::pages::embed::done_page(
                &tr,
                &nonce,
                &id.to_string(),
                &status,
                &code,
            ));
        }
        // Top level (the popup was blocked): back to the tenant's site when it gave a return URL.
        let conn = state
            .connections()
            .connection(session.tenant_id, id)
            .await?;
        let params = crate::services::returns::params(&session, conn.as_ref());
        if let Some(url) = crate::services::returns::redirect_url(&state, &session, &params).await?
        {
            return Ok(Redirect::to(&url).into_response());
        }
    }
    match result {
        Ok(done) => Ok(to_success(&state, &session, done)),
        Err(CallbackError::BadState | CallbackError::OrganisationChanged(_)) => {
            Err(PageError::new(PageErrorKind::BadState))
        }
        Err(CallbackError::Store(e)) => Err(e.into()),
        Err(CallbackError::Platform {
            code,
            connection,
            correlation_id,
        }) => {
            let place = ErrorPlace {
                state: &state,
                session: &session,
                tenant: &tenant,
                company: &company,
                uri: &uri,
                headers: &headers,
                nonce: nonce.map(|n| n.0 .0.clone()).unwrap_or_default(),
            };
            let failure = (code, connection, correlation_id);
            callback_error_page(place, &platform, failure).await
        }
    }
}

/// The redirect of a linked callback to its success page, with the personal link made with it.
fn to_success(state: &AppState, session: &BrowserSession, done: Completed) -> Response {
    let mut res =
        Redirect::to(&format!("/link/connections/{}", done.connection.id)).into_response();
    if let Some(token) = done.personal_link {
        let cookie = personal::cookie(state, session, token);
        res.headers_mut().append(header::SET_COOKIE, cookie);
    }
    res
}

/// Counts the callback in the funnel. The platform approved when it sent a code; the exchange
/// may still fail after it.
async fn count_callback(
    state: &AppState,
    session: &BrowserSession,
    platform: &Platform,
    query: &CallbackQuery,
    result: &Result<Completed, CallbackError>,
) {
    let approved = query.error.is_none() && query.code.is_some();
    let mut steps = Vec::new();
    match result {
        Ok(_) => steps.extend([FunnelStep::CallbackSucceeded, FunnelStep::Connected]),
        Err(CallbackError::Platform { .. }) if approved => {
            steps.extend([FunnelStep::CallbackSucceeded, FunnelStep::CallbackFailed]);
        }
        Err(CallbackError::Platform { .. }) => steps.push(FunnelStep::CallbackFailed),
        Err(_) => {}
    }
    if !steps.is_empty() {
        funnel::count(state, session, Some(&platform.key), &steps).await;
    }
}

/// What a page answering the callback is shown in: the request and the flow's session.
pub(crate) struct ErrorPlace<'a> {
    pub(crate) state: &'a AppState,
    pub(crate) session: &'a BrowserSession,
    pub(crate) tenant: &'a accord_domain::tenant::Tenant,
    pub(crate) company: &'a accord_domain::tenant::Company,
    pub(crate) uri: &'a axum::http::Uri,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) nonce: String,
}

impl ErrorPlace<'_> {
    /// The page chrome, translator and CSRF token of a page the callback answers with itself
    /// (it has no `LinkCtx`: the state, not the page, is what it was called for).
    pub(crate) async fn chrome(&self) -> (crate::i18n::Tr, String, crate::pages::ctx::Chrome) {
        let locale = crate::pages::ctx::negotiate_locale(self.uri, self.headers, None);
        let tr = crate::i18n::Tr::new(self.state.i18n.clone(), locale);
        let langs = crate::pages::ctx::lang_links(self.uri, locale, false, "/link/platforms");
        let csrf = crate::security::csrf_token(&self.state.keyring, &self.session.token_hash);
        let chrome = crate::pages::ctx::load_chrome(
            self.state,
            tr.clone(),
            self.nonce.clone(),
            self.tenant,
            langs,
            SessionKind::Link,
            crate::pages::ctx::PagePlace {
                company_name: Some(&self.company.name),
                path: self.uri.path(),
                link_csrf: Some(csrf.clone()),
                ..crate::pages::ctx::PagePlace::default()
            },
        )
        .await;
        (tr, csrf, chrome)
    }
}

/// The page of a sign-in the platform refused or failed (`code`, the connection left waiting,
/// the correlation id), with Try again.
async fn callback_error_page(
    place: ErrorPlace<'_>,
    platform: &Platform,
    (code, connection, correlation_id): (String, ConnectionId, String),
) -> Result<Response, PageError> {
    let (tr, csrf, chrome) = place.chrome().await;
    let explanation_id = if code == "access_denied" {
        "callback-error-denied"
    } else {
        "callback-error-generic"
    };
    html(&CallbackErrorPage {
        csrf,
        platform_name: platform.name.clone(),
        platform_key: platform.key.to_string(),
        explanation: tr.a1(explanation_id, "platform", &platform.name),
        error_code: code,
        correlation_id,
        connection_id: connection.to_string(),
        chrome,
    })
}

/// A connection of this session's company, or 404.
pub(crate) async fn own_connection(ctx: &PageCtx, id: &str) -> Result<Connection, PageError> {
    let id: ConnectionId = id
        .parse()
        .map_err(|_| PageError::new(PageErrorKind::NotFound))?;
    ctx.state
        .connections()
        .connection(ctx.tenant.id, id)
        .await?
        .filter(|c| c.company_id == ctx.company.id)
        .ok_or(PageError::new(PageErrorKind::NotFound))
}

/// A connection as the success and manage pages show it.
pub async fn connection_row(ctx: &PageCtx, c: &Connection) -> Result<ConnectionRow, PageError> {
    let platform = ctx.state.catalog.get(&c.platform_key);
    let consent = match c.consent_id {
        Some(id) => ctx.state.consents().consent(ctx.tenant.id, id).await?,
        None => None,
    };
    let name = platform.map_or_else(|| c.platform_key.to_string(), |p| p.name.clone());
    let uses = platform
        .map(|p| {
            c.data_uses
                .iter()
                .map(|u| crate::services::notice::UseLine {
                    label: ctx.tr.t(&format!("data-type-{}", u.data_type)),
                    direction: ctx.tr.a1(
                        &format!("direction-{}", u.direction.as_str()),
                        "platform",
                        &p.name,
                    ),
                    is_write: u.direction == accord_domain::catalog::Direction::Write,
                })
                .collect()
        })
        .unwrap_or_default();
    let now = ctx.state.clock.now();
    let validity = ctx.tenant.settings.consent_validity_days;
    let in_force = consent
        .as_ref()
        .filter(|k| k.withdrawn_at.is_none() && c.status.is_active());
    let ends_on = in_force
        .and_then(|k| accord_domain::access::valid_until(k.given_at, validity))
        .map(|until| crate::services::nda::long_date(ctx.locale(), until.date()));
    let renew_url = in_force
        .filter(|k| crate::services::reconsent::renewable(c, k, validity, now))
        .map(|_| format!("/{}/connections/{}/reconsent", ctx.kind.as_str(), c.id));
    Ok(ConnectionRow {
        title: crate::services::organisation::label(c.upstream.as_ref(), &name),
        ends_on,
        renew_url,
        access: None,
        id: c.id.to_string(),
        platform_name: name,
        platform_key: c.platform_key.to_string(),
        category_label: platform
            .map(|p| ctx.tr.t(&format!("category-{}", p.category)))
            .unwrap_or_default(),
        status: c.status.as_str().to_owned(),
        status_label: ctx
            .tr
            .t(&format!("status-{}", c.status.as_str().replace('_', "-"))),
        active: c.status.is_active(),
        granted: consent
            .as_ref()
            .map(|k| crate::i18n::long_date(ctx.locale(), k.given_at.date()))
            .unwrap_or_default(),
        uses,
        consent_sha256: consent.as_ref().map(|k| k.notice_sha256.clone()),
        receipt_url: consent
            .as_ref()
            .map(|k| format!("/{}/receipts/{}", ctx.kind.as_str(), k.id)),
        notice_version: consent.as_ref().map(|k| k.notice_version),
    })
}

pub async fn success(
    LinkCtx(ctx): LinkCtx,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, &id).await?;
    if conn.status != ConnectionStatus::Linked {
        return Ok(
            Redirect::to(&format!("/link/platforms/{}/consent", conn.platform_key)).into_response(),
        );
    }
    let row = connection_row(&ctx, &conn).await?;
    let mut ctx = ctx;
    if let Some(embed) = ctx.chrome.embed.as_mut() {
        // The host page's `onConsent` and `onConnection` (identifiers only, nothing secret).
        embed.event(
            "consent",
            &serde_json::json!({
                "consentId": conn.consent_id.map(|c| c.to_string()),
                "connectionId": conn.id.to_string(),
                "platform": conn.platform_key.to_string(),
                "noticeVersion": row.notice_version,
            }),
        );
        embed.event(
            "connection",
            &serde_json::json!({
                "companyId": conn.company_id.to_string(),
                "connectionId": conn.id.to_string(),
                "platform": conn.platform_key.to_string(),
                "status": conn.status.as_str(),
            }),
        );
    }
    let all = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?;
    let replaced = crate::services::organisation::replaced_by(&conn, &all)
        .into_iter()
        .map(|old| {
            let label =
                crate::services::organisation::label(old.upstream.as_ref(), &row.platform_name);
            ctx.tr.a1("success-replaced", "connection", &label)
        })
        .collect();
    let personal_link = personal_link(&ctx, &headers, &all).await?;
    html(&SuccessPage {
        csrf: ctx.csrf.clone(),
        connection: row,
        replaced,
        personal_link,
        chrome: ctx.chrome,
    })
}

/// The success page's personal manage link: the one the callback made with the link and this
/// browser carries, while it still opens; otherwise a fresh one (nothing shown when none of the
/// company's connections `all` is in force).
async fn personal_link(
    ctx: &PageCtx,
    headers: &HeaderMap,
    all: &[Connection],
) -> Result<Option<String>, PageError> {
    use crate::services::manage_links;
    if !manage_links::in_force(all) {
        return Ok(None);
    }
    if let Some(token) = personal::carried(&ctx.state, headers, &ctx.session) {
        // Still unused and unrevoked (a read): then it is the one to show.
        let link = ctx.state.flow().manage_link(&TokenHash::of(&token)).await?;
        if link.is_some() {
            return Ok(Some(manage_links::url(&ctx.state, &token)));
        }
    }
    let url = manage_links::issue_unchecked(&ctx.state, ctx.tenant.id, ctx.company.id).await?;
    Ok(Some(url))
}

pub async fn retry(
    Path(id): Path<String>,
    LinkForm { ctx, .. }: LinkForm<NoFields>,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, &id).await?;
    let platform = offered(&ctx, conn.platform_key.as_str())?;
    if conn.status != ConnectionStatus::PendingAuth {
        return Ok(
            Redirect::to(&format!("/link/platforms/{}/consent", platform.key)).into_response(),
        );
    }
    let url = connect::retry_authorize(&ctx.state, &conn, &platform, &ctx.session)
        .await
        .map_err(|e| PageError::from_service(&e))?;
    Ok(Redirect::to(&url).into_response())
}

/// From the success page to the manage page, without a new link: a manage session for the
/// same company.
pub async fn to_manage(LinkForm { ctx, .. }: LinkForm<NoFields>) -> Result<Response, PageError> {
    switch_session(&ctx, SessionKind::Manage, "/manage").await
}

/// Opens a browser session of `kind` for this page's company (from the same link session) and
/// sends the browser to `to` with its cookie: from the flow to the manage page, and from the
/// manage page back into the flow to reconnect.
pub async fn switch_session(
    ctx: &PageCtx,
    kind: SessionKind,
    to: &str,
) -> Result<Response, PageError> {
    let now = ctx.state.clock.now();
    let token = random_token(32);
    let session = BrowserSession {
        id: BrowserSessionId::new(),
        tenant_id: ctx.tenant.id,
        company_id: ctx.company.id,
        kind,
        link_session_id: ctx.session.link_session_id,
        token_hash: TokenHash::of(&token),
        created_at: now,
        expires_at: now + ctx.state.config.browser_session_ttl,
    };
    ctx.state.flow().create_browser_session(&session).await?;
    let mut res = Redirect::to(to).into_response();
    res.headers_mut()
        .append(header::SET_COOKIE, session_cookie(&ctx.state, kind, &token));
    Ok(res)
}

#[derive(Deserialize, Default)]
pub struct FinishQuery {
    connection: Option<String>,
    /// The step the customer left from, when they used the exit control.
    #[serde(default)]
    exited: Option<String>,
}

/// The end of the flow: back to the tenant's return URL (with the outcome) when the link
/// session has one; in the embed SDK's iframe, the host's `onFinish`; else a closing page. The
/// exit is counted first: from the step the exit control names, else from the success page when
/// something is connected, else from the platform list.
pub async fn finish(
    ctx: Result<LinkCtx, PageError>,
    State(state): State<AppState>,
    axum::Extension(nonce): axum::Extension<crate::security::CspNonce>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Query(q): Query<FinishQuery>,
) -> Result<Response, PageError> {
    let mut ctx = match ctx {
        Ok(LinkCtx(ctx)) => ctx,
        // The session ended with this page: its language switch comes back here, and the
        // page is shown again from what it showed (the `accord_finished` cookie) or not at all.
        Err(e) => {
            return match finished::again(&state, &headers, &uri, nonce.0).await? {
                Some(res) => Ok(res),
                None => Err(e),
            }
        }
    };
    let exited_at = q.exited.as_deref().and_then(FlowPage::parse);
    let connected: Vec<String> = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?
        .into_iter()
        .filter(|c| c.status == ConnectionStatus::Linked)
        .map(|c| {
            ctx.state
                .catalog
                .get(&c.platform_key)
                .map_or_else(|| c.platform_key.to_string(), |p| p.name.clone())
        })
        .collect();
    let from = match exited_at {
        Some(page) => page,
        None if connected.is_empty() => FlowPage::Select,
        None => FlowPage::Success,
    };
    funnel::exited(&ctx, from).await;
    let named = q.connection.and_then(|c| c.parse::<ConnectionId>().ok());
    let outcome = crate::services::returns::outcome(&ctx.state, &ctx.session, named).await?;
    let redirect = if let Some(embed) = ctx.chrome.embed.as_mut() {
        embed.event("finish", &crate::services::returns::json(&outcome));
        None
    } else {
        crate::services::returns::redirect_url(&ctx.state, &ctx.session, &outcome).await?
    };
    // The customer is done (or chose to leave): the session ends here, on the server as in the
    // browser, so whoever uses this computer next cannot go on consenting for the company. The
    // link they were sent opens the flow again while it is valid.
    let (state, session) = (ctx.state.clone(), ctx.session.clone());
    state
        .flow()
        .end_browser_session(&session.token_hash, state.clock.now())
        .await?;
    let mut res = if let Some(url) = redirect {
        Redirect::to(&url).into_response()
    } else {
        let shown = finished::Shown {
            tenant_id: ctx.tenant.id,
            company_id: ctx.company.id,
            connected: connected.clone(),
            exited: exited_at.is_some(),
            until: state.clock.now() + finished::SHOWN_FOR,
        };
        // No session any more to file a request against: the tenant's contacts remain.
        ctx.chrome.support_form = None;
        let mut res = html(&FinishedPage {
            connected,
            exited: exited_at.is_some(),
            chrome: ctx.chrome,
        })?;
        res.headers_mut()
            .append(header::SET_COOKIE, finished::cookie(&state, &shown));
        res
    };
    res.headers_mut().append(
        header::SET_COOKIE,
        cleared_session_cookie(&state, session.kind),
    );
    Ok(res)
}

/// The callback of an authorization started through the tenant API: no browser session here,
/// so the state finds its own; the customer goes back to the tenant's return URL either way.
async fn byo_callback(
    state: &AppState,
    session: &BrowserSession,
    platform: &Platform,
    query: &CallbackQuery,
) -> Result<Response, PageError> {
    // The tenant's own UI has no page to ask on: a sign-in to another organisation is linked,
    // and the tenant reads who was connected from the connection.
    let answer = CallbackFor {
        ask: false,
        personal_link: false,
    };
    let conn = match connect::complete_callback(state, session, platform, query, answer).await {
        Ok(done) => Some(done.connection),
        Err(CallbackError::OrganisationChanged(q)) => {
            state
                .connections()
                .connection(session.tenant_id, q.connection)
                .await?
        }
        // Its session is found but its `state` was used or expired: the authorization is over.
        Err(CallbackError::BadState) => {
            return Err(PageError::new(PageErrorKind::AuthorizationOver))
        }
        Err(CallbackError::Store(e)) => return Err(e.into()),
        Err(CallbackError::Platform { connection, .. }) => {
            state
                .connections()
                .connection(session.tenant_id, connection)
                .await?
        }
    };
    let params = crate::services::returns::params(session, conn.as_ref());
    match crate::services::returns::redirect_url(state, session, &params).await? {
        Some(url) => Ok(Redirect::to(&url).into_response()),
        // The tenant removed its return URL meanwhile: never send the customer there.
        None => Err(PageError::new(PageErrorKind::ReturnGone)),
    }
}
