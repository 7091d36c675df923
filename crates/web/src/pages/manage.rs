//! The manage page: the company's connections, what each shares, when it was granted, and
//! disconnect in one click plus one confirmation — effective at once, since withdrawing must be
//! as easy as giving. A connection
//! whose access the platform ended (`deauthorized`) says so and offers to reconnect: the
//! hosted flow's consent step for that platform, then its sign-in, on the same connection.

use crate::i18n::Tr;
use crate::pages::ctx::ManageCtx;
use crate::pages::ctx::{lang_links, load_chrome, load_session, negotiate_locale, PagePlace};
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::{ManageForm, NoFields};
use crate::pages::link::{connection_row, open_session, session_cookie, switch_session};
use crate::pages::templates::{ManageConfirmPage, ManagePage, ManageReturnPage};
use crate::security::CspNonce;
use crate::services::{connect, manage_links};
use crate::state::AppState;
use accord_domain::connection::ConnectionStatus;
use accord_domain::crypto::{random_token, TokenHash};
use accord_domain::flow::SessionKind;
use accord_domain::flow::{BrowserSession, ManageLink};
use accord_domain::ids::BrowserSessionId;
use accord_domain::ids::{AccessId, ConnectionId};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use serde::Deserialize;

/// The company's personal link: opens a manage session in this browser. Used from a new
/// browser, it is spent and the page shows a fresh one; reopened in the browser that already
/// has this company's page open, it just continues.
pub async fn open_personal(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<OpenQuery>,
    uri: Uri,
    headers: HeaderMap,
    Extension(nonce): Extension<CspNonce>,
) -> Result<Response, PageError> {
    let link = manage_links::usable(&state, &token)
        .await?
        .ok_or(PageError::new(PageErrorKind::LinkUnusable))?;
    if let Some((session, ..)) = load_session(&state, &headers, SessionKind::Manage).await? {
        if session.tenant_id == link.tenant_id && session.company_id == link.company_id {
            return Ok(Redirect::to("/manage").into_response());
        }
    }
    if q.go.is_none() {
        return confirm_personal(&state, &link, &uri, &headers, nonce.0).await;
    }
    spend_personal(&state, &token).await
}

#[derive(Deserialize)]
pub struct OpenQuery {
    go: Option<String>,
}

/// The page asking to open the manage page, in the tenant's colours and contacts.
async fn confirm_personal(
    state: &AppState,
    link: &ManageLink,
    uri: &Uri,
    headers: &HeaderMap,
    nonce: String,
) -> Result<Response, PageError> {
    let not_found = || PageError::new(PageErrorKind::LinkUnusable);
    let tenant = crate::pages::ctx::tenant(state, link.tenant_id)
        .await?
        .ok_or_else(not_found)?;
    let company = state
        .companies()
        .company(link.tenant_id, link.company_id)
        .await?
        .ok_or_else(not_found)?;
    let locale = negotiate_locale(uri, headers, None);
    let tr = Tr::new(state.i18n.clone(), locale);
    let langs = lang_links(uri, locale, true, uri.path());
    let place = PagePlace {
        company_name: Some(&company.name),
        path: uri.path(),
        ..PagePlace::default()
    };
    let mut chrome =
        load_chrome(state, tr, nonce, &tenant, langs, SessionKind::Manage, place).await;
    // No session yet to file a request against: the tenant's phone and e-mail remain.
    chrome.support_form = None;
    let page = ManageReturnPage {
        chrome,
        company_name: company.name.clone(),
        action: uri.path().to_owned(),
    };
    Ok(Html(page.render()?).into_response())
}

/// Spends the link and opens a manage session in this browser; the page then shows a fresh
/// link, so the copy that was used (perhaps from a shared computer) opens nothing any more.
async fn spend_personal(state: &AppState, token: &str) -> Result<Response, PageError> {
    let unusable = || PageError::new(PageErrorKind::LinkUnusable);
    let now = state.clock.now();
    // Of two racing uses, one wins; the other is refused like a spent link.
    let link = state
        .flow()
        .use_manage_link(&TokenHash::of(token), now)
        .await?
        .ok_or_else(unusable)?;
    let cookie_token = random_token(32);
    let browser = BrowserSession {
        id: BrowserSessionId::new(),
        tenant_id: link.tenant_id,
        company_id: link.company_id,
        kind: SessionKind::Manage,
        link_session_id: None,
        token_hash: TokenHash::of(&cookie_token),
        created_at: now,
        expires_at: now + state.config.browser_session_ttl,
    };
    state.flow().create_browser_session(&browser).await?;
    let mut res = Redirect::to("/manage?rotated=1").into_response();
    res.headers_mut().append(
        header::SET_COOKIE,
        session_cookie(state, SessionKind::Manage, &cookie_token),
    );
    Ok(res)
}

