//! The customer's receipts: a readable page for a consent (each of its events: given,
//! withdrawn…) in the customer's language, and each receipt as a downloadable file: the receipt
//! document (`{position}.json`: the signed receipt and the proof of its event's inclusion in the
//! tenant's log), a fresh proof against the latest checkpoint (`{position}.proof.json`), and the
//! bare compact JWS (`{position}.jws`). From the success page (link session) and the manage page
//! (manage session).

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
    receipts::for_consent(&ctx.state, &ctx.tenant, consent)
        .await
        .map_err(PageError::from)
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
            download: format!("{base}/{}/{}.json", consent.id, r.event.event.seq),
            proof_download: format!("{base}/{}/{}.proof.json", consent.id, r.event.event.seq),
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

/// What a download asks for.
enum File {
    /// The receipt document: the JWS and its inclusion proof.
    Document,
    /// A fresh proof against the latest checkpoint.
    FreshProof,
    /// The compact JWS alone.
    Jws,
}

fn parse_file(file: &str) -> Option<(i64, File)> {
    let (seq, kind) = if let Some(s) = file.strip_suffix(".proof.json") {
        (s, File::FreshProof)
    } else if let Some(s) = file.strip_suffix(".json") {
        (s, File::Document)
    } else {
        (file.strip_suffix(".jws")?, File::Jws)
    };
    Some((seq.parse().ok()?, kind))
}

async fn download(ctx: PageCtx, id: String, file: String) -> Result<Response, PageError> {
    let consent = own_consent(&ctx, &id).await?;
    let (seq, kind) = parse_file(&file).ok_or(PageError::new(PageErrorKind::NotFound))?;
    let r = signed(&ctx, &consent)
        .await?
        .into_iter()
        .find(|r| r.event.event.seq == seq)
        .ok_or(PageError::new(PageErrorKind::NotFound))?;
    let stem = format!("accord-receipt-{}-{seq}", consent.id);
    let (content_type, name, body) = match kind {
        File::Jws => ("application/jose", format!("{stem}.jws"), r.jws),
        File::Document => (
            "application/json",
            format!("{stem}.json"),
            json(&r.document())?,
        ),
        File::FreshProof => {
            let fresh = receipts::fresh_proof(&ctx.state, ctx.tenant.id, std::slice::from_ref(&r))
                .await
                .map_err(PageError::from)?
                // Not sealed yet: nothing to prove against for a second or so.
                .ok_or(PageError::new(PageErrorKind::NotFound))?;
            (
                "application/json",
                format!("{stem}.proof.json"),
                json(&fresh)?,
            )
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

fn json<T: serde::Serialize>(v: &T) -> Result<String, PageError> {
    serde_json::to_string_pretty(v).map_err(|e| PageError::internal(&e))
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
