//! The customer's receipts: a readable page for a consent (each of its events: given,
//! withdrawn…) in the customer's language, and each signed receipt as a downloadable JWS file.
//! From the success page (link session) and the manage page (manage session).

use crate::pages::ctx::{LinkCtx, ManageCtx, PageCtx};
use crate::pages::error::{PageError, PageErrorKind};
use crate::pages::templates::{ReceiptEventRow, ReceiptPage};
use crate::services::receipts::{self, SignedReceipt};
use accord_domain::consent::Consent;
use accord_domain::ids::ConsentId;
use askama::Template;
use axum::extract::Path;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};

async fn own_consent(ctx: &PageCtx, id: &str) -> Result<Consent, PageError> {
    let id: ConsentId = id
        .parse()
        .map_err(|_| PageError::new(PageErrorKind::NotFound))?;
    ctx.state
        .consents()
        .consent(ctx.tenant.id, id)
        .await?
        .filter(|c| c.company_id == ctx.company.id)
        .ok_or(PageError::new(PageErrorKind::NotFound))
}

async fn signed(ctx: &PageCtx, consent: &Consent) -> Result<Vec<SignedReceipt>, PageError> {
    Ok(receipts::for_consent(&ctx.state, &ctx.tenant, consent).await?)
}

async fn page(ctx: PageCtx, id: String, base: &str) -> Result<Response, PageError> {
    let consent = own_consent(&ctx, &id).await?;
    let list = signed(&ctx, &consent).await?;
    let events = list
        .iter()
        .map(|r| ReceiptEventRow {
            kind: ctx.tr.t(&format!(
                "receipt-event-{}",
                r.event.event.body.kind.as_str().replace('_', "-")
            )),
            at: crate::i18n::long_date_time(ctx.tr.locale, r.event.event.body.at),
            position: r.event.event.seq,
            hash: r.event.hash.clone(),
            download: format!("{base}/{}/{}.jws", consent.id, r.event.event.seq),
        })
        .collect();
    let platform_name = ctx
        .state
        .catalog
        .get(&consent.platform_key)
        .map_or_else(|| consent.platform_key.to_string(), |p| p.name.clone());
    let page = ReceiptPage {
        // The controller as the consent named it, not as the settings say today.
        controller: list.first().map_or_else(
            || receipts::controller(&ctx.tenant).legal_name,
            |r| r.receipt.controller.legal_name.clone(),
        ),
        platform_name,
        notice_text: consent.notice_text.clone(),
        notice_sha256: consent.notice_sha256.clone(),
        notice_version: consent.notice_version,
        events,
        personal_link: crate::services::manage_links::issue(
            &ctx.state,
            ctx.tenant.id,
            ctx.company.id,
        )
        .await?,
        chrome: ctx.chrome,
    };
    Ok(Html(page.render()?).into_response())
}

async fn download(ctx: PageCtx, id: String, file: String) -> Result<Response, PageError> {
    let consent = own_consent(&ctx, &id).await?;
    let seq: i64 = file
        .strip_suffix(".jws")
        .and_then(|s| s.parse().ok())
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let r = signed(&ctx, &consent)
        .await?
        .into_iter()
        .find(|r| r.event.event.seq == seq)
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let name = format!(
        "attachment; filename=\"accord-receipt-{}-{seq}.jws\"",
        consent.id
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/jose".to_owned()),
            (header::CONTENT_DISPOSITION, name),
        ],
        r.jws,
    )
        .into_response())
}

pub async fn link_page(
    LinkCtx(ctx): LinkCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    page(ctx, id, "/link/receipts").await
}

pub async fn link_download(
    LinkCtx(ctx): LinkCtx,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    download(ctx, id, file).await
}

pub async fn manage_page(
    ManageCtx(ctx): ManageCtx,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    page(ctx, id, "/manage/receipts").await
}

pub async fn manage_download(
    ManageCtx(ctx): ManageCtx,
    Path((id, file)): Path<(String, String)>,
) -> Result<Response, PageError> {
    download(ctx, id, file).await
}
