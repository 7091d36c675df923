//! The re-consent screen, in the hosted flow (`/link/connections/{id}/reconsent`, also shown in
//! place of the consent step of that platform) and on the manage page
//! (`/manage/connections/{id}/reconsent`): what changed since the customer agreed, the notice in
//! force in full, the same unticked checkbox, Agree, Not now, and a way to disconnect instead.
//! Agreeing records a new consent on the same connection (no new sign-in at the platform).

use crate::pages::ctx::{Chrome, LinkCtx, ManageCtx, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::form::{ClientMeta, LinkForm, ManageForm};
use crate::pages::link::connection_row;
use crate::pages::templates::ConnectionRow;
use crate::services::notice::NoticeView;
use crate::services::reconsent::{self, Reconsent, ReconsentAction, ReconsentError, WhatChanged};
use accord_domain::catalog::Platform;
use accord_domain::connection::{Connection, ConnectionStatus};
use accord_domain::consent::{ConsentEvidence, ConsentMethod};
use accord_domain::flow::SessionKind;
use accord_domain::ids::ConnectionId;
use askama::Template;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "reconsent.html")]
pub struct ReconsentPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub platform_key: String,
    /// Where the form posts.
    pub action: String,
    pub intro: String,
    pub changes: WhatChanged,
    /// Set when the comparison is in the language of the notice agreed, not the page's.
    pub language_note: Option<String>,
    pub notice: NoticeView,
    pub notice_sha256: String,
    pub version_id: String,
    /// Set when Agree was pressed without ticking the box, or the notice changed meanwhile.
    pub error: Option<String>,
    pub back_url: String,
    pub back_label: String,
    /// On the manage page: the disconnect confirmation of this connection.
    pub disconnect_url: Option<String>,
}

#[derive(Template)]
#[template(path = "reconsent_done.html")]
pub struct ReconsentDonePage {
    pub chrome: Chrome,
    pub csrf: String,
    pub connection: ConnectionRow,
    pub in_link_flow: bool,
}

#[derive(Template)]
#[template(path = "reconsent_declined.html")]
pub struct ReconsentDeclinedPage {
    pub chrome: Chrome,
    pub csrf: String,
    pub platform_name: String,
    pub review_url: String,
    pub disconnect_url: Option<String>,
    pub in_link_flow: bool,
}

fn base(ctx: &PageCtx) -> &'static str {
    ctx.kind.as_str()
}

fn html(page: &impl Template, status: StatusCode) -> Result<Response, PageError> {
    Ok((status, Html(page.render()?)).into_response())
}