pub async fn open(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    open_session(&state, &token, &headers, SessionKind::Manage, "/manage").await
}

#[derive(Deserialize, Default)]
pub struct IndexQuery {
    disconnected: Option<String>,
    /// Arrived by a personal link, which was replaced by the one now shown.
    rotated: Option<String>,
    /// The connection whose access log is paged, and the access before which its page starts.
    log: Option<String>,
    before: Option<String>,
}

impl IndexQuery {
    /// `?log=&before=` parsed; anything malformed is the newest page of every log.
    fn paged(&self) -> Option<(ConnectionId, Option<AccessId>)> {
        let id = self.log.as_deref()?.parse().ok()?;
        Some((id, self.before.as_deref().and_then(|b| b.parse().ok())))
    }
}

pub async fn index(
    ManageCtx(ctx): ManageCtx,
    Query(q): Query<IndexQuery>,
) -> Result<Response, PageError> {
    let conns = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?;
    let mut rows = Vec::with_capacity(conns.len());
    // Newest first: what the customer just did is at the top.
    let paged = q.paged();
    for c in conns.iter().rev() {
        let mut row = connection_row(&ctx, c).await?;
        row.access = Some(crate::pages::access_log::view(&ctx, c, paged).await?);
        rows.push(row);
    }
    let notice = q.disconnected.and_then(|key| {
        ctx.state.catalog.find(&key).map(|p| {
            ctx.tr.a2(
                "manage-disconnected",
                "platform",
                &p.name,
                "tenant",
                &ctx.tenant.name,
            )
        })
    });
    let ndas = crate::pages::nda::rows(&ctx).await?;
    let personal_link = manage_links::issue(&ctx.state, ctx.tenant.id, ctx.company.id).await?;
    let page = ManagePage {
        csrf: ctx.csrf.clone(),
        company_name: ctx.company.name.clone(),
        connections: rows,
        notice,
        ndas,
        rotated: q.rotated.is_some() && personal_link.is_some(),
        personal_link,
        chrome: ctx.chrome,
    };
    Ok(Html(page.render()?).into_response())
}

async fn own(
    ctx: &crate::pages::ctx::PageCtx,
    id: &str,
) -> Result<accord_domain::connection::Connection, PageError> {
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

/// The one confirmation.
pub async fn confirm(
    ManageCtx(ctx): ManageCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let conn = own(&ctx, &id).await?;
    if !conn.status.is_active() {
        return Ok(Redirect::to("/manage").into_response());
    }
    let row = connection_row(&ctx, &conn).await?;
    let page = ManageConfirmPage {
        csrf: ctx.csrf.clone(),
        connection: row,
        chrome: ctx.chrome,
    };
    Ok(Html(page.render()?).into_response())
}

pub async fn disconnect(
    Path(id): Path<String>,
    ManageForm { ctx, .. }: ManageForm<NoFields>,
) -> Result<Response, PageError> {
    let conn = own(&ctx, &id).await?;
    connect::disconnect(&ctx.state, ctx.tenant.id, conn.id, "manage_page").await?;
    Ok(Redirect::to(&format!("/manage?disconnected={}", conn.platform_key)).into_response())
}

/// "Reconnect": the customer agrees again and signs in at the platform, in the hosted flow
/// (a link session of this company; the consent reuses the deauthorized or waiting connection,
/// and a sign-in to another organisation than it had asks first). Any other
/// connection has nothing to reconnect: back to the list.
pub async fn reconnect(
    Path(id): Path<String>,
    ManageForm { ctx, .. }: ManageForm<NoFields>,
) -> Result<Response, PageError> {
    let conn = own(&ctx, &id).await?;
    // Also one waiting for sign-in: a sign-in left unfinished, or one the customer declined to
    // switch to another organisation.
    if !matches!(
        conn.status,
        ConnectionStatus::Deauthorized | ConnectionStatus::PendingAuth
    ) {
        return Ok(Redirect::to("/manage").into_response());
    }
    let to = format!("/link/platforms/{}/consent", conn.platform_key);
    switch_session(&ctx, SessionKind::Link, &to).await
}