/// A connection of this session's company, or 404.
async fn own_connection(ctx: &PageCtx, id: &str) -> Result<Connection, PageError> {
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

/// Where a connection not (or no longer) waiting for re-consent sends the customer.
fn elsewhere(ctx: &PageCtx, conn: &Connection) -> Response {
    let to = match (ctx.kind, conn.status) {
        (_, ConnectionStatus::Linked) => {
            format!("/{}/connections/{}/reconsented", base(ctx), conn.id)
        }
        (SessionKind::Link, _) => "/link/platforms".to_owned(),
        (SessionKind::Manage, _) => "/manage".to_owned(),
    };
    Redirect::to(&to).into_response()
}

async fn prepare(
    ctx: &PageCtx,
    conn: Connection,
) -> Result<Option<(Reconsent, Platform)>, PageError> {
    let Some(platform) = ctx.state.catalog.get(&conn.platform_key).cloned() else {
        return Ok(None);
    };
    match reconsent::prepare(&ctx.state, &ctx.tr, &ctx.tenant, conn).await {
        Ok(r) => Ok(Some((r, platform))),
        Err(ReconsentError::NotApplicable) => Ok(None),
        Err(ReconsentError::Store(e)) => Err(e.into()),
    }
}

fn screen(ctx: &PageCtx, r: Reconsent, error: Option<String>) -> Result<Response, PageError> {
    let tr = &ctx.tr;
    let date = crate::i18n::long_date(tr.locale, r.consent.given_at.date());
    let args = [
        ("tenant", ctx.tenant.name.as_str()),
        ("platform", r.view.platform_name.as_str()),
        ("date", date.as_str()),
    ];
    let intro = if r.expired {
        tr.a("reconsent-intro-expired", &args)
    } else {
        tr.a("reconsent-intro-changed", &args)
    };
    let language_note = r
        .changes
        .comparison_locale
        .map(|l| tr.a1("reconsent-diff-language", "language", l.as_str()));
    let (back_url, back_label) = match ctx.kind {
        SessionKind::Link => ("/link/platforms".to_owned(), tr.t("back-to-platforms")),
        SessionKind::Manage => ("/manage".to_owned(), tr.t("reconsent-back-manage")),
    };
    let id = r.connection.id;
    let page = ReconsentPage {
        chrome: ctx.chrome.clone(),
        csrf: ctx.csrf.clone(),
        platform_key: r.connection.platform_key.to_string(),
        action: format!("/{}/connections/{id}/reconsent", base(ctx)),
        intro,
        language_note,
        notice_sha256: r.view.render(tr).sha256,
        version_id: r.current.id.to_string(),
        changes: r.changes,
        notice: r.view,
        error,
        back_url,
        back_label,
        disconnect_url: (ctx.kind == SessionKind::Manage)
            .then(|| format!("/manage/connections/{id}/disconnect")),
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    html(&page, status)
}

/// The re-consent screen for `conn`, or a redirect when it is not waiting for re-consent.
async fn show(ctx: &PageCtx, conn: Connection) -> Result<Response, PageError> {
    // A linked connection is shown the screen only while its consent ends soon (renewal).
    if !matches!(
        conn.status,
        ConnectionStatus::ReconsentRequired | ConnectionStatus::Linked
    ) {
        return Ok(elsewhere(ctx, &conn));
    }
    let linked = conn.status == ConnectionStatus::Linked;
    let back = elsewhere(ctx, &conn);
    match prepare(ctx, conn).await? {
        Some((r, _)) => screen(ctx, r, None),
        None if linked => Ok(back),
        None => Err(PageError::new(PageErrorKind::NotFound)),
    }
}

/// For the consent step of the hosted flow: the re-consent screen when this company's
/// connection to `platform` waits for the customer's agreement again, instead of a fresh consent.
pub async fn screen_for_platform(
    ctx: &PageCtx,
    platform: &Platform,
) -> Result<Option<Response>, PageError> {
    let waiting = ctx
        .state
        .connections()
        .company_connections(ctx.tenant.id, ctx.company.id)
        .await?
        .into_iter()
        .find(|c| {
            c.platform_key == platform.key && c.status == ConnectionStatus::ReconsentRequired
        });
    match waiting {
        Some(conn) => match prepare(ctx, conn).await? {
            Some((r, _)) => screen(ctx, r, None).map(Some),
            None => Ok(None),
        },
        None => Ok(None),
    }
}

#[derive(Deserialize)]
pub struct ReconsentForm {
    #[serde(default)]
    agree: Option<String>,
    #[serde(default)]
    action: String,
    #[serde(default)]
    notice_version_id: String,
    #[serde(default)]
    notice_sha256: String,
}

async fn submit(
    ctx: PageCtx,
    meta: ClientMeta,
    id: &str,
    form: ReconsentForm,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, id).await?;
    if !matches!(
        conn.status,
        ConnectionStatus::ReconsentRequired | ConnectionStatus::Linked
    ) {
        // Disconnected meanwhile.
        return Ok(elsewhere(&ctx, &conn));
    }
    let conn_id = conn.id;
    let back = elsewhere(&ctx, &conn);
    let Some((r, platform)) = prepare(&ctx, conn).await? else {
        // Already agreed (a second click, another tab): a linked connection with nothing to renew.
        return Ok(back);
    };
    match form.action.as_str() {
        "decline" => {
            let page = ReconsentDeclinedPage {
                csrf: ctx.csrf.clone(),
                platform_name: platform.name.clone(),
                review_url: format!("/{}/connections/{conn_id}/reconsent", base(&ctx)),
                disconnect_url: (ctx.kind == SessionKind::Manage)
                    .then(|| format!("/manage/connections/{conn_id}/disconnect")),
                in_link_flow: ctx.kind == SessionKind::Link,
                chrome: ctx.chrome,
            };
            return html(&page, StatusCode::OK);
        }
        "agree" => {}
        _ => return Err(PageError::new(PageErrorKind::BadRequest)),
    }
    if form.agree.as_deref() != Some("yes") {
        let msg = ctx.tr.t("reconsent-error-unticked");
        return screen(&ctx, r, Some(msg));
    }
    let rendered = r.view.render(&ctx.tr);
    // The customer agrees to what they saw: if the notice changed meanwhile, show the new one.
    if form.notice_version_id != r.current.id.to_string() || form.notice_sha256 != rendered.sha256 {
        let msg = ctx.tr.t("consent-error-changed");
        return screen(&ctx, r, Some(msg));
    }
    let method = match ctx.kind {
        SessionKind::Link => "hosted_flow_checkbox",
        SessionKind::Manage => "manage_page_checkbox",
    };
    let action = ReconsentAction {
        reconsent: &r,
        platform: &platform,
        rendered,
        locale: ctx.locale(),
        evidence: ConsentEvidence {
            method: ConsentMethod::HostedFlowCheckbox,
            checkbox_ticked: true,
            ip: meta.ip,
            user_agent: meta.user_agent,
        },
        method,
    };
    reconsent::record(&ctx.state, action).await?;
    Ok(Redirect::to(&format!(
        "/{}/connections/{conn_id}/reconsented",
        base(&ctx)
    ))
    .into_response())
}

async fn done(ctx: PageCtx, id: &str) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, id).await?;
    if conn.status != ConnectionStatus::Linked {
        return Ok(Redirect::to(&format!(
            "/{}/connections/{}/reconsent",
            base(&ctx),
            conn.id
        ))
        .into_response());
    }
    let row = connection_row(&ctx, &conn).await?;
    let page = ReconsentDonePage {
        csrf: ctx.csrf.clone(),
        connection: row,
        in_link_flow: ctx.kind == SessionKind::Link,
        chrome: ctx.chrome,
    };
    html(&page, StatusCode::OK)
}

pub async fn link_show(
    LinkCtx(ctx): LinkCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, &id).await?;
    show(&ctx, conn).await
}

pub async fn link_submit(
    Path(id): Path<String>,
    LinkForm { ctx, meta, form }: LinkForm<ReconsentForm>,
) -> Result<Response, PageError> {
    submit(ctx, meta, &id, form).await
}

pub async fn link_done(
    LinkCtx(ctx): LinkCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    done(ctx, &id).await
}

pub async fn manage_show(
    ManageCtx(ctx): ManageCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let conn = own_connection(&ctx, &id).await?;
    show(&ctx, conn).await
}

pub async fn manage_submit(
    Path(id): Path<String>,
    ManageForm { ctx, meta, form }: ManageForm<ReconsentForm>,
) -> Result<Response, PageError> {
    submit(ctx, meta, &id, form).await
}

pub async fn manage_done(
    ManageCtx(ctx): ManageCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    done(ctx, &id).await
}
